//! Units the broker gave up on. A quorum queue counts the deliveries of each message and,
//! past `queue_delivery_limit`, dead-letters it to the poison queue instead of handing it out
//! once more: every worker that took it died or handed it back without an answer. Each unit
//! of such a message fails for good, with a message that says why, recorded as any completion
//! is; classic queues have no such limit, and this loop then waits for shutdown.

use std::sync::Arc;

use crowd_shared::{
    messages::{Completion, Completions, OneOrMany, Outcome, WorkMessages},
    queue::Delivery,
    shutdown::CancellationToken,
};
use futures_util::StreamExt;

use crate::{completions, keep_running, Dispatcher};

/// Poisoned messages held at once: they are rare, and each is recorded as it comes.
const PREFETCH: u16 = 16;

pub async fn run(d: Arc<Dispatcher>, shutdown: CancellationToken) {
    keep_running("the poison consumer", &shutdown, || session(&d, &shutdown)).await;
}

async fn session(d: &Arc<Dispatcher>, shutdown: &CancellationToken) -> anyhow::Result<()> {
    let Some(link) = d.queue.poisoned(PREFETCH).await? else {
        shutdown.cancelled().await;
        return Ok(());
    };
    let mut deliveries = link.deliveries;
    let ended = loop {
        tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            next = deliveries.next() => match next {
                Some(Ok(delivery)) => {
                    let failed = failures(delivery, d.config.queue_delivery_limit);
                    completions::apply(d, vec![failed]).await;
                }
                Some(Err(e)) => break Err(e.context("consuming the poison queue")),
                None => break Err(anyhow::anyhow!("the poison queue closed")),
            },
        }
    };
    link.control.close().await;
    ended
}

/// The failure of every unit in a poisoned message, to be settled as the message.
fn failures(delivery: Delivery<WorkMessages>, limit: u32) -> Delivery<Completions> {
    let error = format!(
        "the broker delivered it more than {limit} times (queue_delivery_limit) and no worker \
         answered: each one that took it stopped or handed it back"
    );
    let units = match delivery.body {
        Ok(OneOrMany(units)) => units,
        Err(undecodable) => {
            tracing::warn!(error = %undecodable.error, "an unreadable message in the poison queue dropped");
            Vec::new()
        }
    };
    let failed = units
        .iter()
        .map(|unit| {
            tracing::warn!(job.id = unit.job_id.0, work_unit.id = unit.unit_id.0, action = %unit.action, limit, "unit given up by the broker");
            Completion::without_run(unit.unit_attempt(), Outcome::failed(error.clone(), false), "broker")
        })
        .collect();
    Delivery {
        body: Ok(OneOrMany(failed)),
        redelivered: delivery.redelivered,
        acker: delivery.acker,
    }
}
