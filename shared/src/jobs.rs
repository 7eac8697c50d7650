//! Job operations the api, the dispatcher and the command line share: deleting a job with its
//! stored files, and cleaning up old complete jobs.

use crate::{
    ids::JobId,
    queue::Queue,
    storage::{job_of_prefix, job_prefix, AssetStore},
    store::{Store, StoreResult},
};

/// Deletes the job (its units go with it), then its stored files; `false` for an unknown id.
pub async fn delete_with_files(
    store: &dyn Store,
    assets: &dyn AssetStore,
    id: JobId,
) -> StoreResult<bool> {
    let Some(action) = store.delete_job(id).await? else {
        return Ok(false);
    };
    match assets.delete_prefix(&job_prefix(&action, id)).await {
        Ok(n) => tracing::info!(job.id = id.0, files = n, "deleted job"),
        // The rows are gone either way; the files are only logged, not worth failing for.
        Err(e) => tracing::error!(
            job.id = id.0,
            error = format!("{e:#}"),
            "deleted job, but not its files"
        ),
    }
    Ok(true)
}

/// Deletes a job that may have units queued or running (`DELETE /jobs/:id`, a callback's 201):
/// as `delete_with_files`, then the workers are told, so they drop its queued units and stop
/// its running ones.
pub async fn delete_and_stop(
    store: &dyn Store,
    assets: &dyn AssetStore,
    queue: &dyn Queue,
    id: JobId,
) -> StoreResult<bool> {
    if !delete_with_files(store, assets, id).await? {
        return Ok(false);
    }
    if let Err(e) = queue.announce_deleted(id).await {
        // The units still run; their results and files are thrown away when they come back.
        tracing::warn!(
            job.id = id.0,
            error = format!("{e:#}"),
            "workers not told of a deletion"
        );
    }
    Ok(true)
}

/// A stage of a deleted job finished anyway (its worker missed the news) and may have stored
/// files: they belong to nobody, so they go.
pub async fn remove_files_of_deleted(
    store: &dyn Store,
    assets: &dyn AssetStore,
    action: &str,
    id: JobId,
) -> anyhow::Result<()> {
    if store.job_view(id).await?.is_some() {
        return Ok(());
    }
    let removed = assets.delete_prefix(&job_prefix(action, id)).await?;
    if removed > 0 {
        tracing::info!(
            job.id = id.0,
            files = removed,
            "removed files stored after the job was deleted"
        );
    }
    Ok(())
}

/// Removes the stored files of jobs that no longer exist (their deletion crashed midway, or a
/// unit stored files after it); returns how many jobs' files went.
pub async fn remove_orphaned_files(
    store: &dyn Store,
    assets: &dyn AssetStore,
) -> anyhow::Result<u64> {
    let mut removed = 0;
    for action in assets.list_dirs("").await? {
        for prefix in assets.list_dirs(&action).await? {
            let Some(id) = job_of_prefix(&prefix) else {
                continue; // Not a job's: someone else's files.
            };
            if store.job_view(id).await?.is_none() {
                let files = assets.delete_prefix(&prefix).await?;
                tracing::info!(
                    job.id = id.0,
                    files,
                    "removed the files of a job that no longer exists"
                );
                removed += 1;
            }
        }
    }
    Ok(removed)
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
