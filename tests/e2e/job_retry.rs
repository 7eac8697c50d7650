//! `POST /jobs/:id/retry`: a failed job's failed units run again with their attempts back, the
//! job goes back to their stage, ends again and calls back again; a job that has not failed is
//! a 409, an unknown one a 404.

use std::path::{Path, PathBuf};

use crowd::shared::Config;
use serde_json::{json, Value};

use crate::helpers::{Backend, StackOptions, TestStack};

fn with_test_actions(c: &mut Config) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    c.actions_path = vec![root.join("tests/actions")];
}

async fn retry(stack: &TestStack, id: i64) -> (u16, Value) {
    let reply = stack
        .http
        .post(stack.url(&format!("/jobs/{id}/retry")))
        .send()
        .await
        .expect("POST retry");
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap_or(Value::Null))
}

async fn a_failed_job_runs_its_failed_units_again(backend: Backend) {
    let mut stack = TestStack::start_with(
        backend,
        StackOptions {
            configure: with_test_actions,
            ..Default::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().expect("a directory");
    let (here, later): (PathBuf, PathBuf) = (dir.path().join("here"), dir.path().join("later"));
    std::fs::write(&here, "ready").expect("write");
    let id = stack
        .post_id(json!({"action": "waits_for", "inputs": [here, later]}))
        .await;
    let failed = stack.wait_for_job(id).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    // Retried too soon: the unit fails again, and so does the job.
    assert_eq!(retry(&stack, id).await.0, 200);
    let failed = stack.wait_for_job(id).await;
    assert_eq!(failed["status"], "failed", "{failed}");

    std::fs::write(&later, "at last").expect("write");
    let (status, body) = retry(&stack, id).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "processing", "{body}");
    let done = stack.wait_for_job(id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["outputs"], json!(["ready", "at last"]));
    let attempts: Vec<i32> = stack.units(id).await.iter().map(|u| u.attempts).collect();
    assert_eq!(
        attempts,
        [1, 1],
        "the unit that succeeded ran once; the retried one's attempts started again each time"
    );

    let (status, body) = retry(&stack, id).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("only a failed job can be retried, and this one is succeeded"),
        "{body}"
    );
    assert_eq!(retry(&stack, id + 1000).await.0, 404);
    stack.stop().await;
}

crate::on_both_backends!(a_failed_job_runs_its_failed_units_again);
