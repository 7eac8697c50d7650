//! `GET /events`: server-sent snapshots of the whole system, every second, for the operations
//! page. One task per api reads the store once a second while anyone listens, whatever the
//! number of pages open, and every `history::SAMPLE_EVERY` for the history in any case.

use std::{convert::Infallible, sync::Arc, time::Duration};

use crowd_shared::{shutdown::CancellationToken, store::Store};
use futures_util::{stream, Stream, StreamExt};
use serde_json::{json, Value};
use tokio::sync::watch;
use warp::{sse::Event, Rejection, Reply};

use crate::{handlers::node_json, history::History, ApiError, ApiState};

/// How often a snapshot is taken.
pub const PERIOD: Duration = Duration::from_secs(1);
/// The window `finished_per_sec` averages over.
const RATE_WINDOW: Duration = Duration::from_secs(5);

/// The latest snapshot, shared by every open stream.
pub struct Snapshots {
    latest: watch::Sender<Option<Arc<Value>>>,
    /// The last hour's figures, sampled from these snapshots.
    pub history: History,
}

impl Snapshots {
    pub fn new() -> Self {
        Snapshots {
            latest: watch::Sender::new(None),
            history: History::default(),
        }
    }

    /// Takes a snapshot every `PERIOD` while a stream is open, until `shutdown`.
    pub async fn run(
        &self,
        store: Arc<dyn Store>,
        node_ttl: Duration,
        shutdown: CancellationToken,
    ) {
        let mut ticks = tokio::time::interval(PERIOD);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let now = std::time::Instant::now();
            let sample = self.history.due(now);
            if self.latest.receiver_count() == 0 && !sample {
                continue;
            }
            match take(store.as_ref(), node_ttl).await {
                Ok(snapshot) => {
                    if sample {
                        self.history.record(&snapshot, now);
                    }
                    self.latest.send_replace(Some(Arc::new(snapshot)));
                }
                Err(e) => tracing::warn!(error = %e, "taking a snapshot for /events failed"),
            }
        }
    }
}

impl Default for Snapshots {
    fn default() -> Self {
        Snapshots::new()
    }
}

/// The system now, as the operations page draws it.
pub async fn take(store: &dyn Store, node_ttl: Duration) -> Result<Value, ApiError> {
    let overview = store.overview(node_ttl).await?;
    let finished = store.units_finished_within(RATE_WINDOW).await?;
    let running: usize = overview
        .nodes
        .iter()
        .map(|n| n.running.as_array().map_or(0, Vec::len))
        .sum();
    let max_workers: i64 = overview
        .nodes
        .iter()
        .map(|n| i64::from(n.max_workers))
        .sum();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    Ok(json!({
        "time": now,
        "job_count": overview.job_count,
        "work_unit_count": overview.work_unit_count,
        "node_count": overview.nodes.len(),
        "worker_count": running,
        "max_workers": max_workers,
        "finished_per_sec": finished as f64 / RATE_WINDOW.as_secs_f64(),
        "nodes": overview.nodes.iter().map(node_json).collect::<Vec<_>>(),
    }))
}

pub async fn stream(state: Arc<ApiState>) -> Result<impl Reply, Rejection> {
    // The first event goes out at once, so a page has figures before the next tick.
    let first = take(state.store.as_ref(), state.node_ttl).await?;
    let updates = state.snapshots.latest.subscribe();
    let events = stream::once(async move { Some(Arc::new(first)) })
        .chain(changes(updates))
        .filter_map(|snapshot| async move { snapshot })
        .map(|snapshot| Event::default().event("snapshot").json_data(&*snapshot))
        .map(|event| Ok::<_, Infallible>(event.unwrap_or_else(|_| Event::default())))
        // An open stream would hold up a graceful shutdown forever.
        .take_until(state.stop_streams.clone().cancelled_owned());
    Ok(warp::sse::reply(warp::sse::keep_alive().stream(events)))
}

/// Each snapshot taken after now.
fn changes(updates: watch::Receiver<Option<Arc<Value>>>) -> impl Stream<Item = Option<Arc<Value>>> {
    stream::unfold(updates, |mut rx| async move {
        rx.changed().await.ok()?;
        let latest = rx.borrow_and_update().clone();
        Some((latest, rx))
    })
}
