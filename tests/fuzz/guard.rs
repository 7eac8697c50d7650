//! The check that no fuzzed body sends a worker or the dispatcher off this machine: the inputs
//! and `callback_url` of the job in it, read as the api reads them (the whole body as JSON, or
//! the form's first `job` field; a key given twice counts as last given), must not be `http(s)`
//! URLs of another host. The generator is built never to write one (only `Urls` holds a `:`);
//! this makes sure, and a body that fails it is not sent.
//!
//! Reading is as strict as the api's where it matters (inputs and `callback_url` are parsed
//! whole in both) and as lenient elsewhere (other keys skipped unread in both), so a body this
//! cannot read is one the api refuses too.

use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

use crate::fixtures::leaves_the_machine;

/// The first URL in `body` that would leave the machine, if any.
pub fn url_leaving(body: &[u8]) -> Option<String> {
    let form_job = url::form_urlencoded::parse(body)
        .find(|(name, _)| name == "job")
        .map(|(_, job)| job.into_owned());
    let bodies = [Some(body), form_job.as_deref().map(str::as_bytes)];
    let leaving = bodies.into_iter().flatten().find_map(|json| {
        let (inputs, callback_url) = read(json)?;
        let mut strings: Vec<Value> = match inputs {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        };
        strings.extend(callback_url);
        strings
            .iter()
            .filter_map(Value::as_str)
            .find(|s| leaves_the_machine(s))
            .map(String::from)
    });
    leaving
}

/// `inputs` and `callback_url` as the api would take them; `None` if the api cannot read it.
fn read(json: &[u8]) -> Option<(Option<Value>, Option<Value>)> {
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let fields = (&mut deserializer).deserialize_any(JobVisitor).ok()?;
    deserializer.end().ok()?;
    Some(fields)
}

struct JobVisitor;

impl<'de> Visitor<'de> for JobVisitor {
    type Value = (Option<Value>, Option<Value>);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a job")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut inputs, mut callback_url) = (None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "inputs" => inputs = Some(map.next_value()?),
                "callback_url" => callback_url = Some(map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok((inputs, callback_url))
    }
}

#[cfg(test)]
mod tests {
    use super::url_leaving;

    #[test]
    fn finds_a_url_of_another_host_in_json_or_in_the_form() {
        let job = br#"{"action":"word_count","inputs":["a","http://example.com/x"]}"#;
        assert_eq!(url_leaving(job).as_deref(), Some("http://example.com/x"));
        let form = b"job=%7B%22inputs%22%3A%5B%22http%3A%2F%2F10.0.0.1%2F%22%5D%7D";
        assert_eq!(url_leaving(form).as_deref(), Some("http://10.0.0.1/"));
        let last_wins =
            br#"{"callback_url":"http://example.com/","callback_url":"http://127.0.0.1:1/"}"#;
        assert_eq!(url_leaving(last_wins), None);
        let local = br#"{"inputs":["http://127.0.0.1:9/x","s3://b/k"],"callback_url":"http://127.0.0.1:1/"}"#;
        assert_eq!(url_leaving(local), None);
    }
}
