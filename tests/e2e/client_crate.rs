//! The `crowd-client` crate against a running api: a job submitted with an idempotency key,
//! followed to its end, submitted again with the same key (the same job), and a job that does
//! not exist, told apart by its error.

use std::time::Duration;

use crowd_client::{parse_base_url, Client, ClientError, Job, JobUnits};
use serde_json::json;

use crate::helpers::{Backend, TestStack};

async fn the_client_crate_submits_and_follows_a_job(backend: Backend) {
    let stack = TestStack::start(backend).await;
    let client = Client::new(parse_base_url(&stack.api).expect("the api's URL")).expect("a client");
    let job = json!({"action": "word_count", "inputs": ["one two", "three"]});
    let posted: Job = client
        .submit(&job, "client-crate-1")
        .await
        .expect("submitted");
    let done = client
        .wait_for(posted.id, Duration::from_millis(20))
        .await
        .expect("followed");
    assert_eq!(done.status, "succeeded");
    assert_eq!(done.outputs, Some(json!([3])));
    let again: Job = client.submit(&job, "client-crate-1").await.expect("again");
    assert_eq!(again.id, posted.id, "the same key names the same job");
    let units: JobUnits = client.units(posted.id).await.expect("its units");
    assert_eq!(units.units.len(), 3, "two to count, one to merge");
    let missing = client
        .job::<Job>(posted.id + 1000)
        .await
        .expect_err("no such job");
    assert!(matches!(missing, ClientError::NotFound(_)), "{missing}");
    stack.stop().await;
}

crate::on_both_backends!(the_client_crate_submits_and_follows_a_job);
