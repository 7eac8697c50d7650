//! A stand-in for a worker that the test drives by hand: it takes work messages off an
//! action's queue and acks them at once, so the queue forgets them, and builds completions.

use crowd::shared::{
    messages::{Completion, Outcome, WorkMessage},
    queue::{Reporter, WorkerLink},
};
use futures_util::StreamExt;

use crate::helpers::{TestStack, WAIT};

pub struct FakeWorker {
    link: WorkerLink,
}

impl FakeWorker {
    pub async fn start(stack: &TestStack, action: &str) -> FakeWorker {
        FakeWorker::start_with_prefetch(stack, action, 100).await
    }

    /// Holds at most `prefetch` messages that `next` has not returned yet.
    pub async fn start_with_prefetch(stack: &TestStack, action: &str, prefetch: u16) -> FakeWorker {
        let link = stack
            .queue
            .worker_link("fake worker", &[action.to_string()], prefetch)
            .await
            .expect("a worker link");
        FakeWorker { link }
    }

    /// Takes the next work message off the queue, as a worker would.
    pub async fn next(&mut self) -> WorkMessage {
        let delivery = tokio::time::timeout(WAIT, self.link.deliveries.next())
            .await
            .expect("a work message in time")
            .expect("the link is open")
            .expect("a delivery");
        delivery.acker.ack().await.expect("ack");
        delivery.body.expect("a work message")
    }

    /// Sends a completion back the way workers do.
    pub fn reporter(&self) -> &dyn Reporter {
        self.link.reporter.as_ref()
    }
}

pub fn succeeded(msg: &WorkMessage, output: serde_json::Value) -> Completion {
    Completion {
        unit_id: msg.unit_id,
        job_id: msg.job_id,
        attempt: msg.attempt,
        outcome: Outcome::Succeeded { output },
        time: 0.01,
        node: "test".into(),
        action: None,
    }
}
