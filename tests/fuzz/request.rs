//! One fuzzed request, made from its own generator: what kind it is, what it sends, and how it
//! goes (through a client library on kept-alive connections, or written by hand).

use std::fmt;

use crate::{
    bodies::{self, Encoding},
    fixtures::Urls,
    headers,
    jobs::{self, Flavor},
    json_text, malformed, pipelined,
    rng::Rng,
    targets, wire,
};

/// What a request tries; the report counts answers per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `POST /jobs`, a plausible job as CloudCrowd's form.
    JobForm,
    /// `POST /jobs`, a plausible job as JSON.
    JobJson,
    JobWrongTypes,
    JobDeep,
    JobNumbers,
    JobUnicode,
    JobBig,
    /// `POST /jobs` of random bytes or broken JSON, with any content type.
    JunkBody,
    /// A method on a path, real or not.
    Route,
    /// A query string on a listing.
    Query,
    /// A fine request with odd, broken or too many headers.
    Headers,
    /// What is not HTTP/1.1 as hyper reads it: a broken request line, a cut-off head.
    Malformed,
    /// `DELETE` of a job made lately, likely still running.
    Delete,
    /// A request carrying another in its body, then `GET /heartbeat` on the same connection.
    Pipelined,
}

impl Kind {
    const ALL: &[(Kind, usize)] = &[
        (Kind::JobForm, 18),
        (Kind::JobJson, 18),
        (Kind::JobWrongTypes, 7),
        (Kind::JobDeep, 5),
        (Kind::JobNumbers, 5),
        (Kind::JobUnicode, 5),
        (Kind::JobBig, 2),
        (Kind::JunkBody, 6),
        (Kind::Route, 14),
        (Kind::Query, 8),
        (Kind::Headers, 8),
        (Kind::Malformed, 4),
        (Kind::Delete, 3),
        (Kind::Pipelined, 4),
    ];

    fn pick(rng: &mut Rng) -> Kind {
        let weights: Vec<usize> = Kind::ALL.iter().map(|(_, w)| *w).collect();
        Kind::ALL[rng.weighted(&weights)].0
    }
}

/// How a request is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// reqwest, on the kept-alive connections all such requests share: what client libraries
    /// send, and the connection reused after every answer.
    Client,
    /// These bytes, on a connection of their own.
    Raw {
        bytes: Vec<u8>,
        /// Shut the sending side after writing (a client that gives up halfway).
        half_close: bool,
    },
}

pub struct Request {
    pub index: u64,
    pub kind: Kind,
    pub method: String,
    /// Path and query, as written on the request line (or given to the client).
    pub target: String,
    /// For `Via::Client`; a raw request has its headers in its bytes.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub via: Via,
    /// hyper may close the connection without an answer: the head never ended, it was too
    /// big to read to its end before the connection closed, or it was not HTTP/1.
    pub may_go_unanswered: bool,
    /// A `GET /heartbeat` follows on the connection: a second answer, if any, is its.
    pub then_heartbeat: bool,
}

/// What the generator needs to know of the stack.
pub struct Context<'a> {
    pub urls: &'a Urls,
    /// The api's `host:port`.
    pub authority: &'a str,
}

/// Request `index` of a run seeded with `seed`.
pub fn generate(seed: u64, index: u64, context: &Context) -> Request {
    let mut request = made_up(seed, index, context);
    // What reqwest would refuse to send goes by hand.
    if request.via == Via::Client
        && !wire::client_can_send(&request.method, &request.target, &request.headers)
    {
        request.via = by_hand(&request, context);
    }
    request
}

/// About one request in this many makes a job (so the ids of jobs made lately are about
/// `index / REQUESTS_PER_JOB`: ids count from 1 in the test's own database).
const REQUESTS_PER_JOB: usize = 5;

fn made_up(seed: u64, index: u64, context: &Context) -> Request {
    let mut rng = Rng::for_request(seed, index);
    let rng = &mut rng;
    let latest_id = index as usize / REQUESTS_PER_JOB + 1;
    let kind = Kind::pick(rng);
    let mut request = Request {
        index,
        kind,
        method: "POST".into(),
        target: "/jobs".into(),
        headers: Vec::new(),
        body: Vec::new(),
        via: Via::Client,
        may_go_unanswered: false,
        then_heartbeat: false,
    };
    match kind {
        Kind::JobForm | Kind::JobJson => job_post(rng, context, &mut request, Flavor::Plausible),
        Kind::JobWrongTypes => job_post(rng, context, &mut request, Flavor::WrongTypes),
        Kind::JobDeep => job_post(rng, context, &mut request, Flavor::Deep),
        Kind::JobNumbers => job_post(rng, context, &mut request, Flavor::Numbers),
        Kind::JobUnicode => job_post(rng, context, &mut request, Flavor::Unicode),
        Kind::JobBig => job_post(rng, context, &mut request, Flavor::Big),
        Kind::JunkBody => {
            request.body = bodies::junk_body(rng);
            if !rng.one_in(4) {
                request
                    .headers
                    .push(("content-type".into(), content_type(rng)));
            }
        }
        Kind::Route => {
            request.method = targets::method(rng);
            request.target = targets::path(rng, latest_id);
            if rng.one_in(3) {
                request.body = json_text::value(rng, 2).into_bytes();
            }
            if rng.one_in(4) {
                request.via = by_hand(&request, context);
            }
        }
        Kind::Query => {
            request.method = rng.pick(&["GET", "GET", "HEAD"]).to_string();
            let id = targets::job_id(rng, latest_id);
            let path = rng.pick(&[
                "/jobs".to_string(),
                format!("/jobs/{id}/outputs"),
                format!("/jobs/{id}/units"),
            ]);
            request.target = format!("{path}?{}", targets::query(rng));
            if rng.one_in(3) {
                request.via = by_hand(&request, context);
            }
        }
        Kind::Headers => headers::make(rng, context, &mut request, latest_id),
        Kind::Malformed => malformed::make(rng, context, &mut request),
        Kind::Pipelined => pipelined::make(rng, context, &mut request),
        Kind::Delete => {
            // Of the jobs made lately, likely still running.
            let id = rng.between(latest_id.saturating_sub(15).max(1), latest_id);
            request.method = "DELETE".into();
            request.target = format!("/jobs/{id}");
        }
    }
    request
}

/// `POST /jobs` of a job of `flavor`: as the kind says for the form and JSON kinds, either
/// way for the others.
fn job_post(rng: &mut Rng, context: &Context, request: &mut Request, flavor: Flavor) {
    let job = jobs::job(rng, context.urls, flavor);
    let encoding = match request.kind {
        Kind::JobForm => Encoding::Form,
        Kind::JobJson => Encoding::Json,
        _ if rng.one_in(2) => Encoding::Form,
        _ => Encoding::Json,
    };
    let (body, content_type) = bodies::encode(rng, &job, encoding);
    request.body = body;
    if let Some(content_type) = content_type {
        request.headers.push(("content-type".into(), content_type));
    }
}

/// A `Content-Type`: the two the api takes, others, and junk.
pub fn content_type(rng: &mut Rng) -> String {
    rng.pick(&[
        "application/json",
        "application/x-www-form-urlencoded",
        "text/plain",
        "multipart/form-data; boundary=x",
        "",
        ";",
        "application/json; charset",
        "application/jsonx",
        "json",
        "*/*",
        "application/json, text/plain",
        "\u{7f}",
    ])
    .to_string()
}

/// The bytes of `request` as a client would write them: `Host: host` (none if `None`), its
/// headers, then the `extra` lines, a `Content-Length` unless those declare a length, and
/// `Connection: close` (so that the answer ends with the connection) unless `keep_alive`;
/// then `body`, or the request's own.
pub fn wire_bytes(
    request: &Request,
    host: Option<&[u8]>,
    extra: &[Vec<u8>],
    body: Option<&[u8]>,
    keep_alive: bool,
) -> Vec<u8> {
    let body = body.unwrap_or(&request.body);
    let mut bytes = format!("{} {} HTTP/1.1\r\n", request.method, request.target).into_bytes();
    if let Some(host) = host {
        bytes.extend_from_slice(b"host: ");
        bytes.extend_from_slice(host);
        bytes.extend_from_slice(b"\r\n");
    }
    for (name, value) in &request.headers {
        bytes.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    let declares_length = extra.iter().any(|line| {
        let lower = line.to_ascii_lowercase();
        lower.starts_with(b"content-length") || lower.starts_with(b"transfer-encoding")
    });
    if !declares_length && !body.is_empty() {
        bytes.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    for line in extra {
        bytes.extend_from_slice(line);
        bytes.extend_from_slice(b"\r\n");
    }
    if !keep_alive {
        bytes.extend_from_slice(b"connection: close\r\n");
    }
    bytes.extend_from_slice(b"\r\n");
    bytes.extend_from_slice(body);
    bytes
}

/// `request` written by hand, as it is.
fn by_hand(request: &Request, context: &Context) -> Via {
    Via::Raw {
        bytes: wire_bytes(
            request,
            Some(context.authority.as_bytes()),
            &[],
            None,
            false,
        ),
        half_close: false,
    }
}

impl fmt::Display for Request {
    /// The request as it went, long parts cut: enough to send it again by hand.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "request #{} ({:?})", self.index, self.kind)?;
        match &self.via {
            Via::Client => {
                writeln!(
                    f,
                    "  via a client: {} {}",
                    self.method,
                    cut(self.target.as_bytes())
                )?;
                for (name, value) in &self.headers {
                    writeln!(f, "  {name}: {value}")?;
                }
                write!(f, "  body ({} bytes): {}", self.body.len(), cut(&self.body))
            }
            Via::Raw { bytes, half_close } => write!(
                f,
                "  raw ({} bytes{}): {}",
                bytes.len(),
                if *half_close { ", then shut" } else { "" },
                cut(bytes)
            ),
        }
    }
}

/// At most 600 bytes of `bytes`, escaped.
fn cut(bytes: &[u8]) -> String {
    const SHOWN: usize = 600;
    let shown = &bytes[..bytes.len().min(SHOWN)];
    let mut text = shown.escape_ascii().to_string();
    if bytes.len() > SHOWN {
        text.push_str(&format!("... ({} more bytes)", bytes.len() - SHOWN));
    }
    text
}
