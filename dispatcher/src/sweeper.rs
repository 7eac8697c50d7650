//! Recovers units the broker lost. A unit is `queued` once its message was confirmed; if that
//! message then vanishes (a purged or deleted queue, a broker that lost its disk), nothing
//! would ever run it. The sweeper finds units queued for `lost_unit_secs` whose action queue
//! is empty and that no live worker reports running, and puts them back in the outbox. A
//! mistaken sweep costs a duplicate run, never a wrong result: completions are fenced by
//! attempt.

use std::{sync::Arc, time::Duration};

use crowd_shared::shutdown::CancellationToken;

use crate::{Backoff, Dispatcher};

pub async fn run(d: Arc<Dispatcher>, shutdown: CancellationToken) {
    let lost_after = Duration::from_secs(d.config.lost_unit_secs.max(1));
    let every = (lost_after / 4).clamp(Duration::from_millis(100), Duration::from_secs(60));
    let mut backoff = Backoff::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match sweep(&d, lost_after).await {
            Ok(0) => backoff.reset(),
            Ok(n) => {
                tracing::warn!(units = n, "units lost by the broker were published again");
                backoff.reset();
            }
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), "sweep failed");
                if !backoff.wait(&shutdown).await {
                    return;
                }
            }
        }
    }
}

async fn sweep(d: &Dispatcher, lost_after: Duration) -> anyhow::Result<u64> {
    let node_ttl = d.config.heartbeat_interval() * 3;
    let mut requeued = 0;
    for action in d.store.actions_with_old_queued_units(lost_after).await? {
        if d.queue.waiting(&action).await? > 0 {
            continue; // They may still be in the queue.
        }
        requeued += d.store.requeue_lost(&action, lost_after, node_ttl).await?;
    }
    Ok(requeued)
}
