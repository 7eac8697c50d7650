//! The faults a chaos run deals out, one at a time: a process killed with SIGKILL (and started
//! again), RabbitMQ restarted, Postgres restarted.

use std::{process::Command, time::Duration};

use crate::{
    cluster::{Cluster, DISPATCHERS, WORKERS},
    rng::Rng,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    KillWorker,
    KillDispatcher,
    KillApi,
    RestartBroker,
    RestartDatabase,
}

impl Fault {
    /// Every kind, so a run deals each at least once.
    pub const ALL: [Fault; 5] = [
        Fault::KillWorker,
        Fault::KillDispatcher,
        Fault::KillApi,
        Fault::RestartBroker,
        Fault::RestartDatabase,
    ];

    /// The next fault: the kinds in turn, workers killed more often (there are more of them).
    pub fn pick(rng: &mut Rng, round: usize) -> Fault {
        if round < Fault::ALL.len() {
            return Fault::ALL[round];
        }
        *rng.pick(&[
            Fault::KillWorker,
            Fault::KillWorker,
            Fault::KillWorker,
            Fault::KillDispatcher,
            Fault::KillDispatcher,
            Fault::KillApi,
            Fault::RestartBroker,
            Fault::RestartDatabase,
        ])
    }

    /// Deals the fault; returns what was done, for the run's log.
    pub async fn deal(self, cluster: &mut Cluster, rng: &mut Rng) -> String {
        let down = Duration::from_millis(rng.between(0..1_500));
        match self {
            Fault::KillWorker | Fault::KillDispatcher | Fault::KillApi => {
                let name = match self {
                    Fault::KillWorker => format!("worker-{}", rng.between(0..WORKERS as u64)),
                    Fault::KillDispatcher => {
                        format!("dispatcher-{}", rng.between(0..DISPATCHERS as u64))
                    }
                    _ => "api".to_string(),
                };
                cluster.kill(&name);
                tokio::time::sleep(down).await; // how long it stays dead: part of the fault
                cluster.restart(&name);
                format!("kill -9 {name}, restarted after {} ms", down.as_millis())
            }
            Fault::RestartBroker => {
                run("rabbitmqctl", &["stop_app"]);
                tokio::time::sleep(down).await;
                run("rabbitmqctl", &["start_app"]);
                format!("RabbitMQ stopped for {} ms and started", down.as_millis())
            }
            Fault::RestartDatabase => {
                run(
                    "pg_ctlcluster",
                    &[
                        "--skip-systemctl-redirect",
                        &pg_version(),
                        "main",
                        "restart",
                    ],
                );
                "PostgreSQL restarted".to_string()
            }
        }
    }
}

fn run(program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("{program} does not run: {e}"));
    assert!(status.success(), "{program} {args:?} failed");
}

fn pg_version() -> String {
    std::fs::read_dir("/etc/postgresql")
        .expect("/etc/postgresql")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .next()
        .expect("a PostgreSQL cluster")
}
