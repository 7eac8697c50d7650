//! What makes two posts "the same job": the job as parsed, not the bytes sent. A form post and
//! a JSON post of one job, with keys in any order, any whitespace, any escaping (`"\u0061"` is
//! `"a"`), a missing `options` or `{}`, a missing or empty `callback_url`: all one job. Keys the
//! api ignores are ignored here too. Numbers are compared as JSON numbers, so `1` and `1.0`
//! differ (they are stored, and handed to actions, differently).
//!
//! The fingerprint is SHA-256 over a canonical JSON text of the job (object keys sorted,
//! no whitespace, serde_json's escaping), streamed into the hash so a job of many inputs is
//! not copied to be hashed. Stored as 64 hex digits beside the key.

use std::io::{self, Write};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::store::NewJob;

/// Names the canonical form, so a later change of it cannot match a fingerprint of this one.
const FORMAT: &[u8] = b"crowd-job-v1\n";

/// The job's SHA-256, in lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint(String);

impl Fingerprint {
    pub fn of(job: &NewJob) -> Fingerprint {
        let mut hash = Hashing(Sha256::new());
        hash.0.update(FORMAT);
        write_job(&mut hash, job).expect("writing into a hash cannot fail");
        Fingerprint(
            hash.0
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        )
    }

    /// One read back from a store.
    pub fn from_stored(hex: String) -> Fingerprint {
        Fingerprint(hex)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The job's fields in key order, as one canonical JSON object.
fn write_job(out: &mut Hashing, job: &NewJob) -> io::Result<()> {
    out.write_all(b"{\"action\":")?;
    serde_json::to_writer(&mut *out, &job.action)?;
    out.write_all(b",\"callback_url\":")?;
    serde_json::to_writer(&mut *out, &job.callback_url)?;
    out.write_all(b",\"email\":")?;
    serde_json::to_writer(&mut *out, &job.email)?;
    out.write_all(b",\"inputs\":[")?;
    for (i, input) in job.inputs.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        write_canonical(out, input)?;
    }
    out.write_all(b"],\"options\":")?;
    write_canonical(out, &job.options)?;
    out.write_all(b"}")
}

/// `value` with its object keys sorted: serde_json's map keeps them sorted today, but that is a
/// feature flag (`preserve_order`) away from insertion order, which would make one job two.
fn write_canonical(out: &mut Hashing, value: &Value) -> io::Result<()> {
    match value {
        Value::Array(items) => {
            out.write_all(b"[")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                write_canonical(out, item)?;
            }
            out.write_all(b"]")
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.write_all(b"{")?;
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                serde_json::to_writer(&mut *out, key)?;
                out.write_all(b":")?;
                write_canonical(out, item)?;
            }
            out.write_all(b"}")
        }
        scalar => Ok(serde_json::to_writer(&mut *out, scalar)?),
    }
}

/// Bytes written go into the hash.
struct Hashing(Sha256);

impl Write for Hashing {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn job(inputs: Value, options: Value) -> NewJob {
        NewJob {
            action: "word_count".into(),
            inputs: inputs.as_array().cloned().unwrap_or_default(),
            options,
            callback_url: None,
            email: None,
        }
    }

    #[test]
    fn key_order_and_spelling_do_not_matter() {
        let a = job(
            json!([{"b": 1, "a": [1, "x"]}]),
            json!({"z": 1, "y": {"q": 2, "p": 3}}),
        );
        let b_options: Value =
            serde_json::from_str(r#"{ "y" : {"p":3,"q":2}, "z":1 }"#).expect("JSON");
        let b_input: Value = serde_json::from_str(r#"{"a":[1,"\u0078"],"b":1}"#).expect("JSON");
        let b = job(json!([b_input]), b_options);
        assert_eq!(Fingerprint::of(&a), Fingerprint::of(&b));
        assert_eq!(Fingerprint::of(&a).as_str().len(), 64);
    }

    #[test]
    fn each_field_tells_jobs_apart() {
        let base = job(json!(["a", "b"]), json!({}));
        let fingerprint = Fingerprint::of(&base);
        let others = [
            NewJob {
                action: "chunked_word_count".into(),
                ..base.clone()
            },
            job(json!(["b", "a"]), json!({})),
            job(json!(["a", "b", "c"]), json!({})),
            job(json!(["a", "b"]), json!({"x": 1})),
            NewJob {
                callback_url: Some("http://example.com/done".into()),
                ..base.clone()
            },
            NewJob {
                email: Some("a@example.com".into()),
                ..base.clone()
            },
            // A number and the same digits as a string are different inputs.
            job(json!([1]), json!({})),
            job(json!(["1"]), json!({})),
        ];
        let mut seen = vec![fingerprint];
        for other in &others {
            let f = Fingerprint::of(other);
            assert!(!seen.contains(&f), "{other:?} collides");
            seen.push(f);
        }
    }

    #[test]
    fn a_string_cannot_pass_for_the_structure_around_it() {
        // Were strings written unescaped, these two would be the same text.
        let a = job(json!(["a\",\"b"]), json!({}));
        let b = job(json!(["a", "b"]), json!({}));
        assert_ne!(Fingerprint::of(&a), Fingerprint::of(&b));
    }
}
