//! Callback bookkeeping in Postgres.

use std::time::Duration;

use anyhow::Context;
use deadpool_postgres::Pool;

use super::rows::get;
use crate::ids::JobId;
use crate::store::DueCallback;

pub(super) async fn claim(
    pool: &Pool,
    limit: i64,
    lease: Duration,
) -> anyhow::Result<Vec<DueCallback>> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "UPDATE jobs SET callback_due_at = now() + make_interval(secs => $2),
                             callback_attempts = callback_attempts + 1
             WHERE id IN (SELECT id FROM jobs
                          WHERE callback_state = 'pending' AND callback_due_at <= now()
                          ORDER BY callback_due_at LIMIT $1
                          FOR UPDATE SKIP LOCKED)
             RETURNING id, callback_url, callback_attempts,
                       (EXTRACT(EPOCH FROM created_at) * 1000)::int8",
            &[&limit, &lease.as_secs_f64()],
        )
        .await
        .context("claiming due callbacks")?;
    rows.iter()
        .map(|r| {
            Ok(DueCallback {
                job_id: get(r, 0)?,
                url: get(r, 1)?,
                attempts: get(r, 2)?,
                created_at_ms: get(r, 3)?,
            })
        })
        .collect()
}

pub(super) async fn delivered(pool: &Pool, job_id: JobId) -> anyhow::Result<()> {
    pool.get()
        .await?
        .execute(
            "UPDATE jobs SET callback_state = 'delivered', callback_error = NULL WHERE id = $1",
            &[&job_id],
        )
        .await?;
    Ok(())
}

pub(super) async fn failed(
    pool: &Pool,
    job_id: JobId,
    error: &str,
    retry_in: Duration,
    give_up_after: Duration,
) -> anyhow::Result<()> {
    // Given up once the job has been complete for longer than the retry window.
    pool.get()
        .await?
        .execute(
            "UPDATE jobs SET callback_error = $2,
                    callback_state = CASE WHEN now() + make_interval(secs => $3) > updated_at + make_interval(secs => $4)
                                          THEN 'abandoned' ELSE 'pending' END,
                    callback_due_at = now() + make_interval(secs => $3)
             WHERE id = $1",
            &[&job_id, &error, &retry_in.as_secs_f64(), &give_up_after.as_secs_f64()],
        )
        .await?;
    Ok(())
}

pub(super) async fn next_in(pool: &Pool) -> anyhow::Result<Option<Duration>> {
    let row = pool
        .get()
        .await?
        .query_one(
            "SELECT EXTRACT(EPOCH FROM min(callback_due_at) - now())::float8
             FROM jobs WHERE callback_state = 'pending'",
            &[],
        )
        .await?;
    let secs: Option<f64> = get(&row, 0)?;
    Ok(secs.map(|secs| Duration::from_secs_f64(secs.max(0.0))))
}
