//! Pausing an action (CloudCrowd's blacklist, `POST /blacklist` and `DELETE /blacklist/:action`):
//! its units wait in the store, those already in its queue are taken back from it, units
//! running finish, and once it is resumed the waiting units run, each counted as one attempt.
//! Also what the operations page reads beside it: `GET /actions`, `GET /units?status=failed`,
//! `GET /status/history`.

use std::path::Path;

use crowd::shared::{status::UnitState, Config};
use serde_json::{json, Value};

use crate::helpers::{Backend, StackOptions, TestStack};

const ACTION: &str = "waits_until";

fn one_slot_and_test_actions(c: &mut Config) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    c.actions_path = vec![root.join("tests/actions")];
    c.max_workers = 1;
}

async fn get(stack: &TestStack, path: &str) -> (u16, Value) {
    let reply = stack.http.get(stack.url(path)).send().await.expect("GET");
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap_or(Value::Null))
}

async fn pause(stack: &TestStack, body: &str, content_type: &str) -> (u16, Value) {
    let reply = stack
        .http
        .post(stack.url("/blacklist"))
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await
        .expect("POST /blacklist");
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap_or(Value::Null))
}

async fn resume(stack: &TestStack, action: &str) -> (u16, Value) {
    let reply = stack
        .http
        .delete(stack.url(&format!("/blacklist/{action}")))
        .send()
        .await
        .expect("DELETE /blacklist");
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap_or(Value::Null))
}

/// The action's entry in `GET /actions`.
async fn queue_of(stack: &TestStack, action: &str) -> Value {
    let (status, body) = get(stack, "/actions").await;
    assert_eq!(status, 200, "{body}");
    body["actions"]
        .as_array()
        .and_then(|all| all.iter().find(|a| a["action"] == action).cloned())
        .unwrap_or_else(|| panic!("{action} is not in {body}"))
}

async fn units_of_a_paused_action_wait_and_run_once_it_is_resumed(backend: Backend) {
    let mut stack = TestStack::start_with(
        backend,
        StackOptions {
            workers: 1,
            configure: one_slot_and_test_actions,
            ..Default::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().expect("a directory");
    let gate = dir.path().join("gate");
    let ready: Vec<_> = (0..3)
        .map(|i| {
            let path = dir.path().join(format!("ready{i}"));
            std::fs::write(&path, format!("r{i}")).expect("write");
            path
        })
        .collect();

    // The one slot is held by a unit that waits for the gate; the next job's units queue up
    // behind it in the broker.
    let holding = stack
        .post_id(json!({"action": ACTION, "inputs": [gate]}))
        .await;
    let waiting = stack
        .post_id(json!({"action": ACTION, "inputs": ready}))
        .await;
    stack
        .eventually(
            "three units in the action's queue",
            async |s: &TestStack| (s.queue.waiting(ACTION).await.ok()? == 3).then_some(()),
        )
        .await;

    let (status, record) = pause(
        &stack,
        &format!("action={ACTION}"),
        "application/x-www-form-urlencoded",
    )
    .await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["action"], ACTION);
    let (status, again) = pause(
        &stack,
        &json!({"action": ACTION}).to_string(),
        "application/json",
    )
    .await;
    assert_eq!(
        (status, &again),
        (200, &record),
        "pausing again keeps the first record"
    );
    assert_eq!(get(&stack, "/blacklist").await.1, json!([record]));

    // Taken back from the queue into the store, where they wait.
    stack
        .eventually("the queued units taken back", async |s: &TestStack| {
            let in_queue = s.queue.waiting(ACTION).await.ok()?;
            let units = s.units(waiting).await;
            (in_queue == 0 && units.iter().all(|u| u.status == UnitState::Pending)).then_some(())
        })
        .await;
    let queue = queue_of(&stack, ACTION).await;
    assert_eq!(queue["paused"], true, "{queue}");
    assert_eq!(queue["paused_at"], record["created_at"], "{queue}");
    assert_eq!(queue["waiting"], 3, "{queue}");
    assert!(
        queue["oldest_waiting_seconds"].as_f64().is_some(),
        "{queue}"
    );
    let scrape = stack
        .http
        .get(stack.url("/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics");
    for line in [
        format!("crowd_action_paused{{action=\"{ACTION}\"}} 1"),
        format!("crowd_queue_oldest_waiting_seconds{{action=\"{ACTION}\"}}"),
    ] {
        assert!(scrape.contains(&line), "{line} is not in {scrape}");
    }

    // The unit running when the action was paused finishes; the others do not start.
    std::fs::write(&gate, "open").expect("write");
    let done = stack.wait_for_job(holding).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(stack.queue.waiting(ACTION).await.expect("queue"), 0);
    let units = stack.units(waiting).await;
    assert!(
        units
            .iter()
            .all(|u| u.status == UnitState::Pending && u.attempts == 0),
        "{units:?}"
    );

    let (status, resumed) = resume(&stack, ACTION).await;
    assert_eq!((status, &resumed), (200, &record));
    let done = stack.wait_for_job(waiting).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["outputs"], json!(["r0", "r1", "r2"]));
    let attempts: Vec<i32> = stack
        .units(waiting)
        .await
        .iter()
        .map(|u| u.attempts)
        .collect();
    assert_eq!(
        attempts,
        [1, 1, 1],
        "taking a unit back is not a run that stopped"
    );

    let (status, body) = resume(&stack, ACTION).await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("is not paused"),
        "{body}"
    );
    assert_eq!(get(&stack, "/blacklist").await.1, json!([]));
    stack.stop().await;
}

async fn what_is_not_an_action_name_is_refused(backend: Backend) {
    let stack = TestStack::start(backend).await;
    let form = "application/x-www-form-urlencoded";
    for (body, content_type, status, needle) in [
        ("action=a%2Fb", form, 400, "is not an action name"),
        ("", form, 400, "name the action"),
        (
            "{\"action\": 1}",
            "application/json",
            400,
            "must be a string",
        ),
        ("action=x", "text/plain", 415, "content type"),
    ] {
        let (got, reply) = pause(&stack, body, content_type).await;
        assert_eq!(got, status, "{body}: {reply}");
        assert!(
            reply["message"]
                .as_str()
                .unwrap_or_default()
                .contains(needle),
            "{body}: {reply}"
        );
    }
    let long = format!("action={}", "a".repeat(101));
    assert_eq!(pause(&stack, &long, form).await.0, 400);
    assert_eq!(get(&stack, "/blacklist").await.1, json!([]));
    stack.stop().await;
}

async fn failed_units_are_listed_across_jobs_and_history_is_kept(backend: Backend) {
    let stack = TestStack::start_with(
        backend,
        StackOptions {
            configure: |c| {
                let root = Path::new(env!("CARGO_MANIFEST_DIR"));
                c.actions_path = vec![root.join("tests/actions")];
            },
            ..Default::default()
        },
    )
    .await;
    let mut stack = stack;
    let dir = tempfile::tempdir().expect("a directory");
    let there = dir.path().join("there");
    std::fs::write(&there, "yes").expect("write");
    let missing = dir.path().join("missing");
    let mut failed = Vec::new();
    for _ in 0..2 {
        let id = stack
            .post_id(json!({"action": "waits_for", "inputs": [there, missing]}))
            .await;
        assert_eq!(stack.wait_for_job(id).await["status"], "failed");
        failed.push(id);
    }
    let ok = stack
        .post_id(json!({"action": "waits_for", "inputs": [there]}))
        .await;
    assert_eq!(stack.wait_for_job(ok).await["status"], "succeeded");

    let (status, page) = get(&stack, "/units?status=failed&per_page=1").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 2, "{page}");
    let unit = &page["units"][0];
    assert_eq!(unit["job_id"], failed[1], "newest job first: {page}");
    assert_eq!(unit["action"], "waits_for");
    assert_eq!(unit["status"], "failed");
    assert!(
        unit["error"]
            .as_str()
            .unwrap_or_default()
            .contains("is not there yet"),
        "{unit}"
    );
    let (_, second) = get(&stack, "/units?page=2&per_page=1").await;
    assert_eq!(second["units"][0]["job_id"], failed[0], "{second}");
    assert_eq!(get(&stack, "/units?status=succeeded").await.0, 400);

    let (status, history) = get(&stack, "/status/history").await;
    assert_eq!(status, 200, "{history}");
    assert_eq!(history["period_seconds"], 5);
    let first = &history["samples"][0];
    for field in [
        "time",
        "job_count",
        "work_unit_count",
        "node_count",
        "worker_count",
        "finished_per_sec",
    ] {
        assert!(first[field].is_number(), "{field} in {first}");
    }
    assert!(first.get("nodes").is_none(), "{first}");
    stack.stop().await;
}

crate::on_both_backends!(
    units_of_a_paused_action_wait_and_run_once_it_is_resumed,
    what_is_not_an_action_name_is_refused,
    failed_units_are_listed_across_jobs_and_history_is_kept,
);
