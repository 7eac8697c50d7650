//! Jobs to post, as JSON text: mostly jobs for the real actions (`word_count`,
//! `chunked_word_count`, `failure_testing`, `always_fails`) whose fields hold values of every
//! shape, some with every field of the wrong type, some nested far too deep, some with extreme
//! numbers or odd text (`bodies` puts them in a request).
//!
//! Jobs are kept small enough to run: a few inputs (now and then a hundred tiny ones), and
//! `chunked_word_count`, which may make a unit of every line, only gets short texts.

use crate::{
    fixtures::Urls,
    json_text::{self, quote},
    rng::Rng,
};

const ACTIONS: &[&str] = &[
    "word_count",
    "chunked_word_count",
    "failure_testing",
    "always_fails",
];

/// `max_inputs` of the stack (the default).
pub const MAX_INPUTS: usize = 100_000;

/// What is special about a job, which decides what goes in its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Right types, values of every shape: most of these are accepted and run.
    Plausible,
    /// Some fields missing or of a wrong type.
    WrongTypes,
    /// A value nested around serde's depth limit, or far past it.
    Deep,
    /// Inputs and options of extreme numbers.
    Numbers,
    /// Inputs, options and keys of odd text and escapes.
    Unicode,
    /// Long strings, big options, many inputs.
    Big,
}

/// A job object as JSON text.
pub fn job(rng: &mut Rng, urls: &Urls, flavor: Flavor) -> String {
    // Many inputs that fail three times each would be most of the run's work.
    let actions = match flavor {
        Flavor::Big => &ACTIONS[..2],
        _ => ACTIONS,
    };
    let action = rng.pick(actions);
    // A deep job is a plausible one with one value nested deep.
    let deep = flavor == Flavor::Deep;
    let flavor = if deep { Flavor::Plausible } else { flavor };
    let mut members = vec![
        format!("\"action\":{}", action_value(rng, action, flavor)),
        format!("\"inputs\":{}", inputs(rng, urls, action, flavor)),
    ];
    if flavor != Flavor::Plausible || rng.one_in(2) {
        members.push(format!("\"options\":{}", options(rng, action, flavor)));
    }
    if rng.one_in(3) {
        members.push(format!(
            "\"callback_url\":{}",
            callback_url(rng, urls, flavor)
        ));
    }
    if rng.one_in(4) {
        members.push(format!("\"email\":{}", email(rng, flavor)));
    }
    for _ in 0..rng.weighted(&[6, 2, 1, 1]) {
        members.push(unknown_member(rng));
    }
    if flavor == Flavor::WrongTypes {
        // Drop a field, any field.
        let gone = rng.below(members.len());
        members.remove(gone);
    }
    if deep {
        nest_one(rng, &mut members);
    }
    if rng.one_in(8) {
        // A key given twice: the last one counts.
        let again = members[rng.below(members.len())].clone();
        members.push(again);
    }
    rng.shuffle(&mut members);
    format!("{{{}}}", members.join(","))
}

/// Puts a value nested around serde's limit (or far past it) in one place of the job: an
/// input, the options, a key the api skips unread, or the action. `DEPTHS` counts the job's
/// own object, so that a depth of 127 is the deepest a parse takes whole.
fn nest_one(rng: &mut Rng, members: &mut Vec<String>) {
    let depth = json_text::depth(rng);
    let inner = |levels_above: usize| depth.saturating_sub(levels_above).max(1);
    let (key, value) = match rng.below(4) {
        0 => (
            "inputs",
            format!(
                "[{},\"words\"]",
                json_text::nested(rng, inner(2), "\"deep\"")
            ),
        ),
        1 => (
            "options",
            format!("{{\"x\":{}}}", json_text::nested(rng, inner(2), "1")),
        ),
        2 => ("deep", json_text::nested(rng, inner(1), "null")),
        _ => ("action", json_text::nested(rng, inner(1), "\"word_count\"")),
    };
    let prefix = format!("\"{key}\":");
    members.retain(|m| !m.starts_with(&prefix));
    members.push(format!("{prefix}{value}"));
}

fn action_value(rng: &mut Rng, action: &str, flavor: Flavor) -> String {
    let odd = match flavor {
        Flavor::WrongTypes => rng.one_in(2),
        _ => rng.one_in(15),
    };
    if !odd {
        return quote(action);
    }
    match rng.below(6) {
        0 => json_text::value(rng, 3),
        1 => quote(&action.to_uppercase()),
        2 => quote(&format!("{action} ")),
        3 => quote(""),
        4 => {
            let count = rng.between(1, 5_000);
            quote(&json_text::random_chars(rng, count))
        }
        _ => json_text::string(rng),
    }
}

fn inputs(rng: &mut Rng, urls: &Urls, action: &str, flavor: Flavor) -> String {
    if flavor == Flavor::WrongTypes && rng.one_in(2) {
        return match rng.below(5) {
            0 => "[]".into(),
            1 => "null".into(),
            2 => json_text::string(rng),
            3 => json_text::value(rng, 3),
            _ => format!("{{\"0\":{}}}", quote("to be")),
        };
    }
    let count = match flavor {
        // One more than max_inputs, each as small as can be: refused after reading them.
        Flavor::Big if rng.one_in(3) => return format!("[{}]", ["1"; MAX_INPUTS + 1].join(",")),
        Flavor::Big => rng.between(20, 120),
        _ => rng.pick(&[1, 1, 1, 2, 3, 5, 8]),
    };
    let items: Vec<String> = (0..count)
        .map(|_| match flavor {
            Flavor::Big if count > 20 => quote(rng.pick(&["a", "b c", "", "😀"])),
            _ => input(rng, urls, action, flavor),
        })
        .collect();
    format!("[{}]", items.join(","))
}

/// One input: for a text action mostly text or a URL, and now and then any JSON at all.
fn input(rng: &mut Rng, urls: &Urls, action: &str, flavor: Flavor) -> String {
    let chunked = action == "chunked_word_count";
    match flavor {
        Flavor::Numbers if rng.one_in(2) => return json_text::number(rng),
        Flavor::Unicode if rng.one_in(2) => return json_text::string(rng),
        _ => {}
    }
    match rng.below(10) {
        0..=2 if chunked => quote(&rng.pick(&urls.short_inputs)),
        0..=2 => quote(&rng.pick(&urls.inputs)),
        // A chunk per line: a chunked job's texts stay short.
        3..=6 if chunked => quote(rng.pick(&["a\nb\nc", "one line", "", "x\n\n\ny"])),
        3..=6 => json_text::string(rng),
        7 => json_text::number(rng),
        8 => rng.pick(&["null", "true", "false"]).to_string(),
        _ => json_text::value(rng, 3),
    }
}

fn options(rng: &mut Rng, action: &str, flavor: Flavor) -> String {
    match flavor {
        Flavor::WrongTypes => match rng.below(4) {
            0 => json_text::string(rng),
            1 => json_text::number(rng),
            2 => format!("[{}]", json_text::value(rng, 2)),
            _ => "true".into(),
        },
        Flavor::Big => {
            let long = "o".repeat(rng.between(1_000, 200_000));
            format!("{{\"note\":{},\"lines_per_chunk\":5}}", quote(&long))
        }
        _ => {
            let lines_per_chunk = match flavor {
                Flavor::Numbers => json_text::number(rng),
                _ => rng
                    .pick(&[
                        "1", "3", "10", "0", "-1", "1.5", "\"3\"", "null", "[]", "{}",
                    ])
                    .to_string(),
            };
            let mut members = Vec::new();
            if action == "chunked_word_count" || rng.one_in(3) {
                members.push(format!("\"lines_per_chunk\":{lines_per_chunk}"));
            }
            for _ in 0..rng.below(3) {
                members.push(format!(
                    "{}:{}",
                    json_text::key(rng),
                    json_text::value(rng, 3)
                ));
            }
            if rng.one_in(10) {
                return "null".into();
            }
            format!("{{{}}}", members.join(","))
        }
    }
}

fn callback_url(rng: &mut Rng, urls: &Urls, flavor: Flavor) -> String {
    if flavor == Flavor::WrongTypes && rng.one_in(2) {
        return json_text::value(rng, 2);
    }
    match rng.below(10) {
        0..=4 => quote(&rng.pick(&urls.callbacks)),
        5 => quote(""),
        6 => "null".into(),
        7 => {
            // Longer than the 4096 bytes taken, or just within them.
            let length = rng.pick(&[4_000usize, 4_096, 4_097, 100_000]);
            let base = format!("{}/", urls.callbacks[0]);
            quote(&format!(
                "{base}{}",
                "a".repeat(length.saturating_sub(base.len()))
            ))
        }
        8 => quote(rng.pick(&[
            "ftp://127.0.0.1/callback",
            "file:///tmp/callback",
            "javascript:alert(1)",
            "http://",
            "/callback",
            "127.0.0.1/callback",
            "http://127.0.0.1:99999/callback",
            "http://[::1/callback",
        ])),
        _ => json_text::string(rng),
    }
}

fn email(rng: &mut Rng, flavor: Flavor) -> String {
    if flavor == Flavor::WrongTypes || rng.one_in(4) {
        return json_text::value(rng, 2);
    }
    quote(rng.pick(&[
        "someone@127.0.0.1",
        "",
        "not an address",
        "\u{202e}moc.elpmaxe@evil",
    ]))
}

/// A key CloudCrowd does not know, holding anything (it is skipped unread).
fn unknown_member(rng: &mut Rng) -> String {
    let value = json_text::value(rng, 4);
    let key = match rng.below(4) {
        0 => quote("priority"),
        1 => quote("Action"),
        _ => json_text::key(rng),
    };
    format!("{key}:{value}")
}
