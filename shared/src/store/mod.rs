//! The store: where jobs, units and nodes live, behind one interface, so the api and the
//! dispatcher run the same code whatever database is underneath: Postgres (`postgres/`) for
//! the distributed services, SQLite in a file (`sqlite/`) for the embedded default.

pub mod browse;
pub mod postgres;
mod sqlite;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::Notify;

pub use browse::{JobDetail, JobPage, JobQuery, JobSummary, StatusFilter, UnitView};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

use crate::{
    catalog::Stages,
    idempotency::{KeyedOutcome, KeyedPost},
    job_view::JobView,
    lane::Lane,
    messages::{Completion, Heartbeat, WorkMessage},
    queue::Publish,
    shutdown::CancellationToken,
    status::Stage,
};

/// A job that passed validation, as the api hands it to the store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub action: String,
    pub inputs: Vec<Value>,
    pub options: Value,
    pub callback_url: Option<String>,
    pub email: Option<String>,
}

impl NewJob {
    /// The size of its options as JSON, which decides whether they travel with every unit.
    pub fn options_bytes(&self) -> i32 {
        i32::try_from(crate::messages::encoded_len(&self.options)).unwrap_or(i32::MAX)
    }
}

/// A worker node as `/status` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeView {
    pub name: String,
    pub tag: Option<String>,
    /// Ids of the units it runs now.
    pub running: Value,
    pub max_workers: i32,
    /// Why it takes no new units now; none while it takes them.
    pub throttled: Option<String>,
    /// The actions it consumes, and their stages.
    pub actions: crate::catalog::Catalog,
    /// How far its running units have got, in percent, by unit id: `{"12": 40}`.
    pub progress: Value,
}

impl NodeView {
    pub fn is_busy(&self) -> bool {
        self.running.as_array().map_or(0, Vec::len) >= self.max_workers.max(1) as usize
    }
}

/// What `/status` reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Overview {
    pub nodes: Vec<NodeView>,
    /// Jobs not yet complete.
    pub job_count: i64,
    /// Units not yet complete.
    pub work_unit_count: i64,
}

/// The outputs a job lists when it ends: CloudCrowd's array for what fits
/// (`max_listed_outputs`), and how many there are in all (the rest are paged from the units).
#[derive(Debug, Clone, PartialEq)]
pub struct Outputs {
    pub listed: Value,
    pub total: i64,
}

/// What became of a completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Recorded,
    /// Nothing changed: the unit is complete already, or the attempt is not the current one.
    Stale(&'static str),
    /// The unit's job was deleted: whatever the run stored belongs to nobody.
    Gone,
}

/// What the dispatcher's loops wait on between rounds.
#[derive(Default)]
pub struct Wakeups {
    /// New pending units may be in the outbox.
    pub work: Notify,
    /// A callback may be due.
    pub callbacks: Notify,
}

impl Wakeups {
    pub fn wake_all(&self) {
        self.work.notify_one();
        self.callbacks.notify_one();
    }
}

/// A callback that is due, leased to the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct DueCallback {
    pub job_id: i64,
    pub url: String,
    /// Deliveries tried so far, this one included.
    pub attempts: i32,
    /// When the job was created (Unix milliseconds): with its id, what names its callback
    /// to receivers the same way on every retry (`webhook::message_id`).
    pub created_at_ms: i64,
}

/// A pending unit as the outbox holds it, read by either store.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingUnit {
    pub unit_id: i64,
    pub job_id: i64,
    pub action: String,
    pub stage: Stage,
    pub input: Value,
    /// The job's options; `None` when they are too big to travel with every unit.
    pub options: Option<Value>,
    pub attempt: i32,
    pub lane: Lane,
}

impl PendingUnit {
    /// Its message. What is too big to travel in every message is named by its key in the
    /// asset store instead, where the dispatcher puts it before publishing: a merge's input
    /// (stored null: every process output, read when it is sent) and big options.
    pub fn into_message(self, max_attempts: i32) -> WorkMessage {
        let input_key = (self.stage == Stage::Merge && self.input.is_null())
            .then(|| crate::storage::merge_input_key(&self.action, self.job_id));
        let options_key = self
            .options
            .is_none()
            .then(|| crate::storage::job_options_key(&self.action, self.job_id));
        WorkMessage {
            unit_id: self.unit_id,
            job_id: self.job_id,
            action: self.action,
            stage: self.stage,
            input: self.input,
            input_key,
            options: self.options.unwrap_or(Value::Null),
            options_key,
            attempt: self.attempt,
            max_attempts,
            lane: self.lane,
        }
    }
}

/// What a relay round did.
#[derive(Debug)]
pub struct Relayed {
    /// Units claimed (and handed to the broker).
    pub claimed: usize,
    pub refused: Option<anyhow::Error>,
}

/// Why a store call failed; callers answer differently (503 or 500).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached now; trying later may work.
    #[error("the store is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// The database refused the data itself (bad encoding, out of range): trying the same
    /// again will fail the same way.
    #[error("the store refused the data: {0:#}")]
    Refused(#[source] anyhow::Error),
    #[error(transparent)]
    Other(anyhow::Error),
}

impl From<anyhow::Error> for StoreError {
    /// Every error a store passes on with `?` is told apart by its cause, whichever backend
    /// raised it: a database that went away mid-transaction is `Unavailable` (a 503 and a
    /// retry), not an internal error.
    fn from(e: anyhow::Error) -> Self {
        if e.chain().any(|cause| cause.is::<rusqlite::Error>()) {
            sqlite::classify(e)
        } else {
            postgres::classify(e)
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Writes the job and its first units (the outbox) at once; returns its id.
    async fn create_job(&self, job: &NewJob, stages: Stages) -> StoreResult<i64>;

    /// Writes the job as `create_job` does, unless `post.key` names a job already (one created
    /// less than `post.retention` ago): then nothing is written, and the outcome says whether
    /// that job is this one posted again or another one (`idempotency::decide`). The key and
    /// the job are written in one transaction under the key's unique constraint, so of many
    /// calls at once with one key exactly one creates a job and the others replay it. Deletes
    /// up to `idempotency::SWEEP_LIMIT` expired keys on the way.
    async fn create_job_with_key(
        &self,
        job: &NewJob,
        stages: Stages,
        post: &KeyedPost,
    ) -> StoreResult<KeyedOutcome>;

    /// The job's CloudCrowd JSON, or `None` for an unknown id.
    async fn job_view(&self, id: i64) -> StoreResult<Option<JobView>>;

    /// Deletes the job and its units; returns its action (whose prefix holds its files), or
    /// `None` for an unknown id.
    async fn delete_job(&self, id: i64) -> StoreResult<Option<String>>;

    /// Live nodes (heard from within `node_ttl`) and the counts of incomplete work.
    async fn overview(&self, node_ttl: Duration) -> StoreResult<Overview>;

    /// Records each completion of the batch on its unit if it answers the unit's current
    /// attempt (a retry puts the unit back in the outbox; a split's outputs become process
    /// units), all in one transaction; says what became of each, in order. Touches only the
    /// units: moving their jobs on is `advance_job`'s.
    async fn record_completions(
        &self,
        batch: &[Completion],
        max_attempts: i32,
    ) -> StoreResult<Vec<Applied>>;

    /// `record_completions` of one.
    async fn record_completion(&self, c: &Completion, max_attempts: i32) -> StoreResult<Applied> {
        let applied = self
            .record_completions(std::slice::from_ref(c), max_attempts)
            .await?;
        Ok(applied
            .into_iter()
            .next()
            .unwrap_or(Applied::Stale("nothing recorded")))
    }

    /// Claims up to `limit` pending units, oldest first, hands them to `publish`, and marks
    /// queued the ones the broker confirmed. The claim excludes other relays until then, so no
    /// unit is published twice by two dispatchers.
    async fn relay_pending(
        &self,
        limit: i64,
        max_attempts: i32,
        publish: &mut dyn Publish,
    ) -> StoreResult<Relayed>;

    /// Leases up to `limit` due callbacks for `lease` (longer than one delivery takes), so
    /// other dispatchers leave them alone and a crash mid-delivery only delays them.
    async fn claim_callbacks(&self, limit: i64, lease: Duration) -> StoreResult<Vec<DueCallback>>;

    /// The callback was answered with a 2xx other than 201.
    async fn callback_delivered(&self, job_id: i64) -> StoreResult<()>;

    /// The callback failed: try again in `retry_in`, unless the job completed more than
    /// `give_up_after` ago, in which case it is abandoned.
    async fn callback_failed(
        &self,
        job_id: i64,
        error: &str,
        retry_in: Duration,
        give_up_after: Duration,
    ) -> StoreResult<()>;

    /// How long until the next pending callback is due, if any is pending.
    async fn next_callback_in(&self) -> StoreResult<Option<Duration>>;

    /// Records a worker's heartbeat (or its leaving), and forgets nodes long unheard of.
    async fn record_heartbeat(&self, beat: &Heartbeat) -> StoreResult<()>;

    /// Actions with units queued for longer than `older_than` (candidates for the sweeper).
    async fn actions_with_old_queued_units(&self, older_than: Duration)
        -> StoreResult<Vec<String>>;

    /// Puts back in the outbox the action's units queued for longer than `older_than` that no
    /// node heard from within `node_ttl` reports running; returns how many.
    async fn requeue_lost(
        &self,
        action: &str,
        older_than: Duration,
        node_ttl: Duration,
    ) -> StoreResult<u64>;

    /// Ids of the jobs not yet complete.
    async fn incomplete_jobs(&self) -> StoreResult<Vec<i64>>;

    /// Until `shutdown`, wakes `wakeups` whenever new work or a due callback may be waiting.
    async fn watch(&self, wakeups: Arc<Wakeups>, shutdown: CancellationToken);

    /// Moves the job on if its current stage has no unit left, under a lock on the job, so
    /// that of many callers at once exactly one moves it.
    async fn advance_job(&self, job_id: i64) -> StoreResult<()>;

    /// A page of jobs, newest first.
    async fn list_jobs(&self, query: &JobQuery) -> StoreResult<JobPage>;

    /// The job and a page of its units in unit order, or `None` for an unknown id.
    async fn job_detail(&self, id: i64, page: Paging) -> StoreResult<Option<JobDetail>>;

    /// Units that finished (succeeded, or failed for good) within the last `window`.
    async fn units_finished_within(&self, window: Duration) -> StoreResult<i64>;

    /// Up to `limit` complete jobs that completed more than `age` ago, oldest first.
    async fn complete_jobs_older_than(&self, age: Duration, limit: i64) -> StoreResult<Vec<i64>>;

    /// A job's options, or `None` for an unknown id (read once per job when they are too big
    /// to travel with every unit).
    async fn job_options(&self, job_id: i64) -> StoreResult<Option<Value>>;

    /// Up to `limit` outputs of the job's `stage` units after unit `after`, in unit order, with
    /// their unit ids: a merge's input, read a page at a time.
    async fn stage_outputs_after(
        &self,
        job_id: i64,
        stage: Stage,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<(i64, Value)>>;

    /// A page of a complete job's outputs (those `GET /jobs/:id` lists, and the rest), or
    /// `None` for an unknown id.
    async fn job_outputs(&self, job_id: i64, page: Paging) -> StoreResult<Option<OutputsPage>>;
}

/// Which page of a job's outputs or units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// From 1.
    pub page: u32,
    pub per_page: u32,
}

impl Paging {
    pub fn limit(&self) -> i64 {
        i64::from(self.per_page)
    }

    pub fn offset(&self) -> i64 {
        i64::from(self.page.saturating_sub(1)) * i64::from(self.per_page)
    }
}

/// A page of a job's outputs; none until it is complete.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct OutputsPage {
    pub outputs: Vec<Value>,
    /// Outputs of the job on every page.
    pub total: i64,
}

impl OutputsPage {
    /// The page of outputs a job lists in full.
    pub fn slice(listed: Option<Value>, query: Paging) -> OutputsPage {
        let all = match listed {
            Some(Value::Array(all)) => all,
            _ => Vec::new(),
        };
        let total = all.len() as i64;
        let outputs = all
            .into_iter()
            .skip(usize::try_from(query.offset()).unwrap_or(usize::MAX))
            .take(query.per_page as usize)
            .collect();
        OutputsPage { outputs, total }
    }
}
