//! Latency benchmarks, ignored by the normal run (they measure, they do not assert speed):
//!
//!     cargo test --release --test e2e latency -- --ignored --nocapture
//!
//! Each posts word_count jobs to a full in-process stack (2 workers, 1 dispatcher) on each
//! backend set and times POST to `succeeded`, as seen by the client (waiting on the
//! job's change notification, not polling) and as the job's own `time_taken`.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{Backend, StackOptions, TestStack};

async fn time_job(stack: &mut TestStack, inputs: usize) -> (Duration, f64) {
    let inputs: Vec<String> = (0..inputs).map(|i| format!("word number {i}")).collect();
    let started = Instant::now();
    let created = stack
        .post_job(json!({"action": "word_count", "inputs": inputs}))
        .await;
    let job = stack
        .wait_for_job(created["id"].as_i64().expect("id"))
        .await;
    let elapsed = started.elapsed();
    assert_eq!(job["status"], "succeeded");
    (elapsed, job["time_taken"].as_f64().expect("time_taken"))
}

fn report(label: &str, mut samples: Vec<(Duration, f64)>) {
    samples.sort_by_key(|s| s.0);
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    let (p50, p50_server) = pick(0.5);
    let (max, _) = pick(1.0);
    println!(
        "{label}: {} runs, client p50 {:.1} ms (server time_taken {:.1} ms), max {:.1} ms",
        samples.len(),
        p50.as_secs_f64() * 1e3,
        p50_server * 1e3,
        max.as_secs_f64() * 1e3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a benchmark: run with --ignored --nocapture"]
async fn latency_of_word_count_jobs_distributed() {
    latency_of_word_count_jobs(Backend::Distributed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a benchmark: run with --ignored --nocapture"]
async fn latency_of_word_count_jobs_embedded() {
    latency_of_word_count_jobs(Backend::Embedded).await;
}

async fn latency_of_word_count_jobs(backend: Backend) {
    let mut stack = TestStack::start_with(
        backend,
        StackOptions {
            configure: |c| c.max_workers = 16,
            ..Default::default()
        },
    )
    .await;
    time_job(&mut stack, 1).await; // warm-up: connections, queue declarations
    let mut one = Vec::new();
    for _ in 0..30 {
        one.push(time_job(&mut stack, 1).await);
    }
    report(&format!("{backend:?} word_count, 1 input"), one);
    let mut thousand = Vec::new();
    for _ in 0..5 {
        thousand.push(time_job(&mut stack, 1000).await);
    }
    report(&format!("{backend:?} word_count, 1000 inputs"), thousand);
    stack.stop().await;
}
