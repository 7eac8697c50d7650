//! A job's merge does not wait behind the units of jobs posted after it, and a small job does
//! not wait behind a big job's backlog: both go in the first lane of their action's queue (a
//! priority on RabbitMQ), ahead of big batches.

use crowd::shared::{lane::BULK_FROM, queue::packing::MAX_UNITS_PER_MESSAGE, status::Stage};
use crowd_dispatcher::job_progress::apply_completion;
use serde_json::json;

use crate::{
    fake_worker::{succeeded, FakeWorker},
    helpers::{Backend, TestStack},
};

const QUEUED: &str = "SELECT count(*) FROM work_units WHERE job_id = $1 AND state = 'queued'";

async fn a_merge_overtakes_the_backlog_of_a_big_job_posted_after_it(backend: Backend) {
    let mut stack = TestStack::without_workers(backend).await;
    let mut worker = FakeWorker::start_with_prefetch(&stack, "word_count", 1).await;
    let first = stack
        .post_id(json!({"action": "word_count", "inputs": ["a b"]}))
        .await;
    let process = worker.next().await;
    assert_eq!((process.job_id.0, process.stage), (first, Stage::Process));

    let later = stack
        .post_id(json!({"action": "word_count", "inputs": vec!["x"; BULK_FROM]}))
        .await;
    stack
        .wait_until(
            "the later job's units to be queued",
            async |s: &TestStack| {
                (s.probe.count(QUEUED, later).await == BULK_FROM as i64).then_some(())
            },
        )
        .await;
    let store = stack.store.clone();
    apply_completion(store.as_ref(), &succeeded(&process, json!(2)), 3)
        .await
        .expect("apply");
    stack
        .wait_until(
            "the first job's merge to be queued",
            async |s: &TestStack| (s.probe.count(QUEUED, first).await == 1).then_some(()),
        )
        .await;

    // The worker may already hold one message of the later units (its prefetch, which may
    // pack several); the merge is next.
    let mut before_the_merge = 0;
    while (worker.next().await).stage != Stage::Merge {
        before_the_merge += 1;
    }
    assert!(
        before_the_merge <= MAX_UNITS_PER_MESSAGE,
        "the merge came after {before_the_merge} of the later job's units"
    );
    stack.stop().await;
}

async fn a_small_job_overtakes_a_big_jobs_backlog(backend: Backend) {
    let mut stack = TestStack::without_workers(backend).await;
    let big = stack
        .post_id(json!({"action": "word_count", "inputs": vec!["x"; BULK_FROM]}))
        .await;
    stack
        .wait_until("the big job's units to be queued", async |s: &TestStack| {
            (s.probe.count(QUEUED, big).await == BULK_FROM as i64).then_some(())
        })
        .await;
    let small = stack
        .post_id(json!({"action": "word_count", "inputs": ["a b"]}))
        .await;
    stack
        .wait_until(
            "the small job's unit to be queued",
            async |s: &TestStack| (s.probe.count(QUEUED, small).await == 1).then_some(()),
        )
        .await;

    // A worker arriving now is handed the small job's unit before the backlog.
    let mut worker = FakeWorker::start_with_prefetch(&stack, "word_count", 1).await;
    let first = worker.next().await;
    assert_eq!(first.job_id.0, small, "the big job's unit came first");
    stack.stop().await;
}

crate::on_both_backends!(
    a_merge_overtakes_the_backlog_of_a_big_job_posted_after_it,
    a_small_job_overtakes_a_big_jobs_backlog,
);
