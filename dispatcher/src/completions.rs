//! Consuming completions, in batches: whatever has arrived (up to `BATCH`) is recorded in one
//! transaction, the jobs it touched are moved on, and only then is each acked. A database error
//! hands the batch back to the broker to try again.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use crowd_shared::{
    jobs,
    messages::{Completion, Completions, OneOrMany, Outcome, UnitAttempt},
    metrics,
    queue::{Acker, Delivery},
    shutdown::CancellationToken,
    store::{Applied, Recorded, StoreError},
};
use futures_util::{stream::FuturesUnordered, StreamExt};
use serde_json::Value;

use crate::{keep_running, Dispatcher};

/// Completions one dispatcher holds unacked: enough for the next batch to build up while one
/// commits.
const PREFETCH: u16 = 512;

/// Completions recorded in one transaction at most.
const BATCH: usize = 256;

/// Batches being recorded at once, each in its own transaction.
const BATCHES_AT_ONCE: usize = 4;

/// Pause before a batch whose transaction failed goes back to the broker.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

pub async fn run(d: Arc<Dispatcher>, shutdown: CancellationToken) {
    keep_running("the completion consumer", &shutdown, || {
        session(&d, &shutdown)
    })
    .await;
}

async fn session(d: &Arc<Dispatcher>, shutdown: &CancellationToken) -> anyhow::Result<()> {
    let link = d.queue.completions(PREFETCH).await?;
    // Everything already arrived, at once: one transaction for a burst, and no waiting for
    // one more when a completion is alone.
    let mut batches = link.deliveries.ready_chunks(BATCH);
    // Batches apply side by side, each on its own connection: a batch spends most of its time
    // waiting for the database's answers, one statement at a time, and moving on many small
    // jobs takes a few statements each.
    let mut applying = FuturesUnordered::new();
    let ended = loop {
        tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            Some(()) = applying.next(), if !applying.is_empty() => {}
            batch = batches.next(), if applying.len() < BATCHES_AT_ONCE => match batch {
                Some(batch) => {
                    let (deliveries, broken): (Vec<_>, Vec<_>) = batch.into_iter().partition(Result::is_ok);
                    applying.push(apply(d, deliveries.into_iter().flatten().collect()));
                    if let Some(Err(e)) = broken.into_iter().next() {
                        break Err(e.context("consuming completions"));
                    }
                }
                None => break Err(anyhow::anyhow!("the completion queue closed")),
            },
        }
    };
    // What is being recorded is finished and settled before the link closes.
    while applying.next().await.is_some() {}
    link.control.close().await;
    ended
}

/// The completions a delivery held, with the delivery to settle once they are recorded.
struct Received {
    completions: Vec<Completion>,
    acker: Box<dyn Acker>,
}

/// Records the completions the deliveries hold, moves their jobs on, then settles them.
pub(crate) async fn apply(d: &Dispatcher, deliveries: Vec<Delivery<Completions>>) {
    // One that names no unit is settled (dropped) there and then.
    let received: Vec<Received> = deliveries.into_iter().filter_map(readable).collect();
    let completions: Vec<Completion> = received
        .iter()
        .flat_map(|r| r.completions.iter().cloned())
        .collect();
    if completions.is_empty() {
        return;
    }
    let started = std::time::Instant::now();
    let recorded = match record(d, &completions).await {
        Ok(recorded) => {
            let results: Vec<&'static str> = recorded.applied.iter().map(|a| a.result()).collect();
            metrics::completions_applied(&results, started.elapsed());
            recorded
        }
        Err(e) => {
            tracing::warn!(
                completions = completions.len(),
                error = format!("{e:#}"),
                "completions not recorded; retrying"
            );
            tokio::time::sleep(RETRY_PAUSE).await;
            for r in received {
                settle(r.acker.requeue().await);
            }
            return;
        }
    };
    for (c, applied) in completions.iter().zip(&recorded.applied) {
        after_recording(d, c, *applied).await;
    }
    // The jobs the store's commit did not settle. A redelivery after a crash before this
    // finishes what the first delivery began: the store looks at every job a batch names,
    // stale answers' included.
    let mut stuck = BTreeMap::new();
    for job_id in recorded.to_advance {
        if let Err(e) = d.store.advance_job(job_id).await {
            stuck.insert(job_id, e);
        }
    }
    for (job_id, e) in &stuck {
        tracing::warn!(
            job.id = job_id.0,
            error = format!("{e:#}"),
            "job not moved on; retrying"
        );
    }
    if !stuck.is_empty() {
        tokio::time::sleep(RETRY_PAUSE).await;
    }
    for r in received {
        let settled = if r.completions.iter().any(|c| stuck.contains_key(&c.job_id)) {
            r.acker.requeue().await
        } else {
            r.acker.ack().await
        };
        settle(settled);
    }
}

/// The completions a delivery holds. One that does not parse is answered for the unit it names
/// (a worker of another version: it is tried again, or fails once out of attempts, rather than
/// left waiting for an answer that was lost); the others of its message count as sent. A
/// delivery that names no unit at all is dropped.
fn readable(delivery: Delivery<Completions>) -> Option<Received> {
    let completions = match delivery.body {
        Ok(OneOrMany(completions)) => completions,
        Err(unreadable) => {
            let items = match unreadable.raw {
                Some(Value::Array(items)) => items,
                Some(one) => vec![one],
                None => Vec::new(),
            };
            items
                .into_iter()
                .filter_map(one_of_another_version)
                .collect()
        }
    };
    if completions.is_empty() {
        tracing::error!("discarding a completions message that names no unit");
        tokio::spawn(async move {
            settle(delivery.acker.reject().await);
        });
        return None;
    }
    Some(Received {
        completions,
        acker: delivery.acker,
    })
}

/// One completion of a message that did not parse as a whole: itself if it parses, a failure
/// of the unit it names if it does not, nothing if it names none.
fn one_of_another_version(item: Value) -> Option<Completion> {
    let error = match serde_json::from_value::<Completion>(item.clone()) {
        Ok(completion) => return Some(completion),
        Err(e) => e,
    };
    let unit: UnitAttempt = serde_json::from_value(item).ok()?;
    let error =
        format!("the worker's report could not be read ({error}); is it another version of crowd?");
    Some(Completion::without_run(
        unit,
        Outcome::failed(error, true),
        "unknown",
    ))
}

/// Records the batch in one transaction. If the store refuses the data of one of them, each is
/// recorded alone, and one whose result the store will refuse every time is recorded as failed
/// instead of being handed back forever.
async fn record(d: &Dispatcher, batch: &[Completion]) -> Result<Recorded, StoreError> {
    match d.store.record_completions(batch, d.max_attempts).await {
        Err(StoreError::Refused(_)) => {}
        other => return other,
    }
    let mut recorded = Recorded::default();
    for c in batch {
        let one = match d
            .store
            .record_completions(std::slice::from_ref(c), d.max_attempts)
            .await
        {
            Err(StoreError::Refused(e)) => {
                let refused = Completion {
                    outcome: Outcome::failed(
                        format!("the unit's result could not be stored: {e:#}"),
                        false,
                    ),
                    ..c.clone()
                };
                d.store
                    .record_completions(&[refused], d.max_attempts)
                    .await?
            }
            other => other?,
        };
        recorded.extend(one);
    }
    Ok(recorded)
}

async fn after_recording(d: &Dispatcher, c: &Completion, applied: Applied) {
    match (applied, &c.action) {
        (Applied::Stale(why), _) => {
            tracing::debug!(work_unit.id = c.unit_id.0, why, "stale completion ignored")
        }
        (Applied::Gone, Some(action)) => {
            let removed = jobs::remove_files_of_deleted(
                d.store.as_ref(),
                d.assets.as_ref(),
                action,
                c.job_id,
            );
            if let Err(e) = removed.await {
                // Acked all the same: `crowd cleanup` removes what is left of deleted jobs.
                tracing::warn!(
                    job.id = c.job_id.0,
                    error = format!("{e:#}"),
                    "files of a deleted job not removed"
                );
            }
        }
        _ => {}
    }
}

/// A settlement that failed belongs to a link that broke: the broker delivers the completions
/// again, and applying them again changes nothing.
fn settle(result: anyhow::Result<()>) {
    if let Err(e) = result {
        tracing::info!(error = format!("{e:#}"), "completion not settled");
    }
}
