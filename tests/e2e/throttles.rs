//! CloudCrowd's node throttles: a worker past `min_free_memory` (here a threshold no machine
//! meets) takes no new units, and says why in `/status`.

use serde_json::{json, Value};

use crate::helpers::{Backend, StackOptions, TestStack};

async fn a_throttled_worker_runs_nothing_new_and_says_why(backend: Backend) {
    let stack = TestStack::start_with(
        backend,
        StackOptions {
            workers: 1,
            configure: |c| c.min_free_memory = Some(u64::MAX),
            ..Default::default()
        },
    )
    .await;
    let node = stack
        .eventually("the node to say it is throttled", async |s: &TestStack| {
            let nodes = s.status_nodes().await?;
            nodes.into_iter().find(|n| n["status"] == "throttled")
        })
        .await;
    let why = node["throttled"].as_str().unwrap_or_default().to_string();
    assert!(why.contains("below min_free_memory"), "{node}");

    let id = stack
        .post_id(json!({"action": "word_count", "inputs": ["a b c"]}))
        .await;
    // The worker holds the unit (its heartbeat lists it) and does not start it.
    stack
        .eventually(
            "the throttled node to hold the unit",
            async |s: &TestStack| {
                let nodes = s.status_nodes().await?;
                let held = nodes
                    .iter()
                    .any(|n| n["workers"].as_array().is_some_and(|w| !w.is_empty()));
                held.then_some(())
            },
        )
        .await;
    let (_, job) = stack.get_job(id).await;
    assert_eq!(job["status"], "processing", "{job}");
    assert_eq!(stack.units(id).await[0].attempts, 0);
    assert_eq!(job["outputs"], Value::Null, "{job}");
    stack.stop().await;
}

crate::on_both_backends!(a_throttled_worker_runs_nothing_new_and_says_why);
