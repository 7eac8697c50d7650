//! Retrying a failed job, in Postgres: the decision is `state_machine::resume`; this file
//! holds the lock and the SQL.

use anyhow::Context;
use deadpool_postgres::Pool;

use super::{outbox::notify, rows::get};
use crate::{
    channels,
    ids::JobId,
    state_machine::{resume, NotRetryable},
    status::{JobStatus, Stage},
};

pub(super) async fn retry_job(
    pool: &Pool,
    job_id: JobId,
) -> anyhow::Result<Option<Result<u64, NotRetryable>>> {
    let mut client = pool.get().await.context("getting a Postgres connection")?;
    let tx = client.transaction().await?;
    // The job's lock, as a completion that moves it takes: nothing moves it meanwhile.
    let Some(job) = tx
        .query_opt(
            &tx.prepare_cached("SELECT status FROM jobs WHERE id = $1 FOR UPDATE")
                .await?,
            &[&job_id],
        )
        .await?
    else {
        return Ok(None);
    };
    let status =
        JobStatus::from_code(get(&job, "status")?).context("job with an unknown status")?;
    let stages: Vec<Stage> = tx
        .query(
            &tx.prepare_cached(
                "SELECT DISTINCT stage FROM work_units WHERE job_id = $1 AND state = 'failed'",
            )
            .await?,
            &[&job_id],
        )
        .await?
        .iter()
        .filter_map(|row| get::<_, i16>(row, "stage").ok().and_then(Stage::from_code))
        .collect();
    let resumed = match resume(status, &stages) {
        Ok(resumed) => resumed,
        Err(refused) => return Ok(Some(Err(refused))),
    };
    // Behind what waits in the outbox now, each unit in its lane; the counts follow by trigger.
    let again = tx
        .execute(
            &tx.prepare_cached(
                "WITH again AS (
                 UPDATE work_units
                 SET state = 'pending', attempts = 0, stops = 0, output = NULL, time = NULL,
                     finished_at = NULL, updated_at = clock_timestamp()
                 WHERE job_id = $1 AND state = 'failed'
                 RETURNING id, lane)
             INSERT INTO outbox (unit_id, lane) SELECT id, lane FROM again ORDER BY id",
            )
            .await?,
            &[&job_id],
        )
        .await
        .context("putting the failed units back in the outbox")?;
    tx.execute(
        &tx.prepare_cached("UPDATE jobs SET status = $2, outputs = NULL, outputs_total = NULL, outputs_stage = NULL,
                time_taken = NULL, updated_at = now(), callback_state = 'none',
                callback_attempts = 0, callback_due_at = NULL, callback_error = NULL
         WHERE id = $1").await?,
        &[&job_id, &resumed.code()],
    )
    .await?;
    notify(&tx, channels::WORK).await?;
    tx.commit().await.context("committing a job's retry")?;
    Ok(Some(Ok(again)))
}
