//! A store in memory that executes the state machine's decisions and nothing else, driven by
//! property tests through generated jobs and interleavings: answers in any order, repeated,
//! late (to an older attempt), failures retryable or not, stops, and the advance each
//! completion triggers run late, early, or twice. Every step is atomic here, as each is under
//! its lock in a real store.
//!
//! What must hold whatever the order: one merge unit for a job with a merge (none without);
//! no completion applied twice, nor beyond `max_attempts`; the job ends exactly once, when
//! every unit of its stage is complete, failed iff one of them failed for good; and a complete
//! job never moves again.

use std::collections::HashMap;

use proptest::prelude::*;
use serde_json::{json, Value};

use super::{decide, plan, stage_of, CompletionDecision, Move, Tally, UnitFacts};
use crate::{
    ids::{JobId, UnitId},
    messages::{Completion, Outcome},
    status::{JobStatus, Stage, UnitState},
    store::Applied,
};

/// A generated job.
#[derive(Debug, Clone)]
struct JobSpec {
    split: bool,
    merge: bool,
    inputs: usize,
    max_attempts: i32,
}

/// What a worker answers.
#[derive(Debug, Clone)]
enum Answer {
    /// Succeeded; a split's output lists this many inputs.
    Succeed {
        fanout: usize,
    },
    Fail {
        retryable: bool,
        stopped: bool,
    },
}

/// One step of an interleaving. `pick`s choose among what exists when the step runs.
#[derive(Debug, Clone)]
enum Event {
    /// The current attempt of a unit (complete or not) answers.
    Answer { pick: usize, answer: Answer },
    /// An answer delivered before comes again (a redelivery).
    Redeliver { pick: usize },
    /// An answer to another attempt than the unit's current one arrives.
    Late { pick: usize, answer: Answer },
    /// One of the advances that completions triggered runs now (or, if none waits, an extra
    /// one, as a dispatcher starting up runs for every incomplete job).
    Advance,
}

#[derive(Debug, Clone)]
struct Unit {
    stage: Stage,
    state: UnitState,
    attempts: i32,
    stops: i32,
    /// Successes recorded on it.
    successes: u32,
}

impl Unit {
    fn new(stage: Stage) -> Unit {
        Unit {
            stage,
            state: UnitState::Pending,
            attempts: 0,
            stops: 0,
            successes: 0,
        }
    }
}

/// A job's end, with the facts at that moment.
#[derive(Debug, Clone, PartialEq)]
struct Ended {
    status: JobStatus,
    outputs_of: Stage,
    /// The stage the job was waiting on when it ended.
    stage: Option<Stage>,
    every_unit_complete: bool,
    some_unit_failed: bool,
}

/// One job and its units, in memory.
#[derive(Debug)]
struct ModelStore {
    status: JobStatus,
    has_merge: bool,
    max_attempts: i32,
    units: Vec<Unit>,
    merges_added: u32,
    ends: Vec<Ended>,
    /// Answers not found stale, by (unit, attempt).
    applied: HashMap<(usize, i32), u32>,
    /// Every answer delivered, for redeliveries.
    delivered: Vec<Completion>,
    /// Advances triggered and not yet run.
    waiting_advances: usize,
}

impl ModelStore {
    fn create(spec: &JobSpec) -> ModelStore {
        let (status, stage) = if spec.split {
            (JobStatus::Splitting, Stage::Split)
        } else {
            (JobStatus::Processing, Stage::Process)
        };
        ModelStore {
            status,
            has_merge: spec.merge,
            max_attempts: spec.max_attempts,
            units: (0..spec.inputs).map(|_| Unit::new(stage)).collect(),
            merges_added: 0,
            ends: Vec::new(),
            applied: HashMap::new(),
            delivered: Vec::new(),
            waiting_advances: 0,
        }
    }

    fn completion(&self, unit: usize, attempt: i32, answer: &Answer) -> Completion {
        let outcome = match answer {
            Answer::Succeed { fanout } => Outcome::Succeeded {
                output: match self.units[unit].stage {
                    Stage::Split => Value::Array((0..*fanout).map(|n| json!(n)).collect()),
                    Stage::Process | Stage::Merge => json!(unit),
                },
            },
            Answer::Fail { retryable, stopped } => Outcome::Failed {
                error: "boom".into(),
                retryable: *retryable,
                stopped: *stopped,
            },
        };
        Completion {
            unit_id: UnitId(unit as i64),
            job_id: JobId(1),
            attempt,
            outcome,
            time: 0.0,
            node: "model".into(),
            action: None,
        }
    }

    /// Records one completion as a store does: reads the unit, asks `decide`, writes what it
    /// says. Then an advance is due, as `apply_completion` runs one after every completion.
    fn record(&mut self, c: Completion) -> Applied {
        let index = usize::try_from(c.unit_id.0).expect("a unit index");
        let unit = &self.units[index];
        let facts = UnitFacts {
            stage: unit.stage,
            state: unit.state,
            attempts: unit.attempts,
            stops: unit.stops,
        };
        let decision = decide(&facts, &c, self.max_attempts);
        if decision.applied() == Applied::Recorded {
            assert!(
                self.ends.is_empty(),
                "a completion changed a unit of a complete job"
            );
            *self.applied.entry((index, c.attempt)).or_default() += 1;
        }
        let unit = &mut self.units[index];
        match &decision {
            CompletionDecision::Stale(_) => {}
            CompletionDecision::Succeeded { process_inputs, .. } => {
                unit.state = UnitState::Succeeded;
                unit.attempts += 1;
                unit.successes += 1;
                let added = process_inputs.len();
                self.units
                    .extend((0..added).map(|_| Unit::new(Stage::Process)));
            }
            CompletionDecision::Retry(f) => {
                unit.state = UnitState::Pending;
                unit.attempts += 1;
                unit.stops += f.stops;
            }
            CompletionDecision::Fail(f) => {
                unit.state = UnitState::Failed;
                unit.attempts += 1;
                unit.stops += f.stops;
            }
        }
        let applied = decision.applied();
        self.delivered.push(c);
        self.waiting_advances += 1;
        applied
    }

    fn tally(&self) -> Tally {
        self.units.iter().map(|u| (u.stage, u.state, 1)).collect()
    }

    /// Moves the job on as a store does, under its lock: tallies, asks `plan`, makes the moves.
    fn advance(&mut self) {
        let moves = plan(self.status, self.has_merge, &self.tally());
        if !self.ends.is_empty() {
            assert!(moves.is_empty(), "a complete job moved again: {moves:?}");
        }
        for step in moves {
            match step {
                Move::SetStatus(next) => self.status = next,
                Move::AddMergeUnit => {
                    self.units.push(Unit::new(Stage::Merge));
                    self.merges_added += 1;
                }
                Move::Complete { status, outputs_of } => {
                    let stage = stage_of(self.status);
                    let of_stage = || self.units.iter().filter(|u| Some(u.stage) == stage);
                    self.ends.push(Ended {
                        status,
                        outputs_of,
                        stage,
                        every_unit_complete: of_stage().all(|u| u.state.is_complete()),
                        some_unit_failed: of_stage().any(|u| u.state == UnitState::Failed),
                    });
                    self.status = status;
                    // What the store's end does: units still waiting are cancelled.
                    for unit in &mut self.units {
                        if !unit.state.is_complete() {
                            unit.state = UnitState::Failed;
                        }
                    }
                }
            }
        }
    }

    fn run_advance(&mut self) {
        self.waiting_advances = self.waiting_advances.saturating_sub(1);
        self.advance();
    }

    fn apply(&mut self, event: &Event) {
        match event {
            Event::Answer { pick, answer } => {
                let unit = pick % self.units.len();
                let c = self.completion(unit, self.units[unit].attempts, answer);
                self.record(c);
            }
            Event::Redeliver { pick } => {
                if self.delivered.is_empty() {
                    return;
                }
                let c = self.delivered[pick % self.delivered.len()].clone();
                let applied = self.record(c);
                assert!(
                    matches!(applied, Applied::Stale(_)),
                    "a redelivered answer counted again"
                );
            }
            Event::Late { pick, answer } => {
                let unit = pick % self.units.len();
                let current = self.units[unit].attempts;
                // An older attempt: none before the first ends (no worker answers an attempt
                // not yet made).
                let attempt = match usize::try_from(current) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => i32::try_from(pick / self.units.len() % n).expect("below an i32"),
                };
                let c = self.completion(unit, attempt, answer);
                let applied = self.record(c);
                assert!(
                    matches!(applied, Applied::Stale(_)),
                    "an answer to attempt {attempt} while {current} is current counted"
                );
            }
            Event::Advance => self.run_advance(),
        }
    }

    /// After the generated events: every waiting advance runs, and the units of the job's
    /// stage succeed one by one until it ends (which it must).
    fn finish(&mut self) {
        for _ in 0..1_000 {
            while self.waiting_advances > 0 {
                self.run_advance();
            }
            if !self.ends.is_empty() {
                return;
            }
            let stage = stage_of(self.status).expect("an incomplete job waits on a stage");
            let Some(unit) = self
                .units
                .iter()
                .position(|u| u.stage == stage && !u.state.is_complete())
            else {
                panic!("the job is stuck in {:?} with its stage done", self.status);
            };
            let c = self.completion(
                unit,
                self.units[unit].attempts,
                &Answer::Succeed { fanout: 2 },
            );
            self.record(c);
        }
        panic!("the job never ended");
    }

    fn check(&self) {
        assert_eq!(self.ends.len(), 1, "the job ends exactly once");
        let end = &self.ends[0];
        assert_eq!(end.status, self.status);
        assert!(
            end.every_unit_complete,
            "the job ended with units of its stage waiting"
        );
        assert_eq!(Some(end.outputs_of), end.stage);
        assert_eq!(
            end.status == JobStatus::Failed,
            end.some_unit_failed,
            "failed iff a unit of the stage that ended it failed for good"
        );
        let merged = end.outputs_of == Stage::Merge;
        assert_eq!(self.merges_added, u32::from(self.has_merge && merged));
        if self.has_merge && end.status == JobStatus::Succeeded {
            assert_eq!(self.merges_added, 1, "a merged job has exactly one merge");
        }
        for (i, unit) in self.units.iter().enumerate() {
            assert!(unit.successes <= 1, "unit {i} succeeded twice");
            assert!(
                unit.attempts <= self.max_attempts,
                "unit {i} ran {} times of {}",
                unit.attempts,
                self.max_attempts
            );
            assert!(unit.state.is_complete(), "unit {i} left waiting");
        }
        assert!(
            self.applied.values().all(|n| *n == 1),
            "an answer was applied twice"
        );
    }
}

fn job_spec() -> impl Strategy<Value = JobSpec> {
    (any::<bool>(), any::<bool>(), 1..=20usize, 1..=4i32).prop_map(
        |(split, merge, inputs, max_attempts)| JobSpec {
            split,
            merge,
            inputs,
            max_attempts,
        },
    )
}

fn answer() -> impl Strategy<Value = Answer> {
    prop_oneof![
        3 => (0..4usize).prop_map(|fanout| Answer::Succeed { fanout }),
        2 => (any::<bool>(), any::<bool>())
            .prop_map(|(retryable, stopped)| Answer::Fail { retryable, stopped }),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    let pick = 0..usize::MAX;
    prop_oneof![
        6 => (pick.clone(), answer()).prop_map(|(pick, answer)| Event::Answer { pick, answer }),
        1 => pick.clone().prop_map(|pick| Event::Redeliver { pick }),
        1 => (pick, answer()).prop_map(|(pick, answer)| Event::Late { pick, answer }),
        4 => Just(Event::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn every_interleaving_ends_the_job_once_with_one_merge_and_nothing_counted_twice(
        spec in job_spec(),
        events in proptest::collection::vec(event(), 0..150),
        after_the_end in proptest::collection::vec(event(), 0..20),
    ) {
        let mut store = ModelStore::create(&spec);
        for event in &events {
            store.apply(event);
        }
        store.finish();
        // Late answers, repeats and advances once the job is complete change nothing.
        for event in &after_the_end {
            store.apply(event);
        }
        store.check();
    }
}

/// A job of `inputs` units with one attempt each.
fn one_try_job(split: bool, merge: bool, inputs: usize) -> ModelStore {
    ModelStore::create(&JobSpec {
        split,
        merge,
        inputs,
        max_attempts: 1,
    })
}

fn answer_to(pick: usize, answer: Answer) -> Event {
    Event::Answer { pick, answer }
}

#[test]
fn the_model_ends_a_plain_job_when_its_last_unit_succeeds() {
    let mut store = one_try_job(false, false, 2);
    store.apply(&answer_to(0, Answer::Succeed { fanout: 0 }));
    store.apply(&Event::Advance);
    assert!(store.ends.is_empty());
    store.apply(&answer_to(1, Answer::Succeed { fanout: 0 }));
    store.apply(&Event::Advance);
    assert_eq!(store.status, JobStatus::Succeeded);
    store.finish();
    store.check();
}

#[test]
fn the_model_fails_a_split_job_and_cancels_its_waiting_process_units() {
    let mut store = one_try_job(true, true, 2);
    store.apply(&answer_to(0, Answer::Succeed { fanout: 3 }));
    let failure = Answer::Fail {
        retryable: true,
        stopped: false,
    };
    store.apply(&answer_to(1, failure));
    store.finish();
    store.check();
    assert_eq!(store.status, JobStatus::Failed);
    assert_eq!(store.merges_added, 0);
    assert_eq!(store.units.len(), 5);
}
