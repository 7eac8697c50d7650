//! `GET /actions`: each action's queue as an operator sees it (waiting, running, the workers
//! that take it, how long the oldest unit has waited, whether it is paused).

use std::{collections::BTreeMap, sync::Arc};

use crowd_shared::{
    store::{Backlog, NodeView, PausedAction},
    UnitId,
};
use serde::Serialize;
use serde_json::json;
use warp::{Rejection, Reply};

use crate::{ApiError, ApiState};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionQueue {
    pub action: String,
    /// Incomplete units no live node runs: in the outbox or in the action's queue.
    pub waiting: i64,
    pub running: i64,
    /// Workers of live nodes that take the action.
    pub workers: i64,
    pub oldest_waiting_seconds: Option<f64>,
    pub paused: bool,
    pub paused_at: Option<String>,
}

/// Every action known (built in, advertised by a live node, with units, or paused), by name.
pub fn queues(
    known: impl IntoIterator<Item = String>,
    nodes: &[NodeView],
    backlogs: Vec<Backlog>,
    paused: Vec<PausedAction>,
) -> Vec<ActionQueue> {
    let mut by_name: BTreeMap<String, ActionQueue> = BTreeMap::new();
    fn add<'a>(by_name: &'a mut BTreeMap<String, ActionQueue>, name: &str) -> &'a mut ActionQueue {
        by_name
            .entry(name.to_string())
            .or_insert_with(|| ActionQueue {
                action: name.to_string(),
                waiting: 0,
                running: 0,
                workers: 0,
                oldest_waiting_seconds: None,
                paused: false,
                paused_at: None,
            })
    }
    for name in known {
        add(&mut by_name, &name);
    }
    for node in nodes {
        for name in node.actions.keys() {
            add(&mut by_name, name).workers += i64::from(node.max_workers.max(0));
        }
    }
    for backlog in backlogs {
        let queue = add(&mut by_name, &backlog.action);
        queue.waiting = backlog.waiting;
        queue.running = backlog.running;
        queue.oldest_waiting_seconds = backlog.oldest_waiting_seconds;
    }
    for record in paused {
        let queue = add(&mut by_name, &record.action);
        queue.paused = true;
        queue.paused_at = Some(record.created_at);
    }
    by_name.into_values().collect()
}

/// The ids of the units live nodes run.
pub fn running_ids(nodes: &[NodeView]) -> Vec<UnitId> {
    nodes
        .iter()
        .filter_map(|n| n.running.as_array())
        .flatten()
        .filter_map(serde_json::Value::as_i64)
        .map(UnitId)
        .collect()
}

/// Every action's queue, read now.
pub async fn read(state: &ApiState) -> Result<Vec<ActionQueue>, ApiError> {
    let store = state.store.as_ref();
    let nodes = store.overview(state.node_ttl).await?.nodes;
    let backlogs = store.backlogs(&running_ids(&nodes)).await?;
    let paused = store.paused_actions().await?;
    Ok(queues(
        state.catalog.keys().cloned(),
        &nodes,
        backlogs,
        paused,
    ))
}

pub async fn list(state: Arc<ApiState>) -> Result<impl Reply, Rejection> {
    let actions = read(&state).await?;
    Ok(warp::reply::json(&json!({ "actions": actions })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crowd_shared::catalog::{Catalog, Stages};

    fn node(actions: &[&str], max_workers: i32, running: serde_json::Value) -> NodeView {
        let actions: Catalog = actions
            .iter()
            .map(|a| (a.to_string(), Stages::default()))
            .collect();
        NodeView {
            name: "n".into(),
            tag: None,
            running,
            max_workers,
            throttled: None,
            actions,
            progress: json!({}),
        }
    }

    #[test]
    fn every_action_known_is_listed_once_with_what_each_source_says() {
        let nodes = [
            node(&["word_count", "shout"], 4, json!([7, 8])),
            node(&["word_count"], 2, json!([])),
        ];
        assert_eq!(running_ids(&nodes), vec![UnitId(7), UnitId(8)]);
        let backlogs = vec![Backlog {
            action: "word_count".into(),
            running: 2,
            waiting: 10,
            oldest_waiting_seconds: Some(3.5),
        }];
        let paused = vec![PausedAction {
            id: 1,
            action: "gone".into(),
            created_at: "2026-11-30T06:00:00Z".into(),
        }];
        let listed = queues(
            ["built_in".to_string(), "word_count".to_string()],
            &nodes,
            backlogs,
            paused,
        );
        let names: Vec<&str> = listed.iter().map(|q| q.action.as_str()).collect();
        assert_eq!(names, ["built_in", "gone", "shout", "word_count"]);
        let word_count = &listed[3];
        assert_eq!(
            (word_count.waiting, word_count.running, word_count.workers),
            (10, 2, 6)
        );
        assert_eq!(word_count.oldest_waiting_seconds, Some(3.5));
        assert!(!word_count.paused);
        assert_eq!(listed[1].paused_at.as_deref(), Some("2026-11-30T06:00:00Z"));
        assert_eq!((listed[2].workers, listed[2].waiting), (4, 0));
    }
}
