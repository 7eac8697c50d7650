//! `crowd up`'s whole stack in this process on a free port, with its data in a temporary
//! directory: for tests that drive it from outside, as a user would (HTTP, the command line, a
//! browser).

use crowd::shared::{shutdown::CancellationToken, Config};
use tempfile::TempDir;

pub struct UpStack {
    /// Base URL of the api.
    pub api: String,
    /// The data directory (the SQLite file, stored files, scratch space).
    pub data: TempDir,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl UpStack {
    /// Starts on the backends `choice` names, with files and scratch space in the data
    /// directory, after `configure` has had its say.
    pub async fn start(choice: crowd::Choice, configure: impl FnOnce(&mut Config)) -> UpStack {
        let data = tempfile::tempdir().expect("data dir");
        let mut config = Config {
            local_storage_path: data.path().join("files"),
            temp_storage_path: data.path().join("tmp"),
            // As `crowd up` on 127.0.0.1 opens it (the tests' servers are on loopback).
            allowed_networks: vec!["127.0.0.0/8".into(), "::1/128".into()],
            ..Config::default()
        };
        configure(&mut config);
        let listener = crowd::bind_api("127.0.0.1", 0).await.expect("bind");
        let api = format!("http://{}", listener.local_addr().expect("addr"));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(crowd::run_up(
            config,
            data.path().to_path_buf(),
            choice,
            listener,
            shutdown.clone(),
        ));
        UpStack {
            api,
            data,
            shutdown,
            task,
        }
    }

    /// Stops it and checks that it ran without an error.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task
            .await
            .expect("stack task")
            .expect("stack ran cleanly");
    }
}
