//! Job operations the api and the dispatcher share: deleting a job with its stored files, and
//! (Postgres) adding units to the outbox.

use anyhow::Context;
use deadpool_postgres::GenericClient;

use serde_json::Value;

use crate::{
    channels,
    status::Stage,
    storage::{job_prefix, AssetStore},
    store::{Store, StoreResult},
};

/// Deletes the job (its units go with it), then its stored files; `false` for an unknown id.
pub async fn delete_with_files(
    store: &dyn Store,
    assets: &dyn AssetStore,
    id: i64,
) -> StoreResult<bool> {
    let Some(action) = store.delete_job(id).await? else {
        return Ok(false);
    };
    match assets.delete_prefix(&job_prefix(&action, id)).await {
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
