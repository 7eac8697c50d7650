use serde_json::json;

use crate::{
    helpers::{Backend, StackOptions, TestStack},
    http_fixtures::GatedServer,
};

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
        stack.unit_files(&prefix).await.len(),
        6,
        "the split saved 6 chunks"
    );

    assert_eq!(stack.delete_job(id).await, 204);
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

    assert_eq!(stack.delete_job(id).await, 404);
    stack.stop().await;
}

/// DELETE while units run and wait: the running ones stop at once (their worker's slots free
/// up; their inputs are never released), and the waiting ones are dropped when a worker gets
/// them, so a job posted after runs at once.
async fn deleting_a_job_stops_its_running_units_and_drops_its_queued_ones(backend: Backend) {
    let mut stack = TestStack::start_with(
        backend,
        StackOptions {
            workers: 1,
            configure: |c| c.max_workers = 2,
            ..Default::default()
        },
    )
    .await;
    let mut gated = GatedServer::start().await;
    let inputs: Vec<String> = (0..5).map(|i| gated.url(&format!("held{i}"))).collect();
    let doomed = stack
        .post_id(json!({"action": "word_count", "inputs": inputs}))
        .await;
    gated.arrival().await;
    gated.arrival().await;
    assert_eq!(stack.delete_job(doomed).await, 204);

    // Behind the doomed job's three waiting units in the queue, and needing a free slot.
    let after = stack
        .post_id(json!({"action": "word_count", "inputs": ["three small words"]}))
        .await;
    assert_eq!(stack.wait_for_job(after).await["outputs"], json!([3]));
    assert!(
        gated.arrivals.try_recv().is_err(),
        "a unit of the deleted job ran"
    );
    stack.wait_for_idle_node().await;
    stack.stop().await;
}

/// A worker that missed the deletion runs the unit anyway: what it stores is removed when its
/// result comes back for a job that is gone.
async fn files_stored_after_a_deletion_are_removed(backend: Backend) {
    let mut stack = TestStack::without_workers(backend).await;
    let mut gated = GatedServer::start().await;
    let id = stack
        .post_id(json!({"action": "chunked_word_count", "inputs": [gated.url("held")]}))
        .await;
    stack
        .wait_until("the split to be queued", async |s: &TestStack| {
            (s.queue.waiting("chunked_word_count").await.ok()? == 1).then_some(())
        })
        .await;
    assert_eq!(stack.delete_job(id).await, 204);
    // No worker heard the news: this one starts after it, and runs the split.
    stack.start_worker("late", |_| {});
    gated.arrival().await;
    let running = async |s: &TestStack| -> Option<bool> {
        let nodes = s.status_nodes().await?;
        (nodes.len() == 1).then(|| nodes[0]["workers"] != json!([]))
    };
    stack
        .wait_until("the node to list the split", async |s: &TestStack| {
            running(s).await?.then_some(())
        })
        .await;
    gated.release(1);
    stack
        .wait_until("the split to end", async |s: &TestStack| {
            (!running(s).await?).then_some(())
        })
        .await;
    let prefix = format!("chunked_word_count/job_{id}/");
    stack
        .eventually(
            "the chunk it stored to be removed",
            async |s: &TestStack| s.stored_keys(&prefix).await.is_empty().then_some(()),
        )
        .await;
    stack.stop().await;
}

crate::on_both_backends!(
    deleting_a_job_removes_its_rows_and_its_files,
    deleting_a_job_stops_its_running_units_and_drops_its_queued_ones,
    files_stored_after_a_deletion_are_removed
);
