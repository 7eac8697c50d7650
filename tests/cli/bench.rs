//! `crowd bench`: against a stack of its own, and against a running api, its figures as JSON
//! and as a table; what it leaves behind; its usage errors.

use serde_json::Value;

use super::{crowd_in, crowd_in_env, Run, Stack};

/// The report on stdout, after checking the command succeeded.
fn report(run: &Run) -> Value {
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

/// The phases of a report, by name.
fn phase<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["phases"]
        .as_array()
        .expect("phases")
        .iter()
        .find(|p| p["phase"] == name)
        .unwrap_or_else(|| panic!("no {name} phase: {report}"))
}

fn positive(value: &Value) -> bool {
    value.as_f64().is_some_and(|v| v > 0.0)
}

/// Every figure of a phase of one-unit jobs is there and above zero.
fn assert_measured(phase: &Value, jobs: Option<u64>) {
    if let Some(jobs) = jobs {
        assert_eq!(phase["jobs"], jobs, "{phase}");
    }
    assert_eq!(phase["units"], phase["jobs"], "one unit a job: {phase}");
    for figure in ["seconds", "units_per_sec", "jobs_per_sec"] {
        assert!(positive(&phase[figure]), "{figure}: {phase}");
    }
    let latency = &phase["latency_ms"];
    for p in ["p50", "p90", "p99", "max"] {
        assert!(positive(&latency[p]), "{p}: {phase}");
    }
    assert!(
        latency["p50"].as_f64() <= latency["max"].as_f64(),
        "{phase}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bench_measures_a_stack_of_its_own_and_leaves_nothing_behind() {
    let cwd = tempfile::tempdir().expect("dir");
    let tmp = tempfile::tempdir().expect("its TMPDIR");
    let run = crowd_in_env(
        cwd.path(),
        &["bench", "--units", "200", "--jobs", "5", "--json"],
        &[("TMPDIR", tmp.path())],
    )
    .await;
    let report = report(&run);
    assert_eq!(report["backend"], "embedded", "{report}");
    assert!(report["cores"].as_u64() >= Some(1), "{report}");
    assert!(report["cpu_of"].is_string(), "{report}");

    let fan_out = phase(&report, "fan_out");
    assert_eq!(fan_out["units"], 200, "{fan_out}");
    for figure in ["seconds", "units_per_sec", "cpu_us_per_unit"] {
        assert!(positive(&fan_out[figure]), "{figure}: {fan_out}");
    }
    let jobs = phase(&report, "jobs");
    assert_measured(jobs, Some(5));
    // Counted in 10 ms ticks: five short jobs may see none.
    assert!(jobs["cpu_us_per_unit"].as_f64() >= Some(0.0), "{jobs}");
    assert_eq!(report["phases"].as_array().map(Vec::len), Some(2));

    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("TMPDIR")
        .flatten()
        .map(|entry| entry.file_name())
        .collect();
    assert!(left.is_empty(), "its data directory is removed: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bench_measures_a_running_api_and_deletes_the_jobs_it_posted() {
    let stack = Stack::start().await;
    // The stack runs in this test's process: its CPU is this process's.
    let pid = std::process::id().to_string();
    let run = stack
        .crowd(&[
            "bench",
            "--units",
            "50",
            "--jobs",
            "3",
            "--concurrent",
            "2",
            "--seconds",
            "1",
            "--pid",
            &pid,
            "--json",
        ])
        .await;
    let report = report(&run);
    assert_eq!(report["backend"], "url", "{report}");
    assert_eq!(report["api"], format!("{}/", stack.api), "{report}");
    assert_eq!(report["cpu_of"], format!("processes {pid}"), "{report}");
    let fan_out = phase(&report, "fan_out");
    assert_eq!(fan_out["units"], 50, "{fan_out}");
    assert!(positive(&fan_out["units_per_sec"]), "{fan_out}");
    assert_measured(phase(&report, "jobs"), Some(3));
    let concurrent = phase(&report, "concurrent");
    assert_eq!(concurrent["clients"], 2, "{concurrent}");
    assert_measured(concurrent, None);
    assert!(positive(&concurrent["cpu_us_per_unit"]), "{concurrent}");

    let jobs = stack.crowd(&["jobs", "--json"]).await;
    let jobs: Value = serde_json::from_str(&jobs.stdout).expect("jobs JSON");
    assert_eq!(jobs["total"], 0, "every job it posted is deleted: {jobs}");

    let run = stack
        .crowd(&[
            "bench",
            "--units",
            "0",
            "--jobs",
            "2",
            "--warmup",
            "false",
            "--keep-jobs",
        ])
        .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0].starts_with("crowd bench: the api at http://127.0.0.1:")
            && lines[0].ends_with("CPU not measured (give --pid)"),
        "{}",
        run.stdout
    );
    assert!(lines[2].starts_with("PHASE"), "{}", run.stdout);
    assert!(
        lines[3].starts_with("one-unit jobs in turn"),
        "{}",
        run.stdout
    );
    let jobs = stack.crowd(&["jobs", "--json"]).await;
    let jobs: Value = serde_json::from_str(&jobs.stdout).expect("jobs JSON");
    assert_eq!(
        jobs["total"], 2,
        "--keep-jobs keeps them, no warm-up: {jobs}"
    );
    stack.stop().await;
}

#[tokio::test]
async fn bench_refuses_what_it_cannot_measure_with_exit_code_2() {
    let cwd = tempfile::tempdir().expect("dir");
    let cases: [(&[&str], &str); 4] = [
        (
            &["bench", "--units", "0", "--jobs", "0"],
            "error: nothing to measure",
        ),
        (&["bench", "--pid", "1"], "--url <URL>"),
        (&["bench", "--seconds", "0"], "--seconds"),
        (
            &["bench", "--url", "127.0.0.1:1", "--pid", "4294967295"],
            "process 4294967295",
        ),
    ];
    for (args, says) in cases {
        let run = crowd_in(cwd.path(), args).await;
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
    }
}
