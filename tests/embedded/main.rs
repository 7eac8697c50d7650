//! The embedded default: everything in one process on SQLite, in-process queues and files on
//! disk, with nothing installed. Jobs report back through their `callback_url`, the one event
//! a separate process can give.

#![allow(dead_code)] // The shared fixtures have more than these tests use.

#[path = "../e2e/http_fixtures.rs"]
mod http_fixtures;
#[path = "../common/up_stack.rs"]
mod up_stack;

mod helpers {
    pub const WAIT: std::time::Duration = std::time::Duration::from_secs(90);
}

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
};

use serde_json::{json, Value};

use http_fixtures::{CallbackReceiver, GatedServer};
use up_stack::UpStack;

async fn post(api: &str, job: Value) -> Value {
    let reply = reqwest::Client::new()
        .post(format!("{api}/jobs"))
        .form(&[("job", job.to_string())])
        .send()
        .await
        .expect("POST /jobs");
    assert_eq!(reply.status(), 200);
    reply.json().await.expect("job JSON")
}

async fn callback(receiver: &mut CallbackReceiver) -> Value {
    tokio::time::timeout(helpers::WAIT, receiver.received.recv())
        .await
        .expect("a callback in time")
        .expect("the receiver is up")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_run_in_one_process_with_nothing_installed() {
    run_jobs_in_one_process(crowd::Choice::default(), None).await;
}

/// `crowd up` with `DATABASE_URL` set: Postgres, still with in-process queues.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_run_in_one_process_on_postgres_and_in_process_queues() {
    let admin = std::env::var("CROWD_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("crowd_test_up_{}", std::process::id());
    let mut url = url::Url::parse(&admin).expect("database URL");
    url.set_path(&format!("/{name}"));
    let choice = crowd::Choice {
        postgres: true,
        rabbitmq: false,
    };
    run_jobs_in_one_process(choice, Some(url.to_string())).await;
    let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .expect("drop");
}

async fn run_jobs_in_one_process(choice: crowd::Choice, database_url: Option<String>) {
    let texts = tempfile::tempdir().expect("texts");
    let book = texts.path().join("book.txt");
    std::fs::write(&book, "one two three\nfour five\nsix").expect("write");
    let readable = texts.path().to_path_buf();
    let stack = UpStack::start(choice, |config| {
        config.allowed_file_roots = vec![readable];
        if let Some(url) = database_url {
            config.database_url = url;
        }
    })
    .await;
    let (api, data) = (stack.api.clone(), stack.data.path().to_path_buf());
    let mut receiver = CallbackReceiver::start(vec![200]).await;
    let book_url = format!("file://{}", book.display());

    post(&api, json!({"action": "word_count", "inputs": [book_url, "seven eight"], "callback_url": receiver.url})).await;
    let job = callback(&mut receiver).await;
    assert_eq!(
        (job["status"].as_str(), job["outputs"].clone()),
        (Some("succeeded"), json!([8]))
    );

    let split = json!({"action": "chunked_word_count", "inputs": [book_url], "options": {"lines_per_chunk": 1},
                       "callback_url": receiver.url});
    post(&api, split).await;
    let job = callback(&mut receiver).await;
    assert_eq!(
        (job["status"].as_str(), job["outputs"].clone()),
        (Some("succeeded"), json!([6]))
    );
    assert!(
        data.join("files/chunked_word_count").is_dir(),
        "chunks saved under the data dir"
    );

    post(
        &api,
        json!({"action": "failure_testing", "inputs": ["a", "b"], "callback_url": receiver.url}),
    )
    .await;
    let job = callback(&mut receiver).await;
    assert_eq!(
        job["outputs"],
        json!(["made it!", "made it!"]),
        "retried to the last attempt"
    );

    stack.stop().await;
}

/// `crowd up` as a user runs it, killed with SIGKILL mid-job and started again on the same
/// data: the job completes, nothing lost and nothing counted twice.
struct Up {
    child: Child,
    api: String,
}

fn start_up(data_dir: &std::path::Path) -> Up {
    spawn_up(data_dir, "warn", Stdio::inherit())
}

/// `crowd up` logging at `log` (`RUST_LOG`) to `stderr`.
fn spawn_up(data_dir: &std::path::Path, log: &str, stderr: Stdio) -> Up {
    spawn_up_with(data_dir, log, stderr, &[])
}

/// `spawn_up`, with these environment variables set.
fn spawn_up_with(data_dir: &std::path::Path, log: &str, stderr: Stdio, env: &[(&str, &str)]) -> Up {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crowd"))
        .args(["up", "--host", "127.0.0.1", "--port", "0", "--data-dir"])
        .arg(data_dir)
        .envs(env.iter().copied())
        .env("RUST_LOG", log)
        .env_remove("DATABASE_URL")
        .env_remove("AMQP_URL")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("start crowd up");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the first line");
    let api = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no API address in {line:?}"))
        .to_string();
    Up { child, api }
}

/// The process's stderr, a line at a time, read by a thread of its own.
fn stderr_lines(up: &mut Up) -> std::sync::mpsc::Receiver<String> {
    let stderr = up.child.stderr.take().expect("stderr");
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    lines
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_survives_sigkill_and_a_restart() {
    let data = tempfile::tempdir().expect("data dir");
    let mut gated = GatedServer::start().await;
    let mut receiver = CallbackReceiver::start(vec![200]).await;
    let mut first = start_up(data.path());
    // On 127.0.0.1 it answers only to this machine's names, whatever a page's DNS says.
    let rebound = reqwest::Client::new()
        .get(format!("{}/jobs", first.api))
        .header("host", "rebound.example")
        .send()
        .await
        .expect("GET /jobs");
    assert_eq!(rebound.status(), 403);
    let inputs: Vec<String> = (0..3).map(|i| gated.url(&format!("held{i}"))).collect();
    let mut all_inputs = inputs.clone();
    all_inputs.push("two words".into());
    let created = post(
        &first.api,
        json!({"action": "word_count", "inputs": all_inputs, "callback_url": receiver.url}),
    )
    .await;
    for _ in 0..3 {
        gated.arrival().await; // three units are mid-run
    }

    first.child.kill().expect("SIGKILL");
    first.child.wait().expect("reaped");
    let second = start_up(data.path());
    for _ in 0..3 {
        gated.arrival().await; // run again by the new process
    }
    gated.release(100);
    let job = callback(&mut receiver).await;
    assert_eq!(job["id"], created["id"]);
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["outputs"], json!([3 + 2]), "each unit counted once");
    drop(second);
}

/// `crowd up` keeps one user's jobs and results: its data directory and everything created in
/// it are readable by that user only.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_data_directory_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let data = tempfile::tempdir().expect("data dir");
    let dir = data.path().join("crowd-data");
    let mut receiver = CallbackReceiver::start(vec![200]).await;
    let up = start_up(&dir);
    let text = "one two\nthree four\nfive";
    post(
        &up.api,
        json!({"action": "chunked_word_count", "inputs": [text],
               "options": {"lines_per_chunk": 1}, "callback_url": receiver.url}),
    )
    .await;
    assert_eq!(callback(&mut receiver).await["outputs"], json!([5]));
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    };
    let mut entries = vec![dir.clone()];
    let mut checked = 0;
    while let Some(path) = entries.pop() {
        let expected = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(&path), expected, "{}", path.display());
        checked += 1;
        if path.is_dir() {
            entries.extend(
                std::fs::read_dir(&path)
                    .expect("read_dir")
                    .flatten()
                    .map(|e| e.path()),
            );
        }
    }
    assert!(
        checked > 5,
        "the database and the stored chunks were checked"
    );
    drop(up);
}

/// `crowd up`'s log lines show no URL's credentials: neither the worker's, for a download
/// that failed, nor the dispatcher's, for a callback that did.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn log_lines_show_no_credentials() {
    const PASSWORD: &str = "hunter2";
    let data = tempfile::tempdir().expect("data dir");
    let mut up = spawn_up(data.path(), "info", Stdio::piped());
    let lines = stderr_lines(&mut up);
    // Nothing listens on port 1: the download is refused and retried, then the callback.
    post(
        &up.api,
        json!({"action": "word_count",
               "inputs": [format!("http://crowd:{PASSWORD}@127.0.0.1:1/x.txt")],
               "callback_url": format!("http://crowd:{PASSWORD}@127.0.0.1:1/callback")}),
    )
    .await;
    let logged = tokio::task::spawn_blocking(move || {
        let mut logged = Vec::new();
        while !logged
            .iter()
            .any(|l: &String| l.contains("callback failed"))
        {
            match lines.recv_timeout(helpers::WAIT) {
                Ok(line) => logged.push(line),
                Err(e) => panic!("no callback failure logged ({e}); logged: {logged:#?}"),
            }
        }
        logged
    })
    .await
    .expect("the log reader");
    let failures: Vec<&String> = logged
        .iter()
        .filter(|l| l.contains("stage failed") || l.contains("callback failed"))
        .collect();
    assert!(
        failures.len() >= 2 && failures.iter().all(|l| l.contains("***@127.0.0.1:1")),
        "{failures:#?}"
    );
    for line in &logged {
        assert!(!line.contains(PASSWORD), "the password is logged: {line}");
    }
}

/// `CROWD_LOG_FORMAT=json`: every log line is one JSON object, and a unit's failure carries
/// its job, unit and action as fields of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn json_logs_are_one_object_a_line_with_the_units_fields() {
    let data = tempfile::tempdir().expect("data dir");
    let mut up = spawn_up_with(
        data.path(),
        "info",
        Stdio::piped(),
        &[("CROWD_LOG_FORMAT", "json")],
    );
    let lines = stderr_lines(&mut up);
    // Nothing listens on port 1: the download fails, and the stage says so.
    let job = post(
        &up.api,
        json!({"action": "word_count", "inputs": ["http://127.0.0.1:1/x.txt"]}),
    )
    .await;
    let logged = tokio::task::spawn_blocking(move || {
        let mut logged: Vec<Value> = Vec::new();
        while !logged.iter().any(|l| l["message"] == "stage failed") {
            let line = lines
                .recv_timeout(helpers::WAIT)
                .unwrap_or_else(|e| panic!("no stage failure logged ({e}): {logged:#?}"));
            let object: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line}"));
            logged.push(object);
        }
        logged
    })
    .await
    .expect("the log reader");
    assert!(logged
        .iter()
        .all(|l| l["level"].is_string() && l["timestamp"].is_string()));
    let failed = logged
        .iter()
        .find(|l| l["message"] == "stage failed")
        .expect("the failure");
    assert_eq!(failed["job.id"], job["id"], "{failed}");
    assert!(failed["work_unit.id"].is_i64(), "{failed}");
    assert_eq!(failed["action"], "word_count", "{failed}");
}
