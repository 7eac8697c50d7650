use std::collections::HashMap;

use serde_json::json;

use crate::{
    helpers::{Backend, TestStack},
    http_fixtures::TextServer,
};

async fn word_count_over_http_and_stored_inputs_sums_every_word(backend: Backend) {
    let mut stack = TestStack::start(backend).await;
    let texts = HashMap::from([
        (
            "sonnet.txt".to_string(),
            "Shall I compare thee to a summer's day?\nThou art more lovely".to_string(),
        ),
        ("short.txt".to_string(), "to be or not to be".to_string()),
    ]);
    let server = TextServer::start(texts).await;
    let stored = stack
        .put_input("inputs/plays.txt", "all the world's a stage")
        .await;
    let also_stored = stack
        .put_input(
            "inputs/more.txt",
            "and all the men and women merely players",
        )
        .await;

    let created = stack
        .post_job(json!({
            "action": "word_count",
            "inputs": [server.url("sonnet.txt"), server.url("short.txt"), stored, also_stored],
        }))
        .await;
    assert_eq!(created["status"], "processing");
    assert_eq!(created["work_units"], 4);
    assert_eq!(created["percent_complete"], 0);

    let id = created["id"].as_i64().expect("job id");
    let done = stack.wait_for_job(id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["outputs"], json!([12 + 6 + 5 + 8]));
    assert_eq!(done["percent_complete"], 100);
    assert_eq!(done["work_units"], 0);
    assert_eq!(done["color"].as_str().map(str::len), Some(6));
    stack.stop().await;
}

async fn a_job_posted_as_plain_json_runs_too(backend: Backend) {
    let mut stack = TestStack::start(backend).await;
    let reply = stack
        .http
        .post(stack.url("/jobs"))
        .json(&json!({"action": "word_count", "inputs": ["one two", "three"], "email": "someone@example.com"}))
        .send()
        .await
        .expect("POST /jobs");
    assert_eq!(reply.status(), 200);
    let created: serde_json::Value = reply.json().await.expect("job JSON");
    assert_eq!(created["email"], "someone@example.com");
    let done = stack
        .wait_for_job(created["id"].as_i64().expect("id"))
        .await;
    assert_eq!(done["outputs"], json!([3]));
    assert_eq!(done["email"], "someone@example.com");
    stack.stop().await;
}

async fn status_lists_live_workers_as_nodes(backend: Backend) {
    let mut stack = TestStack::start(backend).await;
    let nodes = stack
        .wait_until(
            "both workers to appear in /status",
            async |stack: &TestStack| {
                let nodes = stack.status_nodes().await?;
                (nodes.len() == 2).then_some(nodes)
            },
        )
        .await;
    for node in &nodes {
        assert!(
            node["host"]
                .as_str()
                .is_some_and(|h| h.starts_with("worker-")),
            "{node}"
        );
        assert_eq!(node["status"], "available");
        assert!(node["workers"].is_array());
    }
    stack.stop().await;
}

crate::on_both_backends!(
    word_count_over_http_and_stored_inputs_sums_every_word,
    a_job_posted_as_plain_json_runs_too,
    status_lists_live_workers_as_nodes
);
