//! Recovers units the broker lost. A unit is `queued` once its message was confirmed; if that
//! message then vanishes (a purged or deleted queue, a broker that lost its disk), nothing
//! would ever run it. The sweeper finds units queued for `lost_unit_secs` whose action queue
//! is empty and that no live worker reports running, and puts them back in the outbox. A
//! mistaken sweep costs a duplicate run, never a wrong result: completions are fenced by
//! attempt.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use crowd_shared::{amqp, channels, jobs::notify, shutdown::CancellationToken};
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
    let client = d.pool.get().await?;
    let stale_for = lost_after.as_secs_f64();
    let actions: Vec<String> = client
        .query(
            "SELECT DISTINCT action FROM work_units
             WHERE state = 'queued' AND updated_at < now() - make_interval(secs => $1)",
            &[&stale_for],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if actions.is_empty() {
        return Ok(0);
    }
    let conn = amqp::connect(&d.amqp_url, "crowd dispatcher sweeper").await?;
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
        let heartbeat_ttl = (d.config.heartbeat_interval() * 3).as_secs_f64();
        requeued += client
            .execute(
                "UPDATE work_units u SET state = 'pending', updated_at = clock_timestamp()
                 WHERE u.action = $1 AND u.state = 'queued'
                   AND u.updated_at < now() - make_interval(secs => $2)
                   AND NOT EXISTS (SELECT 1 FROM nodes n
                                   WHERE n.last_seen > now() - make_interval(secs => $3)
                                     AND n.running @> to_jsonb(u.id))",
                &[&action, &stale_for, &heartbeat_ttl],
            )
            .await?;
    }
    conn.close(200, "sweep done".into()).await.ok();
    if requeued > 0 {
        notify(&client, channels::WORK).await?;
    }
    Ok(requeued)
}

fn is_not_found(e: &lapin::Error) -> bool {
    use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
    matches!(e.kind(), lapin::ErrorKind::ProtocolError(p) if p.kind() == &AMQPErrorKind::Soft(AMQPSoftError::NOTFOUND))
}
