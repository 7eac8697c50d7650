//! A job's merge does not wait behind the units of jobs posted after it: it goes to the front
//! of its action's queue (a priority on RabbitMQ), so a job ends when its own units are done.

use crowd::shared::status::Stage;
use crowd_dispatcher::job_progress::apply_completion;
use serde_json::json;

use crate::{
    fake_worker::{succeeded, FakeWorker},
    helpers::{Backend, TestStack},
};

const QUEUED: &str = "SELECT count(*) FROM work_units WHERE job_id = $1 AND state = 'queued'";

async fn a_merge_overtakes_the_units_of_jobs_posted_after_it(backend: Backend) {
    let mut stack = TestStack::without_workers(backend).await;
    let mut worker = FakeWorker::start_with_prefetch(&stack, "word_count", 1).await;
    let first = stack
        .post_id(json!({"action": "word_count", "inputs": ["a b"]}))
        .await;
    let process = worker.next().await;
    assert_eq!((process.job_id, process.stage), (first, Stage::Process));

    let later = stack
        .post_id(json!({"action": "word_count", "inputs": vec!["x"; 20]}))
        .await;
    stack
        .wait_until(
            "the later job's 20 units to be queued",
            async |s: &TestStack| (s.probe.count(QUEUED, later).await == 20).then_some(()),
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

    // The worker may already hold one of the later units (its prefetch); the merge is next.
    let next_two = [worker.next().await, worker.next().await];
    assert!(
        next_two
            .iter()
            .any(|m| (m.job_id, m.stage) == (first, Stage::Merge)),
        "the merge came after the later job's units: {:?}",
        next_two.map(|m| (m.job_id, m.stage))
    );
    stack.stop().await;
}

crate::on_both_backends!(a_merge_overtakes_the_units_of_jobs_posted_after_it);
