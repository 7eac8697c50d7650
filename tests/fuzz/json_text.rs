//! JSON written as text by hand, so that it can hold what a JSON library never writes: lone
//! surrogates in escapes, numbers past every range, nesting ten thousand deep, duplicate keys,
//! bytes that are not JSON at all. Most of what it writes is valid JSON; some is not.
//!
//! No text it makes up contains a `:`, so no string it writes is a URL: the only URLs in a
//! fuzzed job are the loopback ones `fixtures::Urls` lists (see `jobs`).

use crate::rng::Rng;

/// Text that tests how strings are read, counted and stored: whitespace of every kind,
/// right-to-left marks, combining characters, 4-byte characters, noncharacters.
const TEXTS: &[&str] = &[
    "",
    " ",
    "to be or not to be",
    "word",
    "one\ntwo three\nfour",
    "a\r\nb\r\n",
    "\t\t",
    "\u{200f}right-to-left mark\u{200e}",
    "\u{202e}override\u{202c}",
    "e\u{301}\u{301}\u{301} combining",
    "\u{301}",
    "😀 four bytes 🀄",
    "👨\u{200d}👩\u{200d}👧\u{200d}👦",
    "\u{1f1fa}\u{1f1f8}",
    "\u{feff}bom",
    "\u{fffd}\u{fffe}\u{ffff}",
    "\u{10ffff}",
    "\u{2028}\u{2029}",
    "\u{85}\u{a0}\u{3000}\u{1680}",
    "日本語のテキスト",
    "עברית ועוד",
    "العربية",
    "ǅ ß İ ﬃ",
    "\u{7f}",
    "a\u{0}b",
    "\u{1}\u{1f}",
    "\\",
    "\"quoted\"",
    "</script><script>alert(1)</script>",
    "'; DROP TABLE jobs; --",
    "%00%ff%",
    "${jndi}",
];

/// Escapes as they appear inside a JSON string literal; the first ones are valid JSON.
const VALID_ESCAPES: &[&str] = &[
    "\\ud83d\\ude00",
    "\\u0000",
    "\\u001f",
    "\\u007f",
    "\\u200f",
    "\\ufeff",
    "\\uffff",
    "\\u0301",
    "\\\"",
    "\\\\",
    "\\/",
    "\\b\\f\\n\\r\\t",
];

/// Escapes serde refuses: lone and reversed surrogates, short or unknown escapes.
const INVALID_ESCAPES: &[&str] = &[
    "\\ud800",
    "\\udfff",
    "\\ude00\\ud83d",
    "\\ud800\\u0041",
    "\\ud800x",
    "\\x41",
    "\\u12",
    "\\uZZZZ",
    "\\",
    "\u{1}",
    "\n",
];

/// Numbers at and past every edge: -0, the largest and smallest doubles, integers past
/// `u64` and `i64`, and what JSON does not allow (leading zeros, `+`, `NaN`).
const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "-0.0",
    "1",
    "-1",
    "0.1",
    "1E+2",
    "1e308",
    "1.7976931348623157e308",
    "-1.7976931348623157e308",
    "5e-324",
    "4.9406564584124654e-324",
    "2.2250738585072014e-308",
    "1e-400",
    "18446744073709551615",
    "18446744073709551616",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "123456789012345678901234567890",
    "0.30000000000000004",
    "1e309",
    "-1e309",
    "01",
    "+1",
    ".5",
    "1.",
    "-",
    "NaN",
    "Infinity",
    "0x10",
];

/// Nesting depths around serde's limit (127 containers) and far past it.
const DEPTHS: &[usize] = &[
    1, 2, 10, 100, 120, 124, 125, 126, 127, 128, 129, 200, 1_000, 10_000, 100_000,
];

/// A string for an input or a value: text from `TEXTS`, a few of them, or a long run.
pub fn text(rng: &mut Rng) -> String {
    match rng.below(10) {
        0 => {
            let words = rng.between(100, 20_000);
            "word ".repeat(words)
        }
        1 => (0..rng.between(2, 5))
            .map(|_| rng.pick(TEXTS))
            .collect::<Vec<_>>()
            .join(" "),
        2 => {
            let count = rng.between(1, 64);
            random_chars(rng, count)
        }
        _ => rng.pick(TEXTS).to_string(),
    }
}

/// Characters from every plane (never `:`, and never a surrogate, which Rust cannot hold).
pub fn random_chars(rng: &mut Rng, count: usize) -> String {
    (0..count)
        .map(|_| {
            let c = match rng.below(4) {
                0 => Some(char::from(rng.byte() & 0x7f)),
                1 => char::from_u32(rng.between(0x80, 0x7ff) as u32),
                2 => char::from_u32(rng.between(0x800, 0xffff) as u32),
                _ => char::from_u32(rng.between(0x1_0000, 0x10_ffff) as u32),
            };
            match c {
                Some(':') | None => '_',
                Some(c) => c,
            }
        })
        .collect()
}

/// `s` as a JSON string literal, escaped as serde_json would.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A string literal: mostly text quoted properly, sometimes with escapes spliced in (valid
/// ones, or now and then ones a parser must refuse).
pub fn string(rng: &mut Rng) -> String {
    let mut literal = quote(&text(rng));
    if rng.one_in(3) {
        literal.pop();
        for _ in 0..rng.between(1, 3) {
            let escapes = if rng.one_in(4) {
                INVALID_ESCAPES
            } else {
                VALID_ESCAPES
            };
            literal.push_str(rng.pick(escapes));
        }
        literal.push('"');
    }
    literal
}

/// A number literal: an edge case, a long run of digits, or an ordinary one.
pub fn number(rng: &mut Rng) -> String {
    match rng.below(8) {
        0 => {
            let digits = rng.pick(&[20, 400, 10_000]);
            format!("{}{}", rng.between(1, 9), "9".repeat(digits))
        }
        1 => format!("{}", rng.next_u64() as i64),
        2 => format!("{:e}", f64::from_bits(rng.next_u64())),
        3 => format!("{}.{}", rng.below(1000), rng.below(1000)),
        _ => rng.pick(NUMBERS).to_string(),
    }
}

/// A depth from `DEPTHS`.
pub fn depth(rng: &mut Rng) -> usize {
    rng.pick(DEPTHS)
}

/// `inner` inside `depth` arrays or objects (or both, alternating); left unclosed once in a
/// while.
pub fn nested(rng: &mut Rng, depth: usize, inner: &str) -> String {
    let style = rng.below(3);
    let mut open = String::with_capacity(depth * 6 + inner.len());
    let mut close = String::with_capacity(depth);
    for level in 0..depth {
        let array = match style {
            0 => true,
            1 => false,
            _ => level % 2 == 0,
        };
        if array {
            open.push('[');
            close.push(']');
        } else {
            open.push_str("{\"a\":");
            close.push('}');
        }
    }
    open.push_str(inner);
    if !rng.one_in(10) {
        open.extend(close.chars().rev());
    }
    open
}

/// A key for an object: ordinary, odd, or one the worker sets itself.
pub fn key(rng: &mut Rng) -> String {
    const KEYS: &[&str] = &[
        "a",
        "",
        "lines_per_chunk",
        "job_id",
        "work_unit_id",
        "attempts",
        "__proto__",
        "constructor",
        "id",
        "status",
    ];
    if rng.one_in(3) {
        string(rng)
    } else {
        quote(rng.pick(KEYS))
    }
}

/// Any JSON value of at most `depth` levels: scalars, arrays and objects (with a duplicate
/// key now and then).
pub fn value(rng: &mut Rng, depth: usize) -> String {
    let kinds = if depth == 0 { 4 } else { 6 };
    match rng.below(kinds) {
        0 => rng.pick(&["null", "true", "false"]).to_string(),
        1 => number(rng),
        2 | 3 => string(rng),
        4 => {
            let items: Vec<String> = (0..rng.below(5)).map(|_| value(rng, depth - 1)).collect();
            format!("[{}]", items.join(","))
        }
        _ => {
            let mut members: Vec<String> = (0..rng.below(5))
                .map(|_| format!("{}:{}", key(rng), value(rng, depth - 1)))
                .collect();
            if rng.one_in(6) {
                if let Some(first) = members.first().cloned() {
                    members.push(first);
                }
            }
            format!("{{{}}}", members.join(","))
        }
    }
}

/// Text that is not valid JSON, or is but not what a job is.
pub fn broken(rng: &mut Rng) -> String {
    const BROKEN: &[&str] = &[
        "",
        "{",
        "}",
        "{\"action\"",
        "{\"action\":}",
        "{\"action\":\"word_count\",}",
        "{'action':'word_count'}",
        "{action:word_count}",
        "[]",
        "[{}]",
        "null",
        "true",
        "0",
        "\"job\"",
        "{} {}",
        "{}garbage",
        "{\"a\":1}{\"b\":2}",
        "\u{feff}{}",
        "/* comment */ {}",
    ];
    let mut text = rng.pick(BROKEN).to_string();
    if rng.one_in(3) {
        text.push_str(&value(rng, 2));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_text_reads_back_as_itself() {
        for text in TEXTS {
            let read: String = serde_json::from_str(&quote(text)).expect("valid JSON");
            assert_eq!(&read, text);
        }
    }

    #[test]
    fn made_up_text_has_no_colon_so_is_no_url() {
        let mut rng = Rng::new(1);
        for _ in 0..2_000 {
            assert!(!text(&mut rng).contains(':'));
            assert!(!random_chars(&mut rng, 50).contains(':'));
        }
        assert!(TEXTS.iter().all(|t| !t.contains(':')));
    }

    #[test]
    fn nesting_has_the_depth_asked() {
        let mut rng = Rng::new(2);
        let text = nested(&mut rng, 3, "1");
        assert!(text.starts_with("[[[") || text.starts_with("{\"a\":") || text.starts_with("[{"));
    }
}
