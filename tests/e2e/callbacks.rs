use serde_json::json;

use crate::{
    helpers::{Backend, TestStack},
    http_fixtures::CallbackReceiver,
};

async fn the_callback_gets_the_job_and_a_201_deletes_it(backend: Backend) {
    let mut stack = TestStack::start(backend).await;
    // The first delivery fails; the retry is answered 201.
    let mut receiver = CallbackReceiver::start(vec![500, 201]).await;
    let created = stack
        .post_job(
            json!({"action": "word_count", "inputs": ["a b c"], "callback_url": receiver.url}),
        )
        .await;
    let id = created["id"].as_i64().expect("id");

    let first = receiver.received.recv().await.expect("first callback");
    let second = receiver.received.recv().await.expect("retried callback");
    for job in [&first, &second] {
        assert_eq!(job["id"], id);
        assert_eq!(job["status"], "succeeded");
        assert_eq!(job["outputs"], json!([3]));
        assert_eq!(job["percent_complete"], 100);
    }
    stack.wait_for_deletion(id).await;
    let (status, _) = stack.get_job(id).await;
    assert_eq!(status, 404);
    stack.stop().await;
}

async fn a_callback_answered_200_keeps_the_job(backend: Backend) {
    let mut stack = TestStack::start(backend).await;
    let mut receiver = CallbackReceiver::start(vec![200]).await;
    let created = stack
        .post_job(json!({"action": "always_fails", "inputs": ["x"], "callback_url": receiver.url}))
        .await;
    let id = created["id"].as_i64().expect("id");
    let job = receiver.received.recv().await.expect("callback");
    assert_eq!(job["status"], "failed", "failed jobs call back too");
    let state = stack
        .wait_until(
            "the callback to be recorded as delivered",
            async |stack: &TestStack| {
                let state = stack
                    .probe
                    .text("SELECT callback_state FROM jobs WHERE id = $1", id)
                    .await?;
                (state != "pending").then_some(state)
            },
        )
        .await;
    assert_eq!(state, "delivered");
    assert_eq!(stack.get_job(id).await.0, 200);
    stack.stop().await;
}

crate::on_both_backends!(
    the_callback_gets_the_job_and_a_201_deletes_it,
    a_callback_answered_200_keeps_the_job
);
