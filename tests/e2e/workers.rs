use serde_json::json;

use crate::{
    helpers::{Backend, StackOptions, TestStack},
    http_fixtures::GatedServer,
};

async fn queued_units(stack: &TestStack, job_id: i64) -> i64 {
    stack
        .probe
        .count(
            "SELECT count(*) FROM work_units WHERE job_id = $1 AND state = 'queued'",
            job_id,
        )
        .await
}

/// Prefetch = max_workers: a worker never holds a unit it is not running, so the rest stay in
/// the queue for any idle worker.
async fn workers_hold_no_more_units_than_they_run(backend: Backend) {
    let mut stack = TestStack::start_with(
        backend,
        StackOptions {
            workers: 2,
            configure: |c| c.max_workers = 2,
            ..Default::default()
        },
    )
    .await;
    let mut gated = GatedServer::start().await;
    let inputs: Vec<String> = (0..6).map(|i| gated.url(&format!("unit{i}"))).collect();
    let created = stack
        .post_job(json!({"action": "word_count", "inputs": inputs}))
        .await;
    let id = created["id"].as_i64().expect("id");

    for _ in 0..4 {
        gated.arrival().await;
    }
    stack
        .wait_until("all six units to be queued", async |s: &TestStack| {
            (queued_units(s, id).await == 6).then_some(())
        })
        .await;
    assert_eq!(
        stack
            .queue
            .waiting("word_count")
            .await
            .expect("queue depth"),
        2,
        "two workers x 2 running, 2 waiting in the queue"
    );
    let nodes = stack
        .wait_until("both workers to report busy", async |s: &TestStack| {
            let nodes = s.status_nodes().await?;
            (nodes.len() == 2 && nodes.iter().all(|n| n["status"] == "busy")).then_some(nodes)
        })
        .await;
    assert!(
        nodes
            .iter()
            .all(|n| n["workers"].as_array().map(Vec::len) == Some(2)),
        "{nodes:?}"
    );

    gated.release(6);
    let job = stack.wait_for_job(id).await;
    assert_eq!(job["outputs"], json!([6]), "each gated body is one word");
    stack.stop().await;
}

/// A worker that goes away mid-unit hands its units back; another worker finishes the job. The
/// abandoned runs count as attempts (the next worker reports them), since a run that ends with
/// no answer may be one that kills its worker.
async fn units_of_a_worker_that_dies_midway_are_run_by_another(backend: Backend) {
    let mut stack = TestStack::without_workers(backend).await;
    let mut gated = GatedServer::start().await;
    let doomed = stack.start_worker("doomed", |c| {
        c.max_workers = 2;
        c.shutdown_grace_secs = 0;
    });
    let created = stack
        .post_job(json!({"action": "word_count", "inputs": [gated.url("a"), gated.url("b")]}))
        .await;
    let id = created["id"].as_i64().expect("id");
    gated.arrival().await;
    gated.arrival().await;

    // No grace: its two units are abandoned mid-download and go back to the queue.
    doomed.cancel();
    stack.start_worker("survivor", |c| c.max_workers = 2);
    gated.arrival().await;
    gated.arrival().await;
    gated.release(100);
    let job = stack.wait_for_job(id).await;
    assert_eq!(job["status"], "succeeded");
    assert_eq!(job["outputs"], json!([2]));
    let attempts = stack.attempts(id, Some(1)).await;
    assert_eq!(
        attempts,
        vec![2, 2],
        "the abandoned run and the one that finished"
    );
    stack.stop().await;
}

/// A stage that outlives `unit_timeout_secs` fails its attempt and is retried like any
/// failure, so a hung download or action cannot hold a unit (and its prefetch slot) forever.
async fn a_stage_that_runs_too_long_times_out_and_is_retried(backend: Backend) {
    let mut stack = TestStack::start_with(
        backend,
        StackOptions {
            configure: |c| {
                c.unit_timeout_secs = 1;
                c.work_unit_retries = 2;
            },
            ..Default::default()
        },
    )
    .await;
    let gated = GatedServer::start().await; // never released
    let created = stack
        .post_job(json!({"action": "word_count", "inputs": [gated.url("stuck")]}))
        .await;
    let id = created["id"].as_i64().expect("id");
    let job = stack.wait_for_job(id).await;
    assert_eq!(job["status"], "failed");
    assert_eq!(job["outputs"], json!(["the stage timed out after 1 s"]));
    assert_eq!(stack.attempts(id, None).await, vec![2]);
    stack.stop().await;
}

crate::on_both_backends!(
    workers_hold_no_more_units_than_they_run,
    units_of_a_worker_that_dies_midway_are_run_by_another,
    a_stage_that_runs_too_long_times_out_and_is_retried
);
