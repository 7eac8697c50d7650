//! The broker restarts and the database drops its connections in the middle of a job.

use serde_json::json;

use crate::{
    helpers::{Backend, StackOptions, TestStack},
    http_fixtures::GatedServer,
    probe, rabbitmqctl,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_survives_a_broker_restart_and_dropped_database_connections() {
    let _turn = crate::serial().await;
    let mut stack = TestStack::start(Backend::Distributed).await;
    let mut gated = GatedServer::start().await;
    let mut inputs: Vec<String> = (0..3).map(|i| gated.url(&format!("held{i}"))).collect();
    inputs.extend((0..5).map(|_| "two words".to_string()));
    let created = stack
        .post_job(json!({"action": "word_count", "inputs": inputs}))
        .await;
    let id = created["id"].as_i64().expect("id");
    for _ in 0..3 {
        gated.arrival().await; // three units are mid-run
    }

    // Every server connection of the stack's database dies (the test's own survives).
    let probe::Probe::Postgres { db, .. } = &stack.probe else {
        panic!("a distributed stack probes Postgres")
    };
    db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
        &[],
    )
    .await
    .expect("terminate backends");
    // The broker goes away with every connection and comes back with its durable queues.
    rabbitmqctl(&["stop_app"]).await;
    rabbitmqctl(&["start_app"]).await;

    gated.release(100);
    let job = stack.wait_for_job(id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(
        job["outputs"],
        json!([3 + 5 * 2]),
        "every unit counted once"
    );
    // The broker redelivers what was running when it went away. A unit whose redelivery comes
    // back to the worker still running it goes on as one run; one that reaches the other worker
    // is counted as a run that ended with no answer (as if its worker had died) and runs again.
    let attempts = stack.attempts(id, Some(1)).await;
    assert!(
        attempts[..3].iter().all(|a| (1..=2).contains(a)) && attempts[3..] == [1; 5],
        "{attempts:?}"
    );
    stack.stop().await;
}

/// A broker blip does not abort what a worker runs: the units finish once and are reported on
/// the new connection, and `/status` stops listing them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn units_running_through_a_dropped_connection_finish_once() {
    let _turn = crate::serial().await;
    let mut stack = TestStack::start_with(
        Backend::Distributed,
        StackOptions {
            workers: 1,
            ..Default::default()
        },
    )
    .await;
    let mut gated = GatedServer::start().await;
    let created = stack
        .post_job(json!({"action": "word_count", "inputs": [gated.url("a"), gated.url("b")]}))
        .await;
    let id = created["id"].as_i64().expect("id");
    gated.arrival().await;
    gated.arrival().await;

    rabbitmqctl(&["close_all_connections", "a test's broker blip"]).await;
    gated.release(2);
    let job = stack.wait_for_job(id).await;
    assert_eq!(job["outputs"], json!([2]), "{job}");
    assert_eq!(stack.attempts(id, Some(1)).await, vec![1, 1]);
    assert!(
        gated.arrivals.try_recv().is_err(),
        "a unit ran a second time"
    );
    stack.wait_for_idle_node().await;
    stack.stop().await;
}
