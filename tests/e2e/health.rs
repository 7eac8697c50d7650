//! `/healthz` and `/readyz`: for a load balancer or Kubernetes, answered without a login; ready
//! while the api reaches its store and its queue, a 503 saying which it cannot reach otherwise.

use serde_json::{json, Value};

use crate::helpers::{Backend, StackOptions, TestStack};

async fn get(stack: &TestStack, path: &str) -> (u16, Value) {
    let reply = stack.http.get(stack.url(path)).send().await.expect("GET");
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap_or(Value::Null))
}

async fn probes_need_no_login_and_say_what_is_reachable(backend: Backend) {
    let stack = TestStack::start_with(
        backend,
        StackOptions {
            workers: 0,
            configure: |c| {
                c.login = Some("crowd".into());
                c.password = Some(crowd::shared::Secret::new("s3cret"));
            },
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        get(&stack, "/status").await.0,
        401,
        "the rest keeps its login"
    );
    assert_eq!(
        get(&stack, "/healthz").await,
        (200, json!({"status": "ok"}))
    );
    assert_eq!(
        get(&stack, "/readyz").await,
        (
            200,
            json!({"status": "ready", "store": "ok", "queue": "ok"})
        )
    );
    // A public route asked with a wrong method is a 405 naming its methods, not the guarded
    // routes' 401.
    for path in ["/healthz", "/readyz", "/openapi.json"] {
        let reply = stack.http.post(stack.url(path)).send().await.expect("POST");
        assert_eq!(reply.status(), 405, "{path}");
        assert_eq!(reply.headers()["allow"], "GET, HEAD", "{path}");
    }
    stack.stop().await;
}

/// With its database gone, the api is alive but not ready, and says why.
async fn an_api_without_its_database_is_not_ready(backend: Backend) {
    let stack = TestStack::start_with(
        backend,
        StackOptions {
            workers: 0,
            dispatchers: 0,
            ..Default::default()
        },
    )
    .await;
    if backend == Backend::Embedded {
        // The embedded store is a file this process holds open; there is nothing to take away.
        stack.stop().await;
        return;
    }
    let url = url::Url::parse(&stack.config.database_url).expect("database URL");
    let name = url.path().trim_start_matches('/').to_string();
    let (admin, conn) =
        tokio_postgres::connect(&crate::helpers::admin_url(), tokio_postgres::NoTls)
            .await
            .expect("connect");
    tokio::spawn(conn);
    admin
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .expect("drop the database");
    let (status, body) = get(&stack, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["queue"], "ok");
    assert_ne!(body["store"], "ok", "{body}");
    assert_eq!(get(&stack, "/healthz").await.0, 200, "alive all the same");
    stack.stop().await;
}

/// After a job, `/metrics` (behind its own login) counts it, its units and the queue, beside
/// the process's own figures.
async fn metrics_count_jobs_units_and_queues(backend: Backend) {
    let mut stack = TestStack::start_with(
        backend,
        StackOptions {
            configure: |c| {
                c.metrics_login = Some("scraper".into());
                c.metrics_password = Some(crowd::shared::Secret::new("scrape-secret"));
            },
            ..Default::default()
        },
    )
    .await;
    let id = stack
        .post_id(json!({"action": "word_count", "inputs": ["one two", "three"]}))
        .await;
    assert_eq!(stack.wait_for_job(id).await["status"], "succeeded");
    let scrape = |login: Option<&'static str>| {
        let request = stack.http.get(stack.url("/metrics"));
        let request = match login {
            Some(password) => request.basic_auth("scraper", Some(password)),
            None => request,
        };
        async move { request.send().await.expect("GET /metrics") }
    };
    assert_eq!(scrape(None).await.status().as_u16(), 401);
    assert_eq!(scrape(Some("wrong")).await.status().as_u16(), 401);
    let reply = scrape(Some("scrape-secret")).await;
    assert_eq!(reply.status().as_u16(), 200);
    let text = reply.text().await.expect("the metrics");
    for expected in [
        r#"crowd_jobs_created_total{action="word_count"}"#,
        r#"crowd_jobs_completed_total{action="word_count",status="succeeded"}"#,
        r#"crowd_units_run_total{action="word_count",stage="process",outcome="succeeded"}"#,
        r#"crowd_unit_run_seconds_bucket{action="word_count",stage="merge",le="#,
        r#"crowd_completions_applied_total{result="recorded"}"#,
        r#"crowd_queue_waiting_units{action="word_count"} 0"#,
        "crowd_outbox_lag_seconds 0",
        "process_resident_memory_bytes",
    ] {
        assert!(text.contains(expected), "{expected} is not in:\n{text}");
    }
    stack.stop().await;
}

crate::on_both_backends!(
    probes_need_no_login_and_say_what_is_reachable,
    an_api_without_its_database_is_not_ready,
    metrics_count_jobs_units_and_queues,
);
