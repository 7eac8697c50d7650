//! What a completion does to its unit, decided from the unit's row and the answer alone: only
//! the current attempt of an incomplete unit counts, so a redelivery or a late answer changes
//! nothing; a failure is tried again while attempts are left and it is retryable.

use anyhow::Context;
use serde_json::Value;

use crate::{
    messages::{Completion, Outcome},
    status::{Stage, UnitState},
    store::Applied,
};

/// The facts of a unit a completion is decided on, as its store reads them (under its lock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnitFacts {
    pub stage: Stage,
    pub state: UnitState,
    /// Attempts made so far: the attempt a completion must answer to count.
    pub attempts: i32,
    /// Attempts that ended because the worker running them stopped.
    pub stops: i32,
}

impl UnitFacts {
    /// The facts from a unit's row as both stores keep it: the stage's code and the state's name.
    pub fn from_row(stage: i16, state: &str, attempts: i32, stops: i32) -> anyhow::Result<Self> {
        Ok(UnitFacts {
            stage: Stage::from_code(stage).context("unit with an unknown stage")?,
            state: UnitState::parse(state).context("unit with an unknown state")?,
            attempts,
            stops,
        })
    }
}

/// What to write for one completion.
#[derive(Debug, Clone, PartialEq)]
pub enum CompletionDecision<'c> {
    /// Nothing: the unit is complete already, or the answer is not to its current attempt.
    Stale(&'static str),
    /// The unit succeeded with `output`; a split's output also becomes the job's process
    /// units, one per input (empty for any other stage).
    Succeeded {
        output: &'c Value,
        process_inputs: Vec<Value>,
    },
    /// The attempt failed and another is allowed: the unit goes back to the outbox.
    Retry(Failure),
    /// The unit failed for good.
    Fail(Failure),
}

/// What a failed attempt leaves on its unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The unit's error (`failure_error`).
    pub error: String,
    /// Added to the unit's stops: 1 when the worker running it stopped, else 0.
    pub stops: i32,
}

impl CompletionDecision<'_> {
    /// What the caller is told became of the completion.
    pub fn applied(&self) -> Applied {
        match self {
            CompletionDecision::Stale(why) => Applied::Stale(why),
            _ => Applied::Recorded,
        }
    }

    /// Whether it puts units in the outbox (a retry, or a split's process units).
    pub fn adds_work(&self) -> bool {
        match self {
            CompletionDecision::Succeeded { process_inputs, .. } => !process_inputs.is_empty(),
            CompletionDecision::Retry(_) => true,
            CompletionDecision::Stale(_) | CompletionDecision::Fail(_) => false,
        }
    }
}

/// Decides what `completion` does to `unit`, which allows `max_attempts` attempts in all.
pub fn decide<'c>(
    unit: &UnitFacts,
    completion: &'c Completion,
    max_attempts: i32,
) -> CompletionDecision<'c> {
    if unit.state.is_complete() {
        return CompletionDecision::Stale("unit already complete");
    }
    if unit.attempts != completion.attempt {
        return CompletionDecision::Stale("an older attempt");
    }
    match &completion.outcome {
        Outcome::Succeeded { output } => CompletionDecision::Succeeded {
            output,
            process_inputs: match unit.stage {
                Stage::Split => split_inputs(output.clone()),
                Stage::Process | Stage::Merge => Vec::new(),
            },
        },
        Outcome::Failed {
            error,
            retryable,
            stopped,
        } => {
            let failure = Failure {
                error: failure_error(error, *stopped, unit.stops),
                stops: i32::from(*stopped),
            };
            match after_failure(unit.attempts, max_attempts, *retryable) {
                AfterFailure::Retry => CompletionDecision::Retry(failure),
                AfterFailure::Fail => CompletionDecision::Fail(failure),
            }
        }
    }
}

/// The process units a split's output makes: CloudCrowd flattens it, so nested arrays become
/// one list of inputs.
pub fn split_inputs(output: Value) -> Vec<Value> {
    match output {
        Value::Array(items) => items.into_iter().flat_map(split_inputs).collect(),
        other => vec![other],
    }
}

/// What a failed attempt leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Back to the outbox, to the back of the queue.
    Retry,
    /// Failed for good.
    Fail,
}

/// `attempts_before` failed attempts came before this one; `max_attempts` is the total allowed.
pub fn after_failure(attempts_before: i32, max_attempts: i32, retryable: bool) -> AfterFailure {
    if retryable && attempts_before + 1 < max_attempts {
        AfterFailure::Retry
    } else {
        AfterFailure::Fail
    }
}

/// The error a failed attempt leaves on its unit. A stop (the worker running it died) says how
/// many runs ended that way, so a unit that kills its workers is plain to see.
pub fn failure_error(error: &str, stopped: bool, stops_before: i32) -> String {
    if !stopped {
        return error.to_string();
    }
    match stops_before + 1 {
        1 => "the worker running it stopped 1 time".to_string(),
        n => format!("the worker running it stopped {n} times"),
    }
}

#[cfg(test)]
mod tests {
    use crate::ids::{JobId, UnitId};
    use serde_json::json;

    use super::*;

    fn unit(stage: Stage, state: UnitState, attempts: i32) -> UnitFacts {
        UnitFacts {
            stage,
            state,
            attempts,
            stops: 0,
        }
    }

    fn answer(attempt: i32, outcome: Outcome) -> Completion {
        Completion {
            unit_id: UnitId(1),
            job_id: JobId(1),
            attempt,
            outcome,
            time: 0.5,
            node: "node".into(),
            action: None,
        }
    }

    fn success(attempt: i32, output: Value) -> Completion {
        answer(attempt, Outcome::Succeeded { output })
    }

    #[test]
    fn an_answer_to_a_complete_unit_is_stale() {
        let done = unit(Stage::Process, UnitState::Succeeded, 1);
        let c = success(0, json!(1));
        let d = decide(&done, &c, 3);
        assert_eq!(d, CompletionDecision::Stale("unit already complete"));
        assert_eq!(d.applied(), Applied::Stale("unit already complete"));
        let failed = unit(Stage::Process, UnitState::Failed, 1);
        assert_eq!(
            decide(&failed, &success(1, json!(1)), 3),
            CompletionDecision::Stale("unit already complete")
        );
    }

    #[test]
    fn an_answer_to_another_attempt_is_stale() {
        let running = unit(Stage::Process, UnitState::Queued, 2);
        assert_eq!(
            decide(&running, &success(1, json!(1)), 3),
            CompletionDecision::Stale("an older attempt")
        );
        assert_eq!(
            decide(&running, &answer(1, Outcome::failed("late", true)), 3),
            CompletionDecision::Stale("an older attempt")
        );
    }

    #[test]
    fn a_process_success_adds_no_units() {
        let running = unit(Stage::Process, UnitState::Queued, 0);
        let c = success(0, json!([1, 2]));
        let d = decide(&running, &c, 3);
        assert_eq!(
            d,
            CompletionDecision::Succeeded {
                output: &json!([1, 2]),
                process_inputs: vec![],
            }
        );
        assert_eq!(d.applied(), Applied::Recorded);
        assert!(!d.adds_work());
    }

    #[test]
    fn a_split_success_carries_its_flattened_inputs() {
        let split = unit(Stage::Split, UnitState::Queued, 1);
        let c = success(1, json!([["a", "b"], "c"]));
        let d = decide(&split, &c, 3);
        assert_eq!(
            d,
            CompletionDecision::Succeeded {
                output: &json!([["a", "b"], "c"]),
                process_inputs: vec![json!("a"), json!("b"), json!("c")],
            }
        );
        assert!(d.adds_work());
    }

    #[test]
    fn a_retryable_failure_retries_while_attempts_are_left() {
        let running = unit(Stage::Process, UnitState::Queued, 1);
        let c = answer(1, Outcome::failed("boom", true));
        let d = decide(&running, &c, 3);
        assert_eq!(
            d,
            CompletionDecision::Retry(Failure {
                error: "boom".into(),
                stops: 0
            })
        );
        assert!(d.adds_work());
        let last = unit(Stage::Process, UnitState::Queued, 2);
        assert_eq!(
            decide(&last, &answer(2, Outcome::failed("boom", true)), 3),
            CompletionDecision::Fail(Failure {
                error: "boom".into(),
                stops: 0
            })
        );
    }

    #[test]
    fn a_permanent_failure_fails_at_once() {
        let running = unit(Stage::Merge, UnitState::Queued, 0);
        let c = answer(0, Outcome::failed("bad input", false));
        let d = decide(&running, &c, 3);
        assert_eq!(
            d,
            CompletionDecision::Fail(Failure {
                error: "bad input".into(),
                stops: 0
            })
        );
        assert_eq!(d.applied(), Applied::Recorded);
        assert!(!d.adds_work());
    }

    #[test]
    fn a_stop_is_counted_and_named_in_the_error() {
        let mut running = unit(Stage::Process, UnitState::Queued, 1);
        running.stops = 1;
        let stopped = Outcome::Failed {
            error: "stopped".into(),
            retryable: true,
            stopped: true,
        };
        assert_eq!(
            decide(&running, &answer(1, stopped), 3),
            CompletionDecision::Retry(Failure {
                error: "the worker running it stopped 2 times".into(),
                stops: 1
            })
        );
    }

    #[test]
    fn split_output_is_flattened() {
        assert_eq!(
            split_inputs(json!([[1, 2], [3, [4]], 5])),
            vec![json!(1), json!(2), json!(3), json!(4), json!(5)]
        );
        assert_eq!(split_inputs(json!("one")), vec![json!("one")]);
    }

    #[test]
    fn retries_until_the_last_allowed_attempt() {
        assert_eq!(after_failure(0, 3, true), AfterFailure::Retry);
        assert_eq!(after_failure(1, 3, true), AfterFailure::Retry);
        assert_eq!(after_failure(2, 3, true), AfterFailure::Fail);
        assert_eq!(after_failure(0, 3, false), AfterFailure::Fail);
        assert_eq!(after_failure(0, 1, true), AfterFailure::Fail);
    }

    #[test]
    fn a_stop_counts_the_stops_so_far() {
        assert_eq!(failure_error("boom", false, 2), "boom");
        assert_eq!(
            failure_error("stopped", true, 0),
            "the worker running it stopped 1 time"
        );
        assert_eq!(
            failure_error("stopped", true, 2),
            "the worker running it stopped 3 times"
        );
    }
}
