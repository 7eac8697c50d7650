use crowd::shared::{
    messages::{Completion, Outcome},
    status::{Stage, UnitState},
};
use crowd_dispatcher::job_progress::{apply_completion, Applied};
use serde_json::json;

use crate::{
    fake_worker::{succeeded, FakeWorker},
    helpers::{Backend, StackOptions, TestStack},
};

async fn unit_rows(
    stack: &TestStack,
    job_id: i64,
) -> Vec<(Stage, UnitState, i32, Option<serde_json::Value>)> {
    stack
        .units(job_id)
        .await
        .into_iter()
        .map(|u| (u.stage, u.status, u.attempts, u.output))
        .collect()
}

async fn a_completion_delivered_twice_changes_nothing(backend: Backend) {
    let mut stack = TestStack::without_workers(backend).await;
    let mut worker = FakeWorker::start(&stack, "word_count").await;
    let store = stack.store.clone();
    let store = store.as_ref();
    let created = stack
        .post_job(json!({"action": "word_count", "inputs": ["x y z"]}))
        .await;
    let id = created["id"].as_i64().expect("id");

    let process = worker.next().await;
    assert_eq!(
        (process.stage, process.attempt, process.job_id.0),
        (Stage::Process, 0, id)
    );
    let done = succeeded(&process, json!(3));
    assert_eq!(
        apply_completion(store, &done, 3).await.expect("apply"),
        Applied::Recorded
    );
    // (The merge unit it queued moves on by itself; the process unit is what must not change.)
    let after_first = unit_rows(&stack, id).await[0].clone();
    // The same completion again (a redelivery), and an answer to an attempt that is not current.
    assert!(matches!(
        apply_completion(store, &done, 3).await.expect("apply"),
        Applied::Stale(_)
    ));
    let stale = Completion {
        attempt: 7,
        outcome: Outcome::failed("late", true),
        ..done.clone()
    };
    assert!(matches!(
        apply_completion(store, &stale, 3).await.expect("apply"),
        Applied::Stale(_)
    ));
    assert_eq!(unit_rows(&stack, id).await[0], after_first);

    // The dispatcher queued one merge; its completion twice, through the broker this time.
    let merge = worker.next().await;
    assert_eq!(
        (merge.stage, merge.input.clone(), merge.input_key.clone()),
        (Stage::Merge, json!([3]), None),
        "a small merge input travels in its message"
    );
    for _ in 0..2 {
        worker
            .reporter()
            .complete(&[succeeded(&merge, json!(3))])
            .await
            .expect("publish");
    }
    let job = stack.wait_for_job(id).await;
    assert_eq!(job["outputs"], json!([3]));
    assert!(matches!(
        apply_completion(store, &succeeded(&merge, json!(4)), 3)
            .await
            .expect("apply"),
        Applied::Stale(_)
    ));
    let rows = unit_rows(&stack, id).await;
    assert_eq!(
        rows.len(),
        2,
        "one process unit and one merge unit: {rows:?}"
    );
    assert!(
        rows.iter()
            .all(|(_, state, attempts, _)| *state == UnitState::Succeeded && *attempts == 1),
        "{rows:?}"
    );
    assert_eq!(stack.get_job(id).await.1["outputs"], json!([3]));
    stack.stop().await;
}

async fn the_last_two_units_finishing_together_queue_exactly_one_merge(backend: Backend) {
    let stack = TestStack::without_workers(backend).await;
    let mut worker = FakeWorker::start(&stack, "word_count").await;
    let store = stack.store.clone();
    let store = store.as_ref();
    for round in 0..10 {
        let created = stack
            .post_job(json!({"action": "word_count", "inputs": ["a", "b c"]}))
            .await;
        let id = created["id"].as_i64().expect("id");
        let (first, second) = (worker.next().await, worker.next().await);
        let (done_first, done_second) = (succeeded(&first, json!(1)), succeeded(&second, json!(2)));
        let (a, b) = tokio::join!(
            apply_completion(store, &done_first, 3),
            apply_completion(store, &done_second, 3),
        );
        assert_eq!(
            (a.expect("apply"), b.expect("apply")),
            (Applied::Recorded, Applied::Recorded)
        );
        let merges = unit_rows(&stack, id)
            .await
            .iter()
            .filter(|(stage, ..)| *stage == Stage::Merge)
            .count();
        assert_eq!(merges, 1, "round {round}");
        let merge = worker.next().await;
        assert_eq!(merge.stage, Stage::Merge);
        assert_eq!(merge.input, json!([1, 2]), "outputs in unit order");
    }
    stack.stop().await;
}

async fn two_dispatchers_finish_a_job_with_one_merge(backend: Backend) {
    let mut stack = TestStack::start_with(
        backend,
        StackOptions {
            dispatchers: 2,
            ..Default::default()
        },
    )
    .await;
    let inputs: Vec<String> = (0..300).map(|_| "two words".to_string()).collect();
    let created = stack
        .post_job(json!({"action": "word_count", "inputs": inputs}))
        .await;
    let id = created["id"].as_i64().expect("id");
    let job = stack.wait_for_job(id).await;
    assert_eq!(job["status"], "succeeded");
    assert_eq!(job["outputs"], json!([600]));
    let rows = unit_rows(&stack, id).await;
    assert_eq!(rows.len(), 301);
    assert_eq!(
        rows.iter()
            .filter(|(stage, ..)| *stage == Stage::Merge)
            .count(),
        1,
        "exactly one merge"
    );
    assert!(
        rows.iter()
            .all(|(_, state, attempts, _)| *state == UnitState::Succeeded && *attempts == 1),
        "nothing done twice"
    );
    stack.stop().await;
}

crate::on_both_backends!(
    a_completion_delivered_twice_changes_nothing,
    the_last_two_units_finishing_together_queue_exactly_one_merge,
);

/// Only the distributed set runs several dispatchers: the embedded store is one process's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_dispatchers_on_postgres_finish_a_job_with_one_merge() {
    two_dispatchers_finish_a_job_with_one_merge(Backend::Distributed).await;
}
