//! Outbound requests reach only what the operator allows: a download or a callback to a
//! loopback, private, link-local (cloud metadata) or other local address fails for good with
//! the rule that refused it, before any connection, whether the URL names the address, a host
//! name that resolves to it, or an allowed address that redirects to it; `allowed_networks`
//! opens them. `s3://` inputs come only from the asset store's bucket and `allowed_buckets`.

use serde_json::json;

use crate::{
    helpers::{Backend, StackOptions, TestStack},
    http_fixtures::{Answer, CountingServer},
};

/// Nothing local opened, as the distributed services start by default.
fn closed(config: &mut crowd::shared::Config) {
    config.allowed_networks = Vec::new();
}

/// Only 127.0.0.2, where the test's redirectors are.
fn only_127_0_0_2(config: &mut crowd::shared::Config) {
    config.allowed_networks = vec!["127.0.0.2/32".into()];
}

async fn stack_with(backend: Backend, configure: fn(&mut crowd::shared::Config)) -> TestStack {
    let options = StackOptions {
        configure,
        ..Default::default()
    };
    TestStack::start_with(backend, options).await
}

/// Posts a word_count job of one input that must fail for good; checks it was attempted once
/// and returns its error.
async fn failed_once(stack: &mut TestStack, input: &str) -> String {
    let id = stack
        .post_id(json!({"action": "word_count", "inputs": [input]}))
        .await;
    let job = stack.wait_for_job(id).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(
        stack.attempts(id, None).await,
        [1],
        "a refusal is permanent, not retried: {job}"
    );
    job["outputs"][0]
        .as_str()
        .unwrap_or_else(|| panic!("an error in {job}"))
        .to_string()
}

fn refused_address(url: &str, address: &str, kind: &str) -> String {
    format!(
        "cannot download {url}: {address} is {kind}, which downloads may not reach; \
         add it to allowed_networks to allow it"
    )
}

fn port_of(server: &CountingServer) -> u16 {
    url::Url::parse(&server.base)
        .ok()
        .and_then(|u| u.port())
        .expect("a port")
}

async fn local_addresses_are_refused_before_any_connection(backend: Backend) {
    let v4 = CountingServer::start("127.0.0.1", Answer::Text("one two three")).await;
    let v6 = CountingServer::start("::1", Answer::Text("one two three")).await;
    let by_name = format!("http://localhost:{}/x.txt", port_of(&v4));
    let mut stack = stack_with(backend, closed).await;

    let url = v4.url("/x.txt");
    assert_eq!(
        failed_once(&mut stack, &url).await,
        refused_address(&url, "127.0.0.1", "a loopback address")
    );
    let url = "http://169.254.169.254/latest/meta-data/iam/security-credentials/";
    assert_eq!(
        failed_once(&mut stack, url).await,
        refused_address(url, "169.254.169.254", "a link-local address")
    );
    let url = v6.url("/x.txt");
    assert_eq!(
        failed_once(&mut stack, &url).await,
        refused_address(&url, "::1", "a loopback address")
    );
    let error = failed_once(&mut stack, &by_name).await;
    assert!(
        error.starts_with(&format!(
            "cannot download {by_name}: localhost resolves to "
        )) && error
            .contains(", a loopback address, which downloads may not reach; add localhost (or "),
        "{error}"
    );
    assert_eq!(
        (v4.connections(), v6.connections()),
        (0, 0),
        "nothing reached the local servers"
    );
    stack.stop().await;

    // Opened (the stacks' usual configuration), the same inputs are read.
    let mut stack = TestStack::start(backend).await;
    let id = stack
        .post_id(json!({"action": "word_count", "inputs": [v4.url("/x.txt"), v6.url("/x.txt"), by_name]}))
        .await;
    let job = stack.wait_for_job(id).await;
    assert_eq!(
        (&job["status"], &job["outputs"]),
        (&json!("succeeded"), &json!([9])),
        "{job}"
    );
    assert_eq!((v4.connections(), v6.connections()), (2, 1));
    stack.stop().await;
}

async fn an_allowed_address_redirecting_to_a_refused_one_is_not_followed(backend: Backend) {
    let target = CountingServer::start("127.0.0.1", Answer::Text("one two three")).await;
    let to_address =
        CountingServer::start("127.0.0.2", Answer::RedirectTo(target.url("/x.txt"))).await;
    let to_name = CountingServer::start(
        "127.0.0.2",
        Answer::RedirectTo(format!("http://localhost:{}/x.txt", port_of(&target))),
    )
    .await;
    let mut stack = stack_with(backend, only_127_0_0_2).await;

    let url = to_address.url("/moved");
    assert_eq!(
        failed_once(&mut stack, &url).await,
        format!(
            "cannot download {url}: it redirects to {}: 127.0.0.1 is a loopback address, \
             which downloads may not reach; add it to allowed_networks to allow it",
            target.url("/x.txt")
        )
    );
    let url = to_name.url("/moved");
    let error = failed_once(&mut stack, &url).await;
    assert!(
        error.starts_with(&format!("cannot download {url}: localhost resolves to ")),
        "{error}"
    );
    assert_eq!(
        (to_address.connections(), to_name.connections()),
        (1, 1),
        "the allowed address was asked"
    );
    assert_eq!(target.connections(), 0, "the redirect was not followed");
    stack.stop().await;

    // With loopback opened, the redirect is followed.
    let mut stack = TestStack::start(backend).await;
    let id = stack
        .post_id(json!({"action": "word_count", "inputs": [to_address.url("/moved")]}))
        .await;
    let job = stack.wait_for_job(id).await;
    assert_eq!(job["outputs"], json!([3]), "{job}");
    assert_eq!(target.connections(), 1);
    stack.stop().await;
}

crate::on_both_backends!(
    local_addresses_are_refused_before_any_connection,
    an_allowed_address_redirecting_to_a_refused_one_is_not_followed,
);

/// `s3://` inputs from another bucket than the asset store's fail, naming the setting; those
/// of a bucket in `allowed_buckets` are read. (On the embedded set the asset store is a
/// directory, which refuses every `s3://` input.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_inputs_are_read_only_from_the_store_s_bucket_and_allowed_buckets() {
    fn allow_one_bucket(config: &mut crowd::shared::Config) {
        config.allowed_buckets = vec!["crowd-test-allowed".into()];
    }
    let mut stack = stack_with(Backend::Distributed, allow_one_bucket).await;
    let s3 = crowd::shared::storage::s3_client(&stack.config)
        .await
        .expect("S3 client");
    for bucket in ["crowd-test-allowed", "crowd-test-other"] {
        s3.create_bucket()
            .bucket(bucket)
            .send()
            .await
            .expect("create bucket");
        s3.put_object()
            .bucket(bucket)
            .key("in.txt")
            .body(b"one two three".to_vec().into())
            .send()
            .await
            .expect("put an input");
    }
    let other = "s3://crowd-test-other/in.txt";
    assert_eq!(
        failed_once(&mut stack, other).await,
        format!(
            "cannot download {other}: bucket crowd-test-other is not the asset store's \
             (s3_bucket); add it to allowed_buckets to allow it"
        )
    );
    let own = stack.put_input("inputs/own.txt", "four five").await;
    let id = stack
        .post_id(json!({"action": "word_count", "inputs": [own, "s3://crowd-test-allowed/in.txt"]}))
        .await;
    let job = stack.wait_for_job(id).await;
    assert_eq!(job["outputs"], json!([5]), "{job}");
    stack.stop().await;
}
