//! Job operations the api, the dispatcher and the command line share: deleting a job with its
//! stored files, and cleaning up old complete jobs.

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

/// Jobs deleted per round of a cleanup, so no one statement holds a huge list.
const CLEANUP_BATCH: i64 = 500;

/// CloudCrowd's cleanup, files included: deletes every complete job that completed more than
/// `age` ago, with its units and stored files; returns how many jobs went.
pub async fn cleanup_older_than(
    store: &dyn Store,
    assets: &dyn AssetStore,
    age: std::time::Duration,
) -> StoreResult<u64> {
    let mut deleted = 0;
    loop {
        let ids = store.complete_jobs_older_than(age, CLEANUP_BATCH).await?;
        if ids.is_empty() {
            return Ok(deleted);
        }
        for id in ids {
            if delete_with_files(store, assets, id).await? {
                deleted += 1;
            }
        }
    }
}
