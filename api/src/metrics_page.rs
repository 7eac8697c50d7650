//! `GET /metrics`: this process's Prometheus text, with what only a look at the queue and the
//! store tells (units waiting in each action's queue, its oldest unit's wait, the outbox's lag)
//! read at scrape time, each within a bound so a scrape answers while the broker or the
//! database does not.

use std::{sync::Arc, time::Duration};

use crowd_shared::metrics;
use warp::{Rejection, Reply};

use crate::ApiState;

/// Longest a scrape waits for the queue or the store.
const LOOK_WITHIN: Duration = Duration::from_secs(2);

pub async fn scrape(state: Arc<ApiState>) -> Result<impl Reply, Rejection> {
    let actions: Vec<String> = state.catalog.keys().cloned().collect();
    let (waiting, lag, queues) = tokio::join!(
        tokio::time::timeout(LOOK_WITHIN, state.queue.waiting_in(&actions)),
        tokio::time::timeout(LOOK_WITHIN, state.store.outbox_lag()),
        tokio::time::timeout(LOOK_WITHIN, crate::actions::read(&state)),
    );
    if let Ok(Ok(counts)) = waiting {
        for (action, units) in actions.iter().zip(counts) {
            metrics::queue_waiting(action, units);
        }
    }
    if let Ok(Ok(queues)) = queues {
        for queue in queues {
            metrics::action_backlog(&queue.action, queue.oldest_waiting_seconds, queue.paused);
        }
    }
    if let Ok(Ok(lag)) = lag {
        metrics::outbox_lag(lag.unwrap_or_default());
    }
    Ok(crate::probes::prometheus_text(metrics::render()))
}
