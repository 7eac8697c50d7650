//! Job queries the api and the dispatcher share: a job's JSON view, and deleting a job with
//! its units and its stored files.

use anyhow::Context;
use deadpool_postgres::GenericClient;

use serde_json::Value;

use crate::{
    channels,
    job_view::{JobFacts, JobView},
    status::{JobStatus, Stage},
    storage::{job_prefix, AssetStore},
};

/// The job's CloudCrowd JSON, or `None` for an unknown id.
pub async fn view(client: &impl GenericClient, id: i64) -> anyhow::Result<Option<JobView>> {
    let row = client
        .query_opt(
            "SELECT j.status, j.outputs, j.email, j.time_taken,
                    EXTRACT(EPOCH FROM now() - j.created_at)::float8 AS age,
                    count(u.id) FILTER (WHERE u.stage <> $2) AS total,
                    count(u.id) FILTER (WHERE u.stage <> $2 AND u.state IN ('succeeded', 'failed')) AS done,
                    count(u.id) FILTER (WHERE u.state IN ('pending', 'queued')) AS incomplete
             FROM jobs j LEFT JOIN work_units u ON u.job_id = j.id
             WHERE j.id = $1
             GROUP BY j.id",
            &[&id, &Stage::Merge.code()],
        )
        .await
        .context("reading a job")?;
    let Some(row) = row else { return Ok(None) };
    let code: i16 = row.get("status");
    let status = JobStatus::from_code(code)
        .with_context(|| format!("job {id} has unknown status {code}"))?;
    Ok(Some(JobView::from_facts(JobFacts {
        id,
        status,
        outputs: row.get("outputs"),
        email: row.get("email"),
        time_taken: row.get("time_taken"),
        age: row.get("age"),
        units_total: row.get("total"),
        units_done: row.get("done"),
        units_incomplete: row.get("incomplete"),
    })))
}

/// Deletes the job's rows (units go with it), then its files. `false` for an unknown id.
pub async fn delete(
    client: &impl GenericClient,
    store: &dyn AssetStore,
    id: i64,
) -> anyhow::Result<bool> {
    let row = client
        .query_opt("DELETE FROM jobs WHERE id = $1 RETURNING action", &[&id])
        .await
        .context("deleting a job")?;
    let Some(row) = row else { return Ok(false) };
    let action: String = row.get(0);
    let prefix = job_prefix(&action, id);
    match store.delete_prefix(&prefix).await {
        Ok(n) => tracing::info!(job.id = id, files = n, "deleted job"),
        // The rows are gone either way; the files are only logged, not worth failing for.
        Err(e) => tracing::error!(
            job.id = id,
            error = format!("{e:#}"),
            "deleted job, but not its files"
        ),
    }
    Ok(true)
}

/// Adds pending units (the outbox) and wakes the relays.
pub async fn insert_units(
    client: &impl GenericClient,
    job_id: i64,
    action: &str,
    stage: Stage,
    inputs: &[Value],
) -> anyhow::Result<()> {
    if inputs.is_empty() {
        return Ok(());
    }
    client
        .execute(
            "INSERT INTO work_units (job_id, action, stage, input)
             SELECT $1, $2, $3, input FROM unnest($4::jsonb[]) WITH ORDINALITY AS t(input, n) ORDER BY n
             ON CONFLICT DO NOTHING",
            &[&job_id, &action, &stage.code(), &inputs],
        )
        .await
        .context("inserting work units")?;
    notify(client, channels::WORK).await
}

pub async fn notify(client: &impl GenericClient, channel: &str) -> anyhow::Result<()> {
    client
        .execute("SELECT pg_notify($1, '')", &[&channel])
        .await?;
    Ok(())
}
