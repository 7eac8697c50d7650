//! TLS to PostgreSQL (`sslmode=verify-full`, `sslrootcert=`) and RabbitMQ (`amqps://`,
//! `cacertfile=`), against the local servers behind a TLS front with a CA each test makes. A
//! URL that asks for TLS gets it, verified, or no connection: never a plain one.

use std::sync::OnceLock;

use crowd::shared::{
    queue::{AmqpQueue, Queue},
    store::{postgres::pool, PgStore, Store},
    Config,
};
use serde_json::json;

use crate::{
    helpers::{admin_url, Backend, StackOptions, TestStack},
    tls_front::{Protocol, TlsFront},
};

fn database(name: &str) -> String {
    format!("crowd_test_tls_{}_{name}", std::process::id())
}

async fn drop_database(name: &str) {
    let (admin, conn) = tokio_postgres::connect(&admin_url(), tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .expect("drop the database");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_store_speaks_verified_tls_when_its_url_asks_and_nothing_less() {
    let front = TlsFront::start(Protocol::Postgres, "127.0.0.1:5432").await;
    let name = database("store");
    let base = format!("postgres://postgres@127.0.0.1:{}/{name}", front.port);
    let verified = format!(
        "{base}?sslmode=verify-full&sslrootcert={}",
        front.ca_file.display()
    );
    pool::migrate(&verified).await.expect("migrations over TLS");
    let store = PgStore::new(&verified, 2).expect("a store");
    assert!(store
        .job_view(crowd_shared::JobId(0))
        .await
        .expect("a query over TLS")
        .is_none());

    // The front takes TLS only: a URL that does not ask for it is turned away...
    let plain = pool::migrate(&base).await.expect_err("plain is refused");
    // ... and one that asks without the CA cannot verify the front's certificate.
    let unverified = pool::migrate(&format!("{base}?sslmode=require"))
        .await
        .expect_err("an unknown CA is refused");
    assert!(
        format!("{unverified:#}").contains("certificate"),
        "{unverified:#}"
    );
    drop(plain);
    drop_database(&name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_queue_speaks_amqps_verified_and_never_falls_back_to_plain() {
    let front = TlsFront::start(Protocol::Amqp, "127.0.0.1:5672").await;
    let prefix = format!("crowd_test_tls_{}", std::process::id());
    let verified = format!(
        "amqps://guest:guest@localhost:{}/%2f?cacertfile={}",
        front.port,
        front.ca_file.display()
    );
    let queue = AmqpQueue::new(&verified, &prefix);
    assert_eq!(queue.waiting("nothing").await.expect("over TLS"), 0);

    let unverified = format!("amqps://guest:guest@localhost:{}/%2f", front.port);
    let e = AmqpQueue::new(&unverified, &prefix)
        .waiting("nothing")
        .await
        .expect_err("an unknown CA is refused");
    assert!(format!("{e:#}").contains("certificate"), "{e:#}");
    // The broker's plain port: TLS was asked for, so no connection (without a TLS feature,
    // lapin would have connected in plain text).
    AmqpQueue::new("amqps://guest:guest@localhost:5672/%2f", &prefix)
        .waiting("nothing")
        .await
        .expect_err("no plain connection for an amqps:// URL");
}

/// The fronts a whole stack talks to, for `over_tls` (a plain `fn`, so it reads them here).
static FRONTS: OnceLock<(TlsFront, TlsFront)> = OnceLock::new();

fn over_tls(c: &mut Config) {
    let (postgres, amqp) = FRONTS.get().expect("the fronts started");
    let mut url = url::Url::parse(&c.database_url).expect("database URL");
    url.set_port(Some(postgres.port)).expect("a port");
    url.set_query(Some(&format!(
        "sslmode=verify-full&sslrootcert={}",
        postgres.ca_file.display()
    )));
    c.database_url = url.to_string();
    c.amqp_url = format!(
        "amqps://guest:guest@localhost:{}/%2f?cacertfile={}",
        amqp.port,
        amqp.ca_file.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_runs_with_the_database_and_the_broker_over_tls() {
    let fronts = (
        TlsFront::start(Protocol::Postgres, "127.0.0.1:5432").await,
        TlsFront::start(Protocol::Amqp, "127.0.0.1:5672").await,
    );
    assert!(FRONTS.set(fronts).is_ok(), "one test uses the fronts");
    let mut stack = TestStack::start_with(
        Backend::Distributed,
        StackOptions {
            configure: over_tls,
            ..Default::default()
        },
    )
    .await;
    assert!(stack.config.amqp_url.starts_with("amqps://"));
    let id = stack
        .post_id(json!({"action": "word_count", "inputs": ["over tls", "and back"]}))
        .await;
    let done = stack.wait_for_job(id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["outputs"], json!([4]));
    stack.stop().await;
}
