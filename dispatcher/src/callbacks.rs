//! Callbacks: when a job completes, POST `job=<job JSON>` (a form, as CloudCrowd did) to its
//! `callback_url`. A `201` reply deletes the job; any other 2xx is delivered; anything else (a
//! 3xx included: no redirect is followed) is retried with exponential backoff for
//! `callback_retry_secs`, then abandoned. A URL the outbound rule refuses is abandoned at once.
//!
//! Each delivery is its own task, at most `MAX_IN_FLIGHT` at once, each within
//! `callback_timeout_secs`, so one receiver that never answers holds back nothing but its own
//! callback. Deliveries are signed as Standard Webhooks sign them (`delivery.rs`).

use std::{sync::Arc, time::Duration};

use crowd_shared::{shutdown::CancellationToken, store::DueCallback};
use tokio::task::JoinSet;

use crate::{delivery::Delivery, Backoff, Dispatcher};

/// Deliveries under way at once, per dispatcher: enough that a few blackholed receivers
/// leave room for the rest, few enough that a burst of completions cannot open thousands
/// of connections.
const MAX_IN_FLIGHT: usize = 64;

pub async fn run(d: Arc<Dispatcher>, shutdown: CancellationToken) {
    let delivery = match Delivery::new(&d.config) {
        Ok(delivery) => Arc::new(delivery),
        Err(e) => {
            tracing::error!(
                error = format!("{e:#}"),
                "cannot set up callbacks; callbacks are off"
            );
            return;
        }
    };
    if !delivery.is_signed() {
        tracing::warn!(
            "callback_secret is not set: callbacks go unsigned, and receivers cannot tell them \
             from forgeries"
        );
    }
    // Dropped on shutdown, which aborts deliveries under way: their leases run out and they
    // are delivered again (receivers tell a repeat by its `webhook-id`).
    let mut in_flight: JoinSet<()> = JoinSet::new();
    let mut backoff = Backoff::new();
    loop {
        let notified = d.wakeups.callbacks.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        while let Some(ended) = in_flight.try_join_next() {
            report_panic(ended);
        }
        let free = MAX_IN_FLIGHT.saturating_sub(in_flight.len());
        // At the limit, nothing is claimed: the next wake-up is a delivery ending.
        let next_due = if free == 0 {
            None
        } else {
            match claim_and_start(&d, &delivery, free, &mut in_flight).await {
                Ok(Round::Full) => continue,
                Ok(Round::AllClaimed(next)) => {
                    backoff.reset();
                    Some(next.unwrap_or(d.config.poll_interval()))
                }
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "callback round failed");
                    if !backoff.wait(&shutdown).await {
                        return;
                    }
                    continue;
                }
            }
        };
        let sleep = next_due.map(|next| next.min(d.config.poll_interval()));
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = &mut notified, if free > 0 => {}
            _ = tokio::time::sleep(sleep.unwrap_or_default()), if sleep.is_some() => {}
            Some(ended) = in_flight.join_next(), if !in_flight.is_empty() => report_panic(ended),
        }
    }
}

/// A delivery's task ends by itself, having logged what went wrong, unless it panicked.
fn report_panic(ended: Result<(), tokio::task::JoinError>) {
    if let Err(e) = ended {
        if e.is_panic() {
            tracing::error!(error = %e, "a callback delivery panicked");
        }
    }
}

/// What a round of claims left.
enum Round {
    /// Every free place was taken: more may be due.
    Full,
    /// Every due callback was claimed; the next is due in this long, if any is pending.
    AllClaimed(Option<Duration>),
}

/// Claims up to `free` due callbacks and starts a delivery for each.
async fn claim_and_start(
    d: &Arc<Dispatcher>,
    delivery: &Arc<Delivery>,
    free: usize,
    in_flight: &mut JoinSet<()>,
) -> anyhow::Result<Round> {
    let limit = i64::try_from(free).unwrap_or(i64::MAX);
    // Longer than one delivery may take (its request's timeout, and recording it), so no other
    // dispatcher claims it meanwhile.
    let lease = delivery.timeout() + Duration::from_secs(5);
    let claimed = d.store.claim_callbacks(limit, lease).await?;
    let full = claimed.len() >= free;
    for due in claimed {
        let (d, delivery) = (d.clone(), delivery.clone());
        in_flight.spawn(async move { deliver_and_record(&d, &delivery, due).await });
    }
    Ok(if full {
        Round::Full
    } else {
        Round::AllClaimed(d.store.next_callback_in().await?)
    })
}

async fn deliver_and_record(d: &Dispatcher, delivery: &Delivery, due: DueCallback) {
    let id = due.job_id;
    if let Err(e) = delivery.deliver(d, due).await {
        tracing::warn!(
            job.id = id.0,
            error = format!("{e:#}"),
            "recording a callback failed"
        );
    }
}
