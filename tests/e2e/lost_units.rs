use serde_json::json;

use crate::helpers::{Backend, StackOptions, TestStack};

/// A work message the broker lost (here: taken by a consumer that vanished without a trace,
/// as a purge or a lost disk would) is published again, and the job still completes.
async fn a_unit_whose_message_the_broker_lost_is_published_again(backend: Backend) {
    let mut stack = TestStack::start_with(
        backend,
        StackOptions {
            workers: 0,
            configure: |c| c.lost_unit_secs = 1,
            ..Default::default()
        },
    )
    .await;
    let mut thief = crate::fake_worker::FakeWorker::start(&stack, "word_count").await;
    let created = stack
        .post_job(json!({"action": "word_count", "inputs": ["lost and found"]}))
        .await;
    let id = created["id"].as_i64().expect("id");

    // Auto-acked and dropped: the broker no longer has it, and no worker runs it.
    let first = thief.next().await;
    let again = thief.next().await;
    assert_eq!(
        (again.unit_id, again.attempt),
        (first.unit_id, first.attempt),
        "the same unit, the same attempt"
    );

    // It counts once, like any completion.
    let store = stack.store.clone();
    let store = store.as_ref();
    let done = crate::fake_worker::succeeded(&again, json!(3));
    crowd_dispatcher::job_progress::apply_completion(store, &done, 3)
        .await
        .expect("apply");
    let merge = thief.next().await;
    crowd_dispatcher::job_progress::apply_completion(
        store,
        &crate::fake_worker::succeeded(&merge, json!(3)),
        3,
    )
    .await
    .expect("apply");
    let job = stack.wait_for_job(id).await;
    assert_eq!(job["outputs"], json!([3]));
    stack.stop().await;
}

crate::on_both_backends!(a_unit_whose_message_the_broker_lost_is_published_again);
