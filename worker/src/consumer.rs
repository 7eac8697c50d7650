//! The worker's link to the queue: at most `max_workers` units held (across all its actions'
//! queues), so it never holds a unit an idle worker elsewhere could run. A link that breaks
//! (the broker restarts, publishing fails) is replaced; the units running keep running and
//! report on the new link.

use std::sync::Arc;

use crowd_shared::{retry::keep_running, shutdown::CancellationToken};
use futures_util::StreamExt;

use crate::{
    env::{Link, WorkerEnv},
    heartbeat, reporting, throttle, unit,
};

/// Runs until `shutdown`, reconnecting whenever the link to the queue is lost.
pub async fn run(env: Arc<WorkerEnv>, shutdown: CancellationToken) -> anyhow::Result<()> {
    tracing::info!(node = %env.node, actions = ?env.actions, max_workers = env.max_workers, "worker starting");
    let reporting = tokio::spawn(reporting::run(env.clone()));
    if !env.limits.is_off() {
        tokio::spawn(throttle::watch(
            env.limits,
            throttle::read,
            env.throttled.clone(),
            throttle::EVERY,
            shutdown.clone(),
        ));
    }
    keep_running("the worker's link to the queue", &shutdown, || {
        session(&env, &shutdown)
    })
    .await;
    // Stopped while no link was up: what still runs cannot report; the queue hands it out again.
    let left = env.running.abort_all();
    if left > 0 {
        tracing::warn!(
            left,
            "stopped with no link to the queue; unfinished units go back to it"
        );
    }
    env.closing.cancel();
    reporting.await.ok();
    Ok(())
}

async fn session(env: &Arc<WorkerEnv>, shutdown: &CancellationToken) -> anyhow::Result<()> {
    let mut link = env
        .queue
        .worker_link(&env.node, &env.actions, env.max_workers)
        .await?;
    let broken = CancellationToken::new();
    env.link.send_replace(Some(Link {
        reporter: link.reporter.clone(),
        broken: broken.clone(),
    }));
    let beats = CancellationToken::new();
    let beating = tokio::spawn(heartbeat::run(
        env.clone(),
        link.reporter.clone(),
        beats.clone(),
    ));
    let ended = loop {
        tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            _ = broken.cancelled() => break Err(anyhow::anyhow!("a completion could not be published")),
            Some(job_id) = link.deleted.next() => unit::stop_job(env, job_id),
            delivery = link.deliveries.next() => match delivery {
                Some(Ok(delivery)) => unit::take(env, delivery),
                Some(Err(e)) => break Err(e),
                None => break Err(anyhow::anyhow!("the queue closed the worker's link")),
            },
        }
    };
    // Stop taking work. Stopping for good: what runs may finish within the grace period, so
    // its results count. A broken link: what runs goes on and reports on the next one.
    link.control.stop_taking().await;
    if ended.is_ok()
        && tokio::time::timeout(env.grace, env.running.drained())
            .await
            .is_err()
    {
        let left = env.running.abort_all();
        tracing::warn!(
            left,
            "grace period over; unfinished units go back to the queue"
        );
    }
    env.link.send_replace(None);
    beats.cancel();
    beating.await.ok();
    if ended.is_ok() {
        heartbeat::leave(env, link.reporter.as_ref()).await;
    }
    // Closing hands every unacked delivery back to the queue.
    link.control.close().await;
    ended
}
