use std::collections::HashMap;

use serde_json::json;

use crate::{
    helpers::{Backend, StackOptions, TestStack},
    http_fixtures::TextServer,
};

async fn a_unit_failing_until_its_last_allowed_attempt_succeeds(backend: Backend) {
    let mut stack = TestStack::start(backend).await;
    let created = stack
        .post_job(json!({"action": "failure_testing", "inputs": ["one", "two", "three"]}))
        .await;
    let id = created["id"].as_i64().expect("id");
    let done = stack.wait_for_job(id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["outputs"], json!(["made it!", "made it!", "made it!"]));
    assert_eq!(
        stack.attempts(id, None).await,
        vec![3, 3, 3],
        "work_unit_retries = 3 attempts each"
    );
    stack.stop().await;
}

async fn a_unit_that_always_fails_fails_the_job_after_every_attempt(backend: Backend) {
    let mut stack = TestStack::start_with(
        backend,
        StackOptions {
            configure: |c| c.work_unit_retries = 4,
            ..Default::default()
        },
    )
    .await;
    let created = stack
        .post_job(json!({"action": "always_fails", "inputs": ["a", "b"]}))
        .await;
    let id = created["id"].as_i64().expect("id");
    let done = stack.wait_for_job(id).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(
        done["outputs"],
        json!(["always fails (attempt 4)", "always fails (attempt 4)"])
    );
    assert_eq!(stack.attempts(id, None).await, vec![4, 4]);
    stack.stop().await;
}

async fn inputs_that_cannot_be_downloaded_fail_with_a_clear_message(backend: Backend) {
    let mut stack = TestStack::start(backend).await;
    let server = TextServer::start(HashMap::new()).await;
    let created = stack
        .post_job(json!({
            "action": "word_count",
            "inputs": [
                server.url("missing.txt"),
                format!("{}/loop", server.base),
                "file:///etc/passwd",
                "s3://no-such-bucket/key.txt",
            ],
        }))
        .await;
    let id = created["id"].as_i64().expect("id");
    let done = stack.wait_for_job(id).await;
    assert_eq!(done["status"], "failed", "{done}");
    let outputs: Vec<String> = done["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .map(|o| o.as_str().unwrap_or("").to_string())
        .collect();
    assert!(outputs[0].contains("404"), "{outputs:?}");
    assert!(outputs[1].contains("redirect"), "{outputs:?}");
    assert!(outputs[2].contains("not allowed"), "{outputs:?}");
    assert!(
        outputs[3].contains("s3://no-such-bucket/key.txt"),
        "{outputs:?}"
    );
    // A 404, a redirect loop, a forbidden path and a missing object will not change: they are
    // not retried.
    assert_eq!(stack.attempts(id, None).await, vec![1, 1, 1, 1]);
    stack.stop().await;
}

crate::on_both_backends!(
    a_unit_failing_until_its_last_allowed_attempt_succeeds,
    a_unit_that_always_fails_fails_the_job_after_every_attempt,
    inputs_that_cannot_be_downloaded_fail_with_a_clear_message
);
