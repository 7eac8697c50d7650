//! Requests with odd headers: a fine request to a real route (now and then a job post) with
//! header lines added that are junk, not UTF-8, lengths that lie or disagree, framing the api
//! refuses, hosts and origins of elsewhere, too many of them or too big.

use crate::{
    bodies::{self, Encoding},
    jobs::{self, Flavor},
    request::{self, Context, Request, Via},
    rng::Rng,
    targets,
};

/// Sets `request` (a `POST /jobs` with no body yet) to one of odd headers, written by hand.
pub fn make(rng: &mut Rng, context: &Context, request: &mut Request, max_id: usize) {
    if rng.one_in(2) {
        let job = jobs::job(rng, context.urls, Flavor::Plausible);
        request.body = bodies::encode(rng, &job, Encoding::Json).0;
    } else {
        request.method = rng.pick(&["GET", "HEAD", "DELETE"]).to_string();
        request.target = targets::path(rng, max_id);
    }
    let mut extra: Vec<Vec<u8>> = Vec::new();
    let mut body = None;
    let mut half_close = false;
    let mut host = Some(context.authority.as_bytes().to_vec());
    for _ in 0..rng.between(1, 3) {
        match rng.below(12) {
            0 => extra.push([b"content-type: ".as_slice(), &line_bytes(rng, 30)].concat()),
            1 => extra.push(format!("content-type: {}", request::content_type(rng)).into_bytes()),
            2 => {
                // Two lengths, alike or not.
                let n = request.body.len();
                let other = if rng.one_in(2) { n } else { n + 1 };
                extra.push(format!("content-length: {n}").into_bytes());
                extra.push(format!("content-length: {other}").into_bytes());
            }
            3 => extra.push(
                format!(
                    "content-length: {}",
                    rng.pick(&[
                        "-1",
                        "abc",
                        " 10",
                        "+10",
                        "1 0",
                        "99999999999999999999",
                        "18446744073709551615",
                        "0x10",
                        "",
                    ])
                )
                .into_bytes(),
            ),
            4 => {
                // A length that is a lie: longer than the body sent, after which the client
                // shuts its side. (Short, so the body budget it reserves is small.)
                let n = request.body.len() + rng.between(1, 1_000);
                extra.push(format!("content-length: {n}").into_bytes());
                half_close = true;
                request.may_go_unanswered = true;
            }
            5 => {
                // Chunked, which the api reads up to max_body_bytes; or a chunk hyper cannot read.
                extra.push(b"transfer-encoding: chunked".to_vec());
                body = Some(if rng.one_in(3) {
                    b"zz\r\nnot a chunk\r\n".to_vec()
                } else {
                    let mut chunked = format!("{:x}\r\n", request.body.len()).into_bytes();
                    chunked.extend_from_slice(&request.body);
                    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
                    chunked
                });
            }
            6 => extra.push(
                rng.pick(&[
                    "transfer-encoding: gzip",
                    "transfer-encoding: chunked, chunked",
                    "transfer-encoding: identity",
                    "expect: 100-continue",
                    "expect: something-else",
                    "connection: upgrade\r\nupgrade: websocket",
                    "te: trailers",
                    "content-encoding: gzip",
                    "range: bytes=0-1",
                    "accept: application/xml",
                ])
                .as_bytes()
                .to_vec(),
            ),
            7 if rng.one_in(2) => host = odd_host(rng, context.authority),
            7 => extra.push(
                rng.pick(&[
                    "origin: http://evil.example",
                    "origin: null",
                    "origin: not a url",
                    "authorization: Basic !!!",
                    "authorization: Bearer x",
                    "cookie: a=b; c",
                    "x-forwarded-for: 10.0.0.1",
                ])
                .as_bytes()
                .to_vec(),
            ),
            8 if rng.one_in(4) => host = Some(line_bytes(rng, 40)),
            8 => {
                let name = rng.pick(&["origin", "authorization", "x-junk"]);
                extra.push([format!("{name}: ").as_bytes(), &line_bytes(rng, 40)].concat());
            }
            9 => {
                // Long values, up to past what hyper reads of a head (it answers 431, and
                // may close before the client has written the rest, losing the answer).
                let length = rng.pick(&[8_000, 64_000, 500_000]);
                if length > 100_000 {
                    request.may_go_unanswered = true;
                }
                extra.push(format!("x-long: {}", "v".repeat(length)).into_bytes());
            }
            10 => {
                // More headers than hyper takes (100), or just within.
                for i in 0..rng.pick(&[90, 101, 200]) {
                    extra.push(format!("x-many-{i}: {i}").into_bytes());
                }
            }
            _ => extra.push(
                rng.pick(&[
                    "bad header: x",
                    "no-colon",
                    ": no name",
                    "x-fold: a\r\n  folded",
                    "x-nul: a\0b",
                    "x-cr: a\rb",
                    "x-tab:\tvalue\t",
                    "X-UPPER: YES",
                ])
                .as_bytes()
                .to_vec(),
            ),
        }
    }
    request.via = Via::Raw {
        bytes: request::wire_bytes(request, host.as_deref(), &extra, body.as_deref(), false),
        half_close,
    };
}

/// A `Host` the api does not answer to (its `allowed_hosts` are loopback names), or one that
/// only looks odd, or none at all.
fn odd_host(rng: &mut Rng, authority: &str) -> Option<Vec<u8>> {
    let port = authority.rsplit(':').next().unwrap_or("");
    let host = match rng.below(20) {
        0 => return None,
        1 => format!("{authority}\r\nhost: evil.example"),
        2 => format!("evil.example\r\nhost: {authority}"),
        _ => rng
            .pick(&[
                "evil.example",
                "evil.example:PORT",
                "",
                "[::1",
                "[::1]:PORT",
                "[::1]]",
                "127.0.0.1:1:2",
                "127.0.0.1:",
                ":PORT",
                "a b",
                "..",
                "LOCALHOST:PORT",
                "localhost.",
                "127.0.0.1.evil.example",
                "127.0.0.1:PORT, evil.example",
                "ｌｏｃａｌｈｏｓｔ:PORT",
                "127.1:PORT",
            ])
            .replace("PORT", port),
    };
    Some(host.into_bytes())
}

/// Bytes of any value but those that end a header line (and never `:`).
pub fn line_bytes(rng: &mut Rng, count: usize) -> Vec<u8> {
    (0..count)
        .map(|_| match rng.byte() {
            b'\r' | b'\n' | b':' => b'.',
            b => b,
        })
        .collect()
}
