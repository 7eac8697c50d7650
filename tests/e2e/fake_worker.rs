//! A stand-in for a worker that the test drives by hand: it takes work messages off an
//! action's queue (auto-acked, so the broker forgets them) and builds completions.

use crowd::shared::{
    amqp::{self, QueueNames},
    messages::{Completion, Outcome, WorkMessage},
};
use futures_util::StreamExt;
use lapin::{options::BasicConsumeOptions, types::FieldTable};

use crate::helpers::{TestStack, WAIT};

/// Takes the next work message off an action's queue, as a worker would.
pub struct FakeWorker {
    _conn: lapin::Connection,
    consumer: lapin::Consumer,
}

impl FakeWorker {
    pub async fn start(stack: &TestStack, action: &str) -> FakeWorker {
        let conn = amqp::connect(&stack.config.amqp_url, "crowd test fake worker")
            .await
            .expect("connect");
        let channel = conn.create_channel().await.expect("channel");
        let queue = QueueNames::new(&stack.config.queue_prefix).work(action);
        amqp::declare_durable(&channel, &queue)
            .await
            .expect("declare");
        let consumer = channel
            .basic_consume(
                queue.as_str().into(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("consume");
        FakeWorker {
            _conn: conn,
            consumer,
        }
    }

    pub async fn next(&mut self) -> WorkMessage {
        let delivery = tokio::time::timeout(WAIT, self.consumer.next())
            .await
            .expect("a work message in time")
            .expect("the consumer is open")
            .expect("a delivery");
        serde_json::from_slice(&delivery.data).expect("a work message")
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
    }
}
