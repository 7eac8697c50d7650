//! Bodies for `POST /jobs`: a job as JSON or as CloudCrowd's form (its `job` field), now and
//! then damaged on the way; and bodies that are no job at all. Nothing here writes a `:`
//! (percent escapes included), so no body holds a URL but those of the job put in it.

use crate::{json_text, rng::Rng};

/// A body that is no job at all: random bytes, or broken JSON.
pub fn junk_body(rng: &mut Rng) -> Vec<u8> {
    match rng.below(3) {
        0 => json_text::broken(rng).into_bytes(),
        1 => format!("job={}", percent_junk(rng)).into_bytes(),
        _ => {
            let length = rng.pick(&[0, 1, 16, 300, 4_096, 70_000]);
            (0..length).map(|_| no_colon(rng.byte())).collect()
        }
    }
}

/// Percent escapes, valid and not, decoding to anything but `:`.
fn percent_junk(rng: &mut Rng) -> String {
    (0..rng.between(1, 40))
        .map(|_| match rng.below(4) {
            0 => format!("%{:02X}", no_colon(rng.byte())),
            1 => rng
                .pick(&["%", "%z", "%zz", "%%", "+", "&", "=", "&job="])
                .to_string(),
            _ => json_text::random_chars(rng, 1),
        })
        .collect()
}

fn no_colon(byte: u8) -> u8 {
    if byte == b':' {
        b';'
    } else {
        byte
    }
}

/// How a job goes in a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Form,
    Json,
}

/// The body and `Content-Type` (if any) of a post of `job`: JSON, or CloudCrowd's form with
/// the job in its `job` field. Now and then the body is damaged: cut short, a byte replaced.
pub fn encode(rng: &mut Rng, job: &str, encoding: Encoding) -> (Vec<u8>, Option<String>) {
    let (mut body, content_type) = match encoding {
        Encoding::Json => {
            let content_type = rng.pick(&[
                Some("application/json"),
                Some("application/json"),
                None,
                Some("application/json; charset=utf-8"),
                Some("APPLICATION/JSON"),
                Some("application/json;charset=latin1;x=\"y\""),
            ]);
            let padding = if rng.one_in(8) { " \n\t" } else { "" };
            (format!("{padding}{job}").into_bytes(), content_type)
        }
        Encoding::Form => {
            let content_type = rng.pick(&[
                Some("application/x-www-form-urlencoded"),
                Some("application/x-www-form-urlencoded"),
                None,
                Some("application/x-www-form-urlencoded; charset=UTF-8"),
            ]);
            (form(rng, job).into_bytes(), content_type)
        }
    };
    if rng.one_in(12) {
        damage(rng, &mut body);
    }
    (body, content_type.map(String::from))
}

/// `job=<job>`, percent-encoded (or, now and then, not), among other fields.
fn form(rng: &mut Rng, job: &str) -> String {
    let encoded = if rng.one_in(10) {
        job.to_string()
    } else {
        let encoded: String = url::form_urlencoded::byte_serialize(job.as_bytes()).collect();
        encoded
    };
    let mut fields = vec![format!("job={encoded}")];
    if rng.one_in(4) {
        fields.push(format!("other={}", percent_junk(rng)));
    }
    if rng.one_in(10) {
        // Only the first `job` field is read.
        fields.push("job=%7B%7D".into());
    }
    if rng.one_in(10) {
        fields.insert(0, "&&=&".into());
    }
    fields.join("&")
}

/// Cuts the body short, or puts a byte that is not UTF-8 (or NUL) somewhere in it.
fn damage(rng: &mut Rng, body: &mut Vec<u8>) {
    if body.is_empty() {
        return;
    }
    let at = rng.below(body.len());
    match rng.below(3) {
        0 => body.truncate(at),
        1 => body[at] = rng.pick(&[0xff, 0xc0, 0x80, 0x00, 0xed]),
        _ => body.splice(at..at, [0xef, 0xbb, 0xbf]).for_each(drop),
    }
}
