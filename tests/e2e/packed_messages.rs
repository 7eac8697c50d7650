//! A deep queue sends units several to a message (RabbitMQ only: the in-process queue has no
//! per-message cost to save). Each unit is still recorded, retried and failed on its own, and a
//! retried unit travels alone.

use serde_json::json;

use crate::helpers::{Backend, TestStack};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deep_queue_packs_units_and_each_is_still_retried_on_its_own() {
    let mut stack = TestStack::without_workers(Backend::Distributed).await;
    // failure_testing fails every attempt but the last: each unit is retried twice.
    let inputs = vec![json!("x"); 64];
    let id = stack
        .post_id(json!({"action": "failure_testing", "inputs": inputs}))
        .await;
    stack
        .wait_until("all 64 units to be queued", async |s: &TestStack| {
            let queued = s
                .probe
                .count(
                    "SELECT count(*) FROM work_units WHERE job_id = $1 AND state = 'queued'",
                    id,
                )
                .await;
            (queued == 64).then_some(())
        })
        .await;
    let messages = stack
        .queue
        .waiting("failure_testing")
        .await
        .expect("queue depth");
    assert_eq!(messages, 16, "64 units sent four to a message");

    stack.start_worker("packed", |c| c.max_workers = 4);
    let job = stack.wait_for_job(id).await;
    assert_eq!(job["status"], "succeeded");
    assert_eq!(job["outputs"], json!(vec!["made it!"; 64]));
    assert_eq!(
        stack.attempts(id, None).await,
        vec![3; 64],
        "every unit ran three times"
    );
    stack.stop().await;
}
