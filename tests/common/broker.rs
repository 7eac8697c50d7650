//! What tests ask of RabbitMQ directly: how many messages and consumers a queue has, and
//! removing what a stack declared.

use crowd::shared::{queue::amqp::wire as amqp, Config};
use lapin::options::QueueDeclareOptions;

/// What a queue holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueState {
    pub messages: u32,
    pub consumers: u32,
}

/// The queue's counts, or `None` if it does not exist or the broker cannot be reached.
pub async fn queue_state(amqp_url: &str, queue: &str) -> Option<QueueState> {
    let conn = amqp::connect(amqp_url, "crowd test probe").await.ok()?;
    let state = match conn.create_channel().await {
        Ok(channel) => channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    durable: true,
                    ..Default::default()
                },
                Default::default(),
            )
            .await
            .ok()
            .map(|q| QueueState {
                messages: q.message_count(),
                consumers: q.consumer_count(),
            }),
        Err(_) => None,
    };
    let _ = conn.close(200, "done".into()).await;
    state
}

/// The queues a stack of `config` declares.
pub fn queues_of(config: &Config) -> Vec<String> {
    let names = amqp::QueueNames::new(&config.queue_prefix);
    let mut queues = vec![names.completions(), names.heartbeats()];
    queues.extend(
        crowd::worker::Registry::builtin()
            .names()
            .map(|a| names.work(a)),
    );
    queues
}

/// Deletes the queues and the exchange a stack of `config` declared.
pub async fn delete_queues(config: &Config) {
    let Ok(conn) = amqp::connect(&config.amqp_url, "crowd test cleanup").await else {
        return;
    };
    let Ok(channel) = conn.create_channel().await else {
        return;
    };
    // The poison queue exists only where quorum queues were declared.
    let poison = amqp::QueueNames::new(&config.queue_prefix).poison();
    for queue in queues_of(config).into_iter().chain([poison]) {
        let _ = channel
            .queue_delete(queue.as_str().into(), Default::default())
            .await;
    }
    let deleted = amqp::QueueNames::new(&config.queue_prefix).deleted();
    let _ = channel
        .exchange_delete(deleted.as_str().into(), Default::default())
        .await;
    let _ = conn.close(200, "done".into()).await;
}
