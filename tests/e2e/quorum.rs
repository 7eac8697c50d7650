//! `queue_type = "quorum"`: the work and completion queues are quorum queues (what a RabbitMQ
//! cluster should use), jobs run on them as on classic ones, each worker still holds no more
//! units than it runs, and a unit the broker delivered `queue_delivery_limit` times without an
//! answer fails with a message saying so. RabbitMQ only: the in-process queues have no kinds.

use crowd::shared::{
    config::QueueType,
    queue::amqp::wire::{self, Durable, QueueNames},
    Config,
};
use futures_util::StreamExt;
use serde_json::json;

use crate::helpers::{Backend, StackOptions, TestStack, WAIT};

fn quorum(c: &mut Config) {
    c.queue_type = QueueType::Quorum;
    c.queue_delivery_limit = 2;
}

/// Whether `queue` was declared as `durable` says: RabbitMQ refuses a declaration whose
/// arguments differ from the queue's own.
async fn declared_as(config: &Config, action: &str, durable: Durable) -> bool {
    let conn = wire::connect(&config.amqp_url, "crowd test probe")
        .await
        .expect("connect");
    let channel = conn.create_channel().await.expect("channel");
    let names = QueueNames::new(&config.queue_prefix);
    let same = wire::declare_work(&channel, &names, &names.work(action), durable)
        .await
        .is_ok();
    conn.close(200, "done".into()).await.ok();
    same
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_run_on_quorum_queues() {
    let mut stack = TestStack::start_with(
        Backend::Distributed,
        StackOptions {
            configure: quorum,
            ..Default::default()
        },
    )
    .await;
    let id = stack
        .post_id(json!({"action": "chunked_word_count", "inputs": ["one two\nthree\nfour five"], "options": {"lines_per_chunk": 1}}))
        .await;
    let done = stack.wait_for_job(id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["outputs"], json!([5]));
    let config = stack.config.clone();
    let as_quorum = Durable {
        kind: QueueType::Quorum,
        delivery_limit: 2,
    };
    assert!(declared_as(&config, "chunked_word_count", as_quorum).await);
    assert!(!declared_as(&config, "chunked_word_count", Durable::CLASSIC).await);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_unit_the_broker_gives_up_on_fails_and_says_why() {
    let mut stack = TestStack::start_with(
        Backend::Distributed,
        StackOptions {
            workers: 0,
            configure: quorum,
            ..Default::default()
        },
    )
    .await;
    // A worker that takes the unit and hands it back, as one that dies each time would.
    let link = stack
        .queue
        .worker_link("hands back", &["word_count".to_string()], 1)
        .await
        .expect("a worker link");
    let id = stack
        .post_id(json!({"action": "word_count", "inputs": ["never counted"]}))
        .await;
    let mut deliveries = link.deliveries;
    // More than the limit of 2 deliveries that end unsettled.
    for _ in 0..3 {
        let delivery = tokio::time::timeout(WAIT, deliveries.next())
            .await
            .expect("a delivery in time")
            .expect("the link is open")
            .expect("a delivery");
        delivery.acker.requeue().await.expect("handed back");
    }
    let done = stack.wait_for_job(id).await;
    assert_eq!(done["status"], "failed", "{done}");
    let error = done["outputs"][0].as_str().unwrap_or_default();
    assert!(
        error.contains("delivered it more than 2 times (queue_delivery_limit)"),
        "{done}"
    );
    link.control.close().await;
    stack.stop().await;
}
