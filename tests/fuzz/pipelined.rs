//! A request whose body is another request, followed on the same connection by
//! `GET /heartbeat`. Whatever the api does with the first (reads its body, refuses it before
//! reading it, ignores it), the bytes of that body must never be answered as a request of
//! their own: the second answer on the connection, if any, is the heartbeat's. A request that
//! is not framed as its body says would let one client slip requests past whatever reads
//! the first.

use crate::{
    bodies::{self, Encoding},
    fixtures::Urls,
    jobs::{self, Flavor},
    request::{self, Context, Request, Via},
    rng::Rng,
};

/// What the body holds: a request for a route that does not exist, so that its answer (a 404)
/// cannot be mistaken for the heartbeat's.
const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nhost: x\r\n\r\n";

/// Sets `request` to a first request carrying `SMUGGLED`, then the heartbeat, written by hand.
pub fn make(rng: &mut Rng, context: &Context, request: &mut Request) {
    let (method, target, content_type) = rng.pick(&[
        // The api reads the body, then refuses it.
        ("POST", "/jobs", "text/plain"),
        ("POST", "/jobs", "application/json"),
        // The api answers without reading the body.
        ("POST", "/status", "application/json"),
        ("POST", "/nowhere", "application/json"),
        ("GET", "/heartbeat", "text/plain"),
        ("DELETE", "/jobs/0", "text/plain"),
        ("PUT", "/jobs/1", "application/json"),
    ]);
    request.method = method.to_string();
    request.target = target.to_string();
    request
        .headers
        .push(("content-type".into(), content_type.to_string()));
    let mut body = some_job(rng, context.urls).into_bytes();
    body.extend_from_slice(SMUGGLED.as_bytes());
    let mut extra = Vec::new();
    match rng.below(4) {
        0 => {
            // Chunked (refused with 411 before the body is read), the request in a chunk.
            extra.push(b"transfer-encoding: chunked".to_vec());
            let mut chunked = format!("{:x}\r\n", body.len()).into_bytes();
            chunked.extend_from_slice(&body);
            chunked.extend_from_slice(b"\r\n0\r\n\r\n");
            body = chunked;
        }
        1 => {
            // A length past max_body_bytes (413 before the body is read): the body and the
            // heartbeat are the start of a body that has not ended.
            extra.push(format!("content-length: {}", 1u64 << 40).into_bytes());
        }
        _ => {}
    }
    let host = Some(context.authority.as_bytes());
    let mut bytes = request::wire_bytes(request, host, &extra, Some(&body), true);
    bytes.extend_from_slice(
        format!(
            "GET /heartbeat HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\r\n",
            context.authority
        )
        .as_bytes(),
    );
    request.body = body;
    request.via = Via::Raw {
        bytes,
        half_close: false,
    };
    request.then_heartbeat = true;
}

/// A job's JSON (which makes a job if the api reads it as one), or nothing.
fn some_job(rng: &mut Rng, urls: &Urls) -> String {
    if rng.one_in(2) {
        return String::new();
    }
    let job = jobs::job(rng, urls, Flavor::Plausible);
    String::from_utf8_lossy(&bodies::encode(rng, &job, Encoding::Json).0).into_owned()
}
