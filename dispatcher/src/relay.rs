//! The outbox relay: publishes pending units to their action's queue and marks them queued
//! only after the broker confirmed them. A crash between the two re-publishes (the worker side
//! tolerates duplicates); nothing is ever lost.

use std::{collections::HashSet, sync::Arc, time::Duration};

use anyhow::Context;
use crowd_shared::{amqp, messages::WorkMessage, shutdown::CancellationToken, status::Stage};
use lapin::{Channel, Connection};

use crate::{Backoff, Dispatcher};

/// Units claimed per transaction.
const BATCH: i64 = 500;

/// Longest the relay waits for the broker with rows locked: a broker that blocks publishers
/// (a memory or disk alarm) must not hold them, and the completions waiting on them, forever.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(30);

struct Broker {
    _conn: Connection,
    channel: Channel,
    /// Queues declared on this connection.
    declared: HashSet<String>,
}

pub async fn run(d: Arc<Dispatcher>, shutdown: CancellationToken) {
    let mut broker: Option<Broker> = None;
    let mut backoff = Backoff::new();
    loop {
        // Interest is registered before the query, so a notification during it is not missed.
        let notified = d.wakeups.work.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        match relay_all(&d, &mut broker).await {
            Ok(()) => backoff.reset(),
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), "outbox relay failed; retrying");
                broker = None;
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
async fn relay_all(d: &Dispatcher, broker: &mut Option<Broker>) -> anyhow::Result<()> {
    loop {
        if broker.is_none() {
            let conn = amqp::connect(&d.amqp_url, "crowd dispatcher relay").await?;
            let channel = amqp::confirmed_channel(&conn).await?;
            *broker = Some(Broker {
                _conn: conn,
                channel,
                declared: HashSet::new(),
            });
        }
        let b = broker.as_mut().context("broker session")?;
        if relay_batch(d, b).await? < BATCH as usize {
            return Ok(());
        }
    }
}

async fn relay_batch(d: &Dispatcher, broker: &mut Broker) -> anyhow::Result<usize> {
    let mut client = d
        .pool
        .get()
        .await
        .context("getting a Postgres connection")?;
    let tx = client.transaction().await?;
    // SKIP LOCKED: rows another dispatcher is relaying are left to it, so no unit is published
    // twice by two relays; the locks are held until the units are marked queued.
    let rows = tx
        .query(
            "SELECT u.id, u.job_id, u.action, u.stage, u.input, u.attempts, j.options
             FROM work_units u JOIN jobs j ON j.id = u.job_id
             WHERE u.state = 'pending'
             ORDER BY u.updated_at, u.id
             LIMIT $1
             FOR UPDATE OF u SKIP LOCKED",
            &[&BATCH],
        )
        .await
        .context("claiming pending units")?;
    if rows.is_empty() {
        return Ok(0);
    }
    let publishing = publish_rows(d, broker, &rows);
    let (confirmed, refused) = tokio::time::timeout(PUBLISH_TIMEOUT, publishing)
        .await
        .map_err(|_| anyhow::anyhow!("the broker did not confirm within {PUBLISH_TIMEOUT:?}"))??;
    tx.execute(
        "UPDATE work_units SET state = 'queued' WHERE id = ANY($1) AND state = 'pending'",
        &[&confirmed],
    )
    .await
    .context("marking units queued")?;
    tx.commit().await.context("committing the relay")?;
    tracing::debug!(units = confirmed.len(), "relayed");
    match refused {
        Some(e) => Err(e.context("the broker did not confirm some units; they stay pending")),
        None => Ok(rows.len()),
    }
}

/// Publishes one message per row, then waits for every confirm. Returns the confirmed unit ids
/// and the last refusal, if any.
async fn publish_rows(
    d: &Dispatcher,
    broker: &mut Broker,
    rows: &[tokio_postgres::Row],
) -> anyhow::Result<(Vec<i64>, Option<anyhow::Error>)> {
    let mut pending = Vec::with_capacity(rows.len());
    for row in rows {
        let stage_code: i16 = row.get("stage");
        let msg = WorkMessage {
            unit_id: row.get("id"),
            job_id: row.get("job_id"),
            action: row.get("action"),
            stage: Stage::from_code(stage_code).context("unit with an unknown stage")?,
            input: row.get("input"),
            options: row.get("options"),
            attempt: row.get("attempts"),
            max_attempts: d.max_attempts,
        };
        let queue = d.queues.work(&msg.action);
        if !broker.declared.contains(&queue) {
            amqp::declare_durable(&broker.channel, &queue).await?;
            broker.declared.insert(queue.clone());
        }
        let confirm = amqp::publish(&broker.channel, &queue, &msg).await?;
        pending.push((msg.unit_id, queue, confirm));
    }
    let mut confirmed = Vec::with_capacity(pending.len());
    let mut refused = None;
    for (unit_id, queue, confirm) in pending {
        match confirm
            .await
            .map_err(anyhow::Error::from)
            .and_then(|c| amqp::check_confirm(c, &queue))
        {
            Ok(()) => confirmed.push(unit_id),
            Err(e) => refused = Some(e),
        }
    }
    Ok((confirmed, refused))
}
