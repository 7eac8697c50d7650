//! The outbox relay: publishes pending units to their action's queue and marks them queued
//! only after the broker confirmed them. A crash between the two re-publishes (the worker side
//! tolerates duplicates); nothing is ever lost.

use std::{collections::HashSet, sync::Arc, time::Duration};

use anyhow::Context;
use async_trait::async_trait;
use crowd_shared::{
    amqp::{self, QueueNames},
    messages::WorkMessage,
    shutdown::CancellationToken,
    store::{Publish, Published},
};
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
    queues: QueueNames,
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
                queues: d.queues.clone(),
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
    let relayed = d.store.relay_pending(BATCH, d.max_attempts, broker).await?;
    match relayed.refused {
        Some(e) => Err(e.context("the broker did not confirm some units; they stay pending")),
        None => Ok(relayed.claimed),
    }
}

#[async_trait]
impl Publish for Broker {
    async fn publish(&mut self, units: Vec<WorkMessage>) -> anyhow::Result<Published> {
        tokio::time::timeout(PUBLISH_TIMEOUT, self.publish_and_confirm(units))
            .await
            .map_err(|_| anyhow::anyhow!("the broker did not confirm within {PUBLISH_TIMEOUT:?}"))?
    }
}

impl Broker {
    /// Publishes one message per unit, then waits for every confirm.
    async fn publish_and_confirm(&mut self, units: Vec<WorkMessage>) -> anyhow::Result<Published> {
        let mut pending = Vec::with_capacity(units.len());
        for msg in &units {
            let queue = self.queues.work(&msg.action);
            if !self.declared.contains(&queue) {
                amqp::declare_durable(&self.channel, &queue).await?;
                self.declared.insert(queue.clone());
            }
            let confirm = amqp::publish(&self.channel, &queue, msg).await?;
            pending.push((msg.unit_id, queue, confirm));
        }
        let mut published = Published::default();
        for (unit_id, queue, confirm) in pending {
            match confirm
                .await
                .map_err(anyhow::Error::from)
                .and_then(|c| amqp::check_confirm(c, &queue))
            {
                Ok(()) => published.confirmed.push(unit_id),
                Err(e) => published.refused = Some(e),
            }
        }
        Ok(published)
    }
}
