//! The outbox relay: publishes pending units to their action's queue and marks them queued
//! only after the queue confirmed them. A crash between the two re-publishes (the worker side
//! tolerates duplicates); nothing is ever lost.

use std::sync::Arc;

use anyhow::Context;
use crowd_shared::{shutdown::CancellationToken, store::Publish};

use crate::{Backoff, Dispatcher};

/// Units claimed per round.
const BATCH: i64 = 500;

pub async fn run(d: Arc<Dispatcher>, shutdown: CancellationToken) {
    let mut publisher: Option<Box<dyn Publish>> = None;
    let mut backoff = Backoff::new();
    loop {
        // Interest is registered before the query, so a notification during it is not missed.
        let notified = d.wakeups.work.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        match relay_all(&d, &mut publisher).await {
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
async fn relay_all(d: &Dispatcher, publisher: &mut Option<Box<dyn Publish>>) -> anyhow::Result<()> {
    loop {
        if publisher.is_none() {
            *publisher = Some(d.queue.work_publisher().await?);
        }
        let link = publisher.as_mut().context("publisher")?;
        let relayed = d
            .store
            .relay_pending(BATCH, d.max_attempts, link.as_mut())
            .await?;
        if let Some(e) = relayed.refused {
            return Err(e.context("the queue did not confirm some units; they stay pending"));
        }
        if relayed.claimed < BATCH as usize {
            return Ok(());
        }
    }
}
