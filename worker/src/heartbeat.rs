//! A worker's heartbeat: what `/status` shows of it. Sent every interval and once on leaving.

use std::sync::Arc;

use crowd_shared::{messages::Heartbeat, queue::Reporter, shutdown::CancellationToken};

use crate::WorkerEnv;

pub async fn run(env: Arc<WorkerEnv>, reporter: Arc<dyn Reporter>, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(env.heartbeat_every);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        if let Err(e) = reporter.heartbeat(&beat(&env, false)).await {
            tracing::debug!(error = format!("{e:#}"), "heartbeat not sent");
        }
    }
}

/// Tells the dispatchers this node is gone, so it leaves `/status` at once.
pub async fn leave(env: &WorkerEnv, reporter: &dyn Reporter) {
    reporter.heartbeat(&beat(env, true)).await.ok();
}

fn beat(env: &WorkerEnv, leaving: bool) -> Heartbeat {
    Heartbeat {
        node: env.node.clone(),
        tag: env.tag.clone(),
        max_workers: env.max_workers,
        running: env.running.ids(),
        actions: env.actions.clone(),
        stages: env
            .actions
            .iter()
            .filter_map(|name| Some((name.clone(), env.registry.get(name)?.stages())))
            .collect(),
        throttled: env.throttled.borrow().clone(),
        progress: env.running.progress(),
        leaving,
    }
}
