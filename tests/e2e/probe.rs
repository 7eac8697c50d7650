//! What a test sees of the stack's database, whichever it is: the statuses a job went through
//! (logged by a trigger of the test's own) and a wake-up on every change, so tests wait on
//! events, never on sleeps. Postgres: the trigger NOTIFYs the test's connection. SQLite: every
//! write happens in this process, and the store ticks a counter after each.

use std::{path::Path, sync::Mutex};

use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio_postgres::{AsyncMessage, NoTls};

pub enum Probe {
    Postgres {
        db: tokio_postgres::Client,
        events: mpsc::UnboundedReceiver<String>,
    },
    Sqlite {
        db: Mutex<rusqlite::Connection>,
        changes: watch::Receiver<u64>,
    },
}

/// Waiting on the probe ended without an event.
#[derive(Debug)]
pub struct Closed;

impl Probe {
    pub async fn postgres(database_url: &str) -> Probe {
        let (db, mut connection) = tokio_postgres::connect(database_url, NoTls)
            .await
            .expect("connect to the test database");
        let (tx, events) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(Ok(message)) = messages.next().await {
                if let AsyncMessage::Notification(n) = message {
                    let _ = tx.send(n.payload().to_string());
                }
            }
        });
        db.batch_execute(POSTGRES_EVENTS)
            .await
            .expect("install the test's job event trigger");
        Probe::Postgres { db, events }
    }

    /// `path` is the store's file; `changes` its change counter.
    pub fn sqlite(path: &Path, changes: watch::Receiver<u64>) -> Probe {
        let db = rusqlite::Connection::open(path).expect("open the test database");
        db.busy_timeout(std::time::Duration::from_secs(10))
            .expect("busy timeout");
        db.execute_batch(SQLITE_EVENTS)
            .expect("install the test's job status trigger");
        Probe::Sqlite {
            db: Mutex::new(db),
            changes,
        }
    }

    /// Returns after the next change to a job, a unit or a node.
    pub async fn changed(&mut self) -> Result<(), Closed> {
        match self {
            Probe::Postgres { events, .. } => events.recv().await.map(drop).ok_or(Closed),
            Probe::Sqlite { changes, .. } => changes.changed().await.map_err(|_| Closed),
        }
    }

    /// A count from `sql`, whose one parameter `$1` is `id` (the SQL both databases speak).
    pub async fn count(&self, sql: &str, id: i64) -> i64 {
        match self {
            Probe::Postgres { db, .. } => db
                .query_one(sql, &[&id])
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .get(0),
            Probe::Sqlite { db, .. } => db
                .lock()
                .expect("probe connection")
                .query_row(sql, [id], |r| r.get(0))
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
        }
    }

    /// Runs `sql` (parameter `$1` = `id`), as another program writing to the database would.
    pub async fn execute(&self, sql: &str, id: i64) {
        match self {
            Probe::Postgres { db, .. } => {
                db.execute(sql, &[&id])
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
            Probe::Sqlite { db, .. } => {
                db.lock()
                    .expect("probe connection")
                    .execute(sql, [id])
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
        }
    }

    /// A text column from `sql` (parameter `$1` = `id`), `None` without a row.
    pub async fn text(&self, sql: &str, id: i64) -> Option<String> {
        match self {
            Probe::Postgres { db, .. } => db
                .query_opt(sql, &[&id])
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .map(|r| r.get(0)),
            Probe::Sqlite { db, .. } => {
                use rusqlite::OptionalExtension;
                db.lock()
                    .expect("probe connection")
                    .query_row(sql, [id], |r| r.get(0))
                    .optional()
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
            }
        }
    }

    /// The status codes the job went through, in order.
    pub async fn status_history(&self, id: i64) -> Vec<i16> {
        const SQL: &str = "SELECT status FROM test_status_log WHERE job_id = $1 ORDER BY seq";
        match self {
            Probe::Postgres { db, .. } => db
                .query(SQL, &[&id])
                .await
                .expect("status log")
                .iter()
                .map(|r| r.get(0))
                .collect(),
            Probe::Sqlite { db, .. } => {
                let db = db.lock().expect("probe connection");
                let mut statement = db.prepare(SQL).expect("status log");
                let statuses = statement
                    .query_map([id], |r| r.get(0))
                    .expect("status log")
                    .collect::<Result<_, _>>()
                    .expect("status log");
                statuses
            }
        }
    }
}

/// Logs every status a job takes and notifies the test of every change to a job, a unit or a
/// node.
/// Idempotent, so a probe can connect again after the server restarted.
const POSTGRES_EVENTS: &str = "
CREATE TABLE IF NOT EXISTS test_status_log (seq BIGSERIAL PRIMARY KEY, job_id BIGINT NOT NULL, status SMALLINT NOT NULL);
CREATE OR REPLACE FUNCTION test_job_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('test_events', 'deleted');
    RETURN OLD;
  END IF;
  IF TG_OP = 'INSERT' OR NEW.status <> OLD.status THEN
    INSERT INTO test_status_log (job_id, status) VALUES (NEW.id, NEW.status);
  END IF;
  PERFORM pg_notify('test_events', NEW.id::text);
  RETURN NEW;
END $$;
CREATE OR REPLACE TRIGGER test_job_event AFTER INSERT OR UPDATE OR DELETE ON jobs
  FOR EACH ROW EXECUTE FUNCTION test_job_event();
CREATE OR REPLACE FUNCTION test_node_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('test_events', 'node');
  RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER test_node_event AFTER INSERT OR UPDATE OR DELETE ON nodes
  FOR EACH STATEMENT EXECUTE FUNCTION test_node_event();
CREATE OR REPLACE TRIGGER test_unit_event AFTER INSERT OR UPDATE OR DELETE ON work_units
  FOR EACH STATEMENT EXECUTE FUNCTION test_node_event();
LISTEN test_events;
";

/// The same status log in SQLite (the triggers live in the file, so the store's connection
/// runs them).
const SQLITE_EVENTS: &str = "
CREATE TABLE test_status_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id INTEGER NOT NULL, status INTEGER NOT NULL);
CREATE TRIGGER test_job_created AFTER INSERT ON jobs BEGIN
  INSERT INTO test_status_log (job_id, status) VALUES (NEW.id, NEW.status);
END;
CREATE TRIGGER test_job_moved AFTER UPDATE OF status ON jobs WHEN NEW.status <> OLD.status BEGIN
  INSERT INTO test_status_log (job_id, status) VALUES (NEW.id, NEW.status);
END;
";

/// `admin_url` with its database replaced by `db_name`.
pub fn pg_url(admin_url: &str, db_name: &str) -> String {
    let mut url = url::Url::parse(admin_url).expect("database URL");
    url.set_path(&format!("/{db_name}"));
    url.to_string()
}
