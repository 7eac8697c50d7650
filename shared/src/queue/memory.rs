//! The in-process queue of the embedded default: the same promises as RabbitMQ's within one
//! process. A worker holds at most `prefetch` units (a semaphore permit rides with each
//! delivery until it is settled); a delivery dropped unsettled goes back to the front of its
//! queue, as an unacked message does when a broker connection dies. Nothing survives the
//! process: the embedded store puts queued units back in its outbox at start-up.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use futures_util::StreamExt;
use tokio::sync::{broadcast, mpsc, Notify, OwnedSemaphorePermit, Semaphore};

use super::{
    Acker, ConsumerLink, Control, Delivery, Publish, Published, Queue, Reporter, WorkerLink,
};
use crate::{
    ids::JobId,
    lane::Lane,
    messages::{Completion, Completions, Heartbeat, OneOrMany, WorkMessage},
    shutdown::CancellationToken,
};

/// Heartbeats kept when nobody reads them.
const MAX_HEARTBEATS: usize = 1000;

/// Which queue a message lives in.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
enum Name {
    Work(String),
    Completions,
    Heartbeats,
}

#[derive(Default)]
struct Queues {
    messages: HashMap<Name, Lanes>,
}

/// One queue's messages, the first lane ahead of the bulk lane, as priorities order them on
/// RabbitMQ.
#[derive(Default)]
struct Lanes {
    first: VecDeque<Queued>,
    bulk: VecDeque<Queued>,
}

impl Lanes {
    fn lane(&mut self, lane: Lane) -> &mut VecDeque<Queued> {
        match lane {
            Lane::First => &mut self.first,
            Lane::Bulk => &mut self.bulk,
        }
    }

    fn pop_front(&mut self) -> Option<Queued> {
        self.first.pop_front().or_else(|| self.bulk.pop_front())
    }

    fn len(&self) -> usize {
        self.first.len() + self.bulk.len()
    }
}

struct Queued {
    message: Message,
    /// Delivered before and handed back unsettled.
    redelivered: bool,
}

#[derive(Clone)]
enum Message {
    Work(WorkMessage),
    Completions(Completions),
    Heartbeat(Heartbeat),
}

impl Message {
    fn lane(&self) -> Lane {
        match self {
            Message::Work(unit) => unit.lane,
            Message::Completions(_) | Message::Heartbeat(_) => Lane::First,
        }
    }
}

struct Inner {
    queues: Mutex<Queues>,
    /// Something was pushed.
    pushed: Notify,
    /// Deleted jobs, to every worker link.
    deleted: broadcast::Sender<JobId>,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            queues: Mutex::default(),
            pushed: Notify::new(),
            // A worker that falls this far behind on deletions only runs a few units for
            // nothing.
            deleted: broadcast::Sender::new(1024),
        }
    }
}

impl Inner {
    /// Adds a message to its lane: a new one at the back, one handed back at the front.
    fn push(&self, name: Name, message: Message, front: bool, redelivered: bool) {
        if let Ok(mut q) = self.queues.lock() {
            let lanes = q.messages.entry(name.clone()).or_default();
            let queue = lanes.lane(message.lane());
            let queued = Queued {
                message,
                redelivered,
            };
            if front {
                queue.push_front(queued);
            } else {
                queue.push_back(queued);
            }
            if name == Name::Heartbeats && queue.len() > MAX_HEARTBEATS {
                queue.pop_front();
            }
        }
        self.pushed.notify_waiters();
    }

    /// The first message in any of `names`, taking them in turn from `start`.
    fn pop(&self, names: &[Name], start: usize) -> Option<(Name, Queued)> {
        let mut q = self.queues.lock().ok()?;
        (0..names.len()).find_map(|i| {
            let name = &names[(start + i) % names.len()];
            q.messages
                .get_mut(name)?
                .pop_front()
                .map(|m| (name.clone(), m))
        })
    }
}

/// In-process queues, shared by the dispatcher and the workers of one process.
#[derive(Clone, Default)]
pub struct MemoryQueue {
    inner: Arc<Inner>,
}

impl MemoryQueue {
    pub fn new() -> Self {
        MemoryQueue::default()
    }

    /// A consumer of `names`: a task hands out messages while permits last.
    fn consume<T: Send + 'static>(
        &self,
        names: Vec<Name>,
        prefetch: usize,
        unwrap: fn(Message) -> Option<T>,
    ) -> (super::Deliveries<T>, Box<dyn Control>) {
        // Room for the whole prefetch (each delivery holds a permit, so no more is ever
        // handed out): a consumer that takes what is ready in batches finds all of it.
        let (tx, rx) = mpsc::channel(prefetch.max(1));
        let stop = CancellationToken::new();
        let permits = Arc::new(Semaphore::new(prefetch.max(1)));
        let inner = self.inner.clone();
        let stopping = stop.clone();
        tokio::spawn(async move {
            let mut turn = 0;
            loop {
                let permit = tokio::select! {
                    biased;
                    _ = stopping.cancelled() => return,
                    permit = permits.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => return },
                };
                let (name, queued) = loop {
                    let pushed = inner.pushed.notified();
                    tokio::pin!(pushed);
                    pushed.as_mut().enable();
                    if stopping.is_cancelled() {
                        return; // Stopped: take nothing more.
                    }
                    if let Some(found) = inner.pop(&names, turn) {
                        break found;
                    }
                    tokio::select! {
                        _ = stopping.cancelled() => return,
                        _ = &mut pushed => {}
                    }
                };
                turn = turn.wrapping_add(1);
                let Some(body) = unwrap(queued.message.clone()) else {
                    continue;
                };
                let acker = MemoryAcker::new(inner.clone(), name, queued.message, permit);
                let delivery = Delivery {
                    body: Ok(body),
                    redelivered: queued.redelivered,
                    acker: Box::new(acker) as Box<dyn Acker>,
                };
                if tx.send(Ok(delivery)).await.is_err() {
                    return; // The consumer is gone; the delivery's drop requeued the message.
                }
            }
        });
        let deliveries =
            futures_util::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|d| (d, rx)) },
            );
        (deliveries.boxed(), Box::new(MemoryControl { stop }))
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn work_publisher(&self) -> anyhow::Result<Box<dyn Publish>> {
        Ok(Box::new(self.clone()))
    }

    async fn worker_link(
        &self,
        _node: &str,
        actions: &[String],
        prefetch: u16,
    ) -> anyhow::Result<WorkerLink> {
        let names = actions.iter().map(|a| Name::Work(a.clone())).collect();
        let (deliveries, control) = self.consume(names, usize::from(prefetch), |m| match m {
            Message::Work(w) => Some(w),
            _ => None,
        });
        let deleted =
            futures_util::stream::unfold(self.inner.deleted.subscribe(), |mut rx| async move {
                loop {
                    match rx.recv().await {
                        Ok(job_id) => return Some((job_id, rx)),
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            });
        Ok(WorkerLink {
            deliveries,
            deleted: deleted.boxed(),
            reporter: Arc::new(self.clone()),
            control,
        })
    }

    async fn completions(&self, prefetch: u16) -> anyhow::Result<ConsumerLink<Completions>> {
        let (deliveries, control) = self.consume(
            vec![Name::Completions],
            usize::from(prefetch),
            |m| match m {
                Message::Completions(c) => Some(c),
                _ => None,
            },
        );
        Ok(ConsumerLink {
            deliveries,
            control,
        })
    }

    async fn heartbeats(&self) -> anyhow::Result<ConsumerLink<Heartbeat>> {
        let (deliveries, control) = self.consume(vec![Name::Heartbeats], 64, |m| match m {
            Message::Heartbeat(h) => Some(h),
            _ => None,
        });
        Ok(ConsumerLink {
            deliveries,
            control,
        })
    }

    async fn announce_deleted(&self, job_id: JobId) -> anyhow::Result<()> {
        // No worker listening is no error.
        let _ = self.inner.deleted.send(job_id);
        Ok(())
    }

    async fn waiting(&self, action: &str) -> anyhow::Result<u32> {
        let q = self
            .inner
            .queues
            .lock()
            .map_err(|_| anyhow::anyhow!("queue lock poisoned"))?;
        Ok(q.messages
            .get(&Name::Work(action.to_string()))
            .map_or(0, |m| m.len() as u32))
    }
}

#[async_trait]
impl Publish for MemoryQueue {
    async fn publish(&mut self, units: Vec<WorkMessage>) -> anyhow::Result<Published> {
        let confirmed = units.iter().map(|u| u.unit_id).collect();
        for unit in units {
            self.inner.push(
                Name::Work(unit.action.clone()),
                Message::Work(unit),
                false,
                false,
            );
        }
        Ok(Published {
            confirmed,
            ..Published::default()
        })
    }
}

#[async_trait]
impl Reporter for MemoryQueue {
    async fn complete(&self, completions: &[Completion]) -> anyhow::Result<()> {
        self.inner.push(
            Name::Completions,
            Message::Completions(OneOrMany(completions.to_vec())),
            false,
            false,
        );
        Ok(())
    }

    async fn heartbeat(&self, beat: &Heartbeat) -> anyhow::Result<()> {
        self.inner.push(
            Name::Heartbeats,
            Message::Heartbeat(beat.clone()),
            false,
            false,
        );
        Ok(())
    }
}

struct MemoryControl {
    stop: CancellationToken,
}

#[async_trait]
impl Control for MemoryControl {
    async fn stop_taking(&self) {
        self.stop.cancel();
    }

    async fn close(&self) {
        self.stop.cancel();
    }
}

/// Holds a delivered message (and its prefetch permit) until settled; unsettled, it goes back.
struct MemoryAcker {
    inner: Arc<Inner>,
    held: Mutex<Option<(Name, Message, OwnedSemaphorePermit)>>,
}

impl MemoryAcker {
    fn new(inner: Arc<Inner>, name: Name, message: Message, permit: OwnedSemaphorePermit) -> Self {
        MemoryAcker {
            inner,
            held: Mutex::new(Some((name, message, permit))),
        }
    }

    fn settle(&self, requeue: bool) {
        let taken = self.held.lock().ok().and_then(|mut h| h.take());
        if let Some((name, message, permit)) = taken {
            if requeue {
                self.inner.push(name, message, true, true);
            }
            drop(permit);
        }
    }
}

#[async_trait]
impl Acker for MemoryAcker {
    async fn ack(&self) -> anyhow::Result<()> {
        self.settle(false);
        Ok(())
    }

    async fn requeue(&self) -> anyhow::Result<()> {
        self.settle(true);
        Ok(())
    }

    async fn reject(&self) -> anyhow::Result<()> {
        self.settle(false);
        Ok(())
    }
}

impl Drop for MemoryAcker {
    fn drop(&mut self) {
        self.settle(true);
    }
}

#[cfg(test)]
mod tests {
    use crate::ids::UnitId;
    use std::time::Duration;

    use super::*;
    use crate::status::Stage;

    fn unit(unit_id: i64) -> WorkMessage {
        WorkMessage {
            unit_id: UnitId(unit_id),
            job_id: JobId(1),
            action: "noop".into(),
            stage: Stage::Process,
            input: serde_json::Value::Null,
            input_key: None,
            options: serde_json::Value::Null,
            options_key: None,
            attempt: 0,
            max_attempts: 3,
            lane: Lane::Bulk,
        }
    }

    /// A consumer is handed up to its prefetch before it asks, as a broker pushes to a
    /// channel: a consumer busy with one batch finds the next one whole when it comes back,
    /// rather than one message at a time (which made the dispatcher commit once per unit).
    #[tokio::test]
    async fn a_consumer_is_handed_its_whole_prefetch_before_it_asks() {
        let mut queue = MemoryQueue::new();
        queue
            .publish((1..=5).map(unit).collect())
            .await
            .expect("published");
        let link = queue
            .worker_link("node", &["noop".to_string()], 4)
            .await
            .expect("a link");
        tokio::time::timeout(Duration::from_secs(5), async {
            while queue.waiting("noop").await.expect("a count") > 1 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("four of the five handed to the consumer that has not asked yet");

        let ready: Vec<_> = link
            .deliveries
            .ready_chunks(16)
            .next()
            .await
            .expect("a batch");
        assert_eq!(ready.len(), 4, "the prefetch at once, and no more");
        assert_eq!(queue.waiting("noop").await.expect("a count"), 1);
    }
}
