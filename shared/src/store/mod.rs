//! The store: where jobs, units and nodes live, behind one interface, so the api and the
//! dispatcher run the same code whatever database is underneath: Postgres (`postgres/`) for
//! the distributed services, SQLite in a file (`sqlite/`) for the embedded default.

mod actions;
pub mod browse;
mod callbacks;
mod error;
mod new_job;
mod nodes;
mod outbox;
mod paging;
pub mod postgres;
mod recorded;
#[cfg(test)]
mod sql_words;
mod sqlite;
mod wakeups;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use serde_json::Value;

pub use actions::{is_action_name, Backlog, PausedAction, TakenBack, MAX_ACTION_NAME};
pub use browse::{
    FailedUnit, FailedUnitPage, JobDetail, JobPage, JobQuery, JobSummary, StatusFilter, UnitView,
};
pub use callbacks::DueCallback;
pub use error::{StoreError, StoreResult};
pub use new_job::NewJob;
pub use nodes::{NodeView, Overview};
pub use outbox::{PendingUnit, Relayed};
pub use paging::{Outputs, OutputsPage, Paging};
pub use postgres::PgStore;
pub use recorded::{Applied, Recorded};
pub use sqlite::SqliteStore;
pub use wakeups::Wakeups;

use crate::{
    catalog::Stages,
    idempotency::{KeyedOutcome, KeyedPost},
    ids::{JobId, UnitId},
    job_view::JobView,
    messages::{Completion, Heartbeat, UnitAttempt},
    queue::Publish,
    shutdown::CancellationToken,
    state_machine::NotRetryable,
    status::Stage,
};

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Writes the job and its first units (the outbox) at once; returns its id.
    async fn create_job(&self, job: &NewJob, stages: Stages) -> StoreResult<JobId>;

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
    async fn job_view(&self, id: JobId) -> StoreResult<Option<JobView>>;

    /// Deletes the job and its units; returns its action (whose prefix holds its files), or
    /// `None` for an unknown id.
    async fn delete_job(&self, id: JobId) -> StoreResult<Option<String>>;

    /// Live nodes (heard from within `node_ttl`) and the counts of incomplete work.
    async fn overview(&self, node_ttl: Duration) -> StoreResult<Overview>;

    /// Records each completion of the batch on its unit if it answers the unit's current
    /// attempt (a retry puts the unit back in the outbox; a split's outputs become process
    /// units), and moves on, in the same commit, each job whose stage the batch saw end. Says
    /// what became of each completion, in order, and which jobs the caller must still pass to
    /// `advance_job` (`Recorded::to_advance`).
    async fn record_completions(
        &self,
        batch: &[Completion],
        max_attempts: i32,
    ) -> StoreResult<Recorded>;

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
    async fn callback_delivered(&self, job_id: JobId) -> StoreResult<()>;

    /// The callback failed: try again in `retry_in`, unless the job completed more than
    /// `give_up_after` ago, in which case it is abandoned.
    async fn callback_failed(
        &self,
        job_id: JobId,
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
    async fn incomplete_jobs(&self) -> StoreResult<Vec<JobId>>;

    /// Until `shutdown`, wakes `wakeups` whenever new work or a due callback may be waiting.
    async fn watch(&self, wakeups: Arc<Wakeups>, shutdown: CancellationToken);

    /// Moves the job on if its current stage has no unit left, under a lock on the job, so
    /// that of many callers at once exactly one moves it.
    async fn advance_job(&self, job_id: JobId) -> StoreResult<()>;

    /// A page of jobs, newest first.
    async fn list_jobs(&self, query: &JobQuery) -> StoreResult<JobPage>;

    /// The job and a page of its units in unit order, or `None` for an unknown id.
    async fn job_detail(&self, id: JobId, page: Paging) -> StoreResult<Option<JobDetail>>;

    /// Units that finished (succeeded, or failed for good) within the last `window`.
    async fn units_finished_within(&self, window: Duration) -> StoreResult<i64>;

    /// Runs a failed job's failed units again: their attempts back to none, in the outbox, and
    /// the job back at their stage (`state_machine::resume`), its outputs and its callback
    /// cleared so it ends, and calls back, again. `None` for an unknown id; the refusal when
    /// the job is not failed. Returns how many units went back.
    async fn retry_job(&self, job_id: JobId) -> StoreResult<Option<Result<u64, NotRetryable>>>;

    /// How long the oldest unit waiting to be published has waited; `None` when none waits.
    async fn outbox_lag(&self) -> StoreResult<Option<Duration>>;

    /// Paused actions (CloudCrowd's blacklist), by name.
    async fn paused_actions(&self) -> StoreResult<Vec<PausedAction>>;

    /// Pauses `action`: the relay leaves its units in the outbox until it is resumed. Pausing
    /// it again changes nothing and returns the first record.
    async fn pause_action(&self, action: &str) -> StoreResult<PausedAction>;

    /// Resumes `action` and wakes the relay for its units; `None` when it was not paused.
    async fn resume_action(&self, action: &str) -> StoreResult<Option<PausedAction>>;

    /// Units the dispatcher took from a paused action's queue: each goes back to the outbox
    /// if it is still queued at that attempt and its action still paused; says, in order,
    /// what became of each (and so whether its message is done with or goes back).
    async fn take_back(&self, units: &[UnitAttempt]) -> StoreResult<Vec<TakenBack>>;

    /// Each action's incomplete units: how many are among `running` (what live nodes run),
    /// how many wait, and how long the oldest waiting one has waited.
    async fn backlogs(&self, running: &[UnitId]) -> StoreResult<Vec<Backlog>>;

    /// A page of the failed units of failed jobs, newest job first.
    async fn failed_units(&self, page: Paging) -> StoreResult<FailedUnitPage>;

    /// Up to `limit` complete jobs that completed more than `age` ago, oldest first.
    async fn complete_jobs_older_than(&self, age: Duration, limit: i64) -> StoreResult<Vec<JobId>>;

    /// A job's options, or `None` for an unknown id (read once per job when they are too big
    /// to travel with every unit).
    async fn job_options(&self, job_id: JobId) -> StoreResult<Option<Value>>;

    /// Up to `limit` outputs of the job's `stage` units after unit `after`, in unit order, with
    /// their unit ids: a merge's input, read a page at a time.
    async fn stage_outputs_after(
        &self,
        job_id: JobId,
        stage: Stage,
        after: UnitId,
        limit: i64,
    ) -> StoreResult<Vec<(UnitId, Value)>>;

    /// A page of a complete job's outputs (those `GET /jobs/:id` lists, and the rest), or
    /// `None` for an unknown id.
    async fn job_outputs(&self, job_id: JobId, page: Paging) -> StoreResult<Option<OutputsPage>>;
}
