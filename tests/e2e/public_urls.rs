//! `s3_public_url`: S3 as users reach it, when the services reach it under another name.
//! Presigned links are signed for it, and open there; workers read the store's own objects
//! through S3 by key, so a public address they cannot reach costs them nothing.

use crowd::shared::{status::Stage, Config};
use serde_json::json;

use crate::helpers::{Backend, StackOptions, TestStack};

/// Runs a three-chunk `chunked_word_count` job; the URLs of its chunks, which the split saved
/// and the process units downloaded.
async fn chunk_urls(stack: &mut TestStack) -> Vec<String> {
    let id = stack
        .post_id(json!({
            "action": "chunked_word_count",
            "inputs": ["one two\nthree\nfour five"],
            "options": {"lines_per_chunk": 1}
        }))
        .await;
    let done = stack.wait_for_job(id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["outputs"], json!([5]));
    // From the store itself: the api shows a unit's input with its signature hidden.
    let split = stack
        .store
        .stage_outputs_after(
            crowd_shared::JobId(id),
            Stage::Split,
            crowd_shared::UnitId(0),
            10,
        )
        .await
        .expect("the split's output");
    let urls: Vec<String> = split
        .into_iter()
        .flat_map(|(_, output)| output.as_array().cloned().unwrap_or_default())
        .filter_map(|url| url.as_str().map(String::from))
        .collect();
    assert_eq!(urls.len(), 3, "{urls:?}");
    urls
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn presigned_links_are_signed_for_the_public_endpoint() {
    fn public_by_name(c: &mut Config) {
        let endpoint = c.s3_endpoint.clone().expect("the test S3 server");
        c.s3_public_url = Some(endpoint.replace("127.0.0.1", "localhost"));
    }
    let mut stack = TestStack::start_with(
        Backend::Distributed,
        StackOptions {
            configure: public_by_name,
            ..Default::default()
        },
    )
    .await;
    let public = stack.config.s3_public_url.clone().expect("set");
    for url in chunk_urls(&mut stack).await {
        assert!(url.starts_with(&format!("{public}/")), "{url}");
        let reply = stack.http.get(&url).send().await.expect("GET the link");
        assert_eq!(reply.status().as_u16(), 200, "{url}");
        let text = reply.text().await.expect("the chunk");
        assert!(
            ["one two\n", "three\n", "four five"].contains(&text.as_str()),
            "{text:?}"
        );
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_read_the_store_by_key_when_the_public_address_is_out_of_their_reach() {
    fn public_elsewhere(c: &mut Config) {
        // Port 1: nothing listens there, as a host name only users resolve would be to workers.
        c.s3_public_url = Some("http://127.0.0.1:1".into());
    }
    let mut stack = TestStack::start_with(
        Backend::Distributed,
        StackOptions {
            configure: public_elsewhere,
            ..Default::default()
        },
    )
    .await;
    let bucket = stack.config.s3_bucket.clone().expect("a bucket");
    for url in chunk_urls(&mut stack).await {
        assert!(
            url.starts_with(&format!("http://127.0.0.1:1/{bucket}/")),
            "{url}"
        );
    }
    stack.stop().await;
}
