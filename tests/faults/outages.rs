//! Outages of the database and the broker are survived and explained: while Postgres is down
//! the api answers 503 at once, and everything carries on when it is back; while RabbitMQ is
//! down or under a memory alarm, jobs are still accepted and nothing is lost.

use std::{process::Command, time::Duration};

use serde_json::{json, Value};

use crate::{
    helpers::{Backend, TestStack},
    http_fixtures::GatedServer,
    rabbitmqctl, rabbitmqctl_now,
};

/// Longest the api may take to say it cannot serve.
const ANSWER_WITHIN: Duration = Duration::from_secs(3);

fn pg_ctlcluster(action: &str) {
    let version = std::fs::read_dir("/etc/postgresql")
        .expect("/etc/postgresql")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .next()
        .expect("a PostgreSQL cluster");
    let status = Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &version, "main", action])
        .stdin(std::process::Stdio::null())
        .status()
        .expect("pg_ctlcluster runs");
    assert!(status.success(), "pg_ctlcluster {action} failed");
}

/// Starts Postgres again when dropped, so a failing test leaves the server up for the rest.
struct StoppedPostgres;

impl StoppedPostgres {
    fn stop() -> StoppedPostgres {
        pg_ctlcluster("stop");
        StoppedPostgres
    }
}

impl Drop for StoppedPostgres {
    fn drop(&mut self) {
        pg_ctlcluster("start");
    }
}

async fn answer(stack: &TestStack, request: reqwest::RequestBuilder) -> (u16, Value) {
    let started = std::time::Instant::now();
    let reply = tokio::time::timeout(ANSWER_WITHIN * 2, request.send())
        .await
        .unwrap_or_else(|_| panic!("no answer within {:?}", ANSWER_WITHIN * 2))
        .expect("an HTTP answer");
    let status = reply.status().as_u16();
    let body = reply.json().await.unwrap_or(Value::Null);
    assert!(
        started.elapsed() < ANSWER_WITHIN,
        "took {:?} to answer {status} {body} ({})",
        started.elapsed(),
        stack.api
    );
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_restart_mid_job_leaves_the_job_right_and_the_api_says_503_meanwhile() {
    let _turn = crate::serial().await;
    let mut stack = TestStack::start(Backend::Distributed).await;
    let mut gated = GatedServer::start().await;
    let mut inputs: Vec<String> = (0..2).map(|i| gated.url(&format!("held{i}"))).collect();
    inputs.extend((0..4).map(|_| "two words".to_string()));
    let id = stack
        .post_id(json!({"action": "word_count", "inputs": inputs}))
        .await;
    gated.arrival().await;
    gated.arrival().await;

    {
        let _down = StoppedPostgres::stop();
        let post = stack
            .http
            .post(stack.url("/jobs"))
            .form(&[("job", r#"{"action":"word_count","inputs":["a"]}"#)]);
        let (status, body) = answer(&stack, post).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (503, Some("unavailable")),
            "{body}"
        );
        let (status, body) =
            answer(&stack, stack.http.get(stack.url(&format!("/jobs/{id}")))).await;
        assert_eq!(status, 503, "{body}");
        let (status, _) = answer(&stack, stack.http.get(stack.url("/status"))).await;
        assert_eq!(status, 503);
        // The held units finish while the database is away; their results wait in the queue.
        gated.release(2);
    }
    stack.reconnect_probe().await;
    let job = stack.wait_for_job(id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["outputs"], json!([2 + 4 * 2]));
    let after = stack
        .post_id(json!({"action": "word_count", "inputs": ["three more words"]}))
        .await;
    assert_eq!(stack.wait_for_job(after).await["outputs"], json!([3]));
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_posted_while_the_broker_is_down_run_when_it_returns() {
    let _turn = crate::serial().await;
    let mut stack = TestStack::start(Backend::Distributed).await;
    rabbitmqctl(&["stop_app"]).await;
    let posted = stack
        .http
        .post(stack.url("/jobs"))
        .form(&[(
            "job",
            r#"{"action":"word_count","inputs":["one two","three"]}"#,
        )])
        .send()
        .await
        .expect("POST /jobs");
    rabbitmqctl(&["start_app"]).await;
    assert_eq!(posted.status(), 200, "the outbox is in Postgres");
    let id = posted.json::<Value>().await.expect("job")["id"]
        .as_i64()
        .expect("id");
    assert_eq!(stack.wait_for_job(id).await["outputs"], json!([3]));
    stack.stop().await;
}

/// Puts RabbitMQ's memory watermark back when dropped.
struct MemoryAlarm {
    before: String,
}

impl MemoryAlarm {
    async fn raise() -> MemoryAlarm {
        let before =
            rabbitmqctl(&["eval", "vm_memory_monitor:get_vm_memory_high_watermark()."]).await;
        rabbitmqctl(&["set_vm_memory_high_watermark", "0.0000001"]).await;
        MemoryAlarm { before }
    }
}

impl Drop for MemoryAlarm {
    fn drop(&mut self) {
        let before = self.before.trim();
        let fraction = if before.parse::<f64>().is_ok() {
            before
        } else {
            "0.4"
        };
        rabbitmqctl_now(&["set_vm_memory_high_watermark", fraction]);
    }
}

/// Connections RabbitMQ holds back from publishing (`blocked` or `blocking`).
fn blocked_connections() -> usize {
    rabbitmqctl_now(&["-q", "list_connections", "--no-table-headers", "state"])
        .lines()
        .filter(|l| l.trim().starts_with("block"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_is_lost_under_a_broker_memory_alarm() {
    let _turn = crate::serial().await;
    let mut stack = TestStack::start(Backend::Distributed).await;
    let alarm = MemoryAlarm::raise().await;
    let id = stack
        .post_id(json!({"action": "word_count", "inputs": ["one two", "three", "four five six"]}))
        .await;
    // The relay tries to publish, and the broker holds it back.
    let deadline = std::time::Instant::now() + crate::helpers::WAIT;
    while blocked_connections() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no connection was blocked"
        );
        tokio::task::yield_now().await;
    }
    let (_, job) = stack.get_job(id).await;
    assert_eq!(job["status"], "processing", "{job}");
    drop(alarm);
    let job = stack.wait_for_job(id).await;
    assert_eq!(job["outputs"], json!([6]), "{job}");
    stack.stop().await;
}
