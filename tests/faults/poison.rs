//! A unit whose run ends its worker (a crash in a tool, the OOM killer) is tried exactly
//! `work_unit_retries` times: each run that ended with no answer is counted by the worker the
//! broker redelivers it to, and then the unit fails for good and its job moves on.

use serde_json::json;

use crate::{
    helpers::{Backend, TestStack},
    http_fixtures::GatedServer,
    processes,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_unit_that_kills_its_worker_fails_after_work_unit_retries_runs() {
    let _turn = crate::serial().await;
    let mut stack = TestStack::without_workers(Backend::Distributed).await;
    let retries = stack.config.work_unit_retries;
    let mut gated = GatedServer::start().await;
    let created = stack
        .post_job(json!({"action": "word_count", "inputs": [gated.url("poison")]}))
        .await;
    let id = created["id"].as_i64().expect("id");

    // Each worker process that starts the poison unit is SIGKILLed mid-run, as the OOM killer
    // would; the next one finds it redelivered.
    let mut runs = 0;
    let job = loop {
        let mut worker = processes::spawn(&["worker"], &stack.config, &format!("doomed-{runs}"));
        tokio::select! {
            _ = gated.arrival() => {
                runs += 1;
                assert!(runs <= retries, "the poison unit ran more than {retries} times");
                worker.kill().expect("SIGKILL the worker");
                worker.wait().expect("reap the worker");
            }
            job = stack.wait_for_job(id) => {
                worker.kill().ok();
                worker.wait().ok();
                break job;
            }
        }
    };
    assert_eq!(runs, retries, "{job}");
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(
        job["outputs"],
        json!([format!("the worker running it stopped {retries} times")])
    );
    assert_eq!(stack.attempts(id, Some(1)).await, [retries as i32]);
    stack.stop().await;
}
