//! The jobs a chaos run posts, each with the result it must end with whatever happened.

use serde_json::{json, Value};

use crate::rng::Rng;

/// A job and what it must end as.
pub struct Planned {
    pub kind: &'static str,
    pub job: Value,
    pub expect: Expect,
}

pub enum Expect {
    /// `succeeded` with exactly these outputs.
    Succeeds(Value),
    /// `failed` (its action fails every attempt).
    Fails,
}

/// A text of `words` words over `lines` lines.
fn text(rng: &mut Rng, lines: u64, words: u64) -> String {
    (0..lines)
        .map(|line| {
            let n = words / lines + u64::from(line < words % lines);
            (0..n)
                .map(|_| format!("w{}", rng.between(0..1000)))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One job of a random kind. `slow(words)` gives the URL of a text of that many words that the
/// test's own server sends slowly, so units are mid-run when processes are killed.
pub fn plan(rng: &mut Rng, slow: &dyn Fn(u64) -> String) -> Planned {
    match rng.between(0..10) {
        0..=4 => {
            let counts: Vec<u64> = (0..rng.between(1..12))
                .map(|_| rng.between(0..40))
                .collect();
            let inputs: Vec<Value> = counts
                .iter()
                .map(|&n| {
                    if rng.between(0..2) == 0 {
                        Value::from(slow(n))
                    } else {
                        Value::from(text(rng, 1, n))
                    }
                })
                .collect();
            Planned {
                kind: "word_count",
                job: json!({"action": "word_count", "inputs": inputs}),
                expect: Expect::Succeeds(json!([counts.iter().sum::<u64>()])),
            }
        }
        5..=8 => {
            let (lines, words) = (rng.between(1..30), rng.between(30..200));
            let per_chunk = rng.between(1..8);
            Planned {
                kind: "chunked_word_count",
                job: json!({"action": "chunked_word_count", "inputs": [text(rng, lines, words)],
                            "options": {"lines_per_chunk": per_chunk}}),
                expect: Expect::Succeeds(json!([words])),
            }
        }
        _ => Planned {
            kind: "always_fails",
            job: json!({"action": "always_fails", "inputs": [1]}),
            expect: Expect::Fails,
        },
    }
}
