//! The outbox relay: publishes pending units to their action's queue and marks them queued
//! only after the queue confirmed them. A crash between the two re-publishes (the worker side
//! tolerates duplicates); nothing is ever lost.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use crowd_shared::{
    messages::{encoded_len, WorkMessage},
    metrics,
    queue::{Publish, Published, Unpublishable},
    recent::RecentIds,
    shutdown::CancellationToken,
};

use crate::{
    by_reference::{ByReference, Stores},
    Backoff, Dispatcher,
};

/// Units claimed per round.
const BATCH: i64 = 500;

pub async fn run(d: Arc<Dispatcher>, shutdown: CancellationToken) {
    let mut publisher: Option<Box<dyn Publish>> = None;
    let mut options_stored = RecentIds::new(4096);
    let mut backoff = Backoff::new();
    loop {
        // Interest is registered before the query, so a notification during it is not missed.
        let notified = d.wakeups.work.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        match relay_all(&d, &mut publisher, &mut options_stored).await {
            Ok(()) => backoff.reset(),
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), "outbox relay failed; retrying");
                publisher = None;
                if !backoff.wait(&shutdown).await {
                    return;
                }
                continue;
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = &mut notified => {}
            _ = tokio::time::sleep(d.config.poll_interval()) => {}
        }
    }
}

/// Relays batches until the outbox is empty.
async fn relay_all(
    d: &Dispatcher,
    publisher: &mut Option<Box<dyn Publish>>,
    options_stored: &mut RecentIds,
) -> anyhow::Result<()> {
    loop {
        if publisher.is_none() {
            *publisher = Some(d.queue.work_publisher().await?);
        }
        let link = publisher.as_mut().context("publisher")?;
        let mut by_reference = ByReference {
            inner: link.as_mut(),
            stores: Stores {
                store: d.store.as_ref(),
                assets: d.assets.as_ref(),
                scratch: d.config.temp_storage_path.join("dispatcher"),
            },
            options_stored,
        };
        let mut bounded = Bounded {
            inner: &mut by_reference,
            max_bytes: usize::try_from(d.config.max_message_bytes).unwrap_or(usize::MAX),
        };
        let relayed = d
            .store
            .relay_pending(BATCH, d.max_attempts, &mut bounded)
            .await?;
        metrics::units_published(relayed.claimed);
        if let Some(e) = relayed.refused {
            return Err(e.context("the queue did not confirm some units; they stay pending"));
        }
        if relayed.claimed < BATCH as usize {
            return Ok(());
        }
    }
}

/// Keeps messages over `max_message_bytes` from the queue: each fails its unit alone, with the
/// reason, instead of making the broker close the relay's channel for every job.
struct Bounded<'a> {
    inner: &'a mut dyn Publish,
    max_bytes: usize,
}

#[async_trait]
impl Publish for Bounded<'_> {
    async fn publish(&mut self, units: Vec<WorkMessage>) -> anyhow::Result<Published> {
        let (fit, too_big): (Vec<_>, Vec<_>) = units
            .into_iter()
            .map(|msg| (encoded_len(&msg), msg))
            .partition(|(bytes, _)| *bytes <= self.max_bytes);
        let mut published = if fit.is_empty() {
            Published::default()
        } else {
            self.inner
                .publish(fit.into_iter().map(|(_, msg)| msg).collect())
                .await?
        };
        published
            .failed
            .extend(too_big.into_iter().map(|(bytes, msg)| Unpublishable {
                unit_id: msg.unit_id,
                job_id: msg.job_id,
                error: format!(
                    "the unit's message is {bytes} bytes, more than max_message_bytes ({})",
                    self.max_bytes
                ),
            }));
        Ok(published)
    }
}
