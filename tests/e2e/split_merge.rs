use std::collections::HashMap;

use serde_json::json;

use crate::{helpers::TestStack, http_fixtures::TextServer};

// CloudCrowd's status codes, as the test's trigger logs them.
const PROCESSING: i16 = 1;
const SUCCEEDED: i16 = 2;
const SPLITTING: i16 = 4;
const MERGING: i16 = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_split_process_merge_job_goes_through_every_stage() {
    let mut stack = TestStack::start().await;
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

    // The split saved its chunks to S3 under CloudCrowd's layout; process read them back.
    let chunks = stack
        .bucket_keys(&format!("chunked_word_count/job_{id}/"))
        .await;
    assert_eq!(chunks.len(), 3, "{chunks:?}");
    assert!(
        chunks
            .iter()
            .all(|k| k.contains("/unit_") && k.ends_with(".txt")),
        "{chunks:?}"
    );

    let units = stack
        .db
        .query("SELECT stage, count(*) FROM work_units WHERE job_id = $1 GROUP BY stage ORDER BY stage", &[&id])
        .await
        .expect("units");
    let by_stage: Vec<(i16, i64)> = units.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        by_stage,
        vec![(1, 3), (4, 1), (5, 1)],
        "3 process units, 1 split, 1 merge"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_split_fails_the_job_and_cancels_what_is_left() {
    let mut stack = TestStack::start().await;
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
    let waiting: i64 = stack
        .db
        .query_one(
            "SELECT count(*) FROM work_units WHERE job_id = $1 AND state IN ('pending', 'queued')",
            &[&id],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(waiting, 0, "an ended job leaves no unit waiting");
    stack.stop().await;
}
