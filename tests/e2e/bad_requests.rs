use std::time::Duration;

use serde_json::{json, Value};

use crate::{
    helpers::{Backend, StackOptions, TestStack},
    raw_http::{self, RawResponse},
};

async fn expect_error(reply: reqwest::Response, status: u16, message_part: &str) {
    let got = reply.status().as_u16();
    let body: Value = reply.json().await.expect("a JSON error body");
    assert_eq!(got, status, "{body}");
    let message = body["message"].as_str().expect("a message");
    assert!(
        message.contains(message_part),
        "{message:?} should mention {message_part:?}"
    );
    assert!(body["error"].is_string(), "{body}");
}

async fn every_bad_request_gets_a_4xx_that_says_what_is_wrong(backend: Backend) {
    let stack = TestStack::start_with(
        backend,
        StackOptions {
            configure: |c| {
                c.max_body_bytes = 4096;
                c.max_inputs = 50;
            },
            ..Default::default()
        },
    )
    .await;
    let form = |job: &str| {
        stack
            .http
            .post(stack.url("/jobs"))
            .form(&[("job", job.to_string())])
    };
    let cases: Vec<(String, u16, &str)> = vec![
        ("{not json".into(), 400, "not valid JSON"),
        (r#"{"inputs": ["a"]}"#.into(), 400, "`action` is required"),
        (
            r#"{"action": "no_such_action", "inputs": ["a"]}"#.into(),
            400,
            "no action named",
        ),
        (
            r#"{"action": "word_count"}"#.into(),
            400,
            "`inputs` is required",
        ),
        (
            r#"{"action": "word_count", "inputs": []}"#.into(),
            400,
            "must not be empty",
        ),
        (
            r#"{"action": "word_count", "inputs": "a"}"#.into(),
            400,
            "must be an array",
        ),
        (
            r#"{"action": ["word_count"], "inputs": ["a"]}"#.into(),
            400,
            "must be a string",
        ),
        (
            r#"{"action": "word_count", "inputs": ["a"], "options": 5}"#.into(),
            400,
            "`options` must be an object",
        ),
        (
            r#"{"action": "word_count", "inputs": ["a"], "callback_url": "nope"}"#.into(),
            400,
            "callback_url",
        ),
        (
            r#"{"action": "word_count", "inputs": ["a"], "email": 7}"#.into(),
            400,
            "`email` must be a string",
        ),
        (
            r#"{"action": "word_count", "inputs": ["a\u0000b"]}"#.into(),
            400,
            "NUL",
        ),
        (
            format!(
                r#"{{"action": "word_count", "inputs": [{}]}}"#,
                ["1"; 51].join(",")
            ),
            400,
            "at most 50",
        ),
    ];
    for (job, status, message) in cases {
        expect_error(form(&job).send().await.expect("POST"), status, message).await;
    }

    let no_field = stack
        .http
        .post(stack.url("/jobs"))
        .form(&[("other", "1")])
        .send()
        .await
        .expect("POST");
    expect_error(no_field, 400, "no `job` field").await;
    let bad_json_body = stack
        .http
        .post(stack.url("/jobs"))
        .header("content-type", "application/json")
        .body("[1, 2")
        .send()
        .await
        .expect("POST");
    expect_error(bad_json_body, 400, "not valid JSON").await;
    let wrong_type = stack
        .http
        .post(stack.url("/jobs"))
        .header("content-type", "text/plain")
        .body("hi")
        .send()
        .await;
    expect_error(wrong_type.expect("POST"), 415, "content type").await;
    let unreadable_type = stack
        .http
        .post(stack.url("/jobs"))
        .header(
            "content-type",
            reqwest::header::HeaderValue::from_bytes(b"application/json\xff").expect("a header"),
        )
        .body("{}")
        .send()
        .await;
    expect_error(
        unreadable_type.expect("POST"),
        400,
        "content-type header cannot be read",
    )
    .await;
    let huge = "x".repeat(5000);
    let too_large = form(&format!(
        r#"{{"action": "word_count", "inputs": ["{huge}"]}}"#
    ))
    .send()
    .await;
    expect_error(too_large.expect("POST"), 413, "max_body_bytes is 4096").await;
    // A chunked body declares no length: it is cut off as soon as it passes the limit.
    let chunks = futures_util::stream::iter([Ok::<_, std::io::Error>(format!(
        r#"{{"action": "word_count", "inputs": ["{huge}"]}}"#
    ))]);
    let chunked = stack
        .http
        .post(stack.url("/jobs"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await;
    expect_error(chunked.expect("POST"), 413, "max_body_bytes is 4096").await;

    let wrong_routes = [
        (reqwest::Method::GET, "/jobs/999999", 404, "999999"),
        (reqwest::Method::GET, "/jobs/abc", 404, "abc"),
        (reqwest::Method::DELETE, "/jobs/999999", 404, "999999"),
        (reqwest::Method::GET, "/nowhere", 404, "no such route"),
        (reqwest::Method::PUT, "/jobs/1", 405, "not allowed"),
    ];
    for (method, path, status, message) in wrong_routes {
        let reply = stack
            .http
            .request(method, stack.url(path))
            .send()
            .await
            .expect("request");
        expect_error(reply, status, message).await;
    }

    // A page of another site, posting through a user's browser.
    let cross_site = stack
        .http
        .post(stack.url("/jobs"))
        .header("origin", "http://evil.example")
        .form(&[("job", r#"{"action": "word_count", "inputs": ["a"]}"#)])
        .send()
        .await
        .expect("POST");
    expect_error(cross_site, 403, "another origin").await;

    // Nothing was created and nothing fell over.
    let jobs = stack
        .probe
        .count("SELECT count(*) FROM jobs WHERE id > $1", 0)
        .await;
    assert_eq!(jobs, 0);
    let alive = stack
        .http
        .get(stack.url("/heartbeat"))
        .send()
        .await
        .expect("GET /heartbeat");
    assert_eq!(alive.text().await.expect("body"), "buh-bump");
    stack.stop().await;
}

/// With `allowed_hosts` set (as `crowd up` sets it on a loopback address), a request naming
/// another host, as a page that rebound its DNS name to this machine sends, is refused.
async fn requests_for_other_host_names_are_refused_when_hosts_are_listed(backend: Backend) {
    let stack = TestStack::start_with(
        backend,
        StackOptions {
            workers: 0,
            configure: |c| c.allowed_hosts = vec!["localhost".into(), "127.0.0.1".into()],
            ..Default::default()
        },
    )
    .await;
    let port = stack.api.rsplit(':').next().expect("a port").to_string();
    for path in ["/", "/jobs", "/status"] {
        let rebound = stack
            .http
            .get(stack.url(path))
            .header("host", format!("rebound.example:{port}"))
            .send()
            .await
            .expect("GET");
        expect_error(rebound, 403, "rebound.example").await;
        let own = stack
            .http
            .get(stack.url(path))
            .header("host", format!("localhost:{port}"))
            .send()
            .await
            .expect("GET");
        assert_eq!(own.status(), 200, "{path}");
    }
    stack.stop().await;
}

async fn basic_auth_guards_every_route_when_configured(backend: Backend) {
    let stack = TestStack::start_with(
        backend,
        StackOptions {
            workers: 0,
            configure: |c| {
                c.login = Some("crowd".into());
                c.password = Some(crowd::shared::Secret::new("s3cret"));
            },
            ..Default::default()
        },
    )
    .await;
    for path in [
        "/heartbeat",
        "/status",
        "/jobs/1",
        "/jobs",
        "/jobs/1/units",
        "/events",
        "/",
        "/ops/ops.js",
    ] {
        let reply = stack.http.get(stack.url(path)).send().await.expect("GET");
        assert_eq!(
            reply
                .headers()
                .get("www-authenticate")
                .map(|v| v.as_bytes()),
            Some(&b"Basic realm=\"CloudCrowd\""[..])
        );
        expect_error(reply, 401, "authentication required").await;
        let wrong = stack
            .http
            .get(stack.url(path))
            .basic_auth("crowd", Some("nope"))
            .send()
            .await
            .expect("GET");
        assert_eq!(wrong.status(), 401);
    }
    let ok = stack
        .http
        .get(stack.url("/status"))
        .basic_auth("crowd", Some("s3cret"))
        .send()
        .await
        .expect("GET");
    assert_eq!(ok.status(), 200);
    let created = stack
        .http
        .post(stack.url("/jobs"))
        .basic_auth("crowd", Some("s3cret"))
        .json(&json!({"action": "word_count", "inputs": ["a"]}))
        .send()
        .await
        .expect("POST");
    assert_eq!(created.status(), 200);
    stack.stop().await;
}

/// Found by the fuzz test (tests/fuzz): a request answered before its body was read (a 405, a
/// 413...) leaves the rest of the body on the connection, so hyper closes it after the answer.
/// Unannounced, a client keeping connections alive sent its next request, a job, on it and got
/// a broken pipe. The answer says `Connection: close`; one whose body was read does not.
async fn an_answer_that_leaves_the_body_unread_says_the_connection_closes(backend: Backend) {
    let stack = TestStack::without_workers(backend).await;
    let host = stack.api.trim_start_matches("http://").to_string();
    let unread = [
        // A route that takes no body: 405, the body ignored.
        format!(
            "PUT /jobs/1 HTTP/1.1\r\nhost: {host}\r\ncontent-length: 100000\r\n\r\n{}",
            "x".repeat(100_000)
        ),
        // Longer than max_body_bytes: 413 before a byte of it is read.
        format!("POST /jobs HTTP/1.1\r\nhost: {host}\r\ncontent-length: 1099511627776\r\n\r\n{{}}"),
    ];
    for request in unread {
        let mut stream = raw_http::send(&stack.api, request.as_bytes()).await;
        let (bytes, _) = raw_http::read_until_closed(&mut stream, Duration::from_secs(20)).await;
        let response = RawResponse::parse(&bytes);
        assert!(
            response.status >= 400,
            "{}",
            request.lines().next().unwrap_or("")
        );
        assert_eq!(
            response.header("connection"),
            Some("close"),
            "{}: {:?}",
            request.lines().next().unwrap_or(""),
            response.headers
        );
    }
    // A job read whole leaves the connection as it was: the heartbeat after it is answered.
    let job = r#"{"action": "word_count", "inputs": ["a"]}"#;
    let two = format!(
        "POST /jobs HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{job}GET /heartbeat HTTP/1.1\r\nhost: {host}\r\n\
         connection: close\r\n\r\n",
        job.len()
    );
    let mut stream = raw_http::send(&stack.api, two.as_bytes()).await;
    let (bytes, _) = raw_http::read_until_closed(&mut stream, Duration::from_secs(20)).await;
    let first = RawResponse::parse(&bytes);
    assert_eq!(first.status, 200);
    assert_eq!(first.header("connection"), None, "{:?}", first.headers);
    assert!(
        bytes.ends_with(b"buh-bump"),
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    stack.stop().await;
}

crate::on_both_backends!(
    every_bad_request_gets_a_4xx_that_says_what_is_wrong,
    requests_for_other_host_names_are_refused_when_hosts_are_listed,
    basic_auth_guards_every_route_when_configured,
    an_answer_that_leaves_the_body_unread_says_the_connection_closes,
);

/// Makes Postgres delete a job posted with `email` as its transaction commits, as a
/// `DELETE /jobs/:id` landing between the api storing the job and reading it back does.
const DELETED_AS_STORED: &str = "
CREATE FUNCTION test_delete_as_stored() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM jobs WHERE id = NEW.id;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER test_delete_as_stored AFTER INSERT ON jobs
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
  WHEN (NEW.email = 'deleted-as-stored@127.0.0.1') EXECUTE FUNCTION test_delete_as_stored();
";

/// Found by the fuzz test (tests/fuzz), whose deletes of recent jobs now and then met a post
/// in that gap: the post made its job, and was answered 404 "no job with id N", so a client
/// would take it for failed and post again. It is answered with the job as it was made.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_deleted_before_its_post_is_answered_is_still_answered_200() {
    let stack = TestStack::without_workers(Backend::Distributed).await;
    let (db, connection) =
        tokio_postgres::connect(&stack.config.database_url, tokio_postgres::NoTls)
            .await
            .expect("connect to the test database");
    tokio::spawn(connection);
    db.batch_execute(DELETED_AS_STORED)
        .await
        .expect("install the trigger");
    let reply = stack
        .http
        .post(stack.url("/jobs"))
        .json(&json!({
            "action": "word_count",
            "inputs": ["a", "b"],
            "email": "deleted-as-stored@127.0.0.1",
        }))
        .send()
        .await
        .expect("POST /jobs");
    let status = reply.status();
    let job: Value = reply.json().await.expect("JSON");
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["status"], "processing", "{job}");
    assert_eq!(job["work_units"], 2, "{job}");
    assert_eq!(job["email"], "deleted-as-stored@127.0.0.1", "{job}");
    let id = job["id"].as_i64().expect("an id");
    assert_eq!(stack.get_job(id).await.0, 404, "the job is gone");
    stack.stop().await;
}
