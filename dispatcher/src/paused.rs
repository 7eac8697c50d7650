//! Paused actions (CloudCrowd's blacklist). The relay leaves a paused action's units in the
//! outbox; this loop takes back the ones already in its queue: it consumes the queue beside the
//! workers and puts each unit it receives back in the outbox, so the queue empties and no new
//! unit of the action starts until it is resumed. Units a worker holds already finish. What
//! becomes of each unit it takes is the store's decision (`TakenBack`).

use std::{sync::Arc, time::Duration};

use crowd_shared::{
    messages::WorkMessage, queue::Delivery, shutdown::CancellationToken, store::TakenBack,
};
use futures_util::StreamExt;

use crate::{keep_running, Dispatcher};

/// Units taken back at once: as many as one round of the store takes.
const PREFETCH: u16 = 200;
/// How long a relay may take to mark queued a unit it published, and how often to look.
const SETTLE_WITHIN: Duration = Duration::from_secs(5);
const ASK_AGAIN_AFTER: Duration = Duration::from_millis(20);
/// How long deliveries already sent to it may take to come out of the link once it stopped
/// taking more: they are in its buffers by then.
const IN_HAND_WITHIN: Duration = Duration::from_millis(100);
/// The name it consumes under, as a worker would.
const NODE: &str = "dispatcher (taking back paused units)";

pub async fn run(d: Arc<Dispatcher>, shutdown: CancellationToken) {
    keep_running("taking back paused units", &shutdown, || {
        session(&d, &shutdown)
    })
    .await;
}

async fn paused_names(d: &Dispatcher) -> anyhow::Result<Vec<String>> {
    let paused = d.store.paused_actions().await?;
    Ok(paused.into_iter().map(|p| p.action).collect())
}

/// Drains the queues of the actions paused now until that set changes, then starts again.
async fn session(d: &Arc<Dispatcher>, shutdown: &CancellationToken) -> anyhow::Result<()> {
    let mut check = tokio::time::interval(d.config.poll_interval());
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let paused = paused_names(d).await?;
        if paused.is_empty() {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = check.tick() => continue,
            }
        }
        tracing::info!(actions = ?paused, "taking back the units queued for paused actions");
        let link = d.queue.worker_link(NODE, &paused, PREFETCH).await?;
        let mut deliveries = link.deliveries;
        let ended = loop {
            tokio::select! {
                _ = shutdown.cancelled() => break Ok(true),
                _ = check.tick() => match paused_names(d).await {
                    Ok(now) if now == paused => {}
                    Ok(_) => break Ok(false),
                    Err(e) => break Err(e),
                },
                next = deliveries.next() => match next {
                    Some(Ok(delivery)) => match take_back(d, delivery).await {
                        Ok(true) => {}
                        Ok(false) => break Ok(false),
                        Err(e) => break Err(e),
                    },
                    Some(Err(e)) => break Err(e.context("consuming a paused action's queue")),
                    None => break Err(anyhow::anyhow!("a paused action's queue closed")),
                },
            }
        };
        // What it holds is settled here, not handed back: a message handed back is marked
        // redelivered, and the worker that takes it would count a run that stopped.
        link.control.stop_taking().await;
        if ended.is_ok() {
            while let Ok(Some(Ok(delivery))) =
                tokio::time::timeout(IN_HAND_WITHIN, deliveries.next()).await
            {
                take_back(d, delivery).await?;
            }
        }
        link.control.close().await;
        if ended? {
            return Ok(());
        }
    }
}

/// Takes the unit back (`TakenBack`) and then acks its message, so a crash between the two
/// delivers it again and the store decides again. A unit its relay has not yet marked queued
/// is asked about again shortly; past `SETTLE_WITHIN` it stays pending in the outbox, and the
/// message goes. `Ok(false)` when its action is no longer paused: this session has outlived
/// the pause.
async fn take_back(d: &Dispatcher, delivery: Delivery<WorkMessage>) -> anyhow::Result<bool> {
    let units: Vec<_> = match delivery.body {
        Ok(unit) => vec![unit.unit_attempt()],
        Err(undecodable) => undecodable.unit_attempt().into_iter().collect(),
    };
    let deadline = tokio::time::Instant::now() + SETTLE_WITHIN;
    let decided = loop {
        let decided = d.store.take_back(&units).await?;
        if !decided.contains(&TakenBack::NotYetQueued) || tokio::time::Instant::now() > deadline {
            break decided;
        }
        tokio::time::sleep(ASK_AGAIN_AFTER).await;
    };
    tracing::debug!(
        ?units,
        ?decided,
        "a unit taken from a paused action's queue"
    );
    delivery.acker.ack().await?;
    Ok(!decided.contains(&TakenBack::Resumed))
}
