//! Nothing too big for the queue is sent: a unit whose message would be over
//! `max_message_bytes`, or a stage whose result would be, fails alone with a message naming the
//! limit, and everything else keeps flowing.

use serde_json::json;

use crate::helpers::{Backend, StackOptions, TestStack};

const LIMIT: u64 = 2_000;

fn small_messages(config: &mut crowd::shared::Config) {
    config.max_message_bytes = LIMIT;
}

async fn a_unit_too_big_for_the_queue_fails_alone(backend: Backend) {
    let mut stack = TestStack::start_with(
        backend,
        StackOptions {
            dispatchers: 0,
            configure: small_messages,
            ..Default::default()
        },
    )
    .await;
    let big = stack
        .post_id(json!({"action": "word_count", "inputs": ["one", "two words"]}))
        .await;
    let small = stack
        .post_id(json!({"action": "word_count", "inputs": ["a b c"]}))
        .await;
    // As a unit written before the limit was lowered would be.
    let huge = format!("'\"{}\"'", "word ".repeat(1_000));
    stack
        .probe
        .execute(
            &format!(
                "UPDATE work_units SET input = {huge} WHERE id = (SELECT min(id) FROM work_units WHERE job_id = $1)"
            ),
            big,
        )
        .await;
    stack.start_dispatcher();
    assert_eq!(stack.wait_for_job(small).await["outputs"], json!([3]));
    let job = stack.wait_for_job(big).await;
    assert_eq!(job["status"], "failed", "{job}");
    let error = job["outputs"][0].as_str().unwrap_or_default();
    assert!(
        error.contains(&format!("more than max_message_bytes ({LIMIT})")),
        "{job}"
    );
    assert_eq!(job["outputs"][1], json!(2), "its other unit ran: {job}");
    stack.stop().await;
}

async fn a_stage_result_too_big_for_the_queue_fails_its_unit(backend: Backend) {
    let mut stack = TestStack::start_with(
        backend,
        StackOptions {
            configure: small_messages,
            ..Default::default()
        },
    )
    .await;
    // One chunk per line: the split's list of 120 stored chunks is far over the limit (the
    // text itself is under it).
    let text = (0..120)
        .map(|i| format!("line {i}"))
        .collect::<Vec<_>>()
        .join("\n");
    let id = stack
        .post_id(json!({"action": "chunked_word_count", "inputs": [text],
                          "options": {"lines_per_chunk": 1}}))
        .await;
    let job = stack.wait_for_job(id).await;
    assert_eq!(job["status"], "failed", "{job}");
    let error = job["outputs"][0].as_str().unwrap_or_default();
    assert!(
        error.contains(&format!("more than max_message_bytes ({LIMIT})")),
        "{job}"
    );
    assert_eq!(stack.attempts(id, None).await, [1], "not retried");
    let small = stack
        .post_id(json!({"action": "word_count", "inputs": ["a b c"]}))
        .await;
    assert_eq!(stack.wait_for_job(small).await["outputs"], json!([3]));
    stack.stop().await;
}

crate::on_both_backends!(
    a_unit_too_big_for_the_queue_fails_alone,
    a_stage_result_too_big_for_the_queue_fails_its_unit
);
