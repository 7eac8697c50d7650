//! Messages from a worker of another version: a completion that does not parse is not dropped
//! silently; its unit is tried again with a message that says why.

use lapin::{options::BasicPublishOptions, BasicProperties};
use serde_json::json;

use crate::{
    fake_worker::{succeeded, FakeWorker},
    helpers::{Backend, TestStack},
};

/// Only RabbitMQ carries bytes another program wrote; the in-process queue carries typed values.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_completion_that_does_not_parse_retries_its_unit() {
    let mut stack = TestStack::without_workers(Backend::Distributed).await;
    let mut worker = FakeWorker::start(&stack, "word_count").await;
    let id = stack
        .post_id(json!({"action": "word_count", "inputs": ["x y z"]}))
        .await;
    let first = worker.next().await;
    let from_the_future = json!({
        "unit_id": first.unit_id, "job_id": first.job_id, "attempt": first.attempt,
        "outcome": {"status": "teleported"}, "time": 0.1, "node": "worker v9",
    });
    publish_raw(&stack, &from_the_future).await;

    let second = worker.next().await;
    assert_eq!((second.unit_id, second.attempt), (first.unit_id, 1));
    let units = stack.units(id).await;
    let error = units[0].error.clone().unwrap_or_default();
    assert!(error.contains("could not be read"), "{error}");
    worker
        .reporter()
        .complete(&[succeeded(&second, json!(3))])
        .await
        .expect("complete");
    let merge = worker.next().await;
    worker
        .reporter()
        .complete(&[succeeded(&merge, json!(3))])
        .await
        .expect("complete");
    assert_eq!(stack.wait_for_job(id).await["outputs"], json!([3]));
    stack.stop().await;
}

/// A worker sends the completions of units that end together as one message: each is
/// recorded, and one that does not parse retries its own unit only.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_of_several_completions_records_each() {
    let stack = TestStack::without_workers(Backend::Distributed).await;
    let mut worker = FakeWorker::start(&stack, "word_count").await;
    let id = stack
        .post_id(json!({"action": "word_count", "inputs": ["a", "b c", "d e f"]}))
        .await;
    let units = [
        worker.next().await,
        worker.next().await,
        worker.next().await,
    ];
    let mut unreadable = serde_json::to_value(succeeded(&units[2], json!(3))).expect("JSON");
    unreadable["outcome"] = json!({"status": "teleported"});
    let together = json!([
        succeeded(&units[0], json!(1)),
        succeeded(&units[1], json!(2)),
        unreadable,
    ]);
    publish_raw(&stack, &together).await;

    let retried = worker.next().await;
    assert_eq!((retried.unit_id, retried.attempt), (units[2].unit_id, 1));
    assert_eq!(stack.attempts(id, Some(1)).await, [1, 1, 1]);
    worker
        .reporter()
        .complete(&[succeeded(&retried, json!(3))])
        .await
        .expect("complete");
    let merge = worker.next().await;
    assert_eq!(merge.input, json!([1, 2, 3]));
    stack.stop().await;
}

async fn publish_raw(stack: &TestStack, body: &serde_json::Value) {
    let names = crowd::shared::queue::amqp::wire::QueueNames::new(&stack.config.queue_prefix);
    let conn = crowd::shared::queue::amqp::wire::connect(&stack.config.amqp_url, "test publisher")
        .await
        .expect("connect");
    let channel = crowd::shared::queue::amqp::wire::confirmed_channel(&conn)
        .await
        .expect("channel");
    channel
        .basic_publish(
            "".into(),
            names.completions().as_str().into(),
            BasicPublishOptions::default(),
            &serde_json::to_vec(body).expect("encode"),
            BasicProperties::default(),
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
    conn.close(200, "done".into()).await.ok();
}
