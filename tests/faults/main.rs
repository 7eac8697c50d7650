//! Fault tests: the system keeps its promises while the broker restarts, database connections
//! die and workers are killed. A test binary of its own, because restarting the shared RabbitMQ
//! would disturb tests running beside it (cargo runs test binaries one after another); within
//! it, each test takes `serial()` first, so they run one at a time.

#![allow(dead_code)] // The shared helpers have more than these tests use.

#[path = "../common/broker.rs"]
mod broker;
#[path = "../e2e/helpers.rs"]
mod helpers;
#[path = "../e2e/http_fixtures.rs"]
mod http_fixtures;
#[path = "../e2e/probe.rs"]
mod probe;
#[path = "../common/processes.rs"]
mod processes;
#[path = "../e2e/s3_server.rs"]
mod s3_server;

mod broker_limits;
mod outages;
mod poison;
mod restarts;
mod shutdown;

/// Runs `rabbitmqctl` with `args` and returns what it printed; a failure fails the test. For
/// `Drop` guards, which cannot wait on a task.
pub fn rabbitmqctl_now(args: &[&str]) -> String {
    let out = std::process::Command::new("rabbitmqctl")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("rabbitmqctl runs");
    assert!(out.status.success(), "rabbitmqctl {args:?} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `rabbitmqctl_now` off the test's runtime threads (a restart takes seconds).
pub async fn rabbitmqctl(args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        rabbitmqctl_now(&args)
    })
    .await
    .expect("rabbitmqctl task")
}

/// Held for the whole of a test: fault tests disturb shared services, so they take turns.
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    TURN.lock().await
}
