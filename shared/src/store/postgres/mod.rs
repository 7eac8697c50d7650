//! The Postgres store. Statements of one row or one job on a unit's way through (posting,
//! moving a job on, its polls) are prepared once per connection (`prepare_cached`): an
//! unprepared one costs a second round trip. Statements over a batch (arrays, `LIMIT`) stay
//! unnamed, so each is planned for the batch it is given: a generic plan guesses ten rows.

mod actions;
mod browse;
mod callbacks;
mod idempotency;
mod listen;
mod nodes;
mod outbox;
mod outputs;
pub mod pool;
mod prepared;
mod progress;
mod retry;
mod rows;

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use async_trait::async_trait;
use deadpool_postgres::{Object, Pool};
use serde_json::Value;

use self::{
    outbox::insert_units,
    rows::{get, shown_json},
};
use super::{
    browse::{FailedUnitPage, JobDetail, JobPage, JobQuery},
    Backlog, DueCallback, NewJob, NodeView, OutputsPage, Overview, Paging, PausedAction, Publish,
    Recorded, Relayed, Store, StoreError, StoreResult, TakenBack, Wakeups,
};
use crate::{
    catalog::Stages,
    idempotency::{KeyedOutcome, KeyedPost},
    ids::{JobId, UnitId},
    job_view::JobView,
    messages::{Completion, Heartbeat, UnitAttempt},
    shutdown::CancellationToken,
    state_machine::NotRetryable,
    status::{JobStatus, Stage},
};

#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    /// For the LISTEN connection, which lives outside the pool.
    database_url: String,
    /// Outputs a complete job lists at most (`max_listed_outputs`).
    max_listed_outputs: i64,
}

impl PgStore {
    pub fn new(database_url: &str, pool_size: usize) -> anyhow::Result<Self> {
        Ok(PgStore {
            pool: pool::pool(database_url, pool_size)?,
            database_url: database_url.to_string(),
            max_listed_outputs: crate::job_view::MAX_LISTED_OUTPUTS,
        })
    }

    /// Jobs list at most `n` outputs; the rest are paged.
    pub fn listing_at_most(mut self, n: i64) -> Self {
        self.max_listed_outputs = n.max(1);
        self
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    async fn client(&self) -> StoreResult<Object> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::Unavailable(e.into()))
    }
}

#[async_trait]
impl Store for PgStore {
    async fn create_job(&self, job: &NewJob, stages: Stages) -> StoreResult<JobId> {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .context("starting a transaction")?;
        let id = insert_job(&tx, job, stages).await?;
        tx.commit().await.context("committing a job")?;
        Ok(id)
    }

    async fn create_job_with_key(
        &self,
        job: &NewJob,
        stages: Stages,
        post: &KeyedPost,
    ) -> StoreResult<KeyedOutcome> {
        idempotency::create_job_with_key(&self.pool, job, stages, post)
            .await
            .map_err(classify)
    }

    async fn job_view(&self, id: JobId) -> StoreResult<Option<JobView>> {
        let client = self.client().await?;
        Ok(browse::job(&client, id).await?.map(|job| job.view))
    }

    async fn delete_job(&self, id: JobId) -> StoreResult<Option<String>> {
        let client = self.client().await?;
        // The delete takes the job, then its units; a completion holding a unit may want the
        // job next (a split adding units), and Postgres breaks that cycle by rolling one back.
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&id];
        let row = again_if_rolled_back(|| {
            client.query_opt("DELETE FROM jobs WHERE id = $1 RETURNING action", &params)
        })
        .await
        .context("deleting a job")?;
        Ok(row.map(|r| get(&r, 0)).transpose()?)
    }

    async fn overview(&self, node_ttl: Duration) -> StoreResult<Overview> {
        let client = self.client().await?;
        let nodes = client
            .query(
                "SELECT name, tag, running, max_workers, throttled, actions, progress FROM nodes
                 WHERE last_seen > now() - make_interval(secs => $1)
                 ORDER BY name DESC",
                &[&node_ttl.as_secs_f64()],
            )
            .await
            .context("listing nodes")?;
        let counts = client
            .query_one(
                // The counts incomplete jobs keep: a finished job leaves no unit waiting.
                "SELECT count(*), COALESCE(sum(units_incomplete), 0)::int8
                 FROM jobs WHERE status IN ($1, $2, $3)",
                &[
                    &JobStatus::Processing.code(),
                    &JobStatus::Splitting.code(),
                    &JobStatus::Merging.code(),
                ],
            )
            .await
            .context("counting incomplete work")?;
        let nodes = nodes
            .iter()
            .map(|row| {
                Ok(NodeView {
                    name: get(row, "name")?,
                    tag: get(row, "tag")?,
                    running: shown_json(row, "running").unwrap_or_default(),
                    max_workers: get(row, "max_workers")?,
                    throttled: get(row, "throttled")?,
                    actions: shown_json(row, "actions")
                        .map(|stored| crate::catalog::advertised(&stored))
                        .unwrap_or_default(),
                    progress: shown_json(row, "progress").unwrap_or_default(),
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Overview {
            nodes,
            job_count: get(&counts, 0)?,
            work_unit_count: get(&counts, 1)?,
        })
    }

    async fn record_completions(
        &self,
        batch: &[Completion],
        max_attempts: i32,
    ) -> StoreResult<Recorded> {
        progress::record_completions(&self.pool, batch, max_attempts, self.max_listed_outputs)
            .await
            .map_err(classify)
    }

    async fn relay_pending(
        &self,
        limit: i64,
        max_attempts: i32,
        publish: &mut dyn Publish,
    ) -> StoreResult<Relayed> {
        let (relayed, failed_jobs) =
            outbox::relay_pending(&self.pool, limit, max_attempts, publish)
                .await
                .map_err(classify)?;
        // A unit failed for good may have ended its job's stage.
        for job_id in failed_jobs {
            self.advance_job(job_id).await?;
        }
        Ok(relayed)
    }

    async fn claim_callbacks(&self, limit: i64, lease: Duration) -> StoreResult<Vec<DueCallback>> {
        callbacks::claim(&self.pool, limit, lease)
            .await
            .map_err(classify)
    }

    async fn callback_delivered(&self, job_id: JobId) -> StoreResult<()> {
        callbacks::delivered(&self.pool, job_id)
            .await
            .map_err(classify)
    }

    async fn callback_failed(
        &self,
        job_id: JobId,
        error: &str,
        retry_in: Duration,
        give_up_after: Duration,
    ) -> StoreResult<()> {
        callbacks::failed(&self.pool, job_id, error, retry_in, give_up_after)
            .await
            .map_err(classify)
    }

    async fn next_callback_in(&self) -> StoreResult<Option<Duration>> {
        callbacks::next_in(&self.pool).await.map_err(classify)
    }

    async fn record_heartbeat(&self, beat: &Heartbeat) -> StoreResult<()> {
        nodes::record_heartbeat(&self.pool, beat)
            .await
            .map_err(classify)
    }

    async fn actions_with_old_queued_units(
        &self,
        older_than: Duration,
    ) -> StoreResult<Vec<String>> {
        nodes::actions_with_old_queued_units(&self.pool, older_than)
            .await
            .map_err(classify)
    }

    async fn requeue_lost(
        &self,
        action: &str,
        older_than: Duration,
        node_ttl: Duration,
    ) -> StoreResult<u64> {
        nodes::requeue_lost(&self.pool, action, older_than, node_ttl)
            .await
            .map_err(classify)
    }

    async fn incomplete_jobs(&self) -> StoreResult<Vec<JobId>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id FROM jobs WHERE status IN (1, 4, 5) ORDER BY id",
                &[],
            )
            .await
            .context("listing incomplete jobs")?;
        Ok(rows
            .iter()
            .map(|r| get(r, 0))
            .collect::<anyhow::Result<_>>()?)
    }

    async fn watch(&self, wakeups: Arc<Wakeups>, shutdown: CancellationToken) {
        listen::watch(&self.database_url, &wakeups, &shutdown).await;
    }

    async fn advance_job(&self, job_id: JobId) -> StoreResult<()> {
        progress::advance_job(&self.pool, job_id, self.max_listed_outputs)
            .await
            .map_err(classify)
    }

    async fn list_jobs(&self, query: &JobQuery) -> StoreResult<JobPage> {
        let client = self.client().await?;
        browse::list(&client, query).await.map_err(classify)
    }

    async fn job_detail(&self, id: JobId, page: Paging) -> StoreResult<Option<JobDetail>> {
        let client = self.client().await?;
        browse::detail(&client, id, page).await.map_err(classify)
    }

    async fn units_finished_within(&self, window: Duration) -> StoreResult<i64> {
        let client = self.client().await?;
        browse::finished_within(&client, window)
            .await
            .map_err(classify)
    }

    async fn retry_job(&self, job_id: JobId) -> StoreResult<Option<Result<u64, NotRetryable>>> {
        retry::retry_job(&self.pool, job_id).await.map_err(classify)
    }

    async fn outbox_lag(&self) -> StoreResult<Option<Duration>> {
        let client = self.client().await?;
        browse::outbox_lag(&client).await.map_err(classify)
    }

    async fn paused_actions(&self) -> StoreResult<Vec<PausedAction>> {
        let client = self.client().await?;
        actions::paused_actions(&client).await.map_err(classify)
    }

    async fn pause_action(&self, action: &str) -> StoreResult<PausedAction> {
        let client = self.client().await?;
        actions::pause(&client, action).await.map_err(classify)
    }

    async fn resume_action(&self, action: &str) -> StoreResult<Option<PausedAction>> {
        let client = self.client().await?;
        actions::resume(&client, action).await.map_err(classify)
    }

    async fn take_back(&self, units: &[UnitAttempt]) -> StoreResult<Vec<TakenBack>> {
        actions::take_back(&self.pool, units)
            .await
            .map_err(classify)
    }

    async fn backlogs(&self, running: &[UnitId]) -> StoreResult<Vec<Backlog>> {
        let client = self.client().await?;
        actions::backlogs(&client, running).await.map_err(classify)
    }

    async fn failed_units(&self, page: Paging) -> StoreResult<FailedUnitPage> {
        let client = self.client().await?;
        browse::failed_units(&client, page).await.map_err(classify)
    }

    async fn complete_jobs_older_than(&self, age: Duration, limit: i64) -> StoreResult<Vec<JobId>> {
        let client = self.client().await?;
        browse::complete_before(&client, age, limit)
            .await
            .map_err(classify)
    }

    async fn job_options(&self, job_id: JobId) -> StoreResult<Option<Value>> {
        let client = self.client().await?;
        outputs::job_options(&client, job_id)
            .await
            .map_err(classify)
    }

    async fn stage_outputs_after(
        &self,
        job_id: JobId,
        stage: Stage,
        after: UnitId,
        limit: i64,
    ) -> StoreResult<Vec<(UnitId, Value)>> {
        let client = self.client().await?;
        outputs::stage_outputs_after(&client, job_id, stage, after, limit)
            .await
            .map_err(classify)
    }

    async fn job_outputs(&self, job_id: JobId, page: Paging) -> StoreResult<Option<OutputsPage>> {
        let client = self.client().await?;
        outputs::job_outputs(&client, job_id, page)
            .await
            .map_err(classify)
    }
}

/// Inserts the job and its first units (the outbox), in the caller's transaction.
async fn insert_job(
    tx: &deadpool_postgres::Transaction<'_>,
    job: &NewJob,
    stages: Stages,
) -> anyhow::Result<JobId> {
    let row = tx
        .query_one(
            &tx.prepare_cached(
                "INSERT INTO jobs (action, status, inputs, options, options_bytes, has_merge,
                                   callback_url, email)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .await?,
            &[
                &job.action,
                &JobStatus::initial(stages.split).code(),
                &Value::Array(job.inputs.clone()),
                &job.options,
                &job.options_bytes(),
                &stages.merge,
                &job.callback_url,
                &job.email,
            ],
        )
        .await
        .context("inserting a job")?;
    let id: JobId = get(&row, 0)?;
    let first_stage = if stages.split {
        Stage::Split
    } else {
        Stage::Process
    };
    insert_units(tx, id, &job.action, first_stage, &job.inputs).await?;
    Ok(id)
}

/// Tells apart an unreachable database, refused data (SQLSTATE class 22, a data exception)
/// and anything else.
pub(super) fn classify(e: anyhow::Error) -> StoreError {
    let postgres = || {
        e.chain()
            .filter_map(|cause| cause.downcast_ref::<tokio_postgres::Error>())
    };
    let refused = postgres()
        .filter_map(tokio_postgres::Error::code)
        .any(|code| code.code().starts_with("22"));
    let unreachable = e.chain().any(|cause| {
        cause
            .downcast_ref::<deadpool_postgres::PoolError>()
            .is_some()
    }) || postgres().any(is_unreachable);
    match (refused, unreachable) {
        (true, _) => StoreError::Refused(e),
        (_, true) => StoreError::Unavailable(e),
        _ => StoreError::Other(e),
    }
}

/// Runs `statement` again, a bounded number of times, while Postgres rolls it back to break a
/// deadlock or a serialization conflict (class 40): the other side has gone on by then, so a
/// new try usually passes, where the caller could only answer "try again later".
async fn again_if_rolled_back<T, F, Fut>(mut statement: F) -> Result<T, tokio_postgres::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, tokio_postgres::Error>>,
{
    const TRIES: usize = 3;
    let mut tried = 1;
    loop {
        match statement().await {
            Err(e) if tried < TRIES && rolled_back(&e) => tried += 1,
            result => return result,
        }
    }
}

fn rolled_back(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|code| code.code().starts_with("40"))
}

/// The server went away or cannot serve now: the connection dropped (no SQLSTATE), a
/// connection exception (class 08), a shutdown or a server starting up (57P01-57P03), too
/// many connections (class 53), or a transaction the server rolled back to break a deadlock or
/// a serialization conflict (class 40). Trying again later works.
fn is_unreachable(e: &tokio_postgres::Error) -> bool {
    match e.code() {
        None => {
            e.is_closed()
                || std::error::Error::source(e).is_some_and(|source| source.is::<std::io::Error>())
        }
        Some(code) => {
            let code = code.code();
            code.starts_with("08")
                || code.starts_with("40")
                || code.starts_with("53")
                || matches!(code, "57P01" | "57P02" | "57P03")
        }
    }
}
