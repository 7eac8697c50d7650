//! SIGTERM: a worker stops taking units at once, finishes what it holds within its grace
//! period and exits 0; a second SIGTERM ends it at once, handing back what it held.

use std::{process::Child, time::Duration};

use crowd::shared::status::UnitState;
use serde_json::json;

use crate::{
    broker,
    helpers::{Backend, StackOptions, TestStack},
    http_fixtures::GatedServer,
    processes,
};

fn signal(child: &Child) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -TERM failed");
}

/// Waits for the process to exit, at most `within`.
async fn exit_of(mut child: Child, within: Duration) -> std::process::ExitStatus {
    tokio::time::timeout(
        within,
        tokio::task::spawn_blocking(move || child.wait().expect("wait")),
    )
    .await
    .unwrap_or_else(|_| panic!("the process did not exit within {within:?}"))
    .expect("wait task")
}

/// Consumers on the action's work queue.
async fn consumers(stack: &TestStack, action: &str) -> u32 {
    let queue =
        crowd::shared::queue::amqp::wire::QueueNames::new(&stack.config.queue_prefix).work(action);
    broker::queue_state(&stack.config.amqp_url, &queue)
        .await
        .expect("the work queue")
        .consumers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_finishes_what_a_worker_holds_and_a_second_one_stops_it_at_once() {
    let _turn = crate::serial().await;
    let mut stack = TestStack::start_with(
        Backend::Distributed,
        StackOptions {
            workers: 0,
            configure: |c| c.shutdown_grace_secs = 60,
            ..Default::default()
        },
    )
    .await;
    let mut gated = GatedServer::start().await;
    let held = stack
        .post_id(json!({"action": "word_count", "inputs": [gated.url("held")]}))
        .await;
    let worker = processes::spawn(&["worker"], &stack.config, "stopping");
    gated.arrival().await;

    signal(&worker);
    stack
        .eventually("the worker to stop consuming", async |s: &TestStack| {
            (consumers(s, "word_count").await == 0).then_some(())
        })
        .await;
    let later = stack
        .post_id(json!({"action": "word_count", "inputs": ["two words"]}))
        .await;
    gated.release(1);
    stack
        .wait_until("the held unit to finish", async |s: &TestStack| {
            let units = s.units(held).await;
            (units.first()?.status == UnitState::Succeeded).then_some(())
        })
        .await;
    let status = exit_of(worker, Duration::from_secs(30)).await;
    assert!(status.success(), "{status}");
    // Taken by nobody: still waiting, whether the relay has sent it yet (queued) or not
    // (pending, on a busy machine).
    let waiting = stack.units(later).await[0].status;
    assert!(
        matches!(waiting, UnitState::Queued | UnitState::Pending),
        "taken by nobody, not {waiting:?}"
    );

    // A second worker takes the waiting unit, then a held one; two signals stop it at once,
    // long before its 60-second grace.
    let hung = stack
        .post_id(json!({"action": "word_count", "inputs": [gated.url("hung")]}))
        .await;
    let worker = processes::spawn(&["worker"], &stack.config, "impatient");
    assert_eq!(stack.wait_for_job(held).await["outputs"], json!([1]));
    assert_eq!(stack.wait_for_job(later).await["outputs"], json!([2]));
    gated.arrival().await;
    signal(&worker);
    // Two signals sent back to back can reach the process as one (signals of one kind
    // coalesce while pending); the second is sent once the first has been acted on.
    stack
        .eventually("the worker to stop consuming", async |s: &TestStack| {
            (consumers(s, "word_count").await == 0).then_some(())
        })
        .await;
    signal(&worker);
    let status = exit_of(worker, Duration::from_secs(10)).await;
    assert!(!status.success(), "{status}");
    assert_eq!(stack.get_job(hung).await.1["status"], "processing");
    stack.stop().await;
}
