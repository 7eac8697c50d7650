//! The contract test bodies, each given a fresh store.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use crowd::shared::{
    catalog::Stages,
    idempotency::{Fingerprint, IdempotencyKey, KeyedOutcome, KeyedPost},
    ids::{JobId, UnitId},
    lane::{Lane, BULK_FROM},
    messages::{Completion, Heartbeat, Outcome, WorkMessage},
    queue::{Publish, Published},
    status::Stage,
    store::{Applied, NewJob, Store},
};
use serde_json::{json, Value};

/// Plays the broker: takes every unit the relay hands over and confirms it.
#[derive(Default)]
struct Broker {
    received: Vec<WorkMessage>,
}

#[async_trait]
impl Publish for Broker {
    async fn publish(&mut self, units: Vec<WorkMessage>) -> anyhow::Result<Published> {
        let confirmed = units.iter().map(|u| u.unit_id).collect();
        self.received.extend(units);
        Ok(Published {
            confirmed,
            ..Published::default()
        })
    }
}

const MERGE: Stages = Stages {
    split: false,
    merge: true,
};
pub const PLAIN: Stages = Stages {
    split: false,
    merge: false,
};

pub fn job(inputs: Value) -> NewJob {
    NewJob {
        action: "word_count".into(),
        inputs: inputs.as_array().expect("inputs").clone(),
        options: json!({"x": 1}),
        callback_url: None,
        email: Some("a@b".into()),
    }
}

/// Relays what is pending and returns it.
pub async fn relay(store: &Arc<dyn Store>) -> Vec<WorkMessage> {
    let mut broker = Broker::default();
    store
        .relay_pending(100, 3, &mut broker)
        .await
        .expect("relay");
    broker.received
}

pub fn succeeded(unit: &WorkMessage, output: Value) -> Completion {
    Completion {
        unit_id: unit.unit_id,
        job_id: unit.job_id,
        attempt: unit.attempt,
        outcome: Outcome::Succeeded { output },
        time: 0.5,
        node: "test".into(),
        action: None,
    }
}

pub fn failed(unit: &WorkMessage) -> Completion {
    Completion {
        outcome: Outcome::failed(format!("boom {}", unit.attempt), true),
        ..succeeded(unit, Value::Null)
    }
}

/// Records a completion and moves its job on, as the dispatcher does.
async fn apply(store: &Arc<dyn Store>, c: &Completion) -> Applied {
    crowd_dispatcher::job_progress::apply_completion(store.as_ref(), c, 2)
        .await
        .expect("record and move on")
}

pub async fn a_job_with_a_merge_runs_to_success(store: Arc<dyn Store>) {
    let id = store
        .create_job(&job(json!(["a b", "c"])), MERGE)
        .await
        .expect("create");
    assert_eq!(store.incomplete_jobs().await.expect("incomplete"), vec![id]);
    let view = store.job_view(id).await.expect("view").expect("exists");
    assert_eq!(
        (view.status, view.work_units, view.percent_complete),
        ("processing", 2, 0)
    );
    assert_eq!(view.email.as_deref(), Some("a@b"));

    let units = relay(&store).await;
    assert_eq!(units.len(), 2);
    assert!(units
        .iter()
        .all(|u| u.stage == Stage::Process && u.options == json!({"x": 1})));
    assert!(
        relay(&store).await.is_empty(),
        "queued units are not relayed again"
    );
    assert_eq!(
        apply(&store, &succeeded(&units[0], json!(2))).await,
        Applied::Recorded
    );
    let view = store.job_view(id).await.expect("view").expect("exists");
    assert_eq!(
        (view.status, view.percent_complete, view.work_units),
        ("processing", 50, 1)
    );
    apply(&store, &succeeded(&units[1], json!(1))).await;
    let view = store.job_view(id).await.expect("view").expect("exists");
    assert_eq!((view.status, view.percent_complete), ("merging", 99));

    let merge = relay(&store).await;
    assert_eq!(merge.len(), 1);
    assert_eq!(
        (merge[0].stage, merge[0].input_key.as_deref()),
        (
            Stage::Merge,
            Some(format!("word_count/job_{id}/merge_input.json").as_str())
        ),
        "the merge's input is read when it is sent"
    );
    let outputs = store
        .stage_outputs_after(id, Stage::Process, UnitId(0), 10)
        .await
        .expect("outputs");
    let values: Vec<Value> = outputs.into_iter().map(|(_, v)| v).collect();
    assert_eq!(values, [json!(2), json!(1)], "in unit order");
    apply(&store, &succeeded(&merge[0], json!(3))).await;
    let view = store.job_view(id).await.expect("view").expect("exists");
    assert_eq!(view.status, "succeeded");
    assert_eq!(view.outputs, Some(json!([3])));
    assert_eq!((view.percent_complete, view.work_units), (100, 0));
    let overview = store
        .overview(Duration::from_secs(15))
        .await
        .expect("overview");
    assert_eq!((overview.job_count, overview.work_unit_count), (0, 0));
    assert!(store
        .incomplete_jobs()
        .await
        .expect("incomplete")
        .is_empty());
}

pub async fn duplicate_and_stale_completions_change_nothing(store: Arc<dyn Store>) {
    let id = store
        .create_job(&job(json!(["a"])), PLAIN)
        .await
        .expect("create");
    let units = relay(&store).await;
    let done = succeeded(&units[0], json!(1));
    assert_eq!(apply(&store, &done).await, Applied::Recorded);
    assert!(matches!(apply(&store, &done).await, Applied::Stale(_)));
    let late = Completion {
        attempt: 5,
        ..succeeded(&units[0], json!(9))
    };
    assert!(matches!(apply(&store, &late).await, Applied::Stale(_)));
    let view = store.job_view(id).await.expect("view").expect("exists");
    assert_eq!((view.status, view.outputs), ("succeeded", Some(json!([1]))));
}

pub async fn a_failing_unit_is_retried_then_fails_the_job(store: Arc<dyn Store>) {
    let id = store
        .create_job(&job(json!(["a"])), MERGE)
        .await
        .expect("create");
    let first = relay(&store).await;
    assert_eq!(apply(&store, &failed(&first[0])).await, Applied::Recorded);
    let second = relay(&store).await;
    assert_eq!(second.len(), 1, "back in the outbox");
    assert_eq!(
        (second[0].unit_id, second[0].attempt),
        (first[0].unit_id, 1)
    );
    assert!(
        matches!(apply(&store, &failed(&first[0])).await, Applied::Stale(_)),
        "the old attempt"
    );
    apply(&store, &failed(&second[0])).await; // the second of 2 attempts
    let view = store.job_view(id).await.expect("view").expect("exists");
    assert_eq!(view.status, "failed");
    assert_eq!(view.outputs, Some(json!(["boom 1"])));
}

pub async fn a_batch_records_each_completion_once(store: Arc<dyn Store>) {
    let id = store
        .create_job(&job(json!(["a", "b", "c"])), PLAIN)
        .await
        .expect("create");
    let units = relay(&store).await;
    let stale = Completion {
        attempt: 5,
        ..succeeded(&units[2], json!(9))
    };
    let batch = [
        succeeded(&units[0], json!(1)),
        succeeded(&units[0], json!(1)), // the same answer twice in one batch
        failed(&units[1]),
        stale,
    ];
    let recorded = store.record_completions(&batch, 2).await.expect("record");
    assert_eq!(
        recorded.applied,
        [
            Applied::Recorded,
            Applied::Stale("unit already complete"),
            Applied::Recorded,
            Applied::Stale("an older attempt"),
        ]
    );
    let again = relay(&store).await;
    assert_eq!(
        again
            .iter()
            .map(|u| (u.unit_id, u.attempt))
            .collect::<Vec<_>>(),
        [(units[1].unit_id, 1)],
        "the failure is retried, nothing else"
    );
    store
        .record_completions(
            &[
                succeeded(&again[0], json!(2)),
                succeeded(&units[2], json!(3)),
            ],
            2,
        )
        .await
        .expect("record");
    store.advance_job(id).await.expect("advance");
    let view = store.job_view(id).await.expect("view").expect("exists");
    assert_eq!(
        (view.status, view.outputs),
        ("succeeded", Some(json!([1, 2, 3])))
    );
}

/// The answer that ends a stage moves its job on in the same commit: a one-unit job's
/// completion and its merge's creation, and the merge's completion and the job's end, each
/// take one transaction, and nothing is left for `advance_job`.
pub async fn the_answer_that_ends_a_stage_moves_the_job_in_its_commit(store: Arc<dyn Store>) {
    let id = store
        .create_job(&job(json!(["a"])), MERGE)
        .await
        .expect("create");
    let units = relay(&store).await;
    let recorded = store
        .record_completions(&[succeeded(&units[0], json!(1))], 2)
        .await
        .expect("record");
    assert_eq!(recorded.applied, [Applied::Recorded]);
    assert!(recorded.to_advance.is_empty(), "{:?}", recorded.to_advance);
    let view = store.job_view(id).await.expect("view").expect("exists");
    assert_eq!(view.status, "merging");

    let merge = relay(&store).await;
    assert_eq!(merge.len(), 1, "the merge unit is in the outbox");
    let recorded = store
        .record_completions(&[succeeded(&merge[0], json!("merged"))], 2)
        .await
        .expect("record");
    assert!(recorded.to_advance.is_empty(), "{:?}", recorded.to_advance);
    let view = store.job_view(id).await.expect("view").expect("exists");
    assert_eq!(
        (view.status, view.outputs),
        ("succeeded", Some(json!(["merged"])))
    );
}

pub async fn stops_count_as_attempts_and_say_how_many(store: Arc<dyn Store>) {
    let id = store
        .create_job(&job(json!(["a"])), PLAIN)
        .await
        .expect("create");
    let stopped = |unit: &WorkMessage| Completion {
        outcome: Outcome::Failed {
            error: "the worker running it stopped".into(),
            retryable: true,
            stopped: true,
        },
        ..succeeded(unit, Value::Null)
    };
    let first = relay(&store).await;
    assert_eq!(apply(&store, &stopped(&first[0])).await, Applied::Recorded);
    let second = relay(&store).await;
    assert_eq!(second[0].attempt, 1, "a stop is an attempt");
    apply(&store, &stopped(&second[0])).await; // the second of 2 attempts
    let view = store.job_view(id).await.expect("view").expect("exists");
    assert_eq!(view.status, "failed");
    assert_eq!(
        view.outputs,
        Some(json!(["the worker running it stopped 2 times"]))
    );
}

pub async fn split_outputs_become_flattened_process_units(store: Arc<dyn Store>) {
    let stages = Stages {
        split: true,
        merge: false,
    };
    let id = store
        .create_job(&job(json!(["doc"])), stages)
        .await
        .expect("create");
    assert_eq!(
        store
            .job_view(id)
            .await
            .expect("view")
            .expect("exists")
            .status,
        "splitting"
    );
    let split = relay(&store).await;
    assert_eq!(split[0].stage, Stage::Split);
    apply(&store, &succeeded(&split[0], json!([["p1", "p2"], "p3"]))).await;
    let process = relay(&store).await;
    let inputs: Vec<Value> = process.iter().map(|u| u.input.clone()).collect();
    assert_eq!(inputs, vec![json!("p1"), json!("p2"), json!("p3")]);
    assert_eq!(
        store
            .job_view(id)
            .await
            .expect("view")
            .expect("exists")
            .status,
        "processing"
    );
    for (i, unit) in process.iter().enumerate() {
        apply(&store, &succeeded(unit, json!(i))).await;
    }
    let view = store.job_view(id).await.expect("view").expect("exists");
    assert_eq!(
        (view.status, view.outputs),
        ("succeeded", Some(json!([0, 1, 2])))
    );
}

pub async fn deleting_a_job_returns_its_action(store: Arc<dyn Store>) {
    let id = store
        .create_job(&job(json!(["a"])), PLAIN)
        .await
        .expect("create");
    assert_eq!(
        store.delete_job(id).await.expect("delete").as_deref(),
        Some("word_count")
    );
    assert!(store.job_view(id).await.expect("view").is_none());
    assert_eq!(store.delete_job(id).await.expect("delete"), None);
    assert!(relay(&store).await.is_empty(), "its units went with it");
}

/// A job posted behind a big one's backlog is relayed first: it is in the first lane.
pub async fn a_small_job_goes_ahead_of_a_big_ones_backlog(store: Arc<dyn Store>) {
    let many: Vec<Value> = (0..BULK_FROM).map(|i| json!(i)).collect();
    let big = store
        .create_job(&job(Value::Array(many)), MERGE)
        .await
        .expect("create");
    let small = store
        .create_job(&job(json!(["small"])), PLAIN)
        .await
        .expect("create");
    let mut broker = Broker::default();
    store
        .relay_pending(10, 3, &mut broker)
        .await
        .expect("relay");
    let jobs: Vec<JobId> = broker.received.iter().map(|u| u.job_id).collect();
    assert_eq!(jobs[0], small, "{jobs:?}");
    assert!(jobs[1..].iter().all(|&j| j == big), "{jobs:?}");
    assert_eq!(broker.received[0].lane, Lane::First);
    assert_eq!(broker.received[1].lane, Lane::Bulk);

    // A retried unit keeps its lane: the small job's retry goes ahead of the backlog too.
    let retried = failed(&broker.received[0]);
    assert_eq!(apply(&store, &retried).await, Applied::Recorded);
    let next = relay(&store).await;
    assert_eq!(next[0].job_id, small, "the retry first");
    assert_eq!(next[0].attempt, 1);
    let big_left = BULK_FROM - (jobs.len() - 1);
    assert_eq!(
        next.len(),
        1 + big_left,
        "and the rest of the backlog after it"
    );
}

/// A post with an idempotency key, kept for `retention`.
fn keyed(key: &str, job: &NewJob, retention: Duration) -> KeyedPost {
    KeyedPost {
        key: IdempotencyKey::parse(key.as_bytes()).expect("a valid key"),
        fingerprint: Fingerprint::of(job),
        retention,
    }
}

pub async fn one_key_makes_one_job_however_many_post_it_at_once(store: Arc<dyn Store>) {
    const DAY: Duration = Duration::from_secs(24 * 60 * 60);
    let first = job(json!(["a", "b"]));
    let post = keyed("k-1", &first, DAY);
    let outcomes = futures_util::future::join_all(
        (0..10).map(|_| store.create_job_with_key(&first, PLAIN, &post)),
    )
    .await;
    let outcomes: Vec<KeyedOutcome> = outcomes.into_iter().map(|o| o.expect("post")).collect();
    let created: Vec<JobId> = outcomes
        .iter()
        .filter_map(|o| match o {
            KeyedOutcome::Created(id) => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(created.len(), 1, "{outcomes:?}");
    let id = created[0];
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, KeyedOutcome::Created(i) | KeyedOutcome::Replayed(i) if *i == id)),
        "{outcomes:?}"
    );
    assert_eq!(relay(&store).await.len(), 2, "one job's units, once");

    let other = job(json!(["c"]));
    let reused = store
        .create_job_with_key(&other, PLAIN, &keyed("k-1", &other, DAY))
        .await
        .expect("post");
    assert_eq!(reused, KeyedOutcome::Conflict);
    assert!(relay(&store).await.is_empty(), "nothing written");

    // Kept for no time at all, the key is expired at once: the same post makes a new job.
    let again = store
        .create_job_with_key(&first, PLAIN, &keyed("k-1", &first, Duration::ZERO))
        .await
        .expect("post");
    assert!(
        matches!(again, KeyedOutcome::Created(new) if new != id),
        "{again:?}"
    );
}

pub async fn heartbeats_make_nodes_and_leaving_removes_them(store: Arc<dyn Store>) {
    let beat = Heartbeat {
        node: "n1".into(),
        tag: Some("t".into()),
        max_workers: 2,
        running: vec![UnitId(1), UnitId(2)],
        actions: vec!["word_count".into()],
        stages: [("word_count".to_string(), MERGE)].into(),
        progress: [(UnitId(1), 40)].into(),
        throttled: None,
        leaving: false,
    };
    store.record_heartbeat(&beat).await.expect("beat");
    store
        .record_heartbeat(&Heartbeat {
            node: "n2".into(),
            running: vec![],
            throttled: Some("load 9 is above max_load 2".into()),
            ..beat.clone()
        })
        .await
        .expect("beat");
    let nodes = store
        .overview(Duration::from_secs(15))
        .await
        .expect("overview")
        .nodes;
    let names: Vec<(&str, bool)> = nodes
        .iter()
        .map(|n| (n.name.as_str(), n.is_busy()))
        .collect();
    assert_eq!(names, vec![("n2", false), ("n1", true)]);
    let throttled: Vec<Option<&str>> = nodes.iter().map(|n| n.throttled.as_deref()).collect();
    assert_eq!(throttled, vec![Some("load 9 is above max_load 2"), None]);
    assert_eq!(
        nodes[1].actions.get("word_count"),
        Some(&MERGE),
        "what it advertises"
    );
    assert_eq!(
        nodes[1].progress,
        json!({"1": 40}),
        "how far its units have got"
    );
    store
        .record_heartbeat(&Heartbeat {
            leaving: true,
            ..beat
        })
        .await
        .expect("leave");
    assert_eq!(
        store
            .overview(Duration::from_secs(15))
            .await
            .expect("overview")
            .nodes
            .len(),
        1
    );
}

pub async fn a_completed_job_with_a_callback_url_has_a_callback_due(store: Arc<dyn Store>) {
    let new = NewJob {
        callback_url: Some("http://127.0.0.1:9/cb".into()),
        ..job(json!(["a"]))
    };
    let id = store.create_job(&new, PLAIN).await.expect("create");
    assert_eq!(store.next_callback_in().await.expect("next"), None);
    let units = relay(&store).await;
    apply(&store, &succeeded(&units[0], json!(1))).await;
    let due = store
        .claim_callbacks(10, Duration::from_secs(60))
        .await
        .expect("claim");
    assert_eq!(due.len(), 1);
    assert_eq!(
        (due[0].job_id, due[0].attempts, due[0].url.as_str()),
        (id, 1, "http://127.0.0.1:9/cb")
    );
    assert!(
        store
            .claim_callbacks(10, Duration::from_secs(60))
            .await
            .expect("claim")
            .is_empty(),
        "leased"
    );
    store
        .callback_failed(id, "refused", Duration::ZERO, Duration::from_secs(3600))
        .await
        .expect("failed");
    let again = store
        .claim_callbacks(10, Duration::from_secs(60))
        .await
        .expect("claim");
    assert_eq!(again[0].attempts, 2);
    // What names the callback to its receiver stays the same from one try to the next.
    assert_eq!(again[0].created_at_ms, due[0].created_at_ms);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64;
    assert!(
        (now_ms - due[0].created_at_ms).abs() < 60_000,
        "created {} ms, now {now_ms} ms",
        due[0].created_at_ms
    );
    store.callback_delivered(id).await.expect("delivered");
    assert_eq!(store.next_callback_in().await.expect("next"), None);
}

pub async fn lost_units_go_back_to_the_outbox(store: Arc<dyn Store>) {
    store
        .create_job(&job(json!(["a", "b"])), PLAIN)
        .await
        .expect("create");
    let units = relay(&store).await;
    // One is running on a live node; the other is nowhere.
    let beat = Heartbeat {
        node: "n1".into(),
        tag: None,
        max_workers: 2,
        running: vec![units[0].unit_id],
        actions: vec![],
        stages: Default::default(),
        progress: Default::default(),
        throttled: None,
        leaving: false,
    };
    store.record_heartbeat(&beat).await.expect("beat");
    let actions = store
        .actions_with_old_queued_units(Duration::ZERO)
        .await
        .expect("old");
    assert_eq!(actions, vec!["word_count".to_string()]);
    let n = store
        .requeue_lost("word_count", Duration::ZERO, Duration::from_secs(15))
        .await
        .expect("requeue");
    assert_eq!(n, 1);
    let again = relay(&store).await;
    assert_eq!(
        again.iter().map(|u| u.unit_id).collect::<Vec<_>>(),
        vec![units[1].unit_id]
    );
}

/// Plays a broker that is slow to confirm: it says when it holds the units, then waits to be
/// let go.
struct SlowBroker {
    holding: Option<tokio::sync::oneshot::Sender<Vec<WorkMessage>>>,
    release: Arc<tokio::sync::Notify>,
}

#[async_trait]
impl Publish for SlowBroker {
    async fn publish(&mut self, units: Vec<WorkMessage>) -> anyhow::Result<Published> {
        let confirmed = units.iter().map(|u| u.unit_id).collect();
        if let Some(holding) = self.holding.take() {
            let _ = holding.send(units);
        }
        self.release.notified().await;
        Ok(Published {
            confirmed,
            ..Published::default()
        })
    }
}

/// A worker can answer before the relay that sent its unit has its confirm: recording that
/// answer must not wait for the relay's broker round trip (a store with several connections).
pub async fn a_completion_does_not_wait_for_the_relay_that_sent_it(store: Arc<dyn Store>) {
    let id = store
        .create_job(&job(json!(["a", "b"])), PLAIN)
        .await
        .expect("create");
    let (holding, held) = tokio::sync::oneshot::channel();
    let release = Arc::new(tokio::sync::Notify::new());
    let mut broker = SlowBroker {
        holding: Some(holding),
        release: release.clone(),
    };
    let relaying = {
        let store = store.clone();
        tokio::spawn(async move { store.relay_pending(100, 3, &mut broker).await.map(|_| ()) })
    };
    let units = held.await.expect("the relay publishes");
    let recorded = tokio::time::timeout(
        Duration::from_secs(5),
        // A success and a failure: the batch statement and the per-unit path.
        store.record_completions(&[succeeded(&units[0], json!(1)), failed(&units[1])], 3),
    )
    .await
    .expect("recorded while the relay still waits for its confirm")
    .expect("record");
    assert_eq!(recorded.applied, vec![Applied::Recorded, Applied::Recorded]);
    release.notify_one();
    relaying.await.expect("relay task").expect("relay");
    let retried = relay(&store).await;
    assert_eq!(
        retried
            .iter()
            .map(|u| (u.unit_id, u.attempt))
            .collect::<Vec<_>>(),
        vec![(units[1].unit_id, 1)],
        "only the failed unit goes again"
    );
    apply(&store, &succeeded(&retried[0], json!(2))).await;
    let view = store.job_view(id).await.expect("view").expect("exists");
    assert_eq!(
        (view.status, view.outputs),
        ("succeeded", Some(json!([1, 2])))
    );
}

/// A job's unit counts (`work_units` left, `percent_complete`) follow every change of its
/// units: a retry, a success, the merge added, the end.
pub async fn unit_counts_follow_every_change(store: Arc<dyn Store>) {
    let id = store
        .create_job(&job(json!(["a", "b"])), MERGE)
        .await
        .expect("create");
    let counts = async |store: &Arc<dyn Store>| {
        let view = store.job_view(id).await.expect("view").expect("exists");
        (view.work_units, view.percent_complete)
    };
    assert_eq!(counts(&store).await, (2, 0));
    let units = relay(&store).await;
    apply(&store, &failed(&units[0])).await;
    assert_eq!(
        counts(&store).await,
        (2, 0),
        "a retried unit is still to do"
    );
    apply(&store, &succeeded(&units[1], json!(1))).await;
    assert_eq!(counts(&store).await, (1, 50));
    let again = relay(&store).await;
    apply(&store, &succeeded(&again[0], json!(2))).await;
    assert_eq!(
        counts(&store).await,
        (1, 99),
        "merging: the merge unit is left"
    );
    let merge = relay(&store).await;
    apply(&store, &succeeded(&merge[0], json!(3))).await;
    assert_eq!(counts(&store).await, (0, 100));
}
