//! What an executable action is given and what it answers, as pure functions: the request on
//! its stdin, its stdout read as the stage's output, files it asks to have stored, and how its
//! exit status becomes a failure. The README's "Actions in any language" section is the
//! user's side of this.

use std::path::{Component, Path, PathBuf};

use crowd_shared::ids::{JobId, UnitId};
use serde_json::{json, Value};

use crate::ActionError;

/// The exit status by which an action says its failure is for good: retrying cannot help (a
/// bad input). It is `EX_DATAERR` of BSD's sysexits.
pub const PERMANENT_EXIT: i32 = 65;

/// Lines of the end of stderr that a failure quotes.
const STDERR_LINES: usize = 20;
/// Characters of the start of bad output that its failure quotes.
const QUOTED_OUTPUT: usize = 200;

/// The JSON on the action's stdin.
pub struct Request<'a> {
    pub stage: &'a str,
    pub input: &'a Value,
    pub input_path: Option<&'a Path>,
    pub options: &'a Value,
    pub work_dir: &'a Path,
    pub job_id: JobId,
    pub work_unit_id: UnitId,
    pub attempt: i32,
}

impl Request<'_> {
    pub fn to_json(&self) -> Vec<u8> {
        let request = json!({
            "stage": self.stage,
            "input": self.input,
            "input_path": self.input_path,
            "options": self.options,
            "work_dir": self.work_dir,
            "job_id": self.job_id,
            "work_unit_id": self.work_unit_id,
            "attempt": self.attempt,
        });
        serde_json::to_vec(&request).unwrap_or_default()
    }
}

/// How the process ended, as far as the protocol cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Exit status 0.
    Succeeded,
    /// Another exit status.
    Exited(i32),
    /// Killed by a signal (its number).
    Signalled(i32),
}

/// The stage's output from what the process wrote and how it ended, or why it failed.
pub fn outcome(ended: &Ended, stdout: &[u8], stderr: &[u8]) -> Result<Value, ActionError> {
    match ended {
        Ended::Succeeded => parse_output(stdout),
        Ended::Exited(code) if *code == PERMANENT_EXIT => Err(ActionError::Permanent(failure(
            &format!("exited with {code} (a permanent failure)"),
            stderr,
        ))),
        Ended::Exited(code) => Err(ActionError::Retryable(failure(
            &format!("exited with {code}"),
            stderr,
        ))),
        Ended::Signalled(signal) => Err(ActionError::Retryable(failure(
            &format!("was killed by signal {signal}"),
            stderr,
        ))),
    }
}

fn parse_output(stdout: &[u8]) -> Result<Value, ActionError> {
    serde_json::from_slice(stdout).map_err(|e| {
        let text = String::from_utf8_lossy(stdout);
        let start: String = text.chars().take(QUOTED_OUTPUT).collect();
        let more = if text.chars().count() > QUOTED_OUTPUT {
            "…"
        } else {
            ""
        };
        ActionError::Retryable(format!(
            "the action's output is not JSON ({e}); it began: {start:?}{more}"
        ))
    })
}

/// "the action exited with 1: <the last lines of stderr>".
fn failure(how: &str, stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(STDERR_LINES)..].join("\n");
    if tail.is_empty() {
        format!("the action {how}")
    } else {
        format!("the action {how}: {tail}")
    }
}

/// The percent a `progress: N` line of stderr reports (0 to 100; more is 100).
pub fn progress(line: &str) -> Option<u8> {
    let n: f64 = line.trim().strip_prefix("progress:")?.trim().parse().ok()?;
    (n.is_finite() && n >= 0.0).then(|| n.min(100.0) as u8)
}

/// The files the output asks to have stored: every object that is exactly
/// `{"$save": "<path>"}`, anywhere in it, with the path inside `work_dir` it names.
pub fn files_to_save(output: &Value, work_dir: &Path) -> Result<Vec<PathBuf>, ActionError> {
    let mut found = Vec::new();
    visit_saves(output, &mut |path| {
        found.push(saved_path(work_dir, path)?);
        Ok(())
    })?;
    Ok(found)
}

/// The output with each `{"$save": path}` replaced by `url(path)`.
pub fn with_saved(output: Value, url: &mut dyn FnMut(&str) -> Option<String>) -> Value {
    if let Some(path) = save_marker(&output) {
        if let Some(url) = url(path) {
            return Value::String(url);
        }
    }
    match output {
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| with_saved(v, url)).collect())
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, with_saved(v, url)))
                .collect(),
        ),
        other => other,
    }
}

fn save_marker(value: &Value) -> Option<&str> {
    match value {
        Value::Object(map) if map.len() == 1 => map.get("$save")?.as_str(),
        _ => None,
    }
}

fn visit_saves(
    value: &Value,
    f: &mut dyn FnMut(&str) -> Result<(), ActionError>,
) -> Result<(), ActionError> {
    if let Some(path) = save_marker(value) {
        return f(path);
    }
    match value {
        Value::Array(items) => items.iter().try_for_each(|v| visit_saves(v, f)),
        Value::Object(map) => map.values().try_for_each(|v| visit_saves(v, f)),
        _ => Ok(()),
    }
}

/// The file a `{"$save": path}` names: `path` relative to `work_dir`, or absolute inside it;
/// refused when it leads elsewhere.
pub fn saved_path(work_dir: &Path, path: &str) -> Result<PathBuf, ActionError> {
    let given = Path::new(path);
    let relative = given.strip_prefix(work_dir).unwrap_or(given);
    let plain = relative
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if path.is_empty() || !plain {
        return Err(ActionError::Permanent(format!(
            "the action asked to save {path:?}, which is not a file inside its work directory"
        )));
    }
    Ok(work_dir.join(relative))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_zero_is_the_json_on_stdout() {
        assert_eq!(
            outcome(&Ended::Succeeded, br#"{"n": 2}"#, b"").expect("output"),
            json!({"n": 2})
        );
    }

    #[test]
    fn a_failure_quotes_the_end_of_stderr_and_says_if_it_is_for_good() {
        let stderr: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        let e = outcome(&Ended::Exited(1), b"", stderr.as_bytes()).expect_err("failed");
        assert!(e.is_retryable());
        let text = e.to_string();
        assert!(
            text.starts_with("the action exited with 1: line 11\n"),
            "{text}"
        );
        assert!(text.ends_with("line 30"), "{text}");

        let e = outcome(&Ended::Exited(PERMANENT_EXIT), b"", b"bad input\n").expect_err("failed");
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("bad input"), "{e}");

        let e = outcome(&Ended::Signalled(9), b"", b"").expect_err("failed");
        assert_eq!(e.to_string(), "the action was killed by signal 9");
    }

    #[test]
    fn output_that_is_not_json_is_quoted() {
        let e = outcome(&Ended::Succeeded, b"hello there", b"").expect_err("not JSON");
        assert!(e.is_retryable());
        assert!(e.to_string().contains(r#"it began: "hello there""#), "{e}");
        let long = "x".repeat(1000);
        let e = outcome(&Ended::Succeeded, long.as_bytes(), b"").expect_err("not JSON");
        assert!(e.to_string().ends_with("…"), "{e}");
    }

    #[test]
    fn saves_are_found_anywhere_and_replaced_by_their_urls() {
        let dir = Path::new("/scratch/unit_1");
        let output = json!({
            "page": {"$save": "page.png"},
            "more": [{"$save": "/scratch/unit_1/sub/a.txt"}, {"$save": "x", "other": 1}],
        });
        let mut files = files_to_save(&output, dir).expect("files");
        files.sort();
        assert_eq!(files, vec![dir.join("page.png"), dir.join("sub/a.txt")]);
        let replaced = with_saved(output, &mut |path| Some(format!("url:{path}")));
        assert_eq!(
            replaced,
            json!({
                "page": "url:page.png",
                "more": ["url:/scratch/unit_1/sub/a.txt", {"$save": "x", "other": 1}],
            })
        );
    }

    #[test]
    fn a_save_outside_the_work_directory_is_refused() {
        let dir = Path::new("/scratch/unit_1");
        for path in ["../secret", "/etc/passwd", "", "a/../../b"] {
            let e = files_to_save(&json!({"$save": path}), dir).expect_err(path);
            assert!(!e.is_retryable(), "{path}");
        }
    }

    #[test]
    fn progress_lines_are_read() {
        assert_eq!(progress("progress: 40\n"), Some(40));
        assert_eq!(progress("progress:12.5"), Some(12));
        assert_eq!(progress("progress: 250"), Some(100));
        assert_eq!(progress("progress: -1"), None);
        assert_eq!(progress("progress: lots"), None);
        assert_eq!(progress("making progress: 40"), None);
    }

    #[test]
    fn the_request_names_everything_the_stage_gets() {
        let request = Request {
            stage: "process",
            input: &json!("a b"),
            input_path: None,
            options: &json!({"job_id": 3}),
            work_dir: Path::new("/w"),
            job_id: JobId(3),
            work_unit_id: UnitId(7),
            attempt: 1,
        };
        let sent: Value = serde_json::from_slice(&request.to_json()).expect("JSON");
        assert_eq!(
            sent,
            json!({"stage": "process", "input": "a b", "input_path": null, "options": {"job_id": 3},
                   "work_dir": "/w", "job_id": 3, "work_unit_id": 7, "attempt": 1})
        );
    }
}
