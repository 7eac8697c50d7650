//! Reading and validating a posted job: the form field `job` holding JSON, as CloudCrowd's
//! clients send it, or the same object as a JSON body. Every problem gets a message that says
//! what is wrong. The JSON is read by `job_fields`, which stops at what is refused without
//! building the rest.

use serde_json::{Map, Value};

use crowd_shared::{shown::ShownUrl, store::NewJob};

use crate::{
    job_fields::{self, Fields, Inputs, Stop},
    ApiError,
};

/// How the body is encoded, from the `Content-Type` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Form,
    Json,
}

impl BodyKind {
    /// `None` content type: a body starting with `{` is JSON, anything else a form.
    pub fn from_content_type(content_type: Option<&str>, body: &[u8]) -> Result<Self, ApiError> {
        let essence = content_type.map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
        match essence.as_deref() {
            Some("application/json") => Ok(BodyKind::Json),
            Some("application/x-www-form-urlencoded") => Ok(BodyKind::Form),
            None | Some("") => Ok(
                if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
                    BodyKind::Json
                } else {
                    BodyKind::Form
                },
            ),
            Some(_) => Err(ApiError::UnsupportedMediaType),
        }
    }
}

/// The longest `callback_url` taken. The dispatcher posts to it and logs it when a callback
/// fails; real ones are a few hundred bytes, and browsers and servers commonly refuse URLs
/// past 8 KiB anyway.
pub const MAX_CALLBACK_URL_BYTES: usize = 4096;

pub fn parse(kind: BodyKind, body: &[u8], max_inputs: usize) -> Result<NewJob, ApiError> {
    let form_field;
    let json = match kind {
        BodyKind::Json => body,
        BodyKind::Form => {
            // Only the `job` field is decoded; others are passed over.
            form_field = url::form_urlencoded::parse(body)
                .find(|(name, _)| name == "job")
                .map(|(_, job)| job)
                .ok_or_else(|| {
                    invalid("the form has no `job` field (it should hold the job as JSON)")
                })?;
            form_field.as_bytes()
        }
    };
    let fields = job_fields::read(json, max_inputs).map_err(|stop| match stop {
        Stop::NotJson(e) => invalid(format!("the job is not valid JSON: {e}")),
        Stop::NotAnObject => invalid("the job must be a JSON object"),
        Stop::TooManyInputs => invalid(format!(
            "a job may have at most {max_inputs} inputs, this one has more"
        )),
    })?;
    validate(fields)
}

/// How deep a job's values may nest. Listings wrap a unit's input in a few more levels, and
/// JSON readers stop at 128 (serde_json's default, which the command line uses): a job must
/// stay readable wherever it is shown.
pub const MAX_NESTING: usize = 100;

fn validate(fields: Fields) -> Result<NewJob, ApiError> {
    if fields.values().any(contains_nul) {
        // Postgres cannot store U+0000 in text or jsonb.
        return Err(invalid(
            "strings in a job may not contain the NUL character (\\u0000)",
        ));
    }
    if fields.values().any(|v| depth(v) > MAX_NESTING) {
        return Err(invalid(format!(
            "values in a job may nest at most {MAX_NESTING} levels deep"
        )));
    }
    let action = match fields.action {
        Some(Value::String(a)) if !a.trim().is_empty() => a,
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(invalid("`action` is required"))
        }
        Some(other) => {
            return Err(invalid(format!(
                "`action` must be a string, not {}",
                type_name(&other)
            )))
        }
    };
    let inputs = match fields.inputs {
        Some(Inputs::Items(items)) if !items.is_empty() => items,
        Some(Inputs::Items(_)) => return Err(invalid("`inputs` must not be empty")),
        None | Some(Inputs::Null) => {
            return Err(invalid("`inputs` is required: an array of inputs"))
        }
        Some(Inputs::Not(type_name)) => {
            return Err(invalid(format!(
                "`inputs` must be an array, not {type_name}"
            )))
        }
    };
    let options = match fields.options {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(Value::Object(o)) => Value::Object(o),
        Some(other) => {
            return Err(invalid(format!(
                "`options` must be an object, not {}",
                type_name(&other)
            )))
        }
    };
    let callback_url = optional_string(fields.callback_url, "callback_url")?;
    if let Some(url) = &callback_url {
        check_callback_url(url)?;
    }
    let email = optional_string(fields.email, "email")?;
    Ok(NewJob {
        action,
        inputs,
        options,
        callback_url,
        email,
    })
}

fn check_callback_url(url: &str) -> Result<(), ApiError> {
    if url.len() > MAX_CALLBACK_URL_BYTES {
        return Err(invalid(format!(
            "`callback_url` may be at most {MAX_CALLBACK_URL_BYTES} bytes long, this one has {}",
            url.len()
        )));
    }
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(()),
        _ => Err(invalid(format!(
            "`callback_url` must be an http(s) URL, not {:?}",
            // Shown without any credentials it holds, as every URL is.
            ShownUrl(url).to_string()
        ))),
    }
}

fn optional_string(value: Option<Value>, key: &str) -> Result<Option<String>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(invalid(format!(
            "`{key}` must be a string, not {}",
            type_name(&other)
        ))),
    }
}

fn contains_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

/// Levels of arrays and objects in `value` (0 for a scalar).
fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 1)];
    while let Some((value, level)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        deepest = deepest.max(level);
        stack.extend(children.map(|child| (child, level + 1)));
    }
    deepest
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::InvalidJob(message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_json(s: &str) -> Result<NewJob, String> {
        parse(BodyKind::Json, s.as_bytes(), 10).map_err(|e| e.to_string())
    }

    #[test]
    fn accepts_cloudcrowds_form_and_plain_json() {
        let form = "job=%7B%22action%22%3A%22word_count%22%2C%22inputs%22%3A%5B%22a%22%5D%7D";
        let job = parse(BodyKind::Form, form.as_bytes(), 10).expect("valid form");
        assert_eq!(job.action, "word_count");
        assert_eq!(job.inputs, vec![Value::from("a")]);
        let job = parse_json(
            r#"{"action":"word_count","inputs":[1,[2,3]],"options":{"x":1},"email":"a@b"}"#,
        )
        .expect("valid json");
        assert_eq!(job.inputs.len(), 2);
        assert_eq!(job.email.as_deref(), Some("a@b"));
        // Keys CloudCrowd does not know are ignored, whatever they hold.
        let job = parse_json(r#"{"priority":[{"x":"\u0000"}],"action":"a","inputs":[1]}"#)
            .expect("unknown keys ignored");
        assert_eq!(job.action, "a");
    }

    #[test]
    fn values_may_nest_only_so_deep_that_every_reader_can_read_them() {
        let nested = |levels: usize| {
            format!(
                r#"{{"action":"a","inputs":[{}1{}]}}"#,
                "[".repeat(levels),
                "]".repeat(levels)
            )
        };
        assert!(parse_json(&nested(MAX_NESTING)).is_ok());
        let err = parse_json(&nested(MAX_NESTING + 1)).expect_err("too deep");
        assert!(err.contains("at most 100 levels"), "{err}");
    }

    #[test]
    fn says_what_is_wrong() {
        assert!(parse_json("{")
            .expect_err("should be refused")
            .contains("not valid JSON"));
        assert!(parse_json("[]")
            .expect_err("should be refused")
            .contains("JSON object"));
        assert!(parse_json(r#"{"inputs":[1]}"#)
            .expect_err("should be refused")
            .contains("`action` is required"));
        assert!(parse_json(r#"{"action":1,"inputs":[1]}"#)
            .expect_err("should be refused")
            .contains("must be a string"));
        assert!(parse_json(r#"{"action":"a","inputs":[]}"#)
            .expect_err("should be refused")
            .contains("must not be empty"));
        assert!(parse_json(r#"{"action":"a","inputs":"x"}"#)
            .expect_err("should be refused")
            .contains("must be an array"));
        assert!(parse_json(r#"{"action":"a","inputs":[1],"options":[]}"#)
            .expect_err("should be refused")
            .contains("`options`"));
        assert!(
            parse_json(r#"{"action":"a","inputs":[1],"callback_url":"ftp://x"}"#)
                .expect_err("should be refused")
                .contains("callback_url")
        );
        let many = format!(r#"{{"action":"a","inputs":[{}]}}"#, ["1"; 11].join(","));
        assert!(parse_json(&many)
            .expect_err("should be refused")
            .contains("at most 10"));
        assert!(parse_json(r#"{"action":"a","inputs":["x\u0000y"]}"#)
            .expect_err("should be refused")
            .contains("NUL"));
        let long_url = format!("http://h/{}", "a".repeat(MAX_CALLBACK_URL_BYTES));
        let err = parse_json(&format!(
            r#"{{"action":"a","inputs":[1],"callback_url":"{long_url}"}}"#
        ))
        .expect_err("should be refused");
        assert!(err.contains("at most 4096 bytes"), "{err}");
        let err = parse(BodyKind::Form, b"other=1", 10)
            .expect_err("should be refused")
            .to_string();
        assert!(err.contains("no `job` field"), "{err}");
    }

    #[test]
    fn content_type_decides_the_encoding() {
        assert_eq!(
            BodyKind::from_content_type(Some("application/json; charset=utf-8"), b"").ok(),
            Some(BodyKind::Json)
        );
        assert_eq!(
            BodyKind::from_content_type(None, b" {\"a\":1}").ok(),
            Some(BodyKind::Json)
        );
        assert_eq!(
            BodyKind::from_content_type(None, b"job=1").ok(),
            Some(BodyKind::Form)
        );
        assert!(BodyKind::from_content_type(Some("text/plain"), b"").is_err());
    }
}
