//! The queue: how units reach workers and completions reach the dispatcher, behind one
//! interface, so the dispatcher and the worker run the same code on RabbitMQ (`amqp/`) and,
//! for the embedded default, in-process queues (`memory.rs`). The promises every implementation keeps: one
//! queue per action; at most `prefetch` messages unacked per worker across all its queues (a
//! message holds one unit, or several when a queue is deep: `packing`); a unit acked only once
//! its completion is published; what was in flight and unacked when a
//! link dies is delivered again.

pub mod amqp;
mod memory;
pub mod packing;
mod parts;
mod publish;

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::stream::BoxStream;

pub use self::{
    amqp::AmqpQueue,
    memory::MemoryQueue,
    publish::{Publish, Published, Unpublishable},
};
use crate::ids::JobId;
use crate::messages::{Completion, Completions, Heartbeat, WorkMessage, WorkMessages};

/// One message taken from a queue, to be settled with its acker.
pub struct Delivery<T> {
    /// The message, or why it does not parse.
    pub body: Result<T, Undecodable>,
    /// It was delivered before and not acked: whoever held it stopped (died, lost its link, or
    /// handed it back).
    pub redelivered: bool,
    pub acker: Box<dyn Acker>,
}

/// A message that does not parse as what its queue carries (sent by another version, say).
#[derive(Debug)]
pub struct Undecodable {
    pub error: serde_json::Error,
    /// The message as JSON, when it is JSON at all, so a caller can still read what it names.
    pub raw: Option<serde_json::Value>,
}

impl Undecodable {
    pub fn of<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Undecodable> {
        serde_json::from_slice(bytes).map_err(|error| Undecodable {
            error,
            raw: serde_json::from_slice(bytes).ok(),
        })
    }

    /// The unit and attempt the message names, if it names them.
    pub fn unit_attempt(&self) -> Option<crate::messages::UnitAttempt> {
        serde_json::from_value(self.raw.clone()?).ok()
    }
}

/// The queue refused a message and will refuse it again (the broker's size limit, say): it
/// must be replaced, not retried.
#[derive(Debug, thiserror::Error)]
#[error("the queue refused the message: {0}")]
pub struct Refused(pub String);

#[async_trait]
pub trait Acker: Send + Sync {
    /// Done with it: the queue forgets it.
    async fn ack(&self) -> anyhow::Result<()>;
    /// Not done: the queue delivers it again.
    async fn requeue(&self) -> anyhow::Result<()>;
    /// Unusable (it does not parse): the queue drops it.
    async fn reject(&self) -> anyhow::Result<()>;
}

/// Deliveries until the link breaks (an error) or closes (the end of the stream).
pub type Deliveries<T> = BoxStream<'static, anyhow::Result<Delivery<T>>>;

/// What a worker sends back.
#[async_trait]
pub trait Reporter: Send + Sync {
    /// Publishes completions, as one message, and returns once it is safely queued. A `Refused`
    /// error (found by downcasting) means this message will never be taken; any other, that
    /// the link is broken.
    async fn complete(&self, completions: &[Completion]) -> anyhow::Result<()>;
    /// Publishes a heartbeat (best effort).
    async fn heartbeat(&self, beat: &Heartbeat) -> anyhow::Result<()>;
}

/// Ends a link.
#[async_trait]
pub trait Control: Send + Sync {
    /// Stops new deliveries; those in hand can still be settled.
    async fn stop_taking(&self);
    /// Closes the link; whatever is unacked is delivered again.
    async fn close(&self);
}

/// A worker's link: its actions' units, and the way back.
pub struct WorkerLink {
    pub deliveries: Deliveries<WorkMessage>,
    /// Ids of jobs deleted while the link is up, announced by whoever deleted them.
    pub deleted: BoxStream<'static, JobId>,
    pub reporter: Arc<dyn Reporter>,
    pub control: Box<dyn Control>,
}

/// A consumer of completions or heartbeats.
pub struct ConsumerLink<T> {
    pub deliveries: Deliveries<T>,
    pub control: Box<dyn Control>,
}

#[async_trait]
pub trait Queue: Send + Sync + 'static {
    /// A link the relay publishes units through.
    async fn work_publisher(&self) -> anyhow::Result<Box<dyn Publish>>;

    /// A worker named `node` taking units of `actions`, at most `prefetch` unacked at once.
    async fn worker_link(
        &self,
        node: &str,
        actions: &[String],
        prefetch: u16,
    ) -> anyhow::Result<WorkerLink>;

    /// The completions, at most `prefetch` unacked at once.
    async fn completions(&self, prefetch: u16) -> anyhow::Result<ConsumerLink<Completions>>;

    /// Units the broker gave up on (delivered its delivery limit of times, never settled), at
    /// most `prefetch` unacked at once; `None` for a queue that has no such limit.
    async fn poisoned(&self, prefetch: u16) -> anyhow::Result<Option<ConsumerLink<WorkMessages>>> {
        let _ = prefetch;
        Ok(None)
    }

    /// Worker heartbeats; they need no ack.
    async fn heartbeats(&self) -> anyhow::Result<ConsumerLink<Heartbeat>>;

    /// Units waiting (not delivered to anyone) in an action's queue; 0 if it has no queue.
    async fn waiting(&self, action: &str) -> anyhow::Result<u32>;

    /// `waiting` of each action, in order.
    async fn waiting_in(&self, actions: &[String]) -> anyhow::Result<Vec<u32>> {
        let mut counts = Vec::with_capacity(actions.len());
        for action in actions {
            counts.push(self.waiting(action).await?);
        }
        Ok(counts)
    }

    /// Tells every connected worker that the job is deleted, so they drop its queued units
    /// and stop its running ones. Best effort: a worker that misses it runs the units, and
    /// their late results (and files) are thrown away.
    async fn announce_deleted(&self, job_id: JobId) -> anyhow::Result<()>;
}
