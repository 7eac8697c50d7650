//! Job operations the api and the dispatcher share: deleting a job with its stored files.

use crate::{
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
