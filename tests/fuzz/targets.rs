//! Where requests go: methods, paths (the api's own and ones it has not), job ids real and
//! not, and query strings.

use crate::{json_text, rng::Rng};

/// Methods, the api's and others; lower case is a different (extension) method to HTTP.
const METHODS: &[&str] = &[
    "GET", "GET", "HEAD", "POST", "DELETE", "PUT", "PATCH", "OPTIONS", "TRACE", "get", "PROPFIND",
    "FOO", "M-SEARCH",
];

pub fn method(rng: &mut Rng) -> String {
    if rng.one_in(40) {
        // A token of a thousand letters: still a method to hyper.
        return "X".repeat(1_000);
    }
    rng.pick(METHODS).to_string()
}

/// A job id as a path segment: one of the jobs this run made (ids count from 1 in the test's
/// own database), or one that cannot be.
pub fn job_id(rng: &mut Rng, max_id: usize) -> String {
    if rng.one_in(2) {
        return rng.between(1, max_id.max(1)).to_string();
    }
    rng.pick(&[
        "0",
        "-1",
        "+1",
        "01",
        "1.0",
        "1e3",
        "99999999999999999999",
        "9223372036854775807",
        "-9223372036854775808",
        "abc",
        "%31",
        "%00",
        "%zz",
        "%",
        "٣",
        "１",
        "null",
        "..",
        ".",
        "%2e%2e",
        "1%2Funits",
        "😀",
    ])
    .to_string()
}

/// A path: the api's routes with real and impossible ids, and paths it has not.
pub fn path(rng: &mut Rng, max_id: usize) -> String {
    let id = job_id(rng, max_id);
    match rng.below(14) {
        0 => "/".into(),
        1 => "/heartbeat".into(),
        2 => "/status".into(),
        3 => "/jobs".into(),
        4 | 5 => format!("/jobs/{id}"),
        6 => format!("/jobs/{id}/units"),
        7 => format!("/jobs/{id}/outputs"),
        8 => rng
            .pick(&["/ops/ops.js", "/ops/ops.css", "/events"])
            .to_string(),
        9 => {
            let long = rng.pick(&[1_000, 10_000, 60_000, 70_000]);
            format!("/jobs/{}", "9".repeat(long))
        }
        10 => format!("/{}", percent_junk(rng)),
        _ => rng
            .pick(&[
                "//",
                "///jobs",
                "/jobs/",
                "/jobs//units",
                "/jobs/1/units/",
                "/jobs/1/units/x",
                "/jobs/1/outputs/extra",
                "/JOBS",
                "/jobs%2F1",
                "/%2e%2e/%2e%2e/etc/passwd",
                "/jobs/../status",
                "/ops/",
                "/ops/../../Cargo.toml",
                "/index.html",
                "/heartbeat/",
                "/status.json",
                "/jobs;1",
                "/jobs/1;x=y",
                "/%F0%9F%98%80",
                "/%C0%AE%C0%AE/",
                "/%00",
            ])
            .to_string(),
    }
}

/// Percent escapes valid and not, and characters of every plane (encoded, as a URI must be).
pub fn percent_junk(rng: &mut Rng) -> String {
    (0..rng.between(1, 30))
        .map(|_| match rng.below(4) {
            0 => format!("%{:02X}", rng.byte()),
            1 => rng
                .pick(&["%", "%z", "%zz", "%%", "+", "..", ";", "~"])
                .to_string(),
            2 => {
                let chars = json_text::random_chars(rng, 1);
                url::form_urlencoded::byte_serialize(chars.as_bytes()).collect()
            }
            _ => rng.pick(&["a", "b", "1", "-", "_", "."]).to_string(),
        })
        .collect()
}

/// A query string (without `?`): the listing's parameters with good and bad values, unknown
/// ones, broken encoding, or a lot of it.
pub fn query(rng: &mut Rng) -> String {
    let mut pairs = Vec::new();
    for _ in 0..rng.between(0, 4) {
        let pair = match rng.below(6) {
            0 => format!(
                "status={}",
                rng.pick(&[
                    "succeeded",
                    "failed",
                    "processing",
                    "splitting",
                    "merging",
                    "incomplete",
                    "complete",
                    "",
                    "SUCCEEDED",
                    "done",
                    "%00",
                    "%E2%80%8F",
                ])
            ),
            1 | 2 => format!(
                "{}={}",
                rng.pick(&["page", "per_page"]),
                rng.pick(&[
                    "1",
                    "2",
                    "200",
                    "201",
                    "0",
                    "-1",
                    "4294967295",
                    "4294967296",
                    "99999999999999999999",
                    "1e3",
                    "1.5",
                    "+1",
                    " 1",
                    "",
                    "%31",
                    "0x10",
                ])
            ),
            3 => format!("{}={}", percent_junk(rng), percent_junk(rng)),
            4 => rng
                .pick(&[
                    "",
                    "&",
                    "=",
                    "a",
                    "==",
                    "a=b=c",
                    "%",
                    "%zz=1",
                    "page",
                    "page&page",
                ])
                .to_string(),
            _ => format!("x={}", "y".repeat(rng.pick(&[100, 10_000, 70_000]))),
        };
        pairs.push(pair);
    }
    pairs.join("&")
}
