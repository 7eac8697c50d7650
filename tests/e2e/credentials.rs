//! Credentials in a URL (`http://user:password@host/`) are the job poster's, for the request
//! alone: they appear in no unit's error, no job's outputs, no listing and no stored callback
//! error (the strings the services also log), however the request fails; nor does any
//! setting's in `crowd config`.

use serde_json::{json, Value};

use crate::helpers::{Backend, TestStack};

const PASSWORD: &str = "hunter2";

async fn credentials_in_urls_leave_no_trace(backend: Backend) {
    let mut stack = TestStack::start(backend).await;
    // Nothing listens on port 1: each try is refused at once, and retried.
    let input = format!("http://crowd:{PASSWORD}@127.0.0.1:1/x.txt");
    let callback = format!("http://crowd:{PASSWORD}@127.0.0.1:1/callback");
    let id = stack
        .post_id(json!({"action": "word_count", "inputs": [input], "callback_url": callback}))
        .await;
    let job = stack.wait_for_job(id).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(
        stack.attempts(id, None).await,
        [3],
        "a refused connection is retried"
    );
    let error = job["outputs"][0].as_str().unwrap_or_default();
    assert!(
        error.starts_with("downloading http://***@127.0.0.1:1/x.txt: "),
        "the URL is shown without its credentials: {error}"
    );

    let units = stack
        .http
        .get(stack.url(&format!("/jobs/{id}/units")))
        .send()
        .await
        .expect("GET /jobs/:id/units")
        .text()
        .await
        .expect("the units");
    assert!(units.contains("http://***@127.0.0.1:1/x.txt"), "{units}");
    let callback_error = stack.wait_for_callback_error(id).await;
    let shown = [job.to_string(), units, callback_error];
    for text in &shown {
        assert!(!text.contains(PASSWORD), "the password shows in {text}");
    }
    stack.stop().await;
}

crate::on_both_backends!(credentials_in_urls_leave_no_trace);

/// `crowd config` prints no password, user-info or secret query value of any URL, and no
/// secret setting.
#[test]
fn crowd_config_shows_no_credentials() {
    let dir = tempfile::tempdir().expect("a directory without crowd.toml");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_crowd"))
        .arg("config")
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env(
            "CROWD_DATABASE_URL",
            "postgres://crowd:hunter2@db.internal:5432/crowd?sslmode=require&password=hunter3",
        )
        .env("AMQP_URL", "amqp://crowd:hunter4@mq.internal:5672/%2f")
        .env(
            "CROWD_S3_PUBLIC_URL",
            "https://cdn.example.com/files?X-Amz-Signature=hunter5&sig=hunter6&token=hunter7",
        )
        // base64 of "hunter8hunter8hunter8hunter8"
        .env(
            "CROWD_CALLBACK_SECRET",
            "whsec_aHVudGVyOGh1bnRlcjhodW50ZXI4aHVudGVyOA==",
        )
        .env("CROWD_LOGIN", "crowd")
        .env("CROWD_PASSWORD", "hunter9")
        .env("CROWD_ALLOWED_NETWORKS", "10.0.0.0/8, metadata.internal")
        .output()
        .expect("run crowd config");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(
        !printed.contains("hunter") && !printed.contains("aHVudGVy"),
        "{printed}"
    );
    let config: Value = serde_json::from_str(&printed).expect("JSON");
    assert_eq!(
        config["database_url"],
        "postgres://***@db.internal:5432/crowd?sslmode=require&password=***"
    );
    assert_eq!(config["amqp_url"], "amqp://***@mq.internal:5672/%2f");
    assert_eq!(config["callback_secret"], "********");
    assert_eq!(
        config["allowed_networks"],
        json!(["10.0.0.0/8", "metadata.internal"])
    );
}
