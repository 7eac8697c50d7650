//! The job state machine: every decision a completion leads to, as pure functions of the
//! facts a store reads, so the rules exist once whatever database is underneath.
//!
//! - `completion`: what one completion does to its unit (stale, recorded, retried, failed
//!   for good; a split's success adds the process units).
//! - `job`: what a job becomes next, given its status and a tally of its units.
//! - `advance`: the ordered moves that take a job there (set its status, add its one merge
//!   unit, complete it).
//! - `retry`: where a failed job resumes when its failed units run again.
//!
//! Each store reads the facts under its lock, asks these functions, and executes their
//! answer in its own SQL; it decides nothing itself. `model` (tests only) is a store in memory
//! that does the same, driven through many interleavings of completions by property tests.

pub mod advance;
pub mod completion;
pub mod job;
#[cfg(test)]
mod model;
pub mod retry;

pub use advance::{plan, Move};
pub use completion::{
    after_failure, decide, failure_error, split_inputs, AfterFailure, CompletionDecision, Failure,
    UnitFacts,
};
pub use job::{next_status, output_stage, percent_complete, stage_of, Tally};
pub use retry::{resume, NotRetryable};
