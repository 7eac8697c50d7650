//! The store contract: the same test bodies run against the Postgres store (a fresh database
//! on the local server) and the embedded SQLite store (a fresh file), so the two cannot drift.
//! The test plays the dispatcher and the broker: it relays units, records completions and
//! moves jobs on through the `Store` interface alone.

mod contract;

use std::{str::FromStr, sync::Arc};

use crowd::shared::store::{PgStore, SqliteStore, Store};
use tokio_postgres::NoTls;

/// A fresh Postgres store; the database is dropped when the guard's test ends.
async fn postgres() -> (Arc<dyn Store>, impl Drop) {
    let (store, guard, _url) = postgres_at().await;
    (store, guard)
}

/// A fresh Postgres store, its database dropped when the guard's test ends, and its URL.
async fn postgres_at() -> (Arc<dyn Store>, impl Drop, String) {
    let admin = std::env::var("CROWD_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("crowd_test_store_{}_{}", std::process::id(), rand_suffix());
    let mut url = url::Url::parse(&admin).expect("database URL");
    url.set_path(&format!("/{name}"));
    crowd::shared::store::postgres::pool::migrate(url.as_str())
        .await
        .expect("migrations");
    let store = PgStore::new(url.as_str(), 4).expect("store");
    (
        Arc::new(store) as Arc<dyn Store>,
        DropDatabase { admin, name },
        url.to_string(),
    )
}

/// A fresh SQLite store in a temporary directory.
async fn sqlite() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("crowd.db")).expect("store");
    (Arc::new(store) as Arc<dyn Store>, dir)
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::SeqCst)
}

struct DropDatabase {
    admin: String,
    name: String,
}

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop runs outside async; a short-lived thread with its own runtime does the DROP.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let config = tokio_postgres::Config::from_str(&admin).ok()?;
                let (client, conn) = config.connect(NoTls).await.ok()?;
                tokio::spawn(conn);
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// Returns once `sessions` sessions of the test's database wait for a lock: the schedule a
/// test sets up with held row locks has reached the point it wants.
async fn until_waiting_for_locks(watch: &tokio_postgres::Client, sessions: i64) {
    loop {
        let waiting: i64 = watch
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .expect("locks")
            .get(0);
        if waiting >= sessions {
            return;
        }
        tokio::task::yield_now().await;
    }
}

/// Runs one contract test body on both stores.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let (store, _guard) = super::postgres().await;
                super::contract::$name(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (store, _guard) = super::sqlite().await;
                super::contract::$name(store).await;
            }
        }
    )*};
}

on_both_stores!(
    a_job_with_a_merge_runs_to_success,
    duplicate_and_stale_completions_change_nothing,
    a_failing_unit_is_retried_then_fails_the_job,
    stops_count_as_attempts_and_say_how_many,
    a_batch_records_each_completion_once,
    the_answer_that_ends_a_stage_moves_the_job_in_its_commit,
    split_outputs_become_flattened_process_units,
    deleting_a_job_returns_its_action,
    one_key_makes_one_job_however_many_post_it_at_once,
    heartbeats_make_nodes_and_leaving_removes_them,
    a_completed_job_with_a_callback_url_has_a_callback_due,
    lost_units_go_back_to_the_outbox,
    unit_counts_follow_every_change,
    a_small_job_goes_ahead_of_a_big_ones_backlog,
);

/// Postgres only: the embedded store has one connection, on which everything takes its turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_does_not_wait_for_the_relay_that_sent_it() {
    let (store, _guard) = postgres().await;
    contract::a_completion_does_not_wait_for_the_relay_that_sent_it(store).await;
}

/// Deleting a job while a completion holds one of its units and then needs the job (a split
/// adding units) is a deadlock Postgres breaks by rolling the delete back: the delete is tried
/// again and succeeds, instead of answering a client 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_rolled_back_by_a_deadlock_is_tried_again() {
    let (store, _guard, url) = postgres_at().await;
    let id = store
        .create_job(&contract::job(serde_json::json!(["a"])), contract::PLAIN)
        .await
        .expect("create");
    let config = tokio_postgres::Config::from_str(&url).expect("database URL");
    let (mut client, conn) = config.connect(NoTls).await.expect("connect");
    tokio::spawn(conn);
    // This session waits longest before checking for a deadlock, so the delete (1 s, the
    // server's default) is the one rolled back.
    client
        .batch_execute("SET deadlock_timeout = '30s'")
        .await
        .expect("set");
    let completion = client.transaction().await.expect("begin");
    completion
        .execute(
            "SELECT 1 FROM work_units WHERE job_id = $1 FOR NO KEY UPDATE",
            &[&id],
        )
        .await
        .expect("lock the unit");
    let delete = tokio::spawn({
        let store = store.clone();
        async move { store.delete_job(id).await }
    });
    // The delete holds the job and waits for the unit; the completion now needs the job.
    let (watch, conn) = config.connect(NoTls).await.expect("connect");
    tokio::spawn(conn);
    until_waiting_for_locks(&watch, 1).await;
    completion
        .execute("SELECT 1 FROM jobs WHERE id = $1 FOR KEY SHARE", &[&id])
        .await
        .expect("the completion goes on: the delete was rolled back");
    completion.commit().await.expect("commit");
    let deleted = delete.await.expect("join");
    assert_eq!(
        deleted.expect("deleted on a second try").as_deref(),
        Some("word_count")
    );
    assert!(store.job_view(id).await.expect("view").is_none());
}

/// Two batches recording completions of the same two jobs, each with the other's job first:
/// each batch locks a job (its unit counts), then needs the other's. Recording takes a batch's
/// jobs in id order first, so one batch waits for the other, where both used to hold on until
/// Postgres rolled one back and the batch went back to the broker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_sharing_jobs_in_opposite_orders_wait_for_each_other() {
    let (store, _guard, url) = postgres_at().await;
    let first = store
        .create_job(
            &contract::job(serde_json::json!(["a", "b"])),
            contract::PLAIN,
        )
        .await
        .expect("create");
    let second = store
        .create_job(
            &contract::job(serde_json::json!(["c", "d"])),
            contract::PLAIN,
        )
        .await
        .expect("create");
    let units = contract::relay(&store).await;
    let of = |job| {
        units
            .iter()
            .filter(|u| u.job_id == job)
            .cloned()
            .collect::<Vec<_>>()
    };
    let (ones, twos) = (of(first), of(second));
    let config = tokio_postgres::Config::from_str(&url).expect("database URL");
    let (mut holder, conn) = config.connect(NoTls).await.expect("connect");
    tokio::spawn(conn);
    let (watch, conn) = config.connect(NoTls).await.expect("connect");
    tokio::spawn(conn);
    // Holds the unit whose failure batch A records second, so A stops there.
    let hold = holder.transaction().await.expect("begin");
    hold.execute(
        "SELECT 1 FROM work_units WHERE id = $1 FOR UPDATE",
        &[&ones[1].unit_id],
    )
    .await
    .expect("lock the unit");
    let record = |batch: Vec<crowd::shared::messages::Completion>| {
        let store = store.clone();
        tokio::spawn(async move { store.record_completions(&batch, 1).await })
    };
    // A: a unit of the second job succeeds, then a unit of the first fails for good.
    let a = record(vec![
        contract::succeeded(&twos[0], serde_json::json!(1)),
        contract::failed(&ones[1]),
    ]);
    until_waiting_for_locks(&watch, 1).await;
    // B: the other way round.
    let b = record(vec![
        contract::succeeded(&ones[0], serde_json::json!(1)),
        contract::failed(&twos[1]),
    ]);
    until_waiting_for_locks(&watch, 2).await;
    hold.rollback().await.expect("release the unit");
    for (name, batch) in [("A", a), ("B", b)] {
        let recorded = batch.await.expect("join").unwrap_or_else(|e| {
            panic!("batch {name} was not recorded: {e:#}");
        });
        assert_eq!(recorded.applied.len(), 2);
        for job in recorded.to_advance {
            store.advance_job(job).await.expect("advance");
        }
    }
    for job in [first, second] {
        let view = store.job_view(job).await.expect("view").expect("exists");
        assert_eq!(
            view.status, "failed",
            "job {job} ended with its failed unit"
        );
    }
}

/// A database server that accepts connections and never answers (a hung or overloaded host):
/// the store says it is unavailable within seconds instead of holding its caller forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_is_unavailable_within_seconds() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = silent.local_addr().expect("addr");
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            sockets.push(socket); // accepted, never answered
        }
    });
    let store = PgStore::new(&format!("postgres://postgres@{addr}/crowd"), 2).expect("store");
    let started = std::time::Instant::now();
    let result = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        store.job_view(crowd_shared::JobId(1)),
    )
    .await
    .expect("an answer, not a hang");
    assert!(
        matches!(
            result,
            Err(crowd::shared::store::StoreError::Unavailable(_))
        ),
        "{result:?}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    held.abort();
}

/// A transaction Postgres rolled back to break a deadlock or a serialization conflict can be
/// tried again: the store says it is unavailable (a 503 and a retry), not an internal error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_transaction_is_unavailable_not_internal() {
    let admin = std::env::var("CROWD_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let config = tokio_postgres::Config::from_str(&admin).expect("database URL");
    let (client, conn) = config.connect(NoTls).await.expect("connect");
    tokio::spawn(conn);
    for code in ["deadlock_detected", "serialization_failure"] {
        let raised = client
            .batch_execute(&format!(
                "DO $$ BEGIN RAISE EXCEPTION 'rolled back' USING ERRCODE = '{code}'; END $$"
            ))
            .await
            .expect_err("raised");
        let error = crowd::shared::store::StoreError::from(anyhow::Error::new(raised));
        assert!(
            matches!(error, crowd::shared::store::StoreError::Unavailable(_)),
            "{code}: {error:?}"
        );
    }
}
