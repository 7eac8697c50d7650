//! Actions written in any language: the examples in `examples/actions/` (Python with split,
//! process, merge and saved files; shell) and the misbehaving ones in `tests/actions/`, run by
//! real workers on both backend sets.

use std::path::{Path, PathBuf};

use crowd::shared::Config;
use serde_json::{json, Value};

use crate::helpers::{Backend, StackOptions, TestStack};

fn action_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    vec![root.join("examples/actions"), root.join("tests/actions")]
}

fn with_actions(c: &mut Config) {
    c.actions_path = action_dirs();
    c.work_unit_retries = 2;
}

async fn stack(backend: Backend, configure: fn(&mut Config)) -> TestStack {
    TestStack::start_with(
        backend,
        StackOptions {
            configure,
            ..Default::default()
        },
    )
    .await
}

/// The one unit of a one-unit job: its error and attempts.
async fn failure(stack: &mut TestStack, id: i64) -> (String, i32) {
    let job = stack.wait_for_job(id).await;
    assert_eq!(job["status"], "failed", "{job}");
    let unit = &stack.units(id).await[0];
    (unit.error.clone().unwrap_or_default(), unit.attempts)
}

async fn a_python_action_splits_processes_saves_and_merges(backend: Backend) {
    let mut stack = stack(backend, with_actions).await;
    let id = stack
        .post_id(json!({
            "action": "count_words",
            "inputs": ["one two\nthree\nfour five six"],
            "options": {"lines_per_chunk": 2},
        }))
        .await;
    let job = stack.wait_for_job(id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let output = &job["outputs"][0];
    assert_eq!(output["words"], 6, "{job}");
    let chunks: Vec<&str> = output["chunks"]
        .as_array()
        .expect("chunks")
        .iter()
        .map(|c| c.as_str().expect("a URL"))
        .collect();
    assert_eq!(chunks.len(), 2, "{job}");
    let mut saved = stack.unit_files(&format!("count_words/job_{id}/")).await;
    saved.sort();
    assert_eq!(saved.len(), 2, "{saved:?}");
    assert!(
        saved.iter().all(|key| key.ends_with("/chunk.txt")),
        "{saved:?}"
    );
    for (key, url) in saved.iter().zip(&chunks) {
        assert!(url.contains(key.as_str()), "{url} is not {key}");
    }
    stack.stop().await;
}

async fn a_shell_action_runs_and_says_when_a_failure_is_for_good(backend: Backend) {
    let mut stack = stack(backend, with_actions).await;
    let id = stack
        .post_id(json!({"action": "shout", "inputs": ["hello"]}))
        .await;
    let job = stack.wait_for_job(id).await;
    assert_eq!(
        job["outputs"],
        json!([{"shouted": "HELLO", "characters": 5}]),
        "{job}"
    );

    let id = stack
        .post_id(json!({"action": "shout", "inputs": [7]}))
        .await;
    let (error, attempts) = failure(&mut stack, id).await;
    assert_eq!(attempts, 1, "a permanent failure is not retried");
    assert!(
        error.contains("exited with 65 (a permanent failure)"),
        "{error}"
    );
    assert!(error.contains("shout: nothing to shout"), "{error}");
    stack.stop().await;
}

async fn a_failing_action_is_retried_and_quotes_the_end_of_its_stderr(backend: Backend) {
    let mut stack = stack(backend, with_actions).await;
    let id = stack
        .post_id(json!({"action": "fails", "inputs": ["x"]}))
        .await;
    let (error, attempts) = failure(&mut stack, id).await;
    assert_eq!(attempts, 2);
    assert_eq!(
        error,
        "the action exited with 1: warming up\nthe disk is full on attempt 1"
    );
    stack.stop().await;
}

async fn output_that_is_not_json_fails_quoting_its_start(backend: Backend) {
    let mut stack = stack(backend, with_actions).await;
    let id = stack
        .post_id(json!({"action": "babbles", "inputs": ["x"]}))
        .await;
    let (error, _) = failure(&mut stack, id).await;
    assert!(error.contains("the action's output is not JSON"), "{error}");
    assert!(
        error.contains(r#"it began: "Hello! Here is your result: 42"#),
        "{error}"
    );
    stack.stop().await;
}

async fn an_action_gets_none_of_the_workers_settings(backend: Backend) {
    let mut stack = stack(backend, with_actions).await;
    let id = stack
        .post_id(json!({"action": "snoops", "inputs": ["x"]}))
        .await;
    let job = stack.wait_for_job(id).await;
    let names: Vec<&str> = job["outputs"][0]
        .as_array()
        .unwrap_or_else(|| panic!("names: {job}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    // What the worker passes on, and what the shell sets for itself.
    let expected = [
        "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR", "PWD", "SHLVL", "_",
        "OLDPWD",
    ];
    let unexpected: Vec<&&str> = names.iter().filter(|n| !expected.contains(n)).collect();
    assert!(unexpected.is_empty(), "the action was given {unexpected:?}");
    assert!(
        names.contains(&"PATH") && names.contains(&"TMPDIR"),
        "{names:?}"
    );
    stack.stop().await;
}

/// Whether process `pid` is still there (a zombie waiting for its parent is not).
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
    })
}

/// Posts `hangs` and waits for the pid of the child it started.
async fn hanging(stack: &TestStack, pid_dir: &Path) -> (i64, String) {
    let pid_file = pid_dir.join("child.pid");
    let id = stack
        .post_id(json!({"action": "hangs", "inputs": ["x"], "options": {"pid_file": pid_file}}))
        .await;
    let pid = stack
        .eventually(
            "the hung action to start its child",
            async |_: &TestStack| std::fs::read_to_string(&pid_file).ok(),
        )
        .await;
    let pid = pid.trim().to_string();
    assert!(alive(&pid), "the child {pid} runs");
    (id, pid)
}

async fn a_hung_action_is_stopped_at_its_time_limit_child_and_all(backend: Backend) {
    let mut stack = stack(backend, |c| {
        with_actions(c);
        c.work_unit_retries = 1;
        c.unit_timeout_secs = 1;
    })
    .await;
    let pid_dir = tempfile::tempdir().expect("dir");
    let (id, pid) = hanging(&stack, pid_dir.path()).await;
    let (error, _) = failure(&mut stack, id).await;
    assert!(error.contains("timed out after 1 s"), "{error}");
    stack
        .eventually(
            "the hung action's child to be stopped",
            async |_: &TestStack| (!alive(&pid)).then_some(()),
        )
        .await;
    stack.stop().await;
}

async fn deleting_a_job_stops_its_running_action_child_and_all(backend: Backend) {
    let mut stack = TestStack::start_with(
        backend,
        StackOptions {
            workers: 1,
            configure: with_actions,
            ..Default::default()
        },
    )
    .await;
    let pid_dir = tempfile::tempdir().expect("dir");
    let (id, pid) = hanging(&stack, pid_dir.path()).await;
    assert_eq!(stack.delete_job(id).await, 204);
    stack
        .eventually(
            "the deleted job's action to be stopped",
            async |_: &TestStack| (!alive(&pid)).then_some(()),
        )
        .await;
    stack.wait_for_idle_node().await;
    stack.stop().await;
}

/// An api with no actions directory learns a worker's actions, and their stages, from its
/// heartbeats: a job for one is refused before a worker has it, and accepted and run after.
async fn an_api_learns_actions_from_the_workers_that_have_them(backend: Backend) {
    let mut stack = TestStack::start_with(
        backend,
        StackOptions {
            workers: 0,
            ..Default::default()
        },
    )
    .await;
    let job = json!({"action": "count_words", "inputs": ["a b\nc d e"], "options": {"lines_per_chunk": 1}});
    let refused = stack
        .http
        .post(stack.url("/jobs"))
        .json(&job)
        .send()
        .await
        .expect("POST");
    assert_eq!(refused.status().as_u16(), 400);

    stack.start_worker("scripts", with_actions);
    let advertised = stack
        .eventually(
            "the worker to advertise count_words",
            async |s: &TestStack| {
                let nodes = s.status_nodes().await?;
                let actions = nodes.first()?["actions"].as_array()?.clone();
                actions.into_iter().find(|a| a["name"] == "count_words")
            },
        )
        .await;
    assert_eq!(advertised["stages"], json!(["split", "process", "merge"]));
    let id = stack.post_id(job).await;
    let done = stack.wait_for_job(id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(
        done["outputs"][0]["words"], 5,
        "split, processed and merged: {done}"
    );
    stack.stop().await;
}

/// What an action reports on stderr (`progress: 50`) shows beside its unit in `/status`.
async fn an_actions_progress_shows_while_it_runs(backend: Backend) {
    let mut stack = stack(backend, with_actions).await;
    let dir = tempfile::tempdir().expect("dir");
    let release = dir.path().join("release");
    let id = stack
        .post_id(
            json!({"action": "reports", "inputs": ["x"], "options": {"release_file": release}}),
        )
        .await;
    let unit = stack.units(id).await[0].id;
    stack
        .eventually("the unit's progress in /status", async |s: &TestStack| {
            let nodes = s.status_nodes().await?;
            nodes
                .iter()
                .any(|n| n["progress"][unit.to_string()] == 50)
                .then_some(())
        })
        .await;
    std::fs::write(&release, "").expect("release");
    let job = stack.wait_for_job(id).await;
    assert_eq!(job["outputs"], json!(["done"]), "{job}");
    stack.stop().await;
}

crate::on_both_backends!(
    an_actions_progress_shows_while_it_runs,
    an_api_learns_actions_from_the_workers_that_have_them,
    a_python_action_splits_processes_saves_and_merges,
    a_shell_action_runs_and_says_when_a_failure_is_for_good,
    a_failing_action_is_retried_and_quotes_the_end_of_its_stderr,
    output_that_is_not_json_fails_quoting_its_start,
    an_action_gets_none_of_the_workers_settings,
    a_hung_action_is_stopped_at_its_time_limit_child_and_all,
    deleting_a_job_stops_its_running_action_child_and_all,
);
