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

crate::on_both_backends!(
    probes_need_no_login_and_say_what_is_reachable,
    an_api_without_its_database_is_not_ready,
);
