//! What travels over the broker: work for a worker, a completion back to the dispatcher, and
//! a worker's heartbeat. JSON, so a queue can be read by eye in the management UI.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    ids::{JobId, UnitId},
    lane::Lane,
    status::Stage,
};

/// One attempt at one stage of one work unit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WorkMessage {
    pub unit_id: UnitId,
    pub job_id: JobId,
    pub action: String,
    pub stage: Stage,
    pub input: Value,
    /// Where the input is stored instead, when it is too big to travel in every message (a
    /// merge's input: every process output). `input` is then null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_key: Option<String>,
    /// The job's options, as the user gave them.
    pub options: Value,
    /// Where the job's options are stored instead, when they are bigger than
    /// `INLINE_OPTIONS_BYTES`: they travel once per job, not once per unit. `options` is then
    /// null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options_key: Option<String>,
    /// Failed attempts before this one; it fences completions, so a late answer to an older
    /// attempt changes nothing.
    pub attempt: i32,
    /// Total attempts the unit gets (`work_unit_retries`).
    pub max_attempts: i32,
    /// Whether it goes ahead of big batches (its message's priority).
    #[serde(default)]
    pub lane: Lane,
}

/// Options up to this size travel in every unit's message; bigger ones are stored once per job.
pub const INLINE_OPTIONS_BYTES: usize = 1024;

impl WorkMessage {
    /// Bytes the message of a unit with `input` would take, its options by reference when
    /// they are too big to travel inline: what `max_message_bytes` is checked against before
    /// a job is accepted.
    pub fn bytes_for(action: &str, input: &Value, options: &Value) -> usize {
        let options_bytes = encoded_len(options);
        let skeleton = WorkMessage {
            unit_id: UnitId(i64::MAX),
            job_id: JobId(i64::MAX),
            action: action.to_string(),
            stage: Stage::Process,
            input: Value::Null,
            input_key: None,
            options: Value::Null,
            options_key: (options_bytes > INLINE_OPTIONS_BYTES)
                .then(|| crate::storage::job_options_key(action, JobId(i64::MAX))),
            attempt: i32::MAX,
            max_attempts: i32::MAX,
            // The lane whose name is longest on the wire.
            lane: Lane::First,
        };
        // The skeleton holds `null` for the input and for the options.
        let (options_inline, nulls_replaced) = if options_bytes > INLINE_OPTIONS_BYTES {
            (0, 1)
        } else {
            (options_bytes, 2)
        };
        encoded_len(&skeleton) + encoded_len(input) + options_inline - nulls_replaced * "null".len()
    }

    pub fn unit_attempt(&self) -> UnitAttempt {
        UnitAttempt {
            unit_id: self.unit_id,
            job_id: self.job_id,
            attempt: self.attempt,
        }
    }
}

/// What every version's work message and completion name: enough to answer for a unit whose
/// message does not parse (one from an older or newer version, say).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub struct UnitAttempt {
    pub unit_id: UnitId,
    pub job_id: JobId,
    pub attempt: i32,
}

/// How a stage ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Outcome {
    Succeeded {
        output: Value,
    },
    Failed {
        error: String,
        retryable: bool,
        /// The attempt ended with no answer because the worker running it stopped (reported by
        /// the worker the broker then redelivered it to). Absent in older workers' messages.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        stopped: bool,
    },
}

impl Outcome {
    /// A failure of the attempt, tried again if `retryable` and attempts are left.
    pub fn failed(error: impl Into<String>, retryable: bool) -> Self {
        Outcome::Failed {
            error: error.into(),
            retryable,
            stopped: false,
        }
    }
}

/// A worker's report on one attempt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Completion {
    pub unit_id: UnitId,
    pub job_id: JobId,
    pub attempt: i32,
    pub outcome: Outcome,
    /// Seconds the stage ran.
    pub time: f64,
    pub node: String,
    /// The unit's action, when the stage ran (and may have stored files under the job's
    /// prefix, which the dispatcher removes if the job was deleted meanwhile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

impl Completion {
    /// An answer for `unit` that did not come from running it.
    pub fn without_run(unit: UnitAttempt, outcome: Outcome, node: &str) -> Self {
        Completion {
            unit_id: unit.unit_id,
            job_id: unit.job_id,
            attempt: unit.attempt,
            outcome,
            time: 0.0,
            node: node.to_string(),
            action: None,
        }
    }
}

/// What a completions message holds: one completion (what every version sends), or several
/// (a busy worker's answers: one message and one confirm for all of them).
pub type Completions = OneOrMany<Completion>;

/// What a work message holds: one unit (what every version sends), or several units of one
/// action when its queue is deep (one publish, confirm, delivery and ack for all of them; each
/// unit is still recorded, retried and failed on its own).
pub type WorkMessages = OneOrMany<WorkMessage>;

/// A message of one item, sent as the item itself so a reader of an older version takes it,
/// or of several, sent as an array.
#[derive(Debug, Clone, PartialEq)]
pub struct OneOrMany<T>(pub Vec<T>);

impl<T: Serialize> Serialize for OneOrMany<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => one.serialize(serializer),
            many => many.serialize(serializer),
        }
    }
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged, bound = "T: serde::de::DeserializeOwned")]
        enum Either<T> {
            Many(Vec<T>),
            One(T),
        }
        Ok(match Either::<T>::deserialize(deserializer)? {
            Either::One(one) => OneOrMany(vec![one]),
            Either::Many(many) => OneOrMany(many),
        })
    }
}

/// A worker's periodic "still here", which `/status` shows as a node.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Heartbeat {
    pub node: String,
    pub tag: Option<String>,
    pub max_workers: u16,
    /// Units it is running now.
    pub running: Vec<UnitId>,
    pub actions: Vec<String>,
    /// The stages of each of `actions`: what an api with no actions directory of its own
    /// learns the actions it may accept from.
    #[serde(default)]
    pub stages: crate::catalog::Catalog,
    /// How far its running units' actions say they have got, in percent, by unit.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub progress: std::collections::BTreeMap<UnitId, u8>,
    /// Why it takes no new units now (`max_load`, `min_free_memory`); none while it takes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttled: Option<String>,
    /// Sent once on shutdown, so the node leaves `/status` at once.
    pub leaving: bool,
}

/// Bytes `message` takes as JSON, counted without building it.
pub fn encoded_len<T: Serialize>(message: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing to a counter cannot fail, and messages always serialize.
    let _ = serde_json::to_writer(&mut count, message);
    count.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_from_an_older_worker_reads_as_not_stopped() {
        let old = r#"{"status":"failed","error":"boom","retryable":true}"#;
        let outcome: Outcome = serde_json::from_str(old).expect("parses");
        assert_eq!(outcome, Outcome::failed("boom", true));
        assert_eq!(
            serde_json::to_string(&outcome).expect("encodes"),
            old,
            "an ordinary failure is sent as before"
        );
    }

    #[test]
    fn bytes_for_is_the_size_of_the_message() {
        let message = |options: Value, options_key: Option<String>| WorkMessage {
            unit_id: UnitId(i64::MAX),
            job_id: JobId(i64::MAX),
            action: "word_count".into(),
            stage: Stage::Process,
            input: Value::from("some input"),
            input_key: None,
            options,
            options_key,
            attempt: i32::MAX,
            max_attempts: i32::MAX,
            lane: Lane::First,
        };
        let empty = serde_json::json!({});
        assert_eq!(
            WorkMessage::bytes_for("word_count", &Value::from("some input"), &empty),
            encoded_len(&message(empty, None))
        );
        let small = serde_json::json!({"x": 1});
        assert_eq!(
            WorkMessage::bytes_for("word_count", &Value::from("some input"), &small),
            encoded_len(&message(small, None))
        );
        let big = serde_json::json!({"x": "y".repeat(INLINE_OPTIONS_BYTES)});
        let by_reference = message(
            Value::Null,
            Some(crate::storage::job_options_key(
                "word_count",
                JobId(i64::MAX),
            )),
        );
        assert_eq!(
            WorkMessage::bytes_for("word_count", &Value::from("some input"), &big),
            encoded_len(&by_reference)
        );
    }

    #[test]
    fn one_completion_travels_as_itself_and_several_as_a_list() {
        let one = Completion::without_run(
            UnitAttempt {
                unit_id: UnitId(1),
                job_id: JobId(2),
                attempt: 0,
            },
            Outcome::failed("boom", true),
            "node",
        );
        let single = serde_json::to_value(OneOrMany(vec![one.clone()])).expect("encodes");
        assert_eq!(single, serde_json::to_value(&one).expect("encodes"));
        let both = OneOrMany(vec![one.clone(), one.clone()]);
        let json = serde_json::to_string(&both).expect("encodes");
        assert!(json.starts_with('['));
        let read: Completions = serde_json::from_str(&json).expect("parses");
        assert_eq!(read, both);
        let read: Completions = serde_json::from_value(single).expect("parses");
        assert_eq!(read.0, [one]);
    }

    #[test]
    fn encoded_len_counts_the_json() {
        let outcome = Outcome::failed("boom", true);
        let json = serde_json::to_vec(&outcome).expect("encodes");
        assert_eq!(encoded_len(&outcome), json.len());
    }
}
