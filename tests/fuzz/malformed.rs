//! What is not quite HTTP/1.1: request lines hyper cannot read (it answers 400, 414 or 431
//! with an empty body, or closes the connection), heads cut off, random bytes, and the odd
//! forms it does take (HTTP/1.0, bare line feeds, two requests in one write).

use crate::{
    headers::line_bytes,
    request::{Context, Request, Via},
    rng::Rng,
};

/// Request lines with one thing wrong (or, the last ones, only unusual).
const REQUEST_LINES: &[&str] = &[
    "GET  /heartbeat HTTP/1.1",
    "GET\t/heartbeat HTTP/1.1",
    "GE T /heartbeat HTTP/1.1",
    "GET /heart beat HTTP/1.1",
    "GET heartbeat HTTP/1.1",
    "GET /\0 HTTP/1.1",
    "GET /heartbeat HTTP/2.0",
    "GET /heartbeat HTTP/1.2",
    "GET /heartbeat HTTP/9.9",
    "GET /heartbeat HTTP/1",
    "GET /heartbeat http/1.1",
    "GET /heartbeat",
    "GET * HTTP/1.1",
    "OPTIONS * HTTP/1.1",
    "CONNECT 127.0.0.1:1 HTTP/1.1",
    "GET http://127.0.0.1/heartbeat HTTP/1.1",
];

/// Sets `request` to something malformed, written by hand.
pub fn make(rng: &mut Rng, context: &Context, request: &mut Request) {
    let host = context.authority;
    let close = "connection: close\r\n";
    let (bytes, half_close, may_go_unanswered) = match rng.below(11) {
        0 => (b"GET /heartbeat HTTP/1.0\r\n\r\n".to_vec(), false, false),
        1 => {
            let line = rng.pick(REQUEST_LINES);
            (
                format!("{line}\r\nhost: {host}\r\n{close}\r\n").into_bytes(),
                false,
                false,
            )
        }
        // HTTP/2's preface, to a server of HTTP/1 only: hyper closes without an answer.
        2 => (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(), false, true),
        3 => {
            let lf_only = format!("GET /heartbeat HTTP/1.1\nhost: {host}\nconnection: close\n\n");
            (lf_only.into_bytes(), false, false)
        }
        4 => {
            // The head stops partway and the client shuts its side.
            let full = format!("POST /jobs HTTP/1.1\r\nhost: {host}\r\ncontent-length: 10\r\n\r\n");
            let cut = rng.between(0, full.len() - 1);
            (full.as_bytes()[..cut].to_vec(), true, true)
        }
        5 => {
            // hyper may wait for the rest of a head that never comes (its 5 s timeout).
            let count = rng.between(1, 2_000);
            (line_bytes(rng, count), rng.one_in(2), true)
        }
        6 => {
            // A target longer than hyper takes (64 KiB): 414, or, past what it reads of a
            // head, a close that may lose the answer.
            let long = "a".repeat(rng.pick(&[65_000, 70_000, 300_000]));
            let bytes = format!("GET /{long} HTTP/1.1\r\nhost: {host}\r\n{close}\r\n").into_bytes();
            (bytes, false, true)
        }
        7 => {
            // Two requests in one write; the second closes the connection.
            let two = format!(
                "GET /heartbeat HTTP/1.1\r\nhost: {host}\r\n\r\nGET /status HTTP/1.1\r\nhost: {host}\r\n{close}\r\n"
            );
            (two.into_bytes(), false, false)
        }
        8 => (b"\r\n\r\n\r\n".to_vec(), true, true),
        9 => {
            // A header line with no colon.
            let junk = "x".repeat(rng.between(1, 100));
            let bytes = format!("GET /heartbeat HTTP/1.1\r\nhost: {host}\r\n{junk}\r\n{close}\r\n");
            (bytes.into_bytes(), false, false)
        }
        _ => (Vec::new(), true, true),
    };
    // The method as hyper would read it, for the verdict (a HEAD answer has no body).
    request.method = String::from_utf8_lossy(bytes.split(|&b| b == b' ').next().unwrap_or(b""))
        .chars()
        .take(20)
        .collect();
    request.target = String::new();
    request.via = Via::Raw { bytes, half_close };
    request.may_go_unanswered = may_go_unanswered;
}
