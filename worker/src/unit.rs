//! One delivery, from the queue to its settlement. A message that cannot be read, or the
//! redelivery of a run that ended with no answer (its worker stopped), is answered with a failed
//! attempt at once, so a unit that kills its workers is tried a bounded number of times; any
//! other unit runs. Its completion goes out on whatever link is up by then, and only then is the
//! delivery acked.

use std::sync::Arc;

use crowd_shared::{
    ids::{JobId, UnitId},
    messages::{encoded_len, Completion, Outcome, UnitAttempt, WorkMessage},
    queue::{Acker, Delivery},
    storage::unit_prefix,
};

use crate::{env::WorkerEnv, stage};

/// What the worker reports for a run that ended with no answer.
const STOPPED: &str = "the worker running it stopped";

/// Takes one delivery: answers it, joins it to the same attempt running here, or starts it.
pub fn take(env: &Arc<WorkerEnv>, delivery: Delivery<WorkMessage>) {
    let Delivery {
        body,
        redelivered,
        acker,
    } = delivery;
    let msg = match body {
        Ok(msg) => msg,
        Err(unreadable) => {
            let Some(unit) = unreadable.unit_attempt() else {
                tracing::error!(error = %unreadable.error, "discarding a work message that names no unit");
                tokio::spawn(settle(acker, Settle::Reject, None));
                return;
            };
            let error = format!(
                "this worker cannot read the unit's message ({}); a worker of another version may",
                unreadable.error
            );
            tracing::warn!(work_unit.id = unit.unit_id.0, %error, "unreadable work message");
            tokio::spawn(answer(
                env.clone(),
                unit,
                Outcome::failed(error, true),
                acker,
            ));
            return;
        }
    };
    let unit = msg.unit_attempt();
    if env.deleted.contains(unit.job_id) {
        tracing::debug!(
            job.id = unit.job_id.0,
            work_unit.id = unit.unit_id.0,
            "dropping a unit of a deleted job"
        );
        tokio::spawn(settle(acker, Settle::Ack, Some(unit.unit_id)));
        return;
    }
    if redelivered && !env.running.runs(unit.unit_id, unit.attempt) {
        // Whoever ran it last stopped before answering. Counting that run as a failed attempt
        // is what bounds a unit that crashes every worker it reaches.
        tracing::warn!(
            job.id = unit.job_id.0,
            work_unit.id = unit.unit_id.0,
            attempt = unit.attempt,
            "a unit came back from a worker that stopped; counting that run as an attempt"
        );
        let stopped = Outcome::Failed {
            error: STOPPED.into(),
            retryable: true,
            stopped: true,
        };
        tokio::spawn(answer(env.clone(), unit, stopped, acker));
        return;
    }
    if !env.running.start(&msg, acker) {
        tracing::debug!(
            work_unit.id = unit.unit_id.0,
            "a unit running here was delivered again; it is settled when the run ends"
        );
        return;
    }
    let task = tokio::spawn(run(env.clone(), msg));
    env.running
        .set_abort(unit.unit_id, unit.attempt, task.abort_handle());
}

/// The job was deleted: its units that arrive later are dropped, and those running stop now,
/// their deliveries settled and whatever they stored removed.
pub fn stop_job(env: &Arc<WorkerEnv>, job_id: JobId) {
    env.deleted.insert(job_id);
    for stopped in env.running.stop_job(job_id) {
        tracing::info!(
            job.id = job_id.0,
            work_unit.id = stopped.unit_id.0,
            "stopped a unit of a deleted job"
        );
        let env = env.clone();
        tokio::spawn(async move {
            let prefix = unit_prefix(&stopped.action, job_id, stopped.unit_id);
            if let Err(e) = env.store.delete_prefix(&prefix).await {
                tracing::warn!(
                    job.id = job_id.0,
                    error = format!("{e:#}"),
                    "files of a stopped unit not removed"
                );
            }
            for acker in stopped.ackers {
                settle(acker, Settle::Ack, Some(stopped.unit_id)).await;
            }
        });
    }
}

async fn run(env: Arc<WorkerEnv>, msg: WorkMessage) {
    // Held (and listed in heartbeats) while it waits; its time limit starts with its run.
    // A throttled worker starts nothing new until the machine recovers.
    let mut throttled = env.throttled.subscribe();
    if throttled.wait_for(Option::is_none).await.is_err() {
        return; // never closed: the sender lives in `env`
    }
    let Ok(slot) = env.slots.clone().acquire_owned().await else {
        return; // never closed
    };
    let started = std::time::Instant::now();
    let completion = within_limit(stage::run(&env, &msg).await, env.max_message_bytes);
    drop(slot);
    let outcome = match &completion.outcome {
        Outcome::Succeeded { .. } => "succeeded",
        Outcome::Failed {
            retryable: true, ..
        } if msg.attempt < msg.max_attempts => "retried",
        Outcome::Failed { .. } => "failed",
    };
    crowd_shared::metrics::unit_ran(&msg.action, msg.stage, outcome, started.elapsed());
    if !env.reports.send(completion).await {
        return; // The worker is closing; the queue hands the unit out again.
    }
    for acker in env.running.finish(msg.unit_id, msg.attempt) {
        settle(acker, Settle::Ack, Some(msg.unit_id)).await;
    }
}

/// Answers for a unit without running it.
async fn answer(env: Arc<WorkerEnv>, unit: UnitAttempt, outcome: Outcome, acker: Box<dyn Acker>) {
    if env
        .reports
        .send(Completion::without_run(unit, outcome, &env.node))
        .await
    {
        settle(acker, Settle::Ack, Some(unit.unit_id)).await;
    }
}

/// A result too big for the queue fails its attempt for good, with a message that says why.
fn within_limit(mut completion: Completion, max_bytes: usize) -> Completion {
    let bytes = encoded_len(&completion);
    if bytes > max_bytes {
        completion.outcome = Outcome::failed(
            format!(
                "the stage's result is {bytes} bytes, more than max_message_bytes ({max_bytes}): \
                 save big results as files and return their URLs"
            ),
            false,
        );
    }
    completion
}

enum Settle {
    Ack,
    Reject,
}

/// Settles a delivery. One that fails belongs to a link that broke: the queue delivers the
/// message again, and the answer already sent makes that delivery stale.
async fn settle(acker: Box<dyn Acker>, how: Settle, unit_id: Option<UnitId>) {
    let result = match how {
        Settle::Ack => acker.ack().await,
        Settle::Reject => acker.reject().await,
    };
    if let Err(e) = result {
        tracing::info!(
            work_unit.id = unit_id.map(|id| id.0),
            error = format!("{e:#}"),
            "delivery not settled"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_over_the_limit_fails_for_good_and_says_so() {
        let completion = Completion::without_run(
            UnitAttempt {
                unit_id: crowd_shared::UnitId(1),
                job_id: crowd_shared::JobId(2),
                attempt: 0,
            },
            Outcome::Succeeded {
                output: "x".repeat(1000).into(),
            },
            "node",
        );
        assert_eq!(within_limit(completion.clone(), 2000), completion);
        let failed = within_limit(completion, 500);
        let Outcome::Failed {
            error, retryable, ..
        } = failed.outcome
        else {
            panic!("should fail: {failed:?}");
        };
        assert!(!retryable);
        assert!(error.contains("max_message_bytes (500)"), "{error}");
    }
}
