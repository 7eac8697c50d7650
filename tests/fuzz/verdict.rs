//! Whether an answer keeps the api's promises: no 5xx; every error the api makes is its JSON
//! `{"error", "message"}` (hyper's own answers to what it cannot parse, 400, 414 and 431 with
//! an empty body, are hyper's); JSON where it says JSON; an answer, unless the request gave
//! hyper cause to close without one. And what the answer did: a job accepted or deleted.

use serde_json::Value;

use crate::{
    raw_http::RawResponse,
    request::{Request, Via},
    wire::Answer,
};

/// What one answer was, for the counts, and what it changed.
pub struct Seen {
    /// `"200"`, `"404"`, `"400 (hyper)"`, `"no answer"`...
    pub label: String,
    pub accepted: Option<i64>,
    pub deleted: Option<i64>,
}

/// `Err` says what promise the answer broke.
pub fn judge(request: &Request, answer: &Answer) -> Result<Seen, String> {
    let (responses, path) = match answer {
        Answer::Responses(responses, path) => (responses, path),
        Answer::Nothing if request.may_go_unanswered => return Ok(seen("no answer")),
        Answer::Nothing => return Err("the connection closed without an answer".into()),
        Answer::Garbled(text) => return Err(format!("the answer is not HTTP: {text}")),
        Answer::Hung(bytes) => {
            return Err(format!(
                "no whole answer after {:?} (got {bytes} bytes)",
                crate::wire::ANSWER_TIME
            ))
        }
        Answer::ClientError(e) => return Err(format!("the client failed: {e}")),
    };
    let (first, rest) = responses.split_first().ok_or("no response")?;
    let seen = judge_one(request, path, first)?;
    if request.then_heartbeat {
        // The heartbeat's answer, if the connection lasted for it; nothing else.
        match rest {
            // An answer that leaves the connection open must not be the last on it.
            [] if first.header("connection") != Some("close") => {
                return Err(format!(
                    "the connection closed after an answer ({}) that did not say it would: a \
                     client keeping it alive loses its next request",
                    first.status
                ))
            }
            [] => {}
            [heartbeat] if heartbeat.status == 200 && heartbeat.body == b"buh-bump" => {}
            _ => {
                let answers: Vec<String> = rest
                    .iter()
                    .map(|r| format!("{} {}", r.status, shown(&r.body)))
                    .collect();
                return Err(format!(
                    "after the first answer came {answers:?}, not only the heartbeat's: bytes of a body were read as a request"
                ));
            }
        }
    } else {
        // Two requests in one write (`malformed`): each answer must keep the promises.
        for response in rest {
            judge_one(request, path, response)?;
        }
    }
    Ok(seen)
}

fn judge_one(request: &Request, path: &str, response: &RawResponse) -> Result<Seen, String> {
    let status = response.status;
    let head = request.method == "HEAD";
    if status >= 500 {
        return Err(format!("answered {status}: {}", shown(&response.body)));
    }
    if head && !response.body.is_empty() {
        return Err(format!(
            "a HEAD answer has a body: {}",
            shown(&response.body)
        ));
    }
    let mut label = status.to_string();
    if status >= 400 && !head {
        if response.body.is_empty() {
            if !hyper_may_answer(request, status) {
                return Err(format!(
                    "answered {status} with an empty body, not the api's JSON"
                ));
            }
            label.push_str(" (hyper)");
        } else {
            our_error(&response.body)?;
        }
    }
    let says_json = response
        .header("content-type")
        .is_some_and(|ct| ct.starts_with("application/json"));
    if says_json && !head {
        is_json(&response.body).map_err(|e| {
            format!(
                "answered {status}, JSON it says, but it is not ({e}): {}",
                shown(&response.body)
            )
        })?;
    }
    if status == 404 && request.method == "POST" && path == "/jobs" {
        // The route exists, and a job it has just made is one it knows.
        return Err(format!(
            "POST /jobs answered 404: {}",
            shown(&response.body)
        ));
    }
    let mut seen = seen(&label);
    // `/jobs` is the one route that takes a POST: its 200 is a job accepted.
    if status == 200 && request.method == "POST" {
        let job: AcceptedJob = serde_json::from_slice(&response.body).map_err(|e| {
            format!(
                "a job was accepted, but its JSON has no id and status ({e}): {}",
                shown(&response.body)
            )
        })?;
        seen.accepted = Some(job.id);
    }
    if status == 204 && request.method == "DELETE" {
        // As the api reads an id: the raw path segment, as a number.
        seen.deleted = path
            .strip_prefix("/jobs/")
            .and_then(|id| id.parse::<i64>().ok());
        if seen.deleted.is_none() {
            return Err(format!("DELETE {path} answered 204, but names no job"));
        }
    }
    Ok(seen)
}

/// hyper answers what it cannot parse itself, with an empty body: 400 (a broken request line
/// or header), 414 (a target over 64 KiB), 431 (a head too large, or too many headers).
/// A request sent through a client library is well formed, unless its target is too long.
fn hyper_may_answer(request: &Request, status: u16) -> bool {
    match request.via {
        Via::Raw { .. } => matches!(status, 400 | 414 | 431),
        Via::Client => false,
    }
}

/// What an accepted job's JSON must hold (the rest is skipped unread).
#[derive(serde::Deserialize)]
struct AcceptedJob {
    id: i64,
    #[allow(dead_code)] // Read only to be required.
    status: String,
}

/// Whether `body` is one JSON value. Read without building it, so without serde_json's depth
/// limit: a unit's input may be nested 125 deep, and its listing deeper than serde_json reads
/// into a `Value` (128); that is the reader's limit, not the api's.
fn is_json(body: &[u8]) -> Result<(), serde_json::Error> {
    use serde::Deserialize;
    let mut reader = serde_json::Deserializer::from_slice(body);
    serde::de::IgnoredAny::deserialize(&mut reader)?;
    reader.end()
}

/// The api's error JSON: `{"error": "<code>", "message": "<text>"}`.
fn our_error(body: &[u8]) -> Result<(), String> {
    let json: Value = serde_json::from_slice(body)
        .map_err(|e| format!("an error body is not JSON ({e}): {}", shown(body)))?;
    if json["error"].is_string() && json["message"].is_string() {
        Ok(())
    } else {
        Err(format!("an error body is not the api's error JSON: {json}"))
    }
}

fn seen(label: &str) -> Seen {
    Seen {
        label: label.to_string(),
        accepted: None,
        deleted: None,
    }
}

fn shown(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned()
}
