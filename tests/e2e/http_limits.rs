//! The HTTP server under clients that misbehave: requests that stop halfway, bodies that
//! never end, more bodies at once than the memory budget, jobs too big to build, requests
//! hyper cannot parse. None of them may hold up anyone else, and every answer of ours is the
//! api's JSON error. Misbehaving clients are raw TCP connections (`raw_http`).

use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use crate::{
    helpers::{Backend, StackOptions, TestStack},
    raw_http::{self, RawResponse},
};

/// The api gives a request's head, or its body, 5 s; a stalled connection must be gone by this.
const CLOSED_WITHIN: Duration = Duration::from_secs(9);
/// ... and not before this, or it was not the timeout that closed it.
const NOT_BEFORE: Duration = Duration::from_secs(4);

const HALF_A_HEAD: &[u8] = b"GET /heartbeat HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/";

/// A `POST /jobs` that declares `length` bytes of body and sends only its first byte.
fn half_a_post(length: usize) -> String {
    format!(
        "POST /jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\n\r\n{{"
    )
}

/// A stack without workers whose api takes bodies of at most 4096 bytes.
async fn small_bodies(backend: Backend) -> TestStack {
    TestStack::start_with(
        backend,
        StackOptions {
            workers: 0,
            configure: |c| c.max_body_bytes = 4096,
            ..Default::default()
        },
    )
    .await
}

fn a_job() -> Value {
    json!({"action": "word_count", "inputs": ["to be or not to be"]})
}

async fn a_client_that_stops_halfway_through_its_head_is_disconnected(backend: Backend) {
    let stack = TestStack::without_workers(backend).await;
    let mut stalled = raw_http::send(&stack.api, HALF_A_HEAD).await;
    let (_, took) = raw_http::read_until_closed(&mut stalled, CLOSED_WITHIN).await;
    assert!(took >= NOT_BEFORE, "closed after {took:?}, before its time");
    stack.stop().await;
}

async fn a_body_short_of_its_length_gets_408_and_a_closed_connection(backend: Backend) {
    let stack = TestStack::without_workers(backend).await;
    let mut stalled = raw_http::send(&stack.api, half_a_post(100).as_bytes()).await;
    let (sent, took) = raw_http::read_until_closed(&mut stalled, CLOSED_WITHIN).await;
    assert!(
        took >= NOT_BEFORE,
        "answered after {took:?}, before its time"
    );
    let reply = RawResponse::parse(&sent);
    assert_eq!(reply.status, 408, "{reply:?}");
    let (code, message) = reply.json_error();
    assert_eq!(code, "body_timeout");
    assert!(message.contains("5 s"), "{message:?} should name the limit");
    stack.stop().await;
}

/// A body in chunks (no `Content-Length`) is read up to `max_body_bytes` and no further; one
/// with no body at all, and no length, is an empty one; and so for `POST /blacklist`.
async fn chunked_and_bodiless_posts_are_read_within_their_limits(backend: Backend) {
    let stack = small_bodies(backend).await;
    let chunked = |path: &str, content_type: &str, body: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
             Content-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n\
             {:x}\r\n{body}\r\n0\r\n\r\n",
            body.len()
        )
    };
    let job = a_job().to_string();
    let reply = raw_http::exchange(&stack.api, &chunked("/jobs", "application/json", &job)).await;
    assert_eq!(reply.status, 200, "{reply:?}");

    let big = json!({"action": "word_count", "inputs": ["x".repeat(5000)]}).to_string();
    let reply = raw_http::exchange(&stack.api, &chunked("/jobs", "application/json", &big)).await;
    assert_eq!(reply.status, 413, "{reply:?}");
    let (code, message) = reply.json_error();
    assert_eq!(code, "too_large");
    assert!(message.contains("max_body_bytes is 4096"), "{message:?}");

    let form = "application/x-www-form-urlencoded";
    let reply = raw_http::exchange(&stack.api, &chunked("/blacklist", form, "action=noop")).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let long = format!("action={}", "a".repeat(5000));
    let reply = raw_http::exchange(&stack.api, &chunked("/blacklist", form, &long)).await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(reply.json_error().1.contains("4096 bytes"), "{reply:?}");

    let bodiless = "POST /jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    let reply = raw_http::exchange(&stack.api, bodiless).await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert_eq!(reply.json_error().0, "invalid_job", "{reply:?}");
    stack.stop().await;
}

/// A hundred connections that stop mid-head or mid-body are each left waiting on their own:
/// the requests of others are answered at once, not after the stalled ones time out.
async fn a_hundred_stalled_clients_do_not_slow_anyone_else(backend: Backend) {
    let stack = TestStack::without_workers(backend).await;
    let mut stalled = Vec::new();
    for n in 0..100 {
        let request = if n % 2 == 0 {
            HALF_A_HEAD.to_vec()
        } else {
            half_a_post(1000).into_bytes()
        };
        stalled.push(raw_http::send(&stack.api, &request).await);
    }

    // Well within the 5 s the stalled ones wait: not served after them. A client of its own,
    // so that its requests go on new connections, as those of other clients would.
    let other = reqwest::Client::new();
    let others = async {
        let beat = other
            .get(stack.url("/heartbeat"))
            .send()
            .await
            .expect("GET /heartbeat");
        assert_eq!(beat.text().await.expect("a body"), "buh-bump");
        let posted = other
            .post(stack.url("/jobs"))
            .json(&a_job())
            .send()
            .await
            .expect("POST /jobs");
        assert_eq!(posted.status(), 200);
    };
    tokio::time::timeout(Duration::from_secs(3), others)
        .await
        .expect("with 100 stalled clients open, a heartbeat and a post are answered in 3 s");

    for connection in &mut stalled {
        raw_http::read_until_closed(connection, CLOSED_WITHIN).await;
    }
    stack.stop().await;
}

/// Bodies being read and parsed may take 4 × `max_body_bytes` at once; a post that cannot get
/// its share in time is turned away with a 503 that names the budget, and served once the
/// bodies holding it are gone.
async fn posts_beyond_the_memory_budget_get_503_naming_it(backend: Backend) {
    let stack = small_bodies(backend).await;
    // Four posts of the largest body allowed, which never send it, hold the whole budget.
    let mut holders = Vec::new();
    for _ in 0..4 {
        holders.push(raw_http::send(&stack.api, half_a_post(4096).as_bytes()).await);
    }

    // The holders' requests may not have reached the api yet: posts go through until they do.
    let deadline = Instant::now() + Duration::from_secs(4);
    let refused = loop {
        let reply = stack
            .http
            .post(stack.url("/jobs"))
            .json(&a_job())
            .send()
            .await
            .expect("POST /jobs");
        if reply.status() == 503 {
            break reply;
        }
        assert_eq!(reply.status(), 200, "{:?}", reply.text().await);
        assert!(
            Instant::now() < deadline,
            "no post was turned away while the budget was spent"
        );
    };
    assert_eq!(
        refused.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    let body: Value = refused.json().await.expect("a JSON error");
    assert_eq!(body["error"], "busy", "{body}");
    let message = body["message"].as_str().expect("a message");
    assert!(message.contains("16384 bytes"), "{message:?}");

    for holder in &mut holders {
        let (sent, _) = raw_http::read_until_closed(holder, CLOSED_WITHIN).await;
        assert_eq!(RawResponse::parse(&sent).status, 408);
    }
    stack.post_job(a_job()).await;
    stack.stop().await;
}

/// Four million one-letter inputs (16 MB, under the default `max_body_bytes`) would take
/// hundreds of megabytes as values; the parse stops at the 100,001st. The second body breaks
/// off after the inputs: only a parse that stopped early can say the inputs are too many.
async fn a_job_of_millions_of_inputs_is_refused_without_reading_them_all(backend: Backend) {
    let stack = TestStack::without_workers(backend).await;
    let inputs = "\"a\",".repeat(4_000_000);
    let whole = format!(r#"{{"action": "word_count", "inputs": [{inputs}"a"]}}"#);
    let broken_off = format!(r#"{{"action": "word_count", "inputs": [{inputs}"#);
    for body in [whole, broken_off] {
        let reply = stack
            .http
            .post(stack.url("/jobs"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST /jobs");
        assert_eq!(reply.status(), 400);
        let error: Value = reply.json().await.expect("a JSON error");
        let message = error["message"].as_str().expect("a message");
        assert!(
            message.contains("a job may have at most 100000 inputs"),
            "{message:?}"
        );
    }
    stack.stop().await;
}

async fn a_callback_url_longer_than_4096_bytes_is_refused(backend: Backend) {
    let stack = TestStack::without_workers(backend).await;
    let base = "http://127.0.0.1:9/";
    let post = |url: String| {
        let job = json!({"action": "word_count", "inputs": ["a"], "callback_url": url});
        stack.http.post(stack.url("/jobs")).json(&job).send()
    };
    let too_long = post(format!("{base}{}", "a".repeat(4097 - base.len())))
        .await
        .expect("POST /jobs");
    assert_eq!(too_long.status(), 400);
    let error: Value = too_long.json().await.expect("a JSON error");
    let message = error["message"].as_str().expect("a message");
    assert!(message.contains("at most 4096 bytes"), "{message:?}");
    assert!(
        message.len() < 500,
        "the message repeats the URL: {message:?}"
    );

    let at_the_limit = post(format!("{base}{}", "a".repeat(4096 - base.len())))
        .await
        .expect("POST /jobs");
    assert_eq!(at_the_limit.status(), 200);
    stack.stop().await;
}

async fn head_is_answered_wherever_get_is(backend: Backend) {
    let stack = TestStack::without_workers(backend).await;
    let id = stack.post_job(a_job()).await["id"]
        .as_i64()
        .expect("a job id");
    let request = |method: &str, path: &str| {
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    };
    // Replies that cannot change between the GET and the HEAD: their lengths must match.
    let fixed = [
        "/",
        "/ops/ops.js",
        "/ops/ops.css",
        "/heartbeat",
        "/jobs/999999",
    ];
    let changing = [
        format!("/jobs/{id}"),
        format!("/jobs/{id}/units"),
        "/jobs".to_string(),
        "/status".to_string(),
    ];
    for path in fixed.iter().map(|p| p.to_string()).chain(changing) {
        let get = raw_http::exchange(&stack.api, &request("GET", &path)).await;
        let head = raw_http::exchange(&stack.api, &request("HEAD", &path)).await;
        assert_eq!(head.status, get.status, "HEAD {path}: {head:?}");
        assert!(head.body.is_empty(), "HEAD {path} sent a body: {head:?}");
        assert_eq!(head.header("content-type"), get.header("content-type"));
        assert!(head.header("content-length").is_some(), "HEAD {path}");
        if fixed.contains(&path.as_str()) {
            assert_eq!(head.header("content-length"), get.header("content-length"));
        }
    }
    let events = raw_http::exchange(&stack.api, &request("HEAD", "/events")).await;
    assert_eq!(events.status, 200);
    assert_eq!(events.header("content-type"), Some("text/event-stream"));
    assert!(events.body.is_empty(), "{events:?}");
    stack.stop().await;
}

async fn unknown_paths_are_404_and_known_ones_say_which_methods_they_take(backend: Backend) {
    let stack = TestStack::without_workers(backend).await;
    let request = |method: &str, path: &str| {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        stack.http.request(method, stack.url(path)).send()
    };
    for (method, path) in [
        ("GET", "/nope"),
        ("DELETE", "/nope"),
        ("POST", "/nope"),
        ("PATCH", "/jobs/1/nope"),
        ("PUT", "/ops/nope.js"),
    ] {
        let reply = request(method, path).await.expect("a reply");
        assert_eq!(reply.status(), 404, "{method} {path}");
        let error: Value = reply.json().await.expect("a JSON error");
        assert_eq!(error["error"], "not_found", "{method} {path}: {error}");
    }
    for (method, path, allow) in [
        ("PUT", "/jobs/1", "GET, HEAD, DELETE"),
        ("DELETE", "/jobs", "GET, HEAD, POST"),
        ("POST", "/heartbeat", "GET, HEAD"),
        ("DELETE", "/", "GET, HEAD"),
        ("POST", "/jobs/1/units", "GET, HEAD"),
    ] {
        let reply = request(method, path).await.expect("a reply");
        assert_eq!(reply.status(), 405, "{method} {path}");
        let allowed = reply.headers().get("allow").map(|v| v.as_bytes().to_vec());
        assert_eq!(
            allowed.as_deref(),
            Some(allow.as_bytes()),
            "{method} {path}"
        );
        let error: Value = reply.json().await.expect("a JSON error");
        assert_eq!(error["error"], "method_not_allowed", "{error}");
        let message = error["message"].as_str().expect("a message");
        assert!(message.contains(allow), "{message:?}");
    }
    stack.stop().await;
}

/// hyper answers what it cannot parse before the api sees a request: with a status and an
/// empty body (hyper has no hook for a body there), then it closes the connection.
async fn requests_hyper_cannot_parse_get_a_status_and_a_closed_connection(backend: Backend) {
    let stack = TestStack::without_workers(backend).await;
    let too_many_headers: String = (0..101).map(|n| format!("X-Header-{n}: 1\r\n")).collect();
    let cases = [
        ("NOT A REQUEST\r\n\r\n".to_string(), 400),
        (
            format!("GET /heartbeat HTTP/1.1\r\nHost: 127.0.0.1\r\n{too_many_headers}\r\n"),
            431,
        ),
        (
            format!(
                "GET /{} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                "a".repeat(70_000)
            ),
            414,
        ),
    ];
    for (request, status) in cases {
        let reply = raw_http::exchange(&stack.api, &request).await;
        assert_eq!(reply.status, status, "{reply:?}");
        assert!(reply.body.is_empty(), "{reply:?}");
    }
    let beat = stack.http.get(stack.url("/heartbeat")).send().await;
    assert_eq!(beat.expect("GET /heartbeat").status(), 200);
    stack.stop().await;
}

/// A client that went silent in the middle of its second request does not keep the api from
/// stopping: a graceful stop waits for requests under way, but closes a connection that has
/// none at once, sooner than the head timeout would.
async fn a_silent_client_does_not_hold_up_a_stop(backend: Backend) {
    let stack = TestStack::without_workers(backend).await;
    let first = "GET /heartbeat HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    let mut client = raw_http::send(&stack.api, first.as_bytes()).await;
    // The first answer shows that the api has taken the connection.
    let mut answer = vec![0u8; 4096];
    let n = tokio::io::AsyncReadExt::read(&mut client, &mut answer)
        .await
        .expect("the first answer");
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"), "{answer:?}");
    tokio::io::AsyncWriteExt::write_all(&mut client, HALF_A_HEAD)
        .await
        .expect("send half a request");

    tokio::time::timeout(Duration::from_secs(3), stack.stop())
        .await
        .expect("the stack stopped in time");
}

crate::on_both_backends!(
    a_client_that_stops_halfway_through_its_head_is_disconnected,
    a_body_short_of_its_length_gets_408_and_a_closed_connection,
    chunked_and_bodiless_posts_are_read_within_their_limits,
    a_hundred_stalled_clients_do_not_slow_anyone_else,
    posts_beyond_the_memory_budget_get_503_naming_it,
    a_job_of_millions_of_inputs_is_refused_without_reading_them_all,
    a_callback_url_longer_than_4096_bytes_is_refused,
    head_is_answered_wherever_get_is,
    unknown_paths_are_404_and_known_ones_say_which_methods_they_take,
    requests_hyper_cannot_parse_get_a_status_and_a_closed_connection,
    a_silent_client_does_not_hold_up_a_stop,
);
