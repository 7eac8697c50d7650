//! Applying a completion and moving its job on. Idempotent: a duplicate or stale
//! completion (a redelivery, an answer to an older attempt) changes nothing.

use crowd_shared::{
    messages::Completion,
    store::{Store, StoreResult},
};

pub use crowd_shared::store::Applied;

/// Records the completion and moves its job on, as the dispatcher does with a batch.
///
/// The store moves the job on in the same commit when it sees the stage end there; when it
/// cannot be sure (another transaction's completions of the job not yet committed), the job
/// is moved after the commit, under its lock, so the last completion of a stage to commit
/// always sees it done, and of many at once exactly one moves it (one merge, one end).
pub async fn apply_completion(
    store: &dyn Store,
    c: &Completion,
    max_attempts: i32,
) -> StoreResult<Applied> {
    let recorded = store
        .record_completions(std::slice::from_ref(c), max_attempts)
        .await?;
    for job_id in recorded.to_advance {
        store.advance_job(job_id).await?;
    }
    Ok(recorded
        .applied
        .into_iter()
        .next()
        .unwrap_or(Applied::Stale("nothing recorded")))
}

/// Moves on every incomplete job that can be moved: after a restart with queues that start
/// empty (the in-process ones), a completion recorded just before the last run died may not
/// have moved its job on, and nothing in the new queues will.
pub async fn advance_every_incomplete_job(store: &dyn Store) -> StoreResult<()> {
    for id in store.incomplete_jobs().await? {
        store.advance_job(id).await?;
    }
    Ok(())
}
