//! The queue on RabbitMQ: durable queues, persistent messages, publisher confirms, manual acks.

pub mod wire;

use std::{
    collections::HashSet,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use anyhow::Context;
use async_trait::async_trait;
use futures_util::{stream::BoxStream, Stream, StreamExt};
use lapin::{
    options::{
        BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions,
        BasicPublishOptions, BasicQosOptions, BasicRejectOptions, QueueBindOptions,
        QueueDeclareOptions,
    },
    types::{FieldTable, ShortString},
    BasicProperties, Channel, Connection,
};
use serde::de::DeserializeOwned;

use self::wire::{Durable, QueueNames};
use super::{
    packing, Acker, ConsumerLink, Control, Deliveries, Delivery, Publish, Published, Queue,
    Refused, Reporter, Undecodable, Unpublishable, WorkerLink,
};
use crate::{
    config::QueueType,
    ids::{JobId, UnitId},
    messages::{Completion, Completions, Heartbeat, OneOrMany, WorkMessage, WorkMessages},
};

/// Longest the relay waits for the broker with units claimed: a broker that blocks publishers
/// (a memory or disk alarm) must not hold them, and the completions waiting on them, forever.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(30);

/// Units share a message only while it stays this small, far below any broker's limit.
const PACKED_MAX_BYTES: usize = 64 * 1024;

pub struct AmqpQueue {
    url: String,
    names: QueueNames,
    durable: Durable,
    /// The connection deletions are announced on, opened at the first one.
    announcer: tokio::sync::Mutex<Option<(Connection, Channel)>>,
}

impl AmqpQueue {
    pub fn new(url: &str, prefix: &str) -> Self {
        AmqpQueue {
            url: url.to_string(),
            names: QueueNames::new(prefix),
            durable: Durable::CLASSIC,
            announcer: tokio::sync::Mutex::new(None),
        }
    }

    /// The queue `config` names: its broker, prefix and kind of queues.
    pub fn from_config(config: &crate::Config) -> Self {
        AmqpQueue {
            durable: Durable {
                kind: config.queue_type,
                delivery_limit: config.queue_delivery_limit,
            },
            ..AmqpQueue::new(&config.amqp_url, &config.queue_prefix)
        }
    }

    /// A consumer of the durable `queue` on a connection of its own, named `name`, at most
    /// `prefetch` unacked.
    async fn consume_durable<T: DeserializeOwned + Send + 'static>(
        &self,
        name: &str,
        queue: &str,
        prefetch: u16,
    ) -> anyhow::Result<ConsumerLink<T>> {
        let conn = wire::connect(&self.url, name).await?;
        let channel = conn.create_channel().await.context("opening a channel")?;
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await?;
        wire::declare_durable(&channel, queue, self.durable).await?;
        let consumer = start_consumer(&channel, queue, BasicConsumeOptions::default()).await?;
        let tags = vec![consumer.tag()];
        Ok(ConsumerLink {
            deliveries: deliveries(consumer),
            control: Box::new(AmqpControl {
                conn: Arc::new(conn),
                channel,
                tags,
            }),
        })
    }

    /// A queue of this link's own, bound to the deletion exchange: the ids of deleted jobs.
    async fn deletions(&self, conn: &Connection) -> anyhow::Result<BoxStream<'static, JobId>> {
        let channel = conn
            .create_channel()
            .await
            .context("opening the deletion channel")?;
        wire::declare_deleted(&channel, &self.names).await?;
        let mine = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .context("declaring the deletion queue")?;
        channel
            .queue_bind(
                mine.name().clone(),
                self.names.deleted().as_str().into(),
                "".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .context("binding the deletion queue")?;
        let options = BasicConsumeOptions {
            no_ack: true,
            ..BasicConsumeOptions::default()
        };
        let consumer = start_consumer(&channel, mine.name().as_str(), options).await?;
        Ok(consumer
            .filter_map(|d| async move {
                let notice: wire::JobDeleted = serde_json::from_slice(&d.ok()?.data).ok()?;
                Some(notice.job_id)
            })
            .boxed())
    }

    async fn announce(&self, job_id: JobId) -> anyhow::Result<()> {
        let mut announcer = self.announcer.lock().await;
        if announcer
            .as_ref()
            .is_none_or(|(_, channel)| !channel.status().connected())
        {
            let conn = wire::connect(&self.url, "crowd deletions").await?;
            let channel = conn.create_channel().await.context("opening a channel")?;
            wire::declare_deleted(&channel, &self.names).await?;
            *announcer = Some((conn, channel));
        }
        let (_, channel) = announcer.as_ref().context("the announcer")?;
        let body = serde_json::to_vec(&wire::JobDeleted { job_id })?;
        channel
            .basic_publish(
                self.names.deleted().as_str().into(),
                "".into(),
                BasicPublishOptions::default(),
                &body,
                BasicProperties::default(),
            )
            .await
            .context("announcing a deletion")?;
        Ok(())
    }
}

#[async_trait]
impl Queue for AmqpQueue {
    async fn work_publisher(&self) -> anyhow::Result<Box<dyn Publish>> {
        let conn = wire::connect(&self.url, "crowd dispatcher relay").await?;
        let channel = wire::confirmed_channel(&conn).await?;
        Ok(Box::new(Publisher {
            conn,
            channel,
            names: self.names.clone(),
            durable: self.durable,
            declared: HashSet::new(),
        }))
    }

    async fn worker_link(
        &self,
        node: &str,
        actions: &[String],
        prefetch: u16,
    ) -> anyhow::Result<WorkerLink> {
        let conn = wire::connect(&self.url, &format!("crowd worker {node}")).await?;
        let mut consume = conn
            .create_channel()
            .await
            .context("opening the consuming channel")?;
        // global = true: RabbitMQ shares this limit among every consumer on the channel, so the
        // worker holds at most `prefetch` units whatever queue they come from.
        let global = if self.durable.kind == QueueType::Quorum {
            // Quorum queues take no shared prefetch: each consumer gets its share of it.
            Err(anyhow::anyhow!("quorum queues have no global QoS"))
        } else {
            consume
                .basic_qos(prefetch, BasicQosOptions { global: true })
                .await
                .map_err(anyhow::Error::from)
        };
        let shares = match global {
            Ok(()) => None,
            Err(e) => {
                // RabbitMQ 4.3 denies global QoS by default (deprecated_features.permit.global_qos
                // brings it back). Per-consumer limits that add up to `prefetch` keep the promise,
                // at the cost of a fixed share per action.
                tracing::warn!(error = %e, "the broker refuses a shared prefetch; splitting it between the actions");
                consume = conn
                    .create_channel()
                    .await
                    .context("opening the consuming channel")?;
                Some(prefetch_shares(prefetch, actions.len()))
            }
        };
        let publish = wire::confirmed_channel(&conn).await?;
        wire::declare_durable(&publish, &self.names.completions(), self.durable).await?;
        wire::declare_heartbeats(&publish, &self.names).await?;
        // Heartbeats get a channel without confirms: nobody waits for theirs.
        let beats = conn
            .create_channel()
            .await
            .context("opening the heartbeat channel")?;
        let mut consumers = Vec::new();
        for (i, action) in actions.iter().enumerate() {
            let queue = self.names.work(action);
            wire::declare_work(&consume, &self.names, &queue, self.durable).await?;
            if let Some(shares) = &shares {
                // Applies to the consumers started after it on this channel: this one.
                consume
                    .basic_qos(shares[i], BasicQosOptions { global: false })
                    .await?;
            }
            let consumer = start_consumer(&consume, &queue, BasicConsumeOptions::default()).await?;
            consumers.push(consumer);
        }
        let tags = consumers.iter().map(|c| c.tag()).collect();
        let deleted = self.deletions(&conn).await?;
        let conn = Arc::new(conn);
        Ok(WorkerLink {
            deliveries: super::parts::per_unit_stream(deliveries::<WorkMessages, _>(
                futures_util::stream::select_all(consumers),
            )),
            deleted,
            reporter: Arc::new(AmqpReporter {
                conn: conn.clone(),
                publish: tokio::sync::Mutex::new(publish),
                beats,
                names: self.names.clone(),
            }),
            control: Box::new(AmqpControl {
                conn,
                channel: consume,
                tags,
            }),
        })
    }

    async fn completions(&self, prefetch: u16) -> anyhow::Result<ConsumerLink<Completions>> {
        self.consume_durable(
            "crowd dispatcher completions",
            &self.names.completions(),
            prefetch,
        )
        .await
    }

    async fn poisoned(&self, prefetch: u16) -> anyhow::Result<Option<ConsumerLink<WorkMessages>>> {
        if self.durable.kind != QueueType::Quorum {
            return Ok(None);
        }
        let queue = self.names.poison();
        let link = self.consume_durable("crowd dispatcher poison", &queue, prefetch);
        Ok(Some(link.await?))
    }

    async fn heartbeats(&self) -> anyhow::Result<ConsumerLink<Heartbeat>> {
        let conn = wire::connect(&self.url, "crowd dispatcher heartbeats").await?;
        let channel = conn.create_channel().await.context("opening a channel")?;
        wire::declare_heartbeats(&channel, &self.names).await?;
        // Heartbeats are disposable: auto-ack (settling them is a no-op).
        let options = BasicConsumeOptions {
            no_ack: true,
            ..BasicConsumeOptions::default()
        };
        let consumer = start_consumer(&channel, &self.names.heartbeats(), options).await?;
        let tags = vec![consumer.tag()];
        let deliveries = consumer
            .map(|d| {
                d.map_err(anyhow::Error::from).map(|d| Delivery {
                    body: Undecodable::of(&d.data),
                    redelivered: d.redelivered,
                    acker: Box::new(AutoAcked) as Box<dyn Acker>,
                })
            })
            .boxed();
        Ok(ConsumerLink {
            deliveries,
            control: Box::new(AmqpControl {
                conn: Arc::new(conn),
                channel,
                tags,
            }),
        })
    }

    async fn announce_deleted(&self, job_id: JobId) -> anyhow::Result<()> {
        let first = self.announce(job_id).await;
        if first.is_ok() {
            return first;
        }
        // The cached connection may have died since the last deletion: once more, afresh.
        *self.announcer.lock().await = None;
        self.announce(job_id).await
    }

    async fn waiting(&self, action: &str) -> anyhow::Result<u32> {
        let counts = self.waiting_in(&[action.to_string()]).await?;
        Ok(counts.first().copied().unwrap_or(0))
    }

    /// One connection for all: a scrape asks for every action's queue at once.
    async fn waiting_in(&self, actions: &[String]) -> anyhow::Result<Vec<u32>> {
        let conn = wire::connect(&self.url, "crowd dispatcher probe").await?;
        let counted = count_waiting(&conn, &self.names, actions).await;
        conn.close(200, "probe done".into()).await.ok();
        counted
    }
}

/// A passive look at each action's queue: a queue that is not there holds nothing (and closes
/// the channel that asked, so the next look opens another).
async fn count_waiting(
    conn: &Connection,
    names: &QueueNames,
    actions: &[String],
) -> anyhow::Result<Vec<u32>> {
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::durable()
    };
    let mut channel = conn.create_channel().await.context("opening a channel")?;
    let mut counts = Vec::with_capacity(actions.len());
    for action in actions {
        let queue = names.work(action);
        match channel
            .queue_declare(queue.as_str().into(), passive, FieldTable::default())
            .await
        {
            Ok(q) => counts.push(q.message_count()),
            Err(e) if is_not_found(&e) => {
                counts.push(0);
                channel = conn.create_channel().await.context("opening a channel")?;
            }
            Err(e) => return Err(anyhow::Error::new(e).context(format!("inspecting {queue}"))),
        }
    }
    Ok(counts)
}

/// Starts a consumer on `queue` (the server names it).
async fn start_consumer(
    channel: &Channel,
    queue: &str,
    options: BasicConsumeOptions,
) -> anyhow::Result<lapin::Consumer> {
    channel
        .basic_consume(queue.into(), "".into(), options, FieldTable::default())
        .await
        .with_context(|| format!("consuming {queue}"))
}

fn deliveries<T, S>(consumer: S) -> Deliveries<T>
where
    T: DeserializeOwned + Send + 'static,
    S: Stream<Item = lapin::Result<lapin::message::Delivery>> + Send + 'static,
{
    consumer
        .map(|d| {
            d.map_err(|e| anyhow::Error::new(e).context("consuming"))
                .map(|d| Delivery {
                    body: Undecodable::of(&d.data),
                    redelivered: d.redelivered,
                    acker: Box::new(LapinAcker(d.acker)) as Box<dyn Acker>,
                })
        })
        .boxed()
}

/// `prefetch` split between `n` consumers, each getting at least one.
fn prefetch_shares(prefetch: u16, n: usize) -> Vec<u16> {
    let n_u16 = u16::try_from(n.max(1)).unwrap_or(u16::MAX);
    (0..n_u16)
        .map(|i| (prefetch / n_u16 + u16::from(i < prefetch % n_u16)).max(1))
        .collect()
}

fn is_not_found(e: &lapin::Error) -> bool {
    use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
    matches!(e.kind(), lapin::ErrorKind::ProtocolError(p) if p.kind() == &AMQPErrorKind::Soft(AMQPSoftError::NOTFOUND))
}

struct LapinAcker(lapin::Acker);

/// Settlements (acks, nacks, rejects) lapin did not send because their channel had closed: the
/// broker delivers those messages again.
pub static UNSENT_SETTLEMENTS: AtomicU64 = AtomicU64::new(0);

/// lapin answers `Ok(false)` for a settlement it did not send (the channel closed, or it was
/// settled already): an error here, so no caller takes it for done.
fn sent(what: &str, result: lapin::Result<bool>) -> anyhow::Result<()> {
    if result.with_context(|| format!("sending the {what}"))? {
        return Ok(());
    }
    UNSENT_SETTLEMENTS.fetch_add(1, Ordering::Relaxed);
    anyhow::bail!("the {what} was not sent: its channel is closed (the broker will deliver the message again)")
}

#[async_trait]
impl Acker for LapinAcker {
    async fn ack(&self) -> anyhow::Result<()> {
        sent("ack", self.0.ack(BasicAckOptions::default()).await)
    }

    async fn requeue(&self) -> anyhow::Result<()> {
        let options = BasicNackOptions {
            requeue: true,
            ..BasicNackOptions::default()
        };
        sent("nack", self.0.nack(options).await)
    }

    async fn reject(&self) -> anyhow::Result<()> {
        sent(
            "reject",
            self.0.reject(BasicRejectOptions { requeue: false }).await,
        )
    }
}

struct AutoAcked;

#[async_trait]
impl Acker for AutoAcked {
    async fn ack(&self) -> anyhow::Result<()> {
        Ok(())
    }
    async fn requeue(&self) -> anyhow::Result<()> {
        Ok(())
    }
    async fn reject(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

struct AmqpControl {
    conn: Arc<Connection>,
    channel: Channel,
    tags: Vec<ShortString>,
}

#[async_trait]
impl Control for AmqpControl {
    async fn stop_taking(&self) {
        for tag in &self.tags {
            self.channel
                .basic_cancel(tag.clone(), BasicCancelOptions::default())
                .await
                .ok();
        }
    }

    async fn close(&self) {
        // Closing hands every unacked message back to the broker.
        self.conn.close(200, "closing".into()).await.ok();
    }
}

struct AmqpReporter {
    conn: Arc<Connection>,
    /// Completions go out here; replaced when the broker closes it over a message it refused.
    publish: tokio::sync::Mutex<Channel>,
    beats: Channel,
    names: QueueNames,
}

#[async_trait]
impl Reporter for AmqpReporter {
    async fn complete(&self, completions: &[Completion]) -> anyhow::Result<()> {
        let message = OneOrMany(completions.to_vec());
        let channel = self.publish.lock().await.clone();
        let queue = self.names.completions();
        let Err(e) = wire::publish_confirmed(&channel, &queue, &message).await else {
            return Ok(());
        };
        if refused_by_broker(&e).is_none() {
            return Err(e);
        }
        // The broker closed the shared channel over one message, perhaps another unit's
        // published at the same moment: this one goes again alone, on a channel of its own,
        // where a refusal can only be its own.
        self.reopen_publish_channel().await?;
        let alone = wire::confirmed_channel(&self.conn).await?;
        let again = wire::publish_confirmed(&alone, &queue, &message).await;
        if alone.status().connected() {
            alone.close(200, "done".into()).await.ok();
        }
        match again {
            Err(e) => match refused_by_broker(&e) {
                Some(reason) => Err(Refused(reason).into()),
                None => Err(e),
            },
            ok => ok,
        }
    }

    async fn heartbeat(&self, beat: &Heartbeat) -> anyhow::Result<()> {
        wire::publish_heartbeat(&self.beats, &self.names, beat).await
    }
}

impl AmqpReporter {
    async fn reopen_publish_channel(&self) -> anyhow::Result<()> {
        let mut channel = self.publish.lock().await;
        if !channel.status().connected() {
            *channel = wire::confirmed_channel(&self.conn).await?;
        }
        Ok(())
    }
}

struct Publisher {
    conn: Connection,
    channel: Channel,
    names: QueueNames,
    durable: Durable,
    /// Queues declared on this connection.
    declared: HashSet<String>,
}

#[async_trait]
impl Publish for Publisher {
    async fn publish(&mut self, units: Vec<WorkMessage>) -> anyhow::Result<Published> {
        tokio::time::timeout(PUBLISH_TIMEOUT, self.publish_units(&units))
            .await
            .map_err(|_| anyhow::anyhow!("the broker did not confirm within {PUBLISH_TIMEOUT:?}"))?
    }
}

impl Publisher {
    /// Publishes the batch; if the broker refused one of its messages (and closed the channel
    /// over it), finds which, one message at a time, so that unit fails alone and the others
    /// go through.
    async fn publish_units(&mut self, units: &[WorkMessage]) -> anyhow::Result<Published> {
        let mut published = self.publish_batch(units).await?;
        let Some(reason) = published.refused.as_ref().and_then(refused_by_broker) else {
            return Ok(published);
        };
        tracing::warn!(%reason, "the broker refused a unit's message; publishing one at a time to find it");
        published.refused = None;
        let done: HashSet<UnitId> = published.confirmed.iter().copied().collect();
        for msg in units.iter().filter(|m| !done.contains(&m.unit_id)) {
            self.reopen_channel().await?;
            match self.publish_batch(std::slice::from_ref(msg)).await?.refused {
                None => published.confirmed.push(msg.unit_id),
                Some(e) => match refused_by_broker(&e) {
                    Some(reason) => published.failed.push(Unpublishable {
                        unit_id: msg.unit_id,
                        job_id: msg.job_id,
                        error: format!(
                            "the broker refused the unit's message ({} bytes): {reason}",
                            crate::messages::encoded_len(msg)
                        ),
                    }),
                    None => {
                        published.refused = Some(e);
                        break;
                    }
                },
            }
        }
        self.reopen_channel().await?;
        Ok(published)
    }

    /// Publishes the units, several to a message where `packing` says so, then waits for every
    /// confirm. An error stops the batch: what was confirmed before it is kept, and the error
    /// says why the rest was not.
    async fn publish_batch(&mut self, units: &[WorkMessage]) -> anyhow::Result<Published> {
        let messages = packing::pack(units.to_vec(), PACKED_MAX_BYTES);
        let mut pending = Vec::with_capacity(messages.len());
        let mut published = Published::default();
        for message in messages {
            let first = &message[0];
            let queue = self.names.work(&first.action);
            if !self.declared.contains(&queue) {
                wire::declare_work(&self.channel, &self.names, &queue, self.durable).await?;
                self.declared.insert(queue.clone());
            }
            let priority = wire::work_priority(first);
            let ids: Vec<UnitId> = message.iter().map(|u| u.unit_id).collect();
            match wire::publish_with_priority(&self.channel, &queue, &OneOrMany(message), priority)
                .await
            {
                Ok(confirm) => pending.push((ids, queue, confirm)),
                Err(e) => {
                    published.refused = Some(e);
                    break;
                }
            }
        }
        for (ids, queue, confirm) in pending {
            match confirm
                .await
                .map_err(anyhow::Error::from)
                .and_then(|c| wire::check_confirm(c, &queue))
            {
                Ok(()) => published.confirmed.extend(ids),
                Err(e) => {
                    published.refused.get_or_insert(e);
                }
            }
        }
        Ok(published)
    }

    /// A channel the broker closed (over a message it refused) is replaced; the connection
    /// stays.
    async fn reopen_channel(&mut self) -> anyhow::Result<()> {
        if !self.channel.status().connected() {
            self.channel = wire::confirmed_channel(&self.conn).await?;
        }
        Ok(())
    }
}

/// The broker's reason, when it refused a message itself (over its size limit, which closes
/// the channel with 406 or 311) rather than the link failing.
fn refused_by_broker(e: &anyhow::Error) -> Option<String> {
    use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
    e.chain()
        .filter_map(|cause| cause.downcast_ref::<lapin::Error>())
        .find_map(|e| match e.kind() {
            lapin::ErrorKind::ProtocolError(p)
                if matches!(
                    p.kind(),
                    AMQPErrorKind::Soft(
                        AMQPSoftError::PRECONDITIONFAILED | AMQPSoftError::CONTENTTOOLARGE
                    )
                ) =>
            {
                Some(p.get_message().to_string())
            }
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::prefetch_shares;

    #[test]
    fn prefetch_shares_add_up() {
        assert_eq!(prefetch_shares(5, 4), vec![2, 1, 1, 1]);
        assert_eq!(prefetch_shares(8, 2), vec![4, 4]);
        assert_eq!(prefetch_shares(2, 3), vec![1, 1, 1], "every action can run");
    }
}
