//! Recovers units the broker lost. A unit is `queued` once its message was confirmed; if that
//! message then vanishes (a purged or deleted queue, a broker that lost its disk), nothing
//! would ever run it. The sweeper finds units queued for `lost_unit_secs` whose action queue
//! is empty and that no live worker reports running, and puts them back in the outbox. A
//! mistaken sweep costs a duplicate run, never a wrong result: completions are fenced by
//! attempt.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use crowd_shared::{amqp, shutdown::CancellationToken};
use lapin::{options::QueueDeclareOptions, types::FieldTable};

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
    let actions = d.store.actions_with_old_queued_units(lost_after).await?;
    if actions.is_empty() {
        return Ok(0);
    }
    let conn = amqp::connect(&d.amqp_url, "crowd dispatcher sweeper").await?;
    let node_ttl = d.config.heartbeat_interval() * 3;
    let mut requeued = 0;
    for action in actions {
        let queue = d.queues.work(&action);
        // A channel per look: a passive declare of a missing queue closes its channel.
        let channel = conn.create_channel().await.context("opening a channel")?;
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::durable()
        };
        let waiting = match channel
            .queue_declare(queue.as_str().into(), passive, FieldTable::default())
            .await
        {
            Ok(q) => q.message_count(),
            Err(e) if is_not_found(&e) => 0, // The queue is gone, and whatever was in it.
            Err(e) => return Err(anyhow::Error::new(e).context(format!("inspecting {queue}"))),
        };
        if waiting > 0 {
            continue; // They may still be in the queue.
        }
        requeued += d.store.requeue_lost(&action, lost_after, node_ttl).await?;
    }
    conn.close(200, "sweep done".into()).await.ok();
    Ok(requeued)
}

fn is_not_found(e: &lapin::Error) -> bool {
    use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
    matches!(e.kind(), lapin::ErrorKind::ProtocolError(p) if p.kind() == &AMQPErrorKind::Soft(AMQPSoftError::NOTFOUND))
}
