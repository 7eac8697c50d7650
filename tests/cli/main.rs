//! The command line (`crowd submit`, `status`, `jobs`, `job`, `retry`, `cancel`, `cleanup`, `bench`), run
//! as a user runs them: the real `crowd` binary, against an embedded stack started in this
//! process.

use std::{path::Path, time::Duration};

mod bench;
mod flaky_api;
#[path = "../e2e/http_fixtures.rs"]
#[allow(dead_code)] // The shared fixtures have more than these tests use.
mod http_fixtures;
#[path = "../common/up_stack.rs"]
mod up_stack;

mod helpers {
    pub const WAIT: std::time::Duration = super::WAIT;
}

use crowd::shared::{Config, Secret};
use flaky_api::{Fault, FlakyApi};
use http_fixtures::GatedServer;
use serde_json::{json, Value};
use tempfile::TempDir;
use up_stack::UpStack;

/// Longest a command may take, `--wait` included.
const WAIT: Duration = Duration::from_secs(90);

/// `crowd up`'s stack in this process, with a directory of texts the workers may read.
struct Stack {
    up: UpStack,
    api: String,
    /// The commands' working directory, where `book.txt` is.
    texts: TempDir,
}

/// What a command did.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Stack {
    async fn start() -> Stack {
        Stack::start_with(|_| {}).await
    }

    async fn start_with(configure: impl FnOnce(&mut Config)) -> Stack {
        let texts = tempfile::tempdir().expect("texts");
        std::fs::write(
            texts.path().join("book.txt"),
            "one two three\nfour five\nsix",
        )
        .expect("write");
        let readable = texts.path().canonicalize().expect("canonical");
        let up = UpStack::start(crowd::Choice::default(), |config| {
            config.allowed_file_roots = vec![readable];
            configure(config);
        })
        .await;
        Stack {
            api: up.api.clone(),
            up,
            texts,
        }
    }

    /// `crowd <command> --api <this stack> <rest>`.
    async fn crowd(&self, args: &[&str]) -> Run {
        let (command, rest) = args.split_first().expect("a command");
        let mut all = vec![*command, "--api", &self.api];
        all.extend(rest);
        crowd_in(self.texts.path(), &all).await
    }

    /// Submits with `--wait` and returns the job's id, from `crowd jobs --json`'s newest.
    async fn submit_and_wait(&self, args: &[&str]) -> u64 {
        let mut all = vec!["submit", "--wait"];
        all.extend(args);
        let run = self.crowd(&all).await;
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        let jobs = self.crowd(&["jobs", "--json", "--per-page", "1"]).await;
        let newest: Value = serde_json::from_str(&jobs.stdout).expect("jobs JSON");
        newest["jobs"][0]["id"].as_u64().expect("an id")
    }

    async fn stop(self) {
        self.up.stop().await;
    }
}

/// Runs the binary in `dir`, with none of the user's `CROWD_*` settings.
async fn crowd_in(dir: &Path, args: &[&str]) -> Run {
    crowd_in_env(dir, args, &[]).await
}

/// `crowd_in`, with these environment variables set.
async fn crowd_in_env(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> Run {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_crowd"));
    command
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .env_remove("CROWD_API")
        .env_remove("CROWD_LOGIN")
        .env_remove("CROWD_PASSWORD")
        .env_remove("DATABASE_URL")
        .env_remove("CROWD_DATABASE_URL")
        .env_remove("CROWD_CONFIG")
        .env_remove("CROWD_PORT");
    let output = tokio::time::timeout(
        WAIT,
        tokio::task::spawn_blocking(move || command.output().expect("run crowd")),
    )
    .await
    .unwrap_or_else(|_| panic!("crowd {args:?} did not end in time"))
    .expect("the blocking task");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn submit_wait_counts_the_words_of_a_local_file_and_a_text() {
    let stack = Stack::start().await;
    // `book.txt` is relative to the command's directory: it goes out as an absolute file:// URL.
    let run = stack
        .crowd(&["submit", "word_count", "book.txt", "seven eight", "--wait"])
        .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let outputs: Value = serde_json::from_str(&run.stdout).expect("outputs JSON on stdout");
    assert_eq!(outputs, json!([8]));
    assert!(run.stderr.contains("submitted"), "{}", run.stderr);

    let run = stack.crowd(&["submit", "word_count", "a b c"]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stdout.trim().parse::<u64>().is_ok(),
        "without --wait, the id alone: {:?}",
        run.stdout
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn submit_wait_exits_1_when_the_job_fails() {
    let stack = Stack::start().await;
    let run = stack
        .crowd(&["submit", "always_fails", "anything", "--wait"])
        .await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("failed"), "{}", run.stderr);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retry_runs_a_failed_job_again_and_refuses_one_that_has_not_failed() {
    let stack = Stack::start().await;
    let run = stack
        .crowd(&["submit", "always_fails", "anything", "--wait"])
        .await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let run = stack.crowd(&["jobs", "--status", "failed", "--json"]).await;
    let page: serde_json::Value = serde_json::from_str(&run.stdout).expect("the jobs as JSON");
    let failed = page["jobs"][0]["id"].to_string();

    let run = stack.crowd(&["retry", &failed]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(
        run.stdout.trim(),
        format!("job {failed} retried: processing")
    );

    let done = stack
        .submit_and_wait(&["word_count", "one two"])
        .await
        .to_string();
    let run = stack.crowd(&["retry", &done]).await;
    assert_eq!(run.code, Some(2));
    assert_eq!(
        run.stderr.trim(),
        format!("error: job {done}: only a failed job can be retried, and this one is succeeded")
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn submit_reads_a_whole_job_from_a_file() {
    let stack = Stack::start().await;
    let job = json!({"action": "chunked_word_count", "inputs": ["one\ntwo three"],
                     "options": {"lines_per_chunk": 1}});
    std::fs::write(stack.texts.path().join("job.json"), job.to_string()).expect("write");
    let run = stack
        .crowd(&["submit", "--file", "job.json", "--wait"])
        .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(
        serde_json::from_str::<Value>(&run.stdout).expect("JSON"),
        json!([3])
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_job_and_status_show_the_work_done() {
    let stack = Stack::start().await;
    let first = stack.submit_and_wait(&["word_count", "book.txt"]).await;
    let second = stack.submit_and_wait(&["word_count", "a b", "c d e"]).await;

    let run = stack.crowd(&["jobs"]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let ids: Vec<&str> = run
        .stdout
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert_eq!(
        ids[..2],
        [second.to_string(), first.to_string()],
        "newest first:\n{}",
        run.stdout
    );
    assert!(run.stdout.contains("word_count") && run.stdout.contains("succeeded"));

    let run = stack.crowd(&["jobs", "--status", "failed", "--json"]).await;
    let page: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(page["total"], 0, "{page}");

    let run = stack.crowd(&["job", &second.to_string()]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let stages: Vec<&str> = run
        .stdout
        .lines()
        .skip_while(|line| !line.starts_with("UNIT"))
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(1))
        .collect();
    assert_eq!(
        stages,
        ["process", "process", "merge"],
        "one row per unit:\n{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("c d e"),
        "inputs shown:\n{}",
        run.stdout
    );

    let run = stack.crowd(&["job", &second.to_string(), "--json"]).await;
    let detail: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(detail["job"]["outputs"], json!([5]), "{detail}");

    let run = stack.crowd(&["status"]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stdout.starts_with("0 incomplete jobs"),
        "{}",
        run.stdout
    );
    let run = stack.crowd(&["status", "--json"]).await;
    let status: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(status["job_count"], 0, "{status}");
    stack.stop().await;
}

/// A job deleted while `submit --wait` follows it (a callback that answered 201 does that too)
/// ends the wait with a message that says so, not a bare 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn submit_wait_says_so_when_the_job_is_deleted_under_it() {
    let stack = Stack::start().await;
    let mut gated = GatedServer::start().await;
    let held = gated.url("held");
    let api = stack.api.clone();
    let dir = stack.texts.path().to_path_buf();
    let waiting = tokio::spawn(async move {
        crowd_in(
            &dir,
            &["submit", "--api", &api, "--wait", "word_count", &held],
        )
        .await
    });
    gated.arrival().await; // the job runs, and the command waits on it
    let run = stack.crowd(&["jobs", "--json"]).await;
    let jobs: Value = serde_json::from_str(&run.stdout).expect("jobs JSON");
    let id = jobs["jobs"][0]["id"].as_u64().expect("an id").to_string();
    assert_eq!(stack.crowd(&["cancel", &id]).await.code, Some(0));

    let run = waiting.await.expect("the waiting command");
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("job {id} was deleted before it could be read")),
        "{}",
        run.stderr
    );
    gated.release(1);
    stack.stop().await;
}

/// The reply to `submit`'s post is lost after the api made the job (a 503 from a proxy, a cut
/// connection): it posts again with the same key and gets that job, not a second one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn submit_posts_again_with_its_key_when_the_reply_is_lost_and_makes_one_job() {
    let stack = Stack::start().await;
    let mut printed = Vec::new();
    let mut keys = Vec::new();
    for fault in [Fault::Unavailable, Fault::Cut] {
        let flaky = FlakyApi::start(&stack.api, fault).await;
        let run = crowd_in(
            stack.texts.path(),
            &["submit", "--api", &flaky.url, "word_count", "a b c"],
        )
        .await;
        assert_eq!(run.code, Some(0), "{fault:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("trying again"),
            "{fault:?}: {}",
            run.stderr
        );
        printed.push(run.stdout.trim().parse::<u64>().expect("the job id"));
        let posted = flaky.posted_keys();
        assert_eq!(posted.len(), 2, "{fault:?}: one post, then one more");
        assert!(posted[0].is_some(), "{fault:?}: the post has a key");
        assert_eq!(
            posted[0], posted[1],
            "{fault:?}: tried again with the same key"
        );
        keys.push(posted[0].clone());
    }
    assert_ne!(keys[0], keys[1], "each invocation has a key of its own");

    let run = stack.crowd(&["jobs", "--json"]).await;
    let jobs: Value = serde_json::from_str(&run.stdout).expect("jobs JSON");
    assert_eq!(jobs["total"], 2, "one job per submit: {jobs}");
    let mut ids: Vec<u64> = jobs["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|job| job["id"].as_u64().expect("an id"))
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, printed, "the ids it printed are the jobs made");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancelled_job_is_gone() {
    let stack = Stack::start().await;
    let run = stack.crowd(&["submit", "word_count", "book.txt"]).await;
    let id = run.stdout.trim().to_string();

    let run = stack.crowd(&["cancel", &id]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stdout.trim(), format!("job {id} cancelled"));

    for command in ["job", "cancel"] {
        let run = stack.crowd(&[command, &id]).await;
        assert_eq!(run.code, Some(2), "{command}: {}", run.stderr);
        assert_eq!(
            run.stderr.trim(),
            format!("error: no job with id {id}"),
            "{command}"
        );
    }
    stack.stop().await;
}

/// Without --api or credentials, the client finds the api on this machine where the
/// configuration file puts it, with the api's own login.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_configuration_file_gives_the_api_address_and_login() {
    let stack = Stack::start_with(|c| {
        c.login = Some("crowd".into());
        c.password = Some(Secret::new("s3cret"));
    })
    .await;
    let port = stack.api.rsplit(':').next().expect("a port");
    std::fs::write(
        stack.texts.path().join("crowd.toml"),
        format!("port = {port}\nlogin = \"crowd\"\npassword = \"s3cret\"\n"),
    )
    .expect("write crowd.toml");
    let run = crowd_in(stack.texts.path(), &["status", "--json"]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let status: Value = serde_json::from_str(&run.stdout).expect("status JSON");
    assert!(status["nodes"].is_array(), "{status}");
    stack.stop().await;
}

/// `crowd cleanup` works on the store itself (here the embedded one, beside the running stack).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cleanup_removes_complete_jobs_from_the_data_dir() {
    let stack = Stack::start().await;
    let id = stack
        .submit_and_wait(&["word_count", "book.txt"])
        .await
        .to_string();
    let data_dir = stack
        .up
        .data
        .path()
        .to_str()
        .expect("UTF-8 path")
        .to_string();
    let cleanup = async |days: &str| {
        let run = crowd_in(
            stack.texts.path(),
            &["cleanup", "--days", days, "--data-dir", &data_dir],
        )
        .await;
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        run.stdout
    };
    assert!(cleanup("7").await.starts_with("removed 0 complete jobs"));
    assert_eq!(
        stack.crowd(&["job", &id]).await.code,
        Some(0),
        "still there"
    );
    let removed = cleanup("0").await;
    assert!(removed.starts_with("removed 1 complete jobs"), "{removed}");
    assert_eq!(stack.crowd(&["job", &id]).await.code, Some(2), "gone");

    let nowhere = crowd_in(
        stack.texts.path(),
        &["cleanup", "--data-dir", "no-such-dir"],
    )
    .await;
    assert_ne!(nowhere.code, Some(0));
    assert!(
        nowhere.stderr.contains("no embedded store in no-such-dir"),
        "{}",
        nowhere.stderr
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mistakes_exit_2_with_a_message_that_says_what_is_wrong() {
    let stack = Stack::start().await;
    let run = stack
        .crowd(&["submit", "word_count", "x", "--options", "{not json"])
        .await;
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.contains("--options") && run.stderr.contains("not valid JSON"),
        "{}",
        run.stderr
    );

    let run = stack.crowd(&["submit", "no_such_action", "x"]).await;
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr
            .starts_with("error: no action named \"no_such_action\""),
        "the api's message: {}",
        run.stderr
    );

    let run = stack.crowd(&["jobs", "--status", "lost"]).await;
    assert_eq!(run.code, Some(2), "{}", run.stderr);

    // A port nothing listens on: bound, then let go.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let api = format!("127.0.0.1:{port}");
    let run = crowd_in(stack.texts.path(), &["status", "--api", &api]).await;
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr
            .starts_with("error: cannot reach the api at http://127.0.0.1:"),
        "{}",
        run.stderr
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_api_with_a_password_needs_the_user_and_password() {
    let stack = Stack::start_with(|config| {
        config.login = Some("crowd".into());
        config.password = Some(Secret::new("hunter2"));
    })
    .await;
    let run = stack.crowd(&["status"]).await;
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.contains("authentication required") && run.stderr.contains("--user"),
        "{}",
        run.stderr
    );

    let run = stack
        .crowd(&["status", "--user", "crowd", "--password", "hunter2"])
        .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    stack.stop().await;
}

/// `crowd actions` and `crowd run-action` need no service: in a directory whose `actions/`
/// holds the examples, they list them and run their stages here.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn actions_are_listed_and_one_stage_runs_here_without_services() {
    let dir = tempfile::tempdir().expect("dir");
    let actions = dir.path().join("actions");
    std::fs::create_dir(&actions).expect("mkdir");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/actions");
    for name in ["count_words.py", "count_words.toml", "shout.sh"] {
        std::fs::copy(examples.join(name), actions.join(name)).expect("copy");
    }
    std::fs::write(dir.path().join("notes.txt"), "a b\nc\nd e f\n").expect("write");

    let listed = crowd_in(dir.path(), &["actions"]).await;
    assert_eq!(listed.code, Some(0), "{}", listed.stderr);
    let line = |name: &str| {
        listed
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
    };
    assert_eq!(
        line("count_words").as_deref(),
        Some(
            format!(
                "count_words split, process, merge {}",
                actions
                    .canonicalize()
                    .expect("dir")
                    .join("count_words.py")
                    .display()
            )
            .as_str()
        ),
        "{}",
        listed.stdout
    );
    assert_eq!(
        line("word_count").as_deref(),
        Some("word_count process, merge built in")
    );

    let split = crowd_in(
        dir.path(),
        &[
            "run-action",
            "count_words",
            "notes.txt",
            "--stage",
            "split",
            "--options",
            r#"{"lines_per_chunk": 2}"#,
        ],
    )
    .await;
    assert_eq!(split.code, Some(0), "{}", split.stderr);
    let chunks: Value = serde_json::from_str(&split.stdout).expect("JSON");
    assert_eq!(chunks, json!(["a b\nc", "d e f"]));

    let processed = crowd_in(dir.path(), &["run-action", "count_words", "a b c"]).await;
    assert_eq!(processed.code, Some(0), "{}", processed.stderr);
    let output: Value = serde_json::from_str(&processed.stdout).expect("JSON");
    assert_eq!(output["words"], 3);
    let saved = output["chunk"].as_str().expect("a URL");
    let saved = saved.strip_prefix("file://").expect("a file:// URL");
    assert_eq!(
        std::fs::read_to_string(saved).expect("the saved chunk"),
        "a b c"
    );

    let refused = crowd_in(dir.path(), &["run-action", "shout", "7"]).await;
    assert_eq!(refused.code, Some(1), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("for good") && refused.stderr.contains("nothing to shout"),
        "{}",
        refused.stderr
    );

    let unknown = crowd_in(dir.path(), &["run-action", "nope", "x"]).await;
    assert_eq!(unknown.code, Some(2));
    assert!(
        unknown.stderr.contains("there is no action named nope"),
        "{}",
        unknown.stderr
    );
}

/// CloudCrowd's three example jobs (word count, graphics magick, process PDFs), as
/// `examples/cloudcrowd_examples.sh` posts them with inputs it makes, run on `crowd up`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cloudcrowds_three_example_jobs_run_on_crowd_up() {
    let stack = Stack::start().await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cloudcrowd_examples.sh");
    let mut command = std::process::Command::new(script);
    command
        .arg(env!("CARGO_BIN_EXE_crowd"))
        .env("CROWD_API", &stack.api)
        // Its inputs where this stack may read them.
        .env("TMPDIR", stack.texts.path())
        .env_remove("CROWD_LOGIN")
        .env_remove("CROWD_PASSWORD")
        .env_remove("CROWD_CONFIG");
    let output = tokio::time::timeout(
        WAIT,
        tokio::task::spawn_blocking(move || command.output().expect("run the examples")),
    )
    .await
    .expect("the examples ended in time")
    .expect("the blocking task");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let after = |label: &str| stdout.split(label).nth(1).unwrap_or_default().to_string();
    let words: Value = serde_json::from_str(
        after("word_count:")
            .split("graphics_magick:")
            .next()
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.starts_with("job "))
            .collect::<String>()
            .as_str(),
    )
    .unwrap_or_else(|e| panic!("word_count's outputs ({e}): {stdout}"));
    assert_eq!(words, json!([26]), "10 + 7 + 9 words");
    let images = after("graphics_magick:");
    for step in ["annotated", "blurred", "bw"] {
        assert!(images.contains(&format!("\"{step}\"")), "{step}: {stdout}");
    }
    assert!(
        after("process_pdfs:").contains("processed_pdfs.tar"),
        "{stdout}"
    );
    stack.stop().await;
}
