//! `Idempotency-Key` on `POST /jobs`: a post repeated with its key answers the job the first
//! one made, however the repeats arrive (again, at once, in another encoding); the key with
//! another job is a 409; a key is forgotten after `idempotency_key_secs`.

use futures_util::future::join_all;
use reqwest::header::HeaderValue;
use serde_json::{json, Value};

use crate::helpers::{Backend, StackOptions, TestStack};

/// Counts over the whole table (the probe's one parameter is given 0).
const JOBS: &str = "SELECT count(*) FROM jobs WHERE id > $1";
const KEYS: &str = "SELECT count(*) FROM idempotency_keys WHERE job_id > $1";
const KEYS_OF_JOB: &str = "SELECT count(*) FROM idempotency_keys WHERE job_id = $1";

/// A reply to a post: status, body, and whether it says it replays an earlier post.
#[derive(Debug)]
struct Reply {
    status: u16,
    body: Value,
    replayed: bool,
}

impl Reply {
    async fn from(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let replayed = response
            .headers()
            .get("idempotent-replayed")
            .is_some_and(|v| v == "true");
        let body = response.json().await.expect("a JSON body");
        Reply {
            status,
            body,
            replayed,
        }
    }

    /// The job's id, after checking the post succeeded.
    fn id(&self) -> i64 {
        assert_eq!(self.status, 200, "{}", self.body);
        self.body["id"].as_i64().expect("a job id")
    }
}

/// Posts `job` as a form field, as CloudCrowd's clients do, with the key.
async fn post_form(stack: &TestStack, key: HeaderValue, job: &str) -> Reply {
    let response = stack
        .http
        .post(stack.url("/jobs"))
        .header("idempotency-key", key)
        .form(&[("job", job)])
        .send()
        .await
        .expect("POST /jobs");
    Reply::from(response).await
}

/// Posts `body` as JSON, with the key.
async fn post_json(stack: &TestStack, key: &str, body: &str) -> Reply {
    let response = stack
        .http
        .post(stack.url("/jobs"))
        .header("idempotency-key", key)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("POST /jobs");
    Reply::from(response).await
}

fn key(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).expect("a valid header value")
}

fn word_count(text: &str) -> String {
    json!({"action": "word_count", "inputs": [text]}).to_string()
}

async fn a_job_posted_again_with_its_key_is_the_job_made_the_first_time(backend: Backend) {
    let stack = TestStack::without_workers(backend).await;
    let job = word_count("to be or not to be");
    let first = post_form(&stack, key("order-17"), &job).await;
    let id = first.id();
    assert!(!first.replayed, "the first post makes the job");

    let again = post_form(&stack, key("order-17"), &job).await;
    assert_eq!(again.id(), id);
    assert!(again.replayed, "a repeat says it is one");
    assert_eq!(again.body["status"], "processing", "the job as it is now");
    assert_eq!(stack.probe.count(JOBS, 0).await, 1, "one job");
    assert_eq!(stack.probe.count(KEYS, 0).await, 1, "one key");

    // The key names the job, not the body: another key is another job.
    let other = post_form(&stack, key("order-18"), &job).await;
    assert_ne!(other.id(), id);
    assert!(!other.replayed);

    // Once the job is deleted its key says so, rather than making it again.
    assert_eq!(stack.delete_job(id).await, 204);
    let gone = post_form(&stack, key("order-17"), &job).await;
    assert_eq!(gone.status, 410, "{}", gone.body);
    assert_eq!(gone.body["error"], "job_deleted");
    let message = gone.body["message"].as_str().expect("a message");
    assert!(
        message.contains(&format!("(id {id}) has been deleted")),
        "{message}"
    );
    assert_eq!(
        stack.probe.count(JOBS, 0).await,
        1,
        "only order-18's job is left"
    );
    stack.stop().await;
}

async fn the_key_of_one_job_posted_with_another_is_a_409_that_says_so(backend: Backend) {
    let stack = TestStack::without_workers(backend).await;
    let id = post_form(&stack, key("k"), &word_count("one")).await.id();
    let other = post_form(&stack, key("k"), &word_count("two")).await;
    assert_eq!(other.status, 409, "{}", other.body);
    assert_eq!(other.body["error"], "idempotency_key_reused");
    let message = other.body["message"].as_str().expect("a message");
    assert!(
        message.contains("Idempotency-Key was already used with a different job")
            && message.contains("86400 s"),
        "{message}"
    );
    assert_eq!(stack.probe.count(JOBS, 0).await, 1);
    assert_eq!(
        stack.probe.count(KEYS_OF_JOB, id).await,
        1,
        "the key still names the first"
    );
    stack.stop().await;
}

async fn twenty_posts_at_once_with_one_key_make_exactly_one_job(backend: Backend) {
    let stack = TestStack::without_workers(backend).await;
    let job = json!({"action": "word_count", "inputs": ["a", "b c", "d e f"]}).to_string();
    for round in 0..3 {
        let burst = format!("burst-{round}");
        let replies = join_all((0..20).map(|_| post_form(&stack, key(&burst), &job))).await;
        let ids: Vec<i64> = replies.iter().map(Reply::id).collect();
        assert!(ids.iter().all(|id| *id == ids[0]), "round {round}: {ids:?}");
        let made = replies.iter().filter(|r| !r.replayed).count();
        assert_eq!(
            made, 1,
            "round {round}: one post makes it, the rest replay it"
        );
        assert_eq!(stack.probe.count(JOBS, 0).await, round + 1, "round {round}");
        assert_eq!(stack.units(ids[0]).await.len(), 3, "one set of units");
    }
    stack.stop().await;
}

async fn a_form_post_and_a_json_post_of_one_job_are_one_job(backend: Backend) {
    let stack = TestStack::without_workers(backend).await;
    let form = r#"{"action":"word_count","inputs":["a b",{"url":"x","n":1}],"options":{"x":1,"y":[1,2]},"email":"me@example.com"}"#;
    let id = post_form(&stack, key("same-job"), form).await.id();
    // The same job: keys in another order, other whitespace, an escape for a letter, a key the
    // api ignores, an empty callback_url (none).
    let json = r#"{ "email": "me@example.com", "options": {"y": [1, 2], "x": 1},
                    "inputs": ["a\u0020b", {"n": 1, "url": "\u0078"}], "action": "word_count",
                    "callback_url": "", "priority": 5 }"#;
    let again = post_json(&stack, "same-job", json).await;
    assert_eq!(again.id(), id);
    assert!(again.replayed);
    // Its options changed: another job.
    let changed = json.replace(r#""x": 1"#, r#""x": 2"#);
    assert_eq!(post_json(&stack, "same-job", &changed).await.status, 409);
    assert_eq!(stack.probe.count(JOBS, 0).await, 1);
    stack.stop().await;
}

async fn a_key_too_long_or_not_printable_is_a_400_that_says_why(backend: Backend) {
    let stack = TestStack::without_workers(backend).await;
    let job = word_count("x");
    let cases: [(HeaderValue, &str); 3] = [
        (
            HeaderValue::from_str(&"k".repeat(256)).expect("a header value"),
            "at most 255 bytes long, this one has 256",
        ),
        (
            HeaderValue::from_bytes(b"caf\xe9").expect("obs-text is a header value"),
            "printable ASCII",
        ),
        (HeaderValue::from_static(""), "must not be empty"),
    ];
    for (bad, says) in cases {
        let reply = post_form(&stack, bad.clone(), &job).await;
        assert_eq!(reply.status, 400, "{bad:?}: {}", reply.body);
        assert_eq!(reply.body["error"], "invalid_idempotency_key");
        let message = reply.body["message"].as_str().expect("a message");
        assert!(message.contains(says), "{bad:?}: {message}");
    }
    assert_eq!(
        stack.probe.count(JOBS, 0).await,
        0,
        "no job from a refused key"
    );
    let longest = post_form(&stack, key(&"k".repeat(255)), &job).await;
    longest.id();
    stack.stop().await;
}

async fn an_expired_key_makes_a_new_job_and_expired_keys_are_deleted(backend: Backend) {
    let stack = TestStack::start_with(
        backend,
        StackOptions {
            workers: 0,
            // Keys expire at once, so expiry needs no waiting.
            configure: |c| c.idempotency_key_secs = 0,
            ..Default::default()
        },
    )
    .await;
    let job = word_count("x");
    let first = post_form(&stack, key("daily"), &job).await.id();
    let second = post_form(&stack, key("daily"), &job).await;
    assert_ne!(second.id(), first, "an expired key makes a new job");
    assert!(!second.replayed);
    let second = second.id();
    assert_eq!(
        stack.probe.count(KEYS, 0).await,
        1,
        "the key renewed, not added"
    );
    assert_eq!(stack.probe.count(KEYS_OF_JOB, second).await, 1);

    // The next post with any key deletes the expired ones.
    let third = post_form(&stack, key("another"), &job).await.id();
    assert_eq!(stack.probe.count(KEYS_OF_JOB, second).await, 0, "deleted");
    assert_eq!(stack.probe.count(KEYS_OF_JOB, third).await, 1);
    assert_eq!(stack.probe.count(JOBS, 0).await, 3);
    stack.stop().await;
}

crate::on_both_backends!(
    a_job_posted_again_with_its_key_is_the_job_made_the_first_time,
    the_key_of_one_job_posted_with_another_is_a_409_that_says_so,
    twenty_posts_at_once_with_one_key_make_exactly_one_job,
    a_form_post_and_a_json_post_of_one_job_are_one_job,
    a_key_too_long_or_not_printable_is_a_400_that_says_why,
    an_expired_key_makes_a_new_job_and_expired_keys_are_deleted,
);
