//! Fault tests: the system keeps its promises while the broker restarts and database
//! connections die. A test binary of its own, because restarting the shared RabbitMQ would
//! disturb tests running beside it (cargo runs test binaries one after another).

#![allow(dead_code)] // The shared helpers have more than these tests use.

#[path = "../e2e/helpers.rs"]
mod helpers;
#[path = "../e2e/http_fixtures.rs"]
mod http_fixtures;
#[path = "../e2e/probe.rs"]
mod probe;
#[path = "../e2e/s3_server.rs"]
mod s3_server;

use serde_json::json;

use helpers::{Backend, TestStack};
use http_fixtures::GatedServer;

async fn rabbitmqctl(args: &[&str]) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new("rabbitmqctl")
            .args(&args)
            .status()
    })
    .await
    .expect("rabbitmqctl task")
    .expect("rabbitmqctl runs");
    assert!(status.success(), "rabbitmqctl failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_survives_a_broker_restart_and_dropped_database_connections() {
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
    assert_eq!(job["outputs"], json!([3 + 5 * 2]));
    assert_eq!(
        stack.attempts(id, Some(1)).await,
        vec![1; 8],
        "every unit counted once"
    );
    stack.stop().await;
}
