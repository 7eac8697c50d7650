//! Readiness: whether a process reaches what it needs, for `/readyz` on every process. What
//! each part needs differs: the api only its store (jobs posted while the broker is away wait
//! in the outbox, so taking the api out of service then would refuse them for nothing), the
//! dispatcher its store and its queue, a worker its queue.

use std::{sync::Arc, time::Duration};

use serde_json::{json, Map, Value};

use crate::{queue::Queue, store::Store};

/// How long `/readyz` waits for the store or the queue to answer.
const READY_WITHIN: Duration = Duration::from_secs(3);

#[derive(Clone)]
pub struct Readiness {
    store: Option<Arc<dyn Store>>,
    queue: Option<Arc<dyn Queue>>,
    /// Whether an unreachable queue makes the process unready, or is only reported.
    needs_queue: bool,
}

impl Readiness {
    pub fn api(store: Arc<dyn Store>, queue: Arc<dyn Queue>) -> Self {
        Readiness {
            store: Some(store),
            queue: Some(queue),
            needs_queue: false,
        }
    }

    pub fn dispatcher(store: Arc<dyn Store>, queue: Arc<dyn Queue>) -> Self {
        Readiness {
            store: Some(store),
            queue: Some(queue),
            needs_queue: true,
        }
    }

    pub fn worker(queue: Arc<dyn Queue>) -> Self {
        Readiness {
            store: None,
            queue: Some(queue),
            needs_queue: true,
        }
    }

    /// Whether the process is ready, and a body naming each thing it checked: `"ok"`, or why
    /// it could not be reached.
    pub async fn check(&self) -> (bool, Value) {
        let store = match &self.store {
            Some(store) => Some(
                reaches(async {
                    store
                        .job_view(crate::ids::JobId(0))
                        .await
                        .map_err(anyhow::Error::from)
                })
                .await,
            ),
            None => None,
        };
        // A passive look at a queue: it connects, and a queue that is not there is no error.
        let queue = match &self.queue {
            Some(queue) => Some(reaches(queue.waiting("readyz")).await),
            None => None,
        };
        let ready = !matches!(store, Some(Some(_)))
            && !(self.needs_queue && matches!(queue, Some(Some(_))));
        let mut body = Map::new();
        body.insert(
            "status".into(),
            json!(if ready { "ready" } else { "unavailable" }),
        );
        for (name, outcome) in [("store", store), ("queue", queue)] {
            if let Some(outcome) = outcome {
                body.insert(name.into(), json!(outcome.unwrap_or_else(|| "ok".into())));
            }
        }
        (ready, Value::Object(body))
    }
}

/// Why `check` did not answer within `READY_WITHIN`, or `None` when it did.
async fn reaches<T>(check: impl std::future::Future<Output = anyhow::Result<T>>) -> Option<String> {
    match tokio::time::timeout(READY_WITHIN, check).await {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(format!("{e:#}")),
        Err(_) => Some(format!("no answer within {} s", READY_WITHIN.as_secs())),
    }
}
