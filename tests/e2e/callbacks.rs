//! Callbacks: delivered, retried, deleted by a 201; signed as Standard Webhooks sign them,
//! under one `webhook-id` for every try; never redirected; each within its own timeout, side
//! by side, so a receiver that never answers holds back no other; never sent where the
//! outbound rule refuses.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};

use crate::{
    helpers::{Backend, StackOptions, TestStack},
    http_fixtures::{Answer, CallbackReceiver, CountingServer, Delivery, GatedServer},
};

/// A secret as the spec writes them: `whsec_` and the base64 of 24 bytes.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

async fn stack_with(backend: Backend, configure: fn(&mut crowd::shared::Config)) -> TestStack {
    let options = StackOptions {
        configure,
        ..Default::default()
    };
    TestStack::start_with(backend, options).await
}

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

/// Whether the delivery's `webhook-signature` holds the signature `secret` makes, as a
/// receiver checks it (written here from the spec, not with the dispatcher's code): HMAC-SHA256
/// keyed by the secret's base64 after `whsec_`, over `{webhook-id}.{webhook-timestamp}.{body}`,
/// base64, after `v1,`; the header may hold several, space-separated.
fn signature_verifies(secret: &str, delivery: &Delivery) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .expect("a base64 secret");
    let (Some(id), Some(timestamp), Some(signatures)) = (
        delivery.header("webhook-id"),
        delivery.header("webhook-timestamp"),
        delivery.header("webhook-signature"),
    ) else {
        return false;
    };
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key).expect("an HMAC key");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&delivery.body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    signatures.split(' ').any(|signature| signature == expected)
}

/// Waits until the job's callback is no longer pending; returns its state and error.
async fn settled_callback(stack: &mut TestStack, id: i64) -> (String, String) {
    stack
        .wait_until("the callback to settle", async |stack: &TestStack| {
            let state = stack
                .probe
                .text("SELECT callback_state FROM jobs WHERE id = $1", id)
                .await?;
            let error = stack
                .probe
                .text(
                    "SELECT COALESCE(callback_error, '') FROM jobs WHERE id = $1",
                    id,
                )
                .await?;
            // `none` until the job completes, `pending` until a delivery settles it.
            (state != "none" && state != "pending").then_some((state, error))
        })
        .await
}

async fn callbacks_are_signed_and_a_retry_keeps_its_webhook_id(backend: Backend) {
    fn signed(config: &mut crowd::shared::Config) {
        config.callback_secret = Some(crowd::shared::Secret::new(SECRET));
    }
    let mut stack = stack_with(backend, signed).await;
    let mut receiver = CallbackReceiver::start(vec![500, 200]).await;
    let id = stack
        .post_id(json!({"action": "word_count", "inputs": ["a b c"], "callback_url": receiver.url}))
        .await;
    let first = receiver.delivery().await;
    let second = receiver.delivery().await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    for delivery in [&first, &second] {
        assert!(signature_verifies(SECRET, delivery), "{delivery:?}");
        let timestamp: i64 = delivery
            .header("webhook-timestamp")
            .and_then(|t| t.parse().ok())
            .expect("a timestamp in seconds");
        assert!((now - timestamp).abs() < 300, "{timestamp} is not now");
        let job: Value = url::form_urlencoded::parse(&delivery.body)
            .find(|(key, _)| key == "job")
            .and_then(|(_, job)| serde_json::from_str(&job).ok())
            .expect("the job's JSON");
        assert_eq!(job["id"], id);
    }
    let webhook_id = first.header("webhook-id").expect("a webhook-id");
    assert!(!webhook_id.is_empty());
    assert_eq!(
        second.header("webhook-id"),
        Some(webhook_id),
        "a retry keeps its id"
    );
    // What the signature covers cannot change unseen: another body, or another key, fails.
    let mut tampered = first.clone();
    tampered.body = bytes::Bytes::from(first.body.to_vec().repeat(2));
    assert!(!signature_verifies(SECRET, &tampered));
    assert!(!signature_verifies(
        "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        &first
    ));
    assert_eq!(settled_callback(&mut stack, id).await.0, "delivered");
    stack.stop().await;
}

async fn a_callback_redirect_is_not_followed_but_retried(backend: Backend) {
    let mut stack = TestStack::start(backend).await;
    let elsewhere = CountingServer::start("127.0.0.1", Answer::Text("ok")).await;
    let mut receiver =
        CallbackReceiver::start_redirecting(vec![302, 200], Some(elsewhere.url("/callback"))).await;
    let id = stack
        .post_id(json!({"action": "word_count", "inputs": ["a b c"], "callback_url": receiver.url}))
        .await;
    let first = receiver.delivery().await;
    let second = receiver.delivery().await;
    assert_eq!(first.header("webhook-id"), second.header("webhook-id"));
    assert_eq!(
        first.header("webhook-signature"),
        None,
        "no callback_secret, no signature"
    );
    assert_eq!(settled_callback(&mut stack, id).await.0, "delivered");
    assert_eq!(elsewhere.connections(), 0, "the redirect was not followed");
    stack.stop().await;
}

async fn a_receiver_that_never_answers_holds_back_no_other_callback(backend: Backend) {
    /// Long enough that waiting for the held delivery to time out would fail the test.
    fn slow_timeout(config: &mut crowd::shared::Config) {
        config.callback_timeout_secs = 120;
    }
    let stack = stack_with(backend, slow_timeout).await;
    let mut held = GatedServer::start().await;
    let mut receiver = CallbackReceiver::start(vec![200]).await;
    stack
        .post_id(json!({"action": "word_count", "inputs": ["a"], "callback_url": held.url("cb")}))
        .await;
    held.arrival().await;
    let id = stack
        .post_id(json!({"action": "word_count", "inputs": ["a b"], "callback_url": receiver.url}))
        .await;
    let job = tokio::time::timeout(Duration::from_secs(30), receiver.received.recv())
        .await
        .expect("the second callback while the first is held")
        .expect("the receiver is up");
    assert_eq!(job["id"], id);
    stack.stop().await;
}

async fn a_callback_that_gets_no_answer_times_out_and_is_retried(backend: Backend) {
    fn quick_timeout(config: &mut crowd::shared::Config) {
        config.callback_timeout_secs = 1;
    }
    let mut stack = stack_with(backend, quick_timeout).await;
    let mut held = GatedServer::start().await;
    let id = stack
        .post_id(json!({"action": "word_count", "inputs": ["a"], "callback_url": held.url("cb")}))
        .await;
    held.arrival().await;
    held.arrival().await;
    let error = stack.wait_for_callback_error(id).await;
    assert!(error.contains("timed out"), "{error}");
    stack.stop().await;
}

async fn a_callback_to_a_refused_address_is_not_sent(backend: Backend) {
    fn closed(config: &mut crowd::shared::Config) {
        config.allowed_networks = Vec::new();
    }
    let mut stack = stack_with(backend, closed).await;
    let mut receiver = CallbackReceiver::start(vec![200]).await;
    let port = url::Url::parse(&receiver.url)
        .ok()
        .and_then(|u| u.port())
        .expect("a port");
    let by_name = format!("http://localhost:{port}/callback");
    for (url, refusal) in [
        (
            receiver.url.clone(),
            "127.0.0.1 is a loopback address, which callbacks may not reach; \
             add it to allowed_networks to allow it",
        ),
        (
            by_name,
            "localhost resolves to 127.0.0.1, a loopback address, which callbacks may not \
             reach; add localhost (or 127.0.0.1) to allowed_networks to allow it",
        ),
    ] {
        let id = stack
            .post_id(json!({"action": "word_count", "inputs": ["a"], "callback_url": url}))
            .await;
        let (state, error) = settled_callback(&mut stack, id).await;
        assert_eq!(
            (state.as_str(), error.as_str()),
            ("abandoned", refusal),
            "{url}"
        );
    }
    assert!(
        receiver.received.try_recv().is_err(),
        "the receiver heard nothing"
    );
    stack.stop().await;
}

crate::on_both_backends!(
    the_callback_gets_the_job_and_a_201_deletes_it,
    a_callback_answered_200_keeps_the_job,
    callbacks_are_signed_and_a_retry_keeps_its_webhook_id,
    a_callback_redirect_is_not_followed_but_retried,
    a_receiver_that_never_answers_holds_back_no_other_callback,
    a_callback_that_gets_no_answer_times_out_and_is_retried,
    a_callback_to_a_refused_address_is_not_sent,
);
