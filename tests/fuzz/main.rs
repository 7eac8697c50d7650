//! A fuzz test of the HTTP API, on the distributed stack (Postgres, RabbitMQ, the test S3
//! server; the api, a dispatcher and two workers in-process): a few thousand generated
//! requests, jobs of every shape and requests of every kind of wrong, and then the promises:
//! no 5xx, every error the api makes in its JSON, the api answering `/heartbeat` throughout,
//! every job it accepted ending, and no service failing.
//!
//! Each run has a seed, printed first; `CROWD_FUZZ_SEED=<seed>` runs the same requests again,
//! `CROWD_FUZZ_ONLY=<i>,<j>` only requests `i` and `j` of it, and `CROWD_FUZZ_REQUESTS=<n>`
//! sets how many there are (3,000 by default). Every request and every URL in it stays on
//! this machine: jobs only name the loopback servers of `fixtures`.

#![allow(dead_code)] // The shared helpers have more than this test uses.

#[path = "../common/broker.rs"]
mod broker;
#[path = "../e2e/helpers.rs"]
mod helpers;
#[path = "../e2e/http_fixtures.rs"]
mod http_fixtures;
#[path = "../e2e/probe.rs"]
mod probe;
#[path = "../e2e/raw_http.rs"]
mod raw_http;
#[path = "../e2e/s3_server.rs"]
mod s3_server;

mod bodies;
mod endings;
mod fixtures;
mod guard;
mod headers;
mod jobs;
mod json_text;
mod malformed;
mod pipelined;
mod request;
mod rng;
mod run;
mod tally;
mod targets;
mod verdict;
mod wire;

use std::time::Instant;

use crate::{
    fixtures::World,
    helpers::{Backend, StackOptions, TestStack},
    request::Context,
};

/// Requests of a run, unless `CROWD_FUZZ_REQUESTS` says otherwise.
const REQUESTS: u64 = 3_000;
/// Failures shown in full when the test fails.
const SHOWN_FAILURES: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fuzzed_requests_get_no_5xx_and_every_job_accepted_ends() {
    let seed = seed();
    let indices = indices();
    println!(
        "fuzz: seed {seed} ({} requests; CROWD_FUZZ_SEED={seed} repeats them)",
        indices.len()
    );
    let started = Instant::now();
    let options = StackOptions {
        // As `crowd up` answers on loopback, so that odd `Host`s meet the check.
        configure: |c| {
            c.allowed_hosts = vec!["localhost".into(), "127.0.0.1".into(), "[::1]".into()]
        },
        ..Default::default()
    };
    let mut stack = TestStack::start_with(Backend::Distributed, options).await;
    let mut world = World::start(&stack).await;
    let authority = stack.api.trim_start_matches("http://").to_string();
    let context = Context {
        urls: &world.urls,
        authority: &authority,
    };
    let api = stack.api.clone();
    let mut results = run::send_all(seed, indices, &context, &api).await;
    let sent_in = started.elapsed();
    endings::check(&mut stack, &mut world, &mut results).await;
    let run::Results {
        tally, failures, ..
    } = results;
    println!("{tally}");
    println!(
        "fuzz: seed {seed}: requests done in {:.1} s, jobs ended by {:.1} s",
        sent_in.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    drop(world);
    stack.stop().await;
    assert!(
        failures.is_empty(),
        "{} failures (seed {seed}); the first ones:\n{}",
        failures.len(),
        failures[..failures.len().min(SHOWN_FAILURES)].join("\n\n")
    );
}

/// `CROWD_FUZZ_SEED` (decimal, or hexadecimal after `0x`), or one made up from the clock.
fn seed() -> u64 {
    match std::env::var("CROWD_FUZZ_SEED") {
        Ok(text) => {
            let text = text.trim();
            let parsed = match text.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => text.parse(),
            };
            parsed.unwrap_or_else(|e| panic!("CROWD_FUZZ_SEED={text:?}: {e}"))
        }
        Err(_) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("the clock is past 1970");
            // Only to tell runs apart: nanoseconds, and the process id for two in one instant.
            (now.as_nanos() as u64) ^ u64::from(std::process::id()).rotate_left(32)
        }
    }
}

/// The indices of the requests to send: `CROWD_FUZZ_ONLY`'s, or all `CROWD_FUZZ_REQUESTS`.
fn indices() -> Vec<u64> {
    let number = |name: &str, text: &str| -> u64 {
        text.trim()
            .parse()
            .unwrap_or_else(|e| panic!("{name}={text:?}: {e}"))
    };
    if let Ok(only) = std::env::var("CROWD_FUZZ_ONLY") {
        return only
            .split(',')
            .map(|i| number("CROWD_FUZZ_ONLY", i))
            .collect();
    }
    let count = std::env::var("CROWD_FUZZ_REQUESTS")
        .map(|n| number("CROWD_FUZZ_REQUESTS", &n))
        .unwrap_or(REQUESTS);
    (0..count).collect()
}
