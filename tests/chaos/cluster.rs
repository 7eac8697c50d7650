//! The distributed stack as separate `crowd` processes, each of which the test can kill -9 and
//! start again: an api, two dispatchers and three workers.

use std::{collections::BTreeMap, process::Child};

use crowd::shared::Config;

use crate::processes;

pub const WORKERS: usize = 3;
pub const DISPATCHERS: usize = 2;

pub struct Cluster {
    config: Config,
    api_port: u16,
    running: BTreeMap<String, Child>,
    /// Processes that exited without being killed: each is a failure of the run.
    pub exited: Vec<String>,
}

impl Cluster {
    pub fn start(config: Config, api_port: u16) -> Cluster {
        let mut cluster = Cluster {
            config,
            api_port,
            running: BTreeMap::new(),
            exited: Vec::new(),
        };
        for name in Cluster::names() {
            cluster.spawn(&name);
        }
        cluster
    }

    /// Every process of the stack, by name.
    pub fn names() -> Vec<String> {
        let mut names = vec!["api".to_string()];
        names.extend((0..DISPATCHERS).map(|i| format!("dispatcher-{i}")));
        names.extend((0..WORKERS).map(|i| format!("worker-{i}")));
        names
    }

    fn spawn(&mut self, name: &str) {
        let port = self.api_port.to_string();
        let args: Vec<&str> = match name.split('-').next() {
            Some("api") => vec!["api", "--host", "127.0.0.1", "--port", &port],
            Some("dispatcher") => vec!["dispatcher"],
            _ => vec!["worker"],
        };
        let child = processes::spawn(&args, &self.config, name);
        self.running.insert(name.to_string(), child);
    }

    /// SIGKILL, as the OOM killer or a crash would.
    pub fn kill(&mut self, name: &str) {
        if let Some(mut child) = self.running.remove(name) {
            child.kill().ok();
            child.wait().ok();
        }
    }

    pub fn restart(&mut self, name: &str) {
        self.check();
        self.kill(name);
        self.spawn(name);
    }

    /// Notes (and starts again) any process that exited on its own.
    pub fn check(&mut self) {
        let names: Vec<String> = self.running.keys().cloned().collect();
        for name in names {
            let exited = self
                .running
                .get_mut(&name)
                .and_then(|child| child.try_wait().ok().flatten());
            if let Some(status) = exited {
                eprintln!("chaos: {name} exited by itself ({status})");
                self.exited.push(format!("{name}: {status}"));
                self.running.remove(&name);
                self.spawn(&name);
            }
        }
    }

    /// Stops every process: SIGTERM, then SIGKILL for any still there after its grace.
    pub fn stop(mut self) -> Vec<String> {
        self.check();
        for child in self.running.values() {
            std::process::Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .ok();
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
        for (name, mut child) in std::mem::take(&mut self.running) {
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    _ if std::time::Instant::now() > deadline => {
                        eprintln!("chaos: {name} did not stop after SIGTERM");
                        child.kill().ok();
                        child.wait().ok();
                        break;
                    }
                    _ => std::thread::sleep(std::time::Duration::from_millis(50)),
                }
            }
        }
        self.exited
    }
}
