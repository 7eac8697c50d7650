//! The broker side: connecting, the topology (declared in one place), queue names and
//! confirmed publishing.

use anyhow::Context;
use lapin::{
    options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions},
    types::{AMQPValue, FieldTable},
    BasicProperties, Channel, Connection, ConnectionProperties,
};
use serde::Serialize;

use crate::{config::QueueType, ids::JobId, messages::WorkMessage};

/// AMQP delivery mode 2: the broker writes the message to disk.
const PERSISTENT: u8 = 2;

/// Queue names, all under the configured prefix.
#[derive(Debug, Clone)]
pub struct QueueNames {
    prefix: String,
}

impl QueueNames {
    pub fn new(prefix: &str) -> Self {
        QueueNames {
            prefix: prefix.to_string(),
        }
    }

    /// The queue of one action's work units.
    pub fn work(&self, action: &str) -> String {
        format!("{}.work.{}", self.prefix, action)
    }

    pub fn completions(&self) -> String {
        format!("{}.completions", self.prefix)
    }

    pub fn heartbeats(&self) -> String {
        format!("{}.heartbeats", self.prefix)
    }

    /// Where quorum queues send a unit delivered `delivery_limit` times and never settled.
    pub fn poison(&self) -> String {
        format!("{}.poison", self.prefix)
    }

    /// The fanout exchange that tells every worker of a deleted job.
    pub fn deleted(&self) -> String {
        format!("{}.deleted", self.prefix)
    }
}

/// A deleted job, as announced to the workers.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct JobDeleted {
    pub job_id: JobId,
}

/// Declares the exchange deletions are announced on: a fanout, since every worker must hear,
/// and auto-deleted once no worker listens (an announcement nobody hears has no use).
pub async fn declare_deleted(channel: &Channel, names: &QueueNames) -> anyhow::Result<()> {
    channel
        .exchange_declare(
            names.deleted().as_str().into(),
            lapin::ExchangeKind::Fanout,
            lapin::options::ExchangeDeclareOptions {
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .context("declaring the deletion exchange")
}

/// With `amqps://`, over TLS (rustls), verified against the system's roots and the CA the
/// URL's `cacertfile=` names (see `crate::tls`).
pub async fn connect(url: &str, name: &str) -> anyhow::Result<Connection> {
    let props = ConnectionProperties::default().with_connection_name(name.into());
    let tls = lapin::tcp::OwnedTLSConfig {
        identity: None,
        cert_chain: crate::tls::amqp_ca(url)?,
    };
    let runtime = lapin::runtime::default_runtime()?;
    Connection::connect_with_config(url, props, tls, runtime)
        .await
        .with_context(|| format!("connecting to RabbitMQ at {}", crate::shown::ShownUrl(url)))
}

/// A channel whose publishes are confirmed by the broker.
pub async fn confirmed_channel(conn: &Connection) -> anyhow::Result<Channel> {
    let channel = conn.create_channel().await.context("opening a channel")?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .context("enabling publisher confirms")?;
    Ok(channel)
}

/// How the queues that hold work and completions are declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Durable {
    pub kind: QueueType,
    /// Quorum queues only: deliveries of one message before the broker gives up on it and
    /// dead-letters it to the poison queue, where the dispatcher fails its units.
    pub delivery_limit: u32,
}

impl Durable {
    pub const CLASSIC: Durable = Durable {
        kind: QueueType::Classic,
        delivery_limit: 0,
    };

    fn arguments(&self) -> FieldTable {
        let mut args = FieldTable::default();
        if self.kind == QueueType::Quorum {
            args.insert(
                "x-queue-type".into(),
                AMQPValue::LongString("quorum".into()),
            );
        }
        args
    }

    /// Quorum queues have no `x-max-priority` (RabbitMQ 4 gives them two priorities of their
    /// own: a lane's priority above 4 is their high one); they have a delivery limit instead.
    fn work_arguments(&self, names: &QueueNames) -> FieldTable {
        let mut args = self.arguments();
        match self.kind {
            QueueType::Classic => {
                args.insert("x-max-priority".into(), AMQPValue::LongInt(1));
            }
            QueueType::Quorum => {
                let limit = i64::from(self.delivery_limit.max(1));
                args.insert("x-delivery-limit".into(), AMQPValue::LongLongInt(limit));
                args.insert(
                    "x-dead-letter-exchange".into(),
                    AMQPValue::LongString("".into()),
                );
                args.insert(
                    "x-dead-letter-routing-key".into(),
                    AMQPValue::LongString(names.poison().as_str().into()),
                );
            }
        }
        args
    }
}

/// Declares a durable queue: work and completions must survive a broker restart.
pub async fn declare_durable(
    channel: &Channel,
    queue: &str,
    durable: Durable,
) -> anyhow::Result<()> {
    declare(channel, queue, durable.arguments()).await
}

/// Declares an action's work queue: durable, with two priorities, one per lane, so a merge or
/// a small job overtakes a big job's backlog (a quorum queue: with its delivery limit, and the
/// poison queue it dead-letters to).
pub async fn declare_work(
    channel: &Channel,
    names: &QueueNames,
    queue: &str,
    durable: Durable,
) -> anyhow::Result<()> {
    if durable.kind == QueueType::Quorum {
        declare_durable(channel, &names.poison(), durable).await?;
    }
    declare(channel, queue, durable.work_arguments(names)).await
}

async fn declare(channel: &Channel, queue: &str, args: FieldTable) -> anyhow::Result<()> {
    channel
        .queue_declare(queue.into(), QueueDeclareOptions::durable(), args)
        .await
        .with_context(|| {
            format!(
                "declaring queue {queue} (a queue left by an older version with other \
                 arguments must be deleted first)"
            )
        })?;
    Ok(())
}

/// A unit's priority in its work queue: its lane's.
pub fn work_priority(msg: &WorkMessage) -> u8 {
    msg.lane.priority()
}

/// Publishes `message` as persistent JSON to `queue` and waits for the broker's confirm.
/// `mandatory` makes a message with no queue to go to come back as an error, not vanish.
pub async fn publish_confirmed<T: Serialize>(
    channel: &Channel,
    queue: &str,
    message: &T,
) -> anyhow::Result<()> {
    let confirm = publish(channel, queue, message).await?;
    check_confirm(
        confirm.await.context("waiting for the broker's confirm")?,
        queue,
    )
}

/// Publishes without waiting, so many publishes can share one round of confirms.
pub async fn publish<T: Serialize>(
    channel: &Channel,
    queue: &str,
    message: &T,
) -> anyhow::Result<lapin::PublisherConfirm> {
    publish_with_priority(channel, queue, message, 0).await
}

/// As `publish`, with a priority (for work queues, which have two).
pub async fn publish_with_priority<T: Serialize>(
    channel: &Channel,
    queue: &str,
    message: &T,
    priority: u8,
) -> anyhow::Result<lapin::PublisherConfirm> {
    let body = serde_json::to_vec(message).context("encoding message")?;
    let options = BasicPublishOptions {
        mandatory: true,
        ..BasicPublishOptions::default()
    };
    let props = BasicProperties::default()
        .with_delivery_mode(PERSISTENT)
        .with_priority(priority)
        .with_content_type("application/json".into());
    channel
        .basic_publish("".into(), queue.into(), options, &body, props)
        .await
        .with_context(|| format!("publishing to {queue}"))
}

/// Turns a confirm into an error when the broker nacked or returned the message.
pub fn check_confirm(confirmation: lapin::Confirmation, queue: &str) -> anyhow::Result<()> {
    if confirmation.is_nack() {
        anyhow::bail!("the broker refused a message for {queue}");
    }
    if let Some(returned) = confirmation.take_message() {
        anyhow::bail!(
            "the broker returned a message for {queue}: {}",
            returned.reply_text
        );
    }
    Ok(())
}

/// Heartbeats are only worth something while fresh: they expire in the queue.
const HEARTBEAT_TTL_MS: i64 = 60_000;

/// Declares the heartbeat queue; every declarer must pass the same arguments.
pub async fn declare_heartbeats(channel: &Channel, names: &QueueNames) -> anyhow::Result<()> {
    let mut args = FieldTable::default();
    args.insert(
        "x-message-ttl".into(),
        lapin::types::AMQPValue::LongLongInt(HEARTBEAT_TTL_MS),
    );
    channel
        .queue_declare(
            names.heartbeats().as_str().into(),
            QueueDeclareOptions::durable(),
            args,
        )
        .await
        .context("declaring the heartbeat queue")?;
    Ok(())
}

/// Heartbeats are transient and unconfirmed: the next one replaces a lost one.
pub async fn publish_heartbeat(
    channel: &Channel,
    names: &QueueNames,
    beat: &crate::messages::Heartbeat,
) -> anyhow::Result<()> {
    let body = serde_json::to_vec(beat).context("encoding heartbeat")?;
    channel
        .basic_publish(
            "".into(),
            names.heartbeats().as_str().into(),
            BasicPublishOptions::default(),
            &body,
            BasicProperties::default().with_content_type("application/json".into()),
        )
        .await
        .context("publishing heartbeat")?;
    Ok(())
}
