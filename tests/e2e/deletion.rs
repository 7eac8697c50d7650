use serde_json::json;

use crate::helpers::TestStack;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_a_job_removes_its_rows_and_its_files() {
    let mut stack = TestStack::start().await;
    let text: String = (0..30).map(|i| format!("word {i}\n")).collect();
    let created = stack
        .post_job(json!({"action": "chunked_word_count", "inputs": [text], "options": {"lines_per_chunk": 5}}))
        .await;
    let id = created["id"].as_i64().expect("id");
    let done = stack.wait_for_job(id).await;
    assert_eq!(done["outputs"], json!([60]), "{done}");
    let prefix = format!("chunked_word_count/job_{id}/");
    assert_eq!(
        stack.bucket_keys(&prefix).await.len(),
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
    let rows: i64 = stack
        .db
        .query_one(
            "SELECT (SELECT count(*) FROM jobs WHERE id = $1) + (SELECT count(*) FROM work_units WHERE job_id = $1)",
            &[&id],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(rows, 0);
    assert!(
        stack.bucket_keys(&prefix).await.is_empty(),
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
