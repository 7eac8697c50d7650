//! The embedded store: SQLite in a file, for running everything in one process with nothing
//! installed. One connection writes, behind a mutex (SQLite has one writer anyway), and another,
//! read-only, answers what only reads (WAL lets it read while a commit waits for the disk), both
//! used from blocking threads; wake-ups are in-process, since every reader lives in this process.

mod actions;
mod browse;
mod idempotency;
mod outputs;
mod progress;
mod queries;
mod retry;

use std::{
    path::Path,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use anyhow::Context;
use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags};
use serde_json::Value;
use tokio::sync::watch;

use super::{
    browse::{FailedUnitPage, JobDetail, JobPage, JobQuery},
    Backlog, DueCallback, NewJob, OutputsPage, Overview, Paging, PausedAction, Recorded, Relayed,
    Store, StoreError, StoreResult, TakenBack, Wakeups,
};
use crate::{
    catalog::Stages,
    idempotency::{KeyedOutcome, KeyedPost},
    ids::{JobId, UnitId},
    job_view::JobView,
    messages::{Completion, Heartbeat, UnitAttempt},
    queue::{Publish, Published},
    shutdown::CancellationToken,
    state_machine::NotRetryable,
    status::Stage,
};

mod embedded {
    refinery::embed_migrations!("../schema/sqlite");
}

/// Statements kept parsed: more than the store has (rusqlite keeps 16 by default).
const STATEMENT_CACHE: usize = 64;

/// How long a statement waits for the database file's lock (another process on it).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    /// Read-only: pages, polls and the relay's claim do not wait for the writer's commits.
    reader: Arc<Mutex<Connection>>,
    /// Whoever `watch`es, to be woken after commits that add work or a due callback.
    watchers: Arc<Mutex<Vec<Arc<Wakeups>>>>,
    /// Counts calls that changed rows, for observers in this process (tests, live pages).
    changes: Arc<watch::Sender<u64>>,
    /// Outputs a complete job lists at most (`max_listed_outputs`).
    max_listed_outputs: i64,
}

/// What a write made ready, so the right loops are woken after it commits.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Woke {
    pub work: bool,
    pub callbacks: bool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and applies the migrations.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut conn =
            Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // WAL: readers do not wait for the writer; FULL: a job the api accepted survives a power
        // loss, not only a crash; foreign keys: deleting a job deletes its units.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;",
        )
        .context("configuring SQLite")?;
        // Room for every statement the store caches, so none is parsed again on the hot path.
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        embedded::migrations::runner()
            .run(&mut conn)
            .context("applying the SQLite migrations")?;
        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("opening {} to read", path.display()))?;
        reader.busy_timeout(BUSY_TIMEOUT)?;
        reader.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            reader: Arc::new(Mutex::new(reader)),
            watchers: Arc::new(Mutex::new(Vec::new())),
            changes: Arc::new(watch::Sender::new(0)),
            max_listed_outputs: crate::job_view::MAX_LISTED_OUTPUTS,
        })
    }

    /// Jobs list at most `n` outputs; the rest are paged.
    pub fn listing_at_most(mut self, n: i64) -> Self {
        self.max_listed_outputs = n.max(1);
        self
    }

    /// After a restart the in-process queues are empty: every unit they held goes back to
    /// the outbox, and the nodes of the last run are forgotten. Returns how many units.
    pub async fn forget_queue(&self) -> StoreResult<u64> {
        self.with(|conn| {
            let n = conn.execute(
                "UPDATE work_units SET state = 'pending' WHERE state = 'queued'",
                [],
            )?;
            conn.execute("DELETE FROM nodes", [])?;
            Ok(n as u64)
        })
        .await
    }

    /// Ticks after every call of this store that changed a row: every write the running
    /// system makes (a `crowd cleanup` from another process goes unseen).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Runs `f` on the write connection in a blocking thread.
    async fn with<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> anyhow::Result<T> + Send + 'static,
    {
        let changes = self.changes.clone();
        blocking(self.conn.clone(), move |conn| {
            if !conn.is_autocommit() {
                // A transaction left open by a failed COMMIT or a panic would swallow every
                // later write.
                conn.execute_batch("ROLLBACK").ok();
            }
            let before = conn.total_changes();
            let result = f(conn);
            if conn.total_changes() != before {
                changes.send_modify(|n| *n += 1);
            }
            result
        })
        .await
    }

    /// Runs `f` on the read-only connection in a blocking thread: it sees every commit made
    /// before it starts.
    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> anyhow::Result<T> + Send + 'static,
    {
        blocking(self.reader.clone(), f).await
    }

    fn wake(&self, woke: Woke) {
        if let Ok(watchers) = self.watchers.lock() {
            for w in watchers.iter() {
                if woke.work {
                    w.work.notify_one();
                }
                if woke.callbacks {
                    w.callbacks.notify_one();
                }
            }
        }
    }
}

/// Refused data (a constraint or type mismatch) against anything else.
pub(super) fn classify(e: anyhow::Error) -> StoreError {
    let refused = e.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<rusqlite::Error>(),
            Some(rusqlite::Error::SqliteFailure(f, _)) if f.code == rusqlite::ErrorCode::ConstraintViolation
        )
    });
    if refused {
        StoreError::Refused(e)
    } else {
        StoreError::Other(e)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_job(&self, job: &NewJob, stages: Stages) -> StoreResult<JobId> {
        let job = job.clone();
        let id = self
            .with(move |conn| queries::create_job(conn, &job, stages))
            .await?;
        self.wake(Woke {
            work: true,
            callbacks: false,
        });
        Ok(id)
    }

    async fn create_job_with_key(
        &self,
        job: &NewJob,
        stages: Stages,
        post: &KeyedPost,
    ) -> StoreResult<KeyedOutcome> {
        let (job, post) = (job.clone(), post.clone());
        let outcome = self
            .with(move |conn| idempotency::create_job_with_key(conn, &job, stages, &post))
            .await?;
        if let KeyedOutcome::Created(_) = outcome {
            self.wake(Woke {
                work: true,
                callbacks: false,
            });
        }
        Ok(outcome)
    }

    async fn job_view(&self, id: JobId) -> StoreResult<Option<JobView>> {
        self.read(move |conn| Ok(browse::job(conn, id)?.map(|job| job.view)))
            .await
    }

    async fn list_jobs(&self, query: &JobQuery) -> StoreResult<JobPage> {
        let query = *query;
        self.read(move |conn| browse::list(conn, &query)).await
    }

    async fn job_detail(&self, id: JobId, page: Paging) -> StoreResult<Option<JobDetail>> {
        self.read(move |conn| browse::detail(conn, id, page)).await
    }

    async fn units_finished_within(&self, window: Duration) -> StoreResult<i64> {
        self.read(move |conn| browse::finished_within(conn, window))
            .await
    }

    async fn retry_job(&self, job_id: JobId) -> StoreResult<Option<Result<u64, NotRetryable>>> {
        let retried = self
            .with(move |conn| retry::retry_job(conn, job_id))
            .await?;
        if let Some(Ok(units)) = retried {
            self.wake(Woke {
                work: units > 0,
                callbacks: false,
            });
        }
        Ok(retried)
    }

    async fn outbox_lag(&self) -> StoreResult<Option<Duration>> {
        self.read(|conn| browse::outbox_lag(conn)).await
    }

    async fn paused_actions(&self) -> StoreResult<Vec<PausedAction>> {
        self.read(actions::paused_actions).await
    }

    async fn pause_action(&self, action: &str) -> StoreResult<PausedAction> {
        let action = action.to_string();
        self.with(move |conn| actions::pause(conn, &action)).await
    }

    async fn resume_action(&self, action: &str) -> StoreResult<Option<PausedAction>> {
        let action = action.to_string();
        let resumed = self
            .with(move |conn| actions::resume(conn, &action))
            .await?;
        if resumed.is_some() {
            self.wake(Woke {
                work: true,
                callbacks: false,
            });
        }
        Ok(resumed)
    }

    async fn take_back(&self, units: &[UnitAttempt]) -> StoreResult<Vec<TakenBack>> {
        let units = units.to_vec();
        let decided = self
            .with(move |conn| actions::take_back(conn, &units))
            .await?;
        // Units returned wait for their action's resumption, which wakes the relay then.
        if decided.contains(&TakenBack::Resumed) {
            self.wake(Woke {
                work: true,
                callbacks: false,
            });
        }
        Ok(decided)
    }

    async fn backlogs(&self, running: &[UnitId]) -> StoreResult<Vec<Backlog>> {
        let running = running.to_vec();
        self.read(move |conn| actions::backlogs(conn, &running))
            .await
    }

    async fn failed_units(&self, page: Paging) -> StoreResult<FailedUnitPage> {
        self.read(move |conn| browse::failed_units(conn, page))
            .await
    }

    async fn complete_jobs_older_than(&self, age: Duration, limit: i64) -> StoreResult<Vec<JobId>> {
        self.read(move |conn| browse::complete_before(conn, age, limit))
            .await
    }

    async fn job_options(&self, job_id: JobId) -> StoreResult<Option<Value>> {
        self.read(move |conn| outputs::job_options(conn, job_id))
            .await
    }

    async fn stage_outputs_after(
        &self,
        job_id: JobId,
        stage: Stage,
        after: UnitId,
        limit: i64,
    ) -> StoreResult<Vec<(UnitId, Value)>> {
        self.read(move |conn| outputs::stage_outputs_after(conn, job_id, stage, after, limit))
            .await
    }

    async fn job_outputs(&self, job_id: JobId, page: Paging) -> StoreResult<Option<OutputsPage>> {
        self.read(move |conn| outputs::job_outputs(conn, job_id, page))
            .await
    }

    async fn delete_job(&self, id: JobId) -> StoreResult<Option<String>> {
        self.with(move |conn| queries::delete_job(conn, id)).await
    }

    async fn overview(&self, node_ttl: Duration) -> StoreResult<Overview> {
        self.read(move |conn| queries::overview(conn, node_ttl))
            .await
    }

    async fn record_completions(
        &self,
        batch: &[Completion],
        max_attempts: i32,
    ) -> StoreResult<Recorded> {
        let batch = batch.to_vec();
        let max_listed = self.max_listed_outputs;
        let (recorded, woke) = self
            .with(move |conn| progress::record_completions(conn, &batch, max_attempts, max_listed))
            .await?;
        self.wake(woke);
        Ok(recorded)
    }

    async fn advance_job(&self, job_id: JobId) -> StoreResult<()> {
        let max_listed = self.max_listed_outputs;
        let woke = self
            .with(move |conn| progress::advance_job(conn, job_id, max_listed))
            .await?;
        self.wake(woke);
        Ok(())
    }

    async fn relay_pending(
        &self,
        limit: i64,
        max_attempts: i32,
        publish: &mut dyn Publish,
    ) -> StoreResult<Relayed> {
        // One dispatcher per embedded store: no claim is needed against another relay. A unit
        // completed before it is marked stays complete (the mark only touches pending units).
        let (units, mut failed) = self
            .read(move |conn| queries::pending_units(conn, limit, max_attempts))
            .await?;
        let claimed = units.len() + failed.len();
        if claimed == 0 {
            return Ok(Relayed {
                claimed: 0,
                refused: None,
            });
        }
        let sent: std::collections::HashMap<UnitId, i32> =
            units.iter().map(|u| (u.unit_id, u.attempt)).collect();
        let published = if units.is_empty() {
            Published::default()
        } else {
            publish.publish(units).await?
        };
        // The attempt sent, so a unit that failed and went back to the outbox in the meantime
        // is not marked queued in its retry's place.
        let confirmed: Vec<(UnitId, i32)> = published
            .confirmed
            .iter()
            .filter_map(|id| sent.get(id).map(|attempt| (*id, *attempt)))
            .collect();
        self.with(move |conn| queries::mark_queued(conn, &confirmed))
            .await?;
        failed.extend(published.failed);
        if !failed.is_empty() {
            let jobs: std::collections::BTreeSet<JobId> = failed.iter().map(|f| f.job_id).collect();
            self.with(move |conn| queries::fail_pending(conn, &failed))
                .await?;
            // A unit failed for good may have ended its job's stage.
            for job_id in jobs {
                self.advance_job(job_id).await?;
            }
        }
        Ok(Relayed {
            claimed,
            refused: published.refused,
        })
    }

    async fn claim_callbacks(&self, limit: i64, lease: Duration) -> StoreResult<Vec<DueCallback>> {
        self.with(move |conn| queries::claim_callbacks(conn, limit, lease))
            .await
    }

    async fn callback_delivered(&self, job_id: JobId) -> StoreResult<()> {
        self.with(move |conn| queries::callback_delivered(conn, job_id))
            .await
    }

    async fn callback_failed(
        &self,
        job_id: JobId,
        error: &str,
        retry_in: Duration,
        give_up_after: Duration,
    ) -> StoreResult<()> {
        let error = error.to_string();
        self.with(move |conn| {
            queries::callback_failed(conn, job_id, &error, retry_in, give_up_after)
        })
        .await
    }

    async fn next_callback_in(&self) -> StoreResult<Option<Duration>> {
        self.read(queries::next_callback_in).await
    }

    async fn record_heartbeat(&self, beat: &Heartbeat) -> StoreResult<()> {
        let beat = beat.clone();
        self.with(move |conn| queries::record_heartbeat(conn, &beat))
            .await
    }

    async fn actions_with_old_queued_units(
        &self,
        older_than: Duration,
    ) -> StoreResult<Vec<String>> {
        self.read(move |conn| queries::actions_with_old_queued_units(conn, older_than))
            .await
    }

    async fn requeue_lost(
        &self,
        action: &str,
        older_than: Duration,
        node_ttl: Duration,
    ) -> StoreResult<u64> {
        let action = action.to_string();
        let n = self
            .with(move |conn| queries::requeue_lost(conn, &action, older_than, node_ttl))
            .await?;
        if n > 0 {
            self.wake(Woke {
                work: true,
                callbacks: false,
            });
        }
        Ok(n)
    }

    async fn incomplete_jobs(&self) -> StoreResult<Vec<JobId>> {
        self.read(queries::incomplete_jobs).await
    }

    async fn watch(&self, wakeups: Arc<Wakeups>, shutdown: CancellationToken) {
        if let Ok(mut watchers) = self.watchers.lock() {
            watchers.push(wakeups.clone());
        }
        // Whatever was written before this watcher came is picked up now.
        wakeups.wake_all();
        shutdown.cancelled().await;
        if let Ok(mut watchers) = self.watchers.lock() {
            watchers.retain(|w| !Arc::ptr_eq(w, &wakeups));
        }
    }
}

/// Runs `f` on `conn` in a blocking thread: SQLite's calls block, and the runtime's threads
/// must not.
async fn blocking<T, F>(conn: Arc<Mutex<Connection>>, f: F) -> StoreResult<T>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> anyhow::Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        // A panic elsewhere poisons the lock but not the connection: carry on with it.
        let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut conn)
    })
    .await
    .map_err(|e| StoreError::Other(anyhow::anyhow!("a store task failed: {e}")))?
    .map_err(classify)
}
