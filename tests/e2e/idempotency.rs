use crowd::shared::{
    amqp::{self, QueueNames},
    messages::{Completion, Outcome},
    status::Stage,
};
use crowd_dispatcher::job_progress::{apply_completion, Applied};
use serde_json::json;

use crate::{
    fake_worker::{succeeded, FakeWorker},
    helpers::{StackOptions, TestStack},
};

async fn unit_rows(
    stack: &TestStack,
    job_id: i64,
) -> Vec<(i16, String, i32, Option<serde_json::Value>)> {
    stack
        .db
        .query(
            "SELECT stage, state, attempts, output FROM work_units WHERE job_id = $1 ORDER BY id",
            &[&job_id],
        )
        .await
        .expect("units")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_completion_delivered_twice_changes_nothing() {
    let mut stack = TestStack::start_with(StackOptions {
        workers: 0,
        ..Default::default()
    })
    .await;
    let mut worker = FakeWorker::start(&stack, "word_count").await;
    let store = stack.store();
    let created = stack
        .post_job(json!({"action": "word_count", "inputs": ["x y z"]}))
        .await;
    let id = created["id"].as_i64().expect("id");

    let process = worker.next().await;
    assert_eq!(
        (process.stage, process.attempt, process.job_id),
        (Stage::Process, 0, id)
    );
    let done = succeeded(&process, json!(3));
    assert_eq!(
        apply_completion(&store, &done, 3).await.expect("apply"),
        Applied::Recorded
    );
    // (The merge unit it queued moves on by itself; the process unit is what must not change.)
    let after_first = unit_rows(&stack, id).await[0].clone();
    // The same completion again (a redelivery), and an answer to an attempt that is not current.
    assert!(matches!(
        apply_completion(&store, &done, 3).await.expect("apply"),
        Applied::Stale(_)
    ));
    let stale = Completion {
        attempt: 7,
        outcome: Outcome::Failed {
            error: "late".into(),
            retryable: true,
        },
        ..done.clone()
    };
    assert!(matches!(
        apply_completion(&store, &stale, 3).await.expect("apply"),
        Applied::Stale(_)
    ));
    assert_eq!(unit_rows(&stack, id).await[0], after_first);

    // The dispatcher queued one merge; its completion twice, through the broker this time.
    let merge = worker.next().await;
    assert_eq!(
        (merge.stage, merge.input.clone()),
        (Stage::Merge, json!([3]))
    );
    let conn = amqp::connect(&stack.config.amqp_url, "crowd test")
        .await
        .expect("connect");
    let channel = amqp::confirmed_channel(&conn).await.expect("channel");
    let completions = QueueNames::new(&stack.config.queue_prefix).completions();
    for _ in 0..2 {
        amqp::publish_confirmed(&channel, &completions, &succeeded(&merge, json!(3)))
            .await
            .expect("publish");
    }
    let job = stack.wait_for_job(id).await;
    assert_eq!(job["outputs"], json!([3]));
    assert!(matches!(
        apply_completion(&store, &succeeded(&merge, json!(4)), 3)
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
            .all(|(_, state, attempts, _)| state == "succeeded" && *attempts == 1),
        "{rows:?}"
    );
    assert_eq!(stack.get_job(id).await.1["outputs"], json!([3]));
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_last_two_units_finishing_together_queue_exactly_one_merge() {
    let stack = TestStack::start_with(StackOptions {
        workers: 0,
        ..Default::default()
    })
    .await;
    let mut worker = FakeWorker::start(&stack, "word_count").await;
    let store = stack.store();
    for round in 0..10 {
        let created = stack
            .post_job(json!({"action": "word_count", "inputs": ["a", "b c"]}))
            .await;
        let id = created["id"].as_i64().expect("id");
        let (first, second) = (worker.next().await, worker.next().await);
        let (done_first, done_second) = (succeeded(&first, json!(1)), succeeded(&second, json!(2)));
        let (a, b) = tokio::join!(
            apply_completion(&store, &done_first, 3),
            apply_completion(&store, &done_second, 3),
        );
        assert_eq!(
            (a.expect("apply"), b.expect("apply")),
            (Applied::Recorded, Applied::Recorded)
        );
        let merges: i64 = stack
            .db
            .query_one(
                "SELECT count(*) FROM work_units WHERE job_id = $1 AND stage = 5",
                &[&id],
            )
            .await
            .expect("count")
            .get(0);
        assert_eq!(merges, 1, "round {round}");
        let merge = worker.next().await;
        assert_eq!(merge.stage, Stage::Merge);
        assert_eq!(merge.input, json!([1, 2]), "outputs in unit order");
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_dispatchers_finish_a_job_with_one_merge() {
    let mut stack = TestStack::start_with(StackOptions {
        dispatchers: 2,
        ..Default::default()
    })
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
        rows.iter().filter(|(stage, ..)| *stage == 5).count(),
        1,
        "exactly one merge"
    );
    assert!(
        rows.iter()
            .all(|(_, state, attempts, _)| state == "succeeded" && *attempts == 1),
        "nothing done twice"
    );
    stack.stop().await;
}
