//! Completions go out in batches: the units that end while one message waits for its confirm go
//! together in the next, so a busy worker publishes one message (and waits for one confirm) for
//! many units, and a lone unit's completion still goes out at once.
//!
//! They go out on whatever link is up: while the worker reconnects they wait for the next one.
//! A message the queue refuses is sent again a completion at a time, and a completion it refuses
//! is replaced by a failure that says so; any other failure to publish breaks the link (the
//! session ends and reconnects), so no worker goes on consuming without being able to report.

use std::{
    sync::Arc,
    sync::{Mutex, PoisonError},
};

use crowd_shared::{
    messages::{encoded_len, Completion, Outcome},
    queue::Refused,
};
use tokio::sync::{mpsc, oneshot};

use crate::env::{Link, WorkerEnv};

/// Completions in one message at most.
const MOST_AT_ONCE: usize = 128;

/// Where units hand in their completions.
pub struct Reports {
    tx: mpsc::UnboundedSender<Report>,
    /// Taken by the task that publishes them (`run`).
    rx: Mutex<Option<mpsc::UnboundedReceiver<Report>>>,
}

struct Report {
    completion: Completion,
    /// Told once the completion is safely queued.
    sent: oneshot::Sender<()>,
}

impl Default for Reports {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Reports {
            tx,
            rx: Mutex::new(Some(rx)),
        }
    }
}

impl Reports {
    /// Hands in a completion; `true` once it is safely queued, `false` if the worker closed
    /// first (the queue hands the unit out again).
    pub async fn send(&self, completion: Completion) -> bool {
        let (sent, done) = oneshot::channel();
        if self.tx.send(Report { completion, sent }).is_err() {
            return false;
        }
        done.await.is_ok()
    }
}

/// Publishes what units hand in until the worker closes.
pub async fn run(env: Arc<WorkerEnv>) {
    let taken = env
        .reports
        .rx
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    let Some(mut rx) = taken else {
        return; // Another task publishes them already.
    };
    let mut carried: Option<Report> = None;
    loop {
        let first = match carried.take() {
            Some(report) => report,
            None => tokio::select! {
                _ = env.closing.cancelled() => return,
                report = rx.recv() => match report {
                    Some(report) => report,
                    None => return,
                },
            },
        };
        let mut bytes = encoded_len(&first.completion);
        let mut batch = vec![first];
        while batch.len() < MOST_AT_ONCE {
            let Ok(next) = rx.try_recv() else { break };
            let next_bytes = encoded_len(&next.completion);
            if bytes + next_bytes > env.max_message_bytes {
                carried = Some(next); // the next message's first
                break;
            }
            bytes += next_bytes;
            batch.push(next);
        }
        let mut completions: Vec<Completion> = batch.iter().map(|r| r.completion.clone()).collect();
        if !publish(&env, &mut completions).await {
            return;
        }
        for report in batch {
            let _ = report.sent.send(()); // a unit stopped meanwhile no longer waits
        }
    }
}

/// Publishes `completions` as one message; `false` if the worker closes first.
async fn publish(env: &WorkerEnv, completions: &mut [Completion]) -> bool {
    loop {
        let Some(link) = current_link(env).await else {
            return false;
        };
        let Err(e) = link.reporter.complete(completions).await else {
            return true;
        };
        if e.downcast_ref::<Refused>().is_some() && completions.len() > 1 {
            // One of them is too big for the queue: each on its own, so only it fails.
            for one in completions.chunks_mut(1) {
                if !Box::pin(publish(env, one)).await {
                    return false;
                }
            }
            return true;
        }
        if let (Some(refused), [completion]) = (e.downcast_ref::<Refused>(), &mut *completions) {
            tracing::warn!(work_unit.id = completion.unit_id.0, error = %refused,
                "the queue refused a completion; reporting a failure instead");
            completion.outcome = Outcome::failed(
                format!(
                    "the queue refused the stage's result ({} bytes): {refused}",
                    encoded_len(&*completion)
                ),
                false,
            );
            continue; // The link itself is fine.
        }
        tracing::warn!(
            completions = completions.len(),
            error = format!("{e:#}"),
            "completions not sent; reconnecting to send them"
        );
        link.broken.cancel();
    }
}

/// The link that is up, waiting while the worker reconnects; `None` once it closes.
async fn current_link(env: &WorkerEnv) -> Option<Link> {
    let mut links = env.link.subscribe();
    tokio::select! {
        _ = env.closing.cancelled() => None,
        link = links.wait_for(|l| l.as_ref().is_some_and(|l| !l.broken.is_cancelled())) => {
            link.ok().and_then(|link| link.clone())
        }
    }
}
