//! `crowd` processes of a stack's own, configured by environment from the stack's `Config`, so
//! a test can kill one with SIGKILL as the OOM killer or a crash would.

use std::process::{Child, Command, Stdio};

use crowd::shared::{config::StorageKind, Config};

/// Starts `crowd <args>` on the backends `config` names (its own working directory, so no
/// `crowd.toml` of the checkout is read).
pub fn spawn(args: &[&str], config: &Config, node: &str) -> Child {
    let scratch = config.temp_storage_path.join(format!("process_{node}"));
    std::fs::create_dir_all(&scratch).expect("scratch directory");
    let mut command = Command::new(env!("CARGO_BIN_EXE_crowd"));
    command
        .args(args)
        .current_dir(&scratch)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdin(Stdio::null());
    for (key, value) in environment(config, node) {
        command.env(key, value);
    }
    command.spawn().expect("start crowd")
}

fn environment(config: &Config, node: &str) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("CROWD_DATABASE_URL", config.database_url.clone()),
        ("CROWD_AMQP_URL", config.amqp_url.clone()),
        ("CROWD_QUEUE_PREFIX", config.queue_prefix.clone()),
        ("CROWD_NODE_NAME", node.to_string()),
        ("CROWD_MAX_WORKERS", config.max_workers.to_string()),
        ("CROWD_HEARTBEAT_SECS", config.heartbeat_secs.to_string()),
        (
            "CROWD_WORK_UNIT_RETRIES",
            config.work_unit_retries.to_string(),
        ),
        (
            "CROWD_SHUTDOWN_GRACE_SECS",
            config.shutdown_grace_secs.to_string(),
        ),
        (
            "CROWD_CALLBACK_BACKOFF_MS",
            config.callback_backoff_ms.to_string(),
        ),
        ("CROWD_LOST_UNIT_SECS", config.lost_unit_secs.to_string()),
        (
            "CROWD_UNIT_TIMEOUT_SECS",
            config.unit_timeout_secs.to_string(),
        ),
        ("CROWD_PORT", config.port.to_string()),
        (
            "CROWD_TEMP_STORAGE_PATH",
            config.temp_storage_path.join(node).display().to_string(),
        ),
        (
            "CROWD_LOCAL_STORAGE_PATH",
            config.local_storage_path.display().to_string(),
        ),
    ];
    if !config.allowed_networks.is_empty() {
        env.push(("CROWD_ALLOWED_NETWORKS", config.allowed_networks.join(",")));
    }
    if config.storage == StorageKind::S3 {
        env.push(("CROWD_STORAGE", "s3".into()));
        let s3 = [
            ("CROWD_S3_ENDPOINT", config.s3_endpoint.clone()),
            ("CROWD_S3_BUCKET", config.s3_bucket.clone()),
            ("CROWD_AWS_ACCESS_KEY_ID", config.aws_access_key_id.clone()),
            (
                "CROWD_AWS_SECRET_ACCESS_KEY",
                config
                    .aws_secret_access_key
                    .as_ref()
                    .map(|s| s.expose().to_string()),
            ),
        ];
        env.extend(s3.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
    }
    env
}
