use std::collections::HashMap;

use serde_json::json;

use crate::{
    helpers::{Backend, TestStack},
    http_fixtures::TextServer,
};

// CloudCrowd's status codes, as the test's trigger logs them.
const PROCESSING: i16 = 1;
const SUCCEEDED: i16 = 2;
const SPLITTING: i16 = 4;
const MERGING: i16 = 5;

async fn a_split_process_merge_job_goes_through_every_stage(backend: Backend) {
    let mut stack = TestStack::start(backend).await;
    // 25 lines of 3 words: 3 chunks of at most 10 lines each.
    let text: String = (0..25).map(|i| format!("line number {i}\n")).collect();
    let server = TextServer::start(HashMap::from([("book.txt".to_string(), text)])).await;

    let created = stack
        .post_job(json!({
            "action": "chunked_word_count",
            "inputs": [server.url("book.txt")],
            "options": {"lines_per_chunk": 10},
        }))
        .await;
    assert_eq!(created["status"], "splitting");
    let id = created["id"].as_i64().expect("id");

    let done = stack.wait_for_job(id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["outputs"], json!([75]), "one element after a merge");
    assert_eq!(
        stack.status_history(id).await,
        vec![SPLITTING, PROCESSING, MERGING, SUCCEEDED]
    );

    // The split saved its chunks under CloudCrowd's layout; process read them back.
    let chunks = stack
        .unit_files(&format!("chunked_word_count/job_{id}/"))
        .await;
    assert_eq!(chunks.len(), 3, "{chunks:?}");
    assert!(
        chunks
            .iter()
            .all(|k| k.contains("/unit_") && k.ends_with(".txt")),
        "{chunks:?}"
    );

    let stages: Vec<&str> = stack
        .units(id)
        .await
        .iter()
        .map(|u| u.stage.as_str())
        .collect();
    assert_eq!(
        stages,
        ["split", "process", "process", "process", "merge"],
        "1 split, 3 process units, 1 merge"
    );
    stack.stop().await;
}

async fn a_failed_split_fails_the_job_and_cancels_what_is_left(backend: Backend) {
    let mut stack = TestStack::start(backend).await;
    let text: String = (0..40).map(|i| format!("line {i}\n")).collect();
    let server = TextServer::start(HashMap::from([("book.txt".to_string(), text)])).await;
    let created = stack
        .post_job(json!({
            "action": "chunked_word_count",
            "inputs": [server.url("book.txt"), server.url("missing.txt")],
            "options": {"lines_per_chunk": 1},
        }))
        .await;
    let id = created["id"].as_i64().expect("id");
    let done = stack.wait_for_job(id).await;
    assert_eq!(done["status"], "failed", "{done}");
    let outputs = done["outputs"].as_array().expect("outputs").clone();
    assert_eq!(outputs.len(), 2, "one element per split unit: {outputs:?}");
    assert!(
        outputs[1].as_str().is_some_and(|e| e.contains("404")),
        "{outputs:?}"
    );
    let waiting: Vec<_> = stack
        .units(id)
        .await
        .into_iter()
        .filter(|u| !u.status.is_complete())
        .collect();
    assert!(
        waiting.is_empty(),
        "an ended job leaves no unit waiting: {waiting:?}"
    );
    stack.stop().await;
}

crate::on_both_backends!(
    a_split_process_merge_job_goes_through_every_stage,
    a_failed_split_fails_the_job_and_cancels_what_is_left
);
