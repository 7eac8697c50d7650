use serde_json::json;

use crate::helpers::{Backend, TestStack};

async fn deleting_a_job_removes_its_rows_and_its_files(backend: Backend) {
    let mut stack = TestStack::start(backend).await;
    let text: String = (0..30).map(|i| format!("word {i}\n")).collect();
    let created = stack
        .post_job(json!({"action": "chunked_word_count", "inputs": [text], "options": {"lines_per_chunk": 5}}))
        .await;
    let id = created["id"].as_i64().expect("id");
    let done = stack.wait_for_job(id).await;
    assert_eq!(done["outputs"], json!([60]), "{done}");
    let prefix = format!("chunked_word_count/job_{id}/");
    assert_eq!(
        stack.stored_keys(&prefix).await.len(),
        6,
        "the split saved 6 chunks"
    );

    let reply = stack
        .http
        .delete(stack.url(&format!("/jobs/{id}")))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(reply.status(), 204);
    assert_eq!(stack.get_job(id).await.0, 404);
    let rows = stack
        .probe
        .count(
            "SELECT (SELECT count(*) FROM jobs WHERE id = $1) + (SELECT count(*) FROM work_units WHERE job_id = $1)",
            id,
        )
        .await;
    assert_eq!(rows, 0);
    assert!(
        stack.stored_keys(&prefix).await.is_empty(),
        "the job's files are gone"
    );

    let again = stack
        .http
        .delete(stack.url(&format!("/jobs/{id}")))
        .send()
        .await
        .expect("DELETE again");
    assert_eq!(again.status(), 404);
    stack.stop().await;
}

crate::on_both_backends!(deleting_a_job_removes_its_rows_and_its_files);
