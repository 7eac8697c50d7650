//! The chaos run: the distributed stack as separate `crowd` processes takes a steady stream of
//! jobs (plain word counts, split/merge word counts, jobs that fail) for about two minutes
//! (`CROWD_CHAOS_SECS`) while workers, dispatchers and the api are killed with SIGKILL at random
//! moments and started again, RabbitMQ is restarted and Postgres is restarted. Then every job
//! must have ended with its right result (so no unit was lost or counted twice), no process may
//! have exited by itself, and the queues must be empty. It prints what it did, the counts, and
//! how long the system took to finish a fresh job after each kind of fault. Seeded
//! (`CROWD_CHAOS_SEED`), loopback only. A test binary of its own: it restarts shared services.

#![allow(dead_code)] // The shared fixtures have more than this run uses.

#[path = "../common/broker.rs"]
mod broker;
#[path = "../common/processes.rs"]
mod processes;
#[path = "../e2e/s3_server.rs"]
mod s3_server;

mod cluster;
mod faults;
mod jobs;
mod report;
mod rng;
mod world;

use std::time::{Duration, Instant};

use cluster::Cluster;
use faults::Fault;
use report::Report;
use rng::Rng;
use world::World;

/// How long the faults go on.
fn chaos_time() -> Duration {
    let secs = std::env::var("CROWD_CHAOS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    Duration::from_secs(secs)
}

/// How long everything may take to settle once the faults stop.
const SETTLE: Duration = Duration::from_secs(240);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_job_ends_right_through_kills_and_restarts() {
    let seed = std::env::var("CROWD_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| u64::from(std::process::id()));
    println!("chaos: seed {seed} (CROWD_CHAOS_SEED={seed} repeats this run)");
    let world = World::start().await;
    let mut cluster = Cluster::start(world.config.clone(), world.api_port);
    world.wait_for_api().await;

    let posting = tokio::spawn(world.clone().post_jobs(seed, chaos_time()));
    let mut rng = Rng::new(seed ^ 0x5eed);
    let mut report = Report::default();
    let started = Instant::now();
    let mut round = 0;
    while started.elapsed() < chaos_time() {
        let pause = Duration::from_millis(rng.between(1_000..4_000));
        tokio::time::sleep(pause).await; // the quiet between two faults: part of the scenario
        let fault = Fault::pick(&mut rng, round);
        let at = Instant::now();
        let what = fault.deal(&mut cluster, &mut rng).await;
        let recovered = world.probe_job().await;
        println!(
            "chaos: {:>6.1}s {what}; a fresh job finished {:.2} s after the fault",
            started.elapsed().as_secs_f64(),
            (recovered - at).as_secs_f64()
        );
        report.fault(fault, recovered - at);
        cluster.check();
        round += 1;
    }
    let posted = posting.await.expect("the posting task");
    report.posted = posted.counts();

    let outcome = world.settle(&posted.jobs, SETTLE).await;
    let queues_left = world.queues_left().await;
    let exited = cluster.stop();
    report.print(&outcome, &queues_left, &exited);
    world.clean_up().await;

    assert!(
        exited.is_empty(),
        "processes exited by themselves: {exited:?}"
    );
    assert!(
        outcome.wrong.is_empty(),
        "jobs ended wrong: {:#?}",
        outcome.wrong
    );
    assert!(
        outcome.unfinished.is_empty(),
        "jobs never ended: {:?}",
        outcome.unfinished
    );
    assert_eq!(
        outcome.incomplete_in_store, 0,
        "incomplete jobs in the store"
    );
    assert!(
        queues_left.is_empty(),
        "messages left in queues: {queues_left:?}"
    );
    assert!(
        report.dealt_every_kind(),
        "the run was too short to deal every kind of fault"
    );
}
