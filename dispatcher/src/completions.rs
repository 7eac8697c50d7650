//! Consuming completions. Each is applied in its own transaction and acked only after the
//! commit; a database error hands it back to the broker to try again.

use std::{sync::Arc, time::Duration};

use crowd_shared::{
    jobs,
    messages::{Completion, Outcome},
    queue::Delivery,
    shutdown::CancellationToken,
    store::StoreError,
};
use futures_util::StreamExt;
use tokio::task::JoinSet;

use crate::{
    job_progress::{apply_completion, Applied},
    keep_running, Dispatcher,
};

/// Completions applied at once by one dispatcher (they wait on their job's row lock, not on
/// each other, unless they share a job).
const PREFETCH: u16 = 32;

/// Pause before a completion whose transaction failed goes back to the broker.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

pub async fn run(d: Arc<Dispatcher>, shutdown: CancellationToken) {
    keep_running("the completion consumer", &shutdown, || {
        session(&d, &shutdown)
    })
    .await;
}

async fn session(d: &Arc<Dispatcher>, shutdown: &CancellationToken) -> anyhow::Result<()> {
    let mut link = d.queue.completions(PREFETCH).await?;
    let mut tasks = JoinSet::new();
    let ended = loop {
        tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            delivery = link.deliveries.next() => match delivery {
                Some(Ok(delivery)) => { tasks.spawn(handle(d.clone(), delivery)); }
                Some(Err(e)) => break Err(e.context("consuming completions")),
                None => break Err(anyhow::anyhow!("the completion queue closed")),
            },
        }
    };
    // Let the transactions under way finish, so their acks go out.
    while tasks.join_next().await.is_some() {}
    link.control.close().await;
    ended
}

async fn handle(d: Arc<Dispatcher>, delivery: Delivery<Completion>) {
    let completion = match delivery.body {
        Ok(c) => c,
        Err(unreadable) => match unreadable.unit_attempt() {
            // A worker of another version: its unit is tried again (or fails, once out of
            // attempts) rather than left waiting for an answer that was lost.
            Some(unit) => Completion::without_run(
                unit,
                Outcome::failed(
                    format!(
                        "the worker's report could not be read ({}); is it another version of crowd?",
                        unreadable.error
                    ),
                    true,
                ),
                "unknown",
            ),
            None => {
                tracing::error!(error = %unreadable.error, "discarding a completion that names no unit");
                settle(delivery.acker.reject().await, None);
                return;
            }
        },
    };
    let mut result = apply_completion(d.store.as_ref(), &completion, d.max_attempts).await;
    if let Err(StoreError::Refused(e)) = &result {
        // The store will refuse this result every time: record the unit as failed instead of
        // handing the completion back forever.
        let refused = Completion {
            outcome: Outcome::failed(
                format!("the unit's result could not be stored: {e:#}"),
                false,
            ),
            ..completion.clone()
        };
        result = apply_completion(d.store.as_ref(), &refused, d.max_attempts).await;
    }
    match result {
        Ok(applied) => {
            match (applied, &completion.action) {
                (Applied::Stale(why), _) => {
                    tracing::debug!(
                        work_unit.id = completion.unit_id,
                        why,
                        "stale completion ignored"
                    )
                }
                (Applied::Gone, Some(action)) => {
                    let removed = jobs::remove_files_of_deleted(
                        d.store.as_ref(),
                        d.assets.as_ref(),
                        action,
                        completion.job_id,
                    );
                    if let Err(e) = removed.await {
                        // Acked all the same: `crowd cleanup` removes what is left of deleted jobs.
                        tracing::warn!(
                            job.id = completion.job_id,
                            error = format!("{e:#}"),
                            "files of a deleted job not removed"
                        );
                    }
                }
                _ => {}
            }
            settle(delivery.acker.ack().await, Some(completion.unit_id));
        }
        Err(e) => {
            tracing::warn!(
                work_unit.id = completion.unit_id,
                error = format!("{e:#}"),
                "completion not applied; retrying"
            );
            tokio::time::sleep(RETRY_PAUSE).await;
            settle(delivery.acker.requeue().await, Some(completion.unit_id));
        }
    }
}

/// A settlement that failed belongs to a link that broke: the broker delivers the completion
/// again, and applying it again changes nothing.
fn settle(result: anyhow::Result<()>, unit_id: Option<i64>) {
    if let Err(e) = result {
        tracing::info!(
            work_unit.id = unit_id,
            error = format!("{e:#}"),
            "completion not settled"
        );
    }
}
