//! Sending a fuzzed request and taking what comes back, whatever it is: responses (a pipelined
//! raw request gets two), nothing before the connection closed, bytes that are no response, or
//! nothing at all for too long.

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    time::Instant,
};

use crate::{
    raw_http::{self, RawResponse},
    request::{Request, Via},
};

/// How long an answer may take. The slowest the api is allowed to be is a body it waits for
/// (5 s, and 1 s per MiB) or an idle connection it closes (5 s); past this, it hangs.
pub const ANSWER_TIME: Duration = Duration::from_secs(30);

/// What came back.
#[derive(Debug)]
pub enum Answer {
    /// The responses, in order, and the path the request went to (as a client library
    /// normalized it, for one sent through it).
    Responses(Vec<RawResponse>, String),
    /// The connection closed (or was reset) with nothing sent.
    Nothing,
    /// Bytes that do not read as a response (the first of them, as text).
    Garbled(String),
    /// Still open after `ANSWER_TIME` without a whole answer; how many bytes came.
    Hung(usize),
    /// The client library failed to send it, or to read what came back.
    ClientError(String),
}

impl std::fmt::Display for Answer {
    /// The answer as a person reads it: statuses, headers, bodies as text (cut short).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Responses(responses, path) => {
                write!(f, "for {path:?}:")?;
                for r in responses {
                    let body =
                        String::from_utf8_lossy(&r.body[..r.body.len().min(500)]).into_owned();
                    write!(f, " [{} {:?} {body:?}]", r.status, r.headers)?;
                }
                Ok(())
            }
            Answer::Nothing => f.write_str("nothing; the connection closed"),
            Answer::Garbled(text) => write!(f, "not HTTP: {text:?}"),
            Answer::Hung(bytes) => write!(f, "{bytes} bytes, then nothing for {ANSWER_TIME:?}"),
            Answer::ClientError(e) => write!(f, "the client failed: {e}"),
        }
    }
}

pub async fn send(http: &reqwest::Client, api: &str, request: &Request) -> Answer {
    match &request.via {
        Via::Client => match client_request(http, api, request) {
            Ok(built) => through_client(http, built, request).await,
            Err(e) => Answer::ClientError(e),
        },
        Via::Raw { bytes, half_close } => {
            raw(api, bytes, *half_close, &request.target, &request.method).await
        }
    }
}

/// The longest target reqwest sends (its `http::Uri` takes at most 64 KiB less one byte).
pub const CLIENT_TARGET_BYTES: usize = 60_000;

/// Whether reqwest can send `method`, `target` and `headers` as they are.
pub fn client_can_send(method: &str, target: &str, headers: &[(String, String)]) -> bool {
    target.len() <= CLIENT_TARGET_BYTES
        && reqwest::Method::from_bytes(method.as_bytes()).is_ok()
        && reqwest::Url::parse(&format!("http://127.0.0.1{target}")).is_ok()
        && headers
            .iter()
            .all(|(_, v)| reqwest::header::HeaderValue::from_bytes(v.as_bytes()).is_ok())
}

/// The request as reqwest sends it.
fn client_request(
    http: &reqwest::Client,
    api: &str,
    request: &Request,
) -> Result<reqwest::Request, String> {
    let method =
        reqwest::Method::from_bytes(request.method.as_bytes()).map_err(|e| e.to_string())?;
    let url =
        reqwest::Url::parse(&format!("{api}{}", request.target)).map_err(|e| e.to_string())?;
    let mut builder = http.request(method, url).body(request.body.clone());
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder.build().map_err(|e| e.to_string())
}

async fn through_client(
    http: &reqwest::Client,
    built: reqwest::Request,
    request: &Request,
) -> Answer {
    let path = built.url().path().to_string();
    let reply = match http.execute(built).await {
        Ok(reply) => reply,
        Err(e) => return Answer::ClientError(format!("{e:#?}")),
    };
    let status = reply.status().as_u16();
    let headers: Vec<(String, String)> = reply
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let streams = is_event_stream(&headers);
    let body = if streams || request.method == "HEAD" {
        // An event stream never ends: its head is the answer.
        Vec::new()
    } else {
        match reply.bytes().await {
            Ok(bytes) => bytes.to_vec(),
            Err(e) => return Answer::ClientError(format!("reading the body: {e:#?}")),
        }
    };
    Answer::Responses(
        vec![RawResponse {
            status,
            headers,
            body,
        }],
        path,
    )
}

/// `bytes`, a plain request, on a connection of its own, and what came back.
pub async fn exchange(api: &str, bytes: &[u8]) -> Answer {
    raw(api, bytes, false, "", "GET").await
}

/// Writes `bytes` on a connection of its own and reads until the server closes it.
async fn raw(api: &str, bytes: &[u8], half_close: bool, target: &str, method: &str) -> Answer {
    let mut stream = raw_http::connect(api).await;
    // The server may answer (and close) before it has read everything, as it does a head that
    // is too large: what it sent is still read below.
    if stream.write_all(bytes).await.is_ok() && half_close {
        let _ = stream.shutdown().await;
    }
    let deadline = Instant::now() + ANSWER_TIME;
    let mut received = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                received.extend_from_slice(&chunk[..n]);
                if streams_events(&received) {
                    break;
                }
            }
            Err(_) => return Answer::Hung(received.len()),
        }
    }
    if received.is_empty() {
        return Answer::Nothing;
    }
    let path = target.split('?').next().unwrap_or("").to_string();
    match parse_responses(&received, method == "HEAD") {
        Some(responses) if !responses.is_empty() => Answer::Responses(responses, path),
        _ => Answer::Garbled(
            String::from_utf8_lossy(&received[..received.len().min(600)]).into_owned(),
        ),
    }
}

fn is_event_stream(headers: &[(String, String)]) -> bool {
    headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("content-type") && v.starts_with("text/event-stream"))
}

/// Whether the bytes so far hold the head of an event stream, which never closes by itself.
fn streams_events(received: &[u8]) -> bool {
    let Some(end) = find(received, b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&received[..end]).to_ascii_lowercase();
    head.contains("content-type: text/event-stream")
}

/// The responses in `bytes`, one after another; `None` if they do not read as responses.
/// The first request was a `HEAD` when `head`: its response has no body.
fn parse_responses(mut bytes: &[u8], head: bool) -> Option<Vec<RawResponse>> {
    let mut responses = Vec::new();
    while !bytes.is_empty() {
        let end = find(bytes, b"\r\n\r\n")?;
        let text = std::str::from_utf8(&bytes[..end]).ok()?;
        let mut lines = text.split("\r\n");
        let status: u16 = lines
            .next()?
            .strip_prefix("HTTP/1.")?
            .get(2..5)?
            .parse()
            .ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        bytes = &bytes[end + 4..];
        if (100..200).contains(&status) {
            continue;
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        if is_event_stream(&headers) {
            // What follows is the stream, read no further.
            responses.push(RawResponse {
                status,
                headers,
                body: Vec::new(),
            });
            break;
        }
        let body: Vec<u8> = if (head && responses.is_empty()) || status == 204 || status == 304 {
            Vec::new()
        } else if let Some(length) = header("content-length") {
            let length: usize = length.parse().ok()?;
            let body = bytes.get(..length)?.to_vec();
            bytes = &bytes[length..];
            body
        } else if header("transfer-encoding").is_some_and(|te| te.contains("chunked")) {
            let (body, rest) = dechunk(bytes)?;
            bytes = rest;
            body
        } else {
            std::mem::take(&mut bytes).to_vec()
        };
        responses.push(RawResponse {
            status,
            headers,
            body,
        });
    }
    Some(responses)
}

/// A chunked body's bytes and what follows it.
fn dechunk(mut bytes: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let mut body = Vec::new();
    loop {
        let line_end = find(bytes, b"\r\n")?;
        let size_text = std::str::from_utf8(&bytes[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        bytes = &bytes[line_end + 2..];
        if size == 0 {
            let trailer_end = find(bytes, b"\r\n")?;
            return Some((body, &bytes[trailer_end + 2..]));
        }
        body.extend_from_slice(bytes.get(..size)?);
        bytes = bytes.get(size + 2..)?;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pipelined_chunked_and_headless_answers() {
        let bytes = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        let responses = parse_responses(bytes, false).expect("responses");
        let got: Vec<(u16, &[u8])> = responses
            .iter()
            .map(|r| (r.status, r.body.as_slice()))
            .collect();
        assert_eq!(got, [(200, &b"ok"[..]), (404, &b"abc"[..])]);
        let head = parse_responses(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n", true)
            .expect("a HEAD answer");
        assert_eq!(head[0].body, b"");
        assert!(parse_responses(b"garbage", false).is_none());
        assert!(
            parse_responses(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nshort", false).is_none()
        );
    }
}
