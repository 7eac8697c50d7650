//! `crowd cleanup`: old complete jobs go, with their units and their stored files; jobs still
//! running stay.

use std::time::Duration;

use crowd::shared::jobs::{cleanup_older_than, remove_orphaned_files};
use serde_json::json;

use crate::{
    helpers::{Backend, TestStack},
    http_fixtures::GatedServer,
};

async fn cleanup_removes_complete_jobs_with_their_files_and_leaves_the_rest(backend: Backend) {
    let mut stack = TestStack::start(backend).await;
    let mut gated = GatedServer::start().await;
    let text: String = (0..6).map(|i| format!("line {i}\n")).collect();
    let done = stack
        .post_id(json!({"action": "chunked_word_count", "inputs": [text],
                         "options": {"lines_per_chunk": 2}}))
        .await;
    let running = stack
        .post_id(json!({"action": "word_count", "inputs": [gated.url("held")]}))
        .await;
    stack.wait_for_job(done).await;
    gated.arrival().await;
    let prefix = format!("chunked_word_count/job_{done}/");
    assert_eq!(stack.unit_files(&prefix).await.len(), 3, "3 chunks saved");

    let (store, assets) = (stack.store.clone(), stack.assets.clone());
    let cleanup = async |age| {
        cleanup_older_than(store.as_ref(), assets.as_ref(), age)
            .await
            .expect("cleanup")
    };
    assert_eq!(
        cleanup(Duration::from_secs(3600)).await,
        0,
        "none completed an hour ago"
    );
    assert_eq!(stack.get_job(done).await.0, 200);
    assert_eq!(cleanup(Duration::ZERO).await, 1, "the complete job goes");
    assert_eq!(stack.get_job(done).await.0, 404);
    assert!(
        stack.stored_keys(&prefix).await.is_empty(),
        "with its files"
    );
    assert_eq!(
        stack.get_job(running).await.1["status"],
        "processing",
        "the running job stays"
    );

    gated.release(1);
    assert_eq!(stack.wait_for_job(running).await["status"], "succeeded");
    stack.stop().await;
}

/// Files left by jobs that no longer exist (a deletion that crashed between the rows and the
/// files) go too; the files of jobs that exist, and files that are no job's, stay.
async fn cleanup_removes_the_files_of_jobs_that_no_longer_exist(backend: Backend) {
    let mut stack = TestStack::start(backend).await;
    let text: String = (0..4).map(|i| format!("line {i}\n")).collect();
    let kept = stack
        .post_id(json!({"action": "chunked_word_count", "inputs": [text],
                         "options": {"lines_per_chunk": 2}}))
        .await;
    stack.wait_for_job(kept).await;
    let orphan = format!("chunked_word_count/job_{}/unit_1/left.txt", kept + 1000);
    stack.put_input(&orphan, "left behind").await;
    stack
        .put_input("chunked_word_count/notes/keep.txt", "not a job's")
        .await;

    let removed = remove_orphaned_files(stack.store.as_ref(), stack.assets.as_ref())
        .await
        .expect("cleanup");
    assert_eq!(removed, 1);
    assert!(stack.stored_keys(&orphan).await.is_empty());
    let kept_prefix = format!("chunked_word_count/job_{kept}/");
    assert_eq!(stack.unit_files(&kept_prefix).await.len(), 2);
    assert_eq!(
        stack.stored_keys("chunked_word_count/notes/").await.len(),
        1
    );
    stack.stop().await;
}

crate::on_both_backends!(
    cleanup_removes_complete_jobs_with_their_files_and_leaves_the_rest,
    cleanup_removes_the_files_of_jobs_that_no_longer_exist
);
