//! What is too big to travel in every message goes by reference: a job's big options are stored
//! once per job, a merge's input (every process output) is a stored file, a unit that could
//! never be sent is refused when the job is posted, and outputs beyond what a job lists are
//! paged.

use serde_json::{json, Value};

use crate::{
    fake_worker::FakeWorker,
    helpers::{Backend, StackOptions, TestStack},
};

async fn big_options_travel_once_per_job(backend: Backend) {
    let mut stack = TestStack::without_workers(backend).await;
    let mut worker = FakeWorker::start(&stack, "word_count").await;
    let options = json!({"padding": "x".repeat(5_000), "n": 1});
    let id = stack
        .post_id(json!({"action": "word_count", "inputs": ["a", "b"], "options": options}))
        .await;
    let key = format!("word_count/job_{id}/options.json");
    for _ in 0..2 {
        let msg = worker.next().await;
        assert_eq!(msg.options, Value::Null, "not in the message");
        assert_eq!(msg.options_key.as_deref(), Some(key.as_str()));
    }
    assert_eq!(stack.stored_json(&key).await, options);

    // A real worker reads them: one chunk per line, as the options ask.
    stack.start_worker("reader", |_| {});
    let text = "one\ntwo three\nfour";
    let chunked = stack
        .post_id(json!({"action": "chunked_word_count", "inputs": [text],
                          "options": {"lines_per_chunk": 1, "padding": "y".repeat(5_000)}}))
        .await;
    assert_eq!(stack.wait_for_job(chunked).await["outputs"], json!([4]));
    let chunks = stack
        .unit_files(&format!("chunked_word_count/job_{chunked}/"))
        .await;
    assert_eq!(chunks.len(), 3, "{chunks:?}");
    stack.stop().await;
}

/// Every process output together is far over `max_message_bytes`; the merge reads them from
/// the store.
async fn a_merge_reads_every_output_by_reference(backend: Backend) {
    let mut stack = TestStack::start_with(
        backend,
        StackOptions {
            configure: |c| c.max_message_bytes = 2_000,
            ..Default::default()
        },
    )
    .await;
    let inputs = vec!["a b"; 1_500];
    let id = stack
        .post_id(json!({"action": "word_count", "inputs": inputs}))
        .await;
    let job = stack.wait_for_job(id).await;
    assert_eq!(job["outputs"], json!([3_000]), "{job}");
    stack.stop().await;
}

async fn a_unit_that_could_not_be_sent_is_refused_when_posted(backend: Backend) {
    let stack = TestStack::start_with(
        backend,
        StackOptions {
            configure: |c| c.max_message_bytes = 2_000,
            ..Default::default()
        },
    )
    .await;
    let job = json!({"action": "word_count", "inputs": ["small", "word ".repeat(600)]});
    let reply = stack
        .http
        .post(stack.url("/jobs"))
        .json(&job)
        .send()
        .await
        .expect("POST /jobs");
    assert_eq!(reply.status(), 413);
    let body: Value = reply.json().await.expect("JSON");
    assert_eq!(body["error"], "too_large");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("input 1") && message.contains("max_message_bytes (2000)"),
        "{message}"
    );
    stack.stop().await;
}

async fn outputs_beyond_those_a_job_lists_are_paged(backend: Backend) {
    let mut stack = TestStack::start_with(
        backend,
        StackOptions {
            configure: |c| {
                c.max_listed_outputs = 10;
                c.work_unit_retries = 1; // failure_testing succeeds on its last attempt
            },
            ..Default::default()
        },
    )
    .await;
    let id = stack
        .post_id(json!({"action": "failure_testing", "inputs": vec![1; 25]}))
        .await;
    let job = stack.wait_for_job(id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["outputs"].as_array().map(Vec::len), Some(10));
    assert_eq!(job["outputs_total"], 25);
    let next = job["outputs_next"].as_str().expect("where the rest are");
    assert_eq!(next, format!("/jobs/{id}/outputs?page=2&per_page=10"));
    let page = |path: String| {
        let stack = &stack;
        async move {
            let reply = stack.http.get(stack.url(&path)).send().await.expect("GET");
            assert_eq!(reply.status(), 200);
            reply.json::<Value>().await.expect("JSON")
        }
    };
    let second = page(next.to_string()).await;
    assert_eq!(second["outputs"].as_array().map(Vec::len), Some(10));
    assert_eq!(
        (second["page"].clone(), second["total"].clone()),
        (json!(2), json!(25))
    );
    let third = page(format!("/jobs/{id}/outputs?page=3&per_page=10")).await;
    assert_eq!(third["outputs"], json!(vec!["made it!"; 5]));
    let bad = stack
        .http
        .get(stack.url(&format!("/jobs/{id}/outputs?per_page=11")))
        .send()
        .await
        .expect("GET");
    assert_eq!(bad.status(), 400);
    stack.stop().await;
}

crate::on_both_backends!(
    big_options_travel_once_per_job,
    a_merge_reads_every_output_by_reference,
    a_unit_that_could_not_be_sent_is_refused_when_posted,
    outputs_beyond_those_a_job_lists_are_paged
);
