//! Reading a posted job's JSON in one pass, building only what a job can keep. Parsed whole
//! into a `serde_json::Value` first, a 16 MiB body of four million one-letter inputs became
//! some 300 MB of values before `max_inputs` refused it; here the inputs stop being read at
//! the first one past `max_inputs`, and keys CloudCrowd does not know are skipped unread (it
//! ignores them, and so do we). Types are checked afterwards, in `job_request`, so the
//! messages stay the same whatever order the keys come in.

use std::{cell::Cell, fmt};

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// A job's fields as sent, before their types are checked. `None`: the key is absent.
#[derive(Debug, Default)]
pub struct Fields {
    pub action: Option<Value>,
    pub inputs: Option<Inputs>,
    pub options: Option<Value>,
    pub callback_url: Option<Value>,
    pub email: Option<Value>,
}

impl Fields {
    /// Every value a job keeps: its fields and each of its inputs.
    pub fn values(&self) -> impl Iterator<Item = &Value> {
        let items = match &self.inputs {
            Some(Inputs::Items(items)) => items.as_slice(),
            _ => &[],
        };
        [&self.action, &self.options, &self.callback_url, &self.email]
            .into_iter()
            .flatten()
            .chain(items)
    }
}

/// `inputs` as sent.
#[derive(Debug)]
pub enum Inputs {
    Items(Vec<Value>),
    Null,
    /// Not an array, but this JSON type ("a string").
    Not(&'static str),
}

/// Why reading stopped.
#[derive(Debug)]
pub enum Stop {
    /// The body is not JSON (or ends too soon).
    NotJson(serde_json::Error),
    /// It is JSON, but not an object.
    NotAnObject,
    /// `inputs` has more than `max_inputs` items; the rest were not read.
    TooManyInputs,
}

/// The fields of the job in `json`, reading no further than the first of more than
/// `max_inputs` inputs.
pub fn read(json: &[u8], max_inputs: usize) -> Result<Fields, Stop> {
    // Where the visitors leave the reason they stopped: serde carries only an error message
    // out, and it would have to be parsed back.
    let reason = Cell::new(None);
    let seed = JobSeed {
        max_inputs,
        reason: &reason,
    };
    let mut json = serde_json::Deserializer::from_slice(json);
    let read = seed.deserialize(&mut json).and_then(|fields| {
        json.end()?;
        Ok(fields)
    });
    read.map_err(|e| reason.take().unwrap_or(Stop::NotJson(e)))
}

/// What the visitors of one read share.
#[derive(Clone, Copy)]
struct JobSeed<'a> {
    max_inputs: usize,
    reason: &'a Cell<Option<Stop>>,
}

impl JobSeed<'_> {
    /// Records why reading stops, and the error that stops it.
    fn stop<E: de::Error>(&self, why: Stop) -> E {
        self.reason.set(Some(why));
        E::custom("stopped reading the job")
    }
}

/// The keys a job may have; any other is skipped.
#[derive(serde::Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Key {
    Action,
    Inputs,
    Options,
    CallbackUrl,
    Email,
    #[serde(other)]
    Other,
}

impl<'de> DeserializeSeed<'de> for JobSeed<'_> {
    type Value = Fields;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Fields, D::Error> {
        // `any`, not `map`: anything but an object comes to a visit_* below that says so.
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for JobSeed<'_> {
    type Value = Fields;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a job: a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
        let mut fields = Fields::default();
        // A key given twice counts as last given, as a parse into a JSON object has it.
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Action => fields.action = Some(map.next_value()?),
                Key::Inputs => fields.inputs = Some(map.next_value_seed(InputsSeed(self))?),
                Key::Options => fields.options = Some(map.next_value()?),
                Key::CallbackUrl => fields.callback_url = Some(map.next_value()?),
                Key::Email => fields.email = Some(map.next_value()?),
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(fields)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Fields, A::Error> {
        // Skipped over unbuilt to its end first, so that a broken array is "not valid JSON".
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Err(self.stop(Stop::NotAnObject))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Fields, E> {
        Err(self.stop(Stop::NotAnObject))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Fields, E> {
        Err(self.stop(Stop::NotAnObject))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Fields, E> {
        Err(self.stop(Stop::NotAnObject))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Fields, E> {
        Err(self.stop(Stop::NotAnObject))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Fields, E> {
        Err(self.stop(Stop::NotAnObject))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Fields, E> {
        Err(self.stop(Stop::NotAnObject))
    }
}

/// Reads `inputs`: at most `max_inputs` items are built; one more stops the read.
struct InputsSeed<'a>(JobSeed<'a>);

impl<'de> DeserializeSeed<'de> for InputsSeed<'_> {
    type Value = Inputs;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Inputs, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for InputsSeed<'_> {
    type Value = Inputs;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of inputs")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Inputs, A::Error> {
        let max_inputs = self.0.max_inputs;
        let mut items = Vec::new();
        while items.len() < max_inputs {
            match seq.next_element::<Value>()? {
                Some(item) => items.push(item),
                None => return Ok(Inputs::Items(items)),
            }
        }
        // One more is skipped over, not built, and is one too many.
        match seq.next_element::<IgnoredAny>()? {
            None => Ok(Inputs::Items(items)),
            Some(_) => Err(self.0.stop(Stop::TooManyInputs)),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Inputs, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Inputs::Not("an object"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Inputs, E> {
        Ok(Inputs::Not("a string"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Inputs, E> {
        Ok(Inputs::Not("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Inputs, E> {
        Ok(Inputs::Not("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Inputs, E> {
        Ok(Inputs::Not("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Inputs, E> {
        Ok(Inputs::Not("a number"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Inputs, E> {
        Ok(Inputs::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(json: &str, max_inputs: usize) -> Result<Inputs, Stop> {
        read(json.as_bytes(), max_inputs).map(|f| f.inputs.expect("inputs were given"))
    }

    #[test]
    fn reads_the_known_keys_and_skips_the_rest() {
        let fields = read(
            br#"{"extra": {"deep": [1, 2]}, "action": "a", "inputs": [1, "x"],
                 "options": {"k": 1}, "callback_url": "http://h/", "email": null}"#,
            10,
        )
        .expect("a job");
        assert_eq!(fields.action, Some(Value::from("a")));
        assert!(matches!(fields.inputs, Some(Inputs::Items(ref i)) if i.len() == 2));
        assert_eq!(fields.options, Some(serde_json::json!({"k": 1})));
        assert_eq!(fields.callback_url, Some(Value::from("http://h/")));
        assert_eq!(fields.email, Some(Value::Null));
    }

    #[test]
    fn max_inputs_are_read_and_one_more_stops_the_read_there() {
        assert!(
            matches!(inputs(r#"{"inputs": [1, 2, 3]}"#, 3), Ok(Inputs::Items(i)) if i.len() == 3)
        );
        // What follows the fourth input is not JSON: only a read that stopped at the fourth
        // does not see that.
        let broken_after = r#"{"inputs": [1, 2, 3, {"big": [4, 5]}, this is not JSON"#;
        assert!(matches!(inputs(broken_after, 3), Err(Stop::TooManyInputs)));
        assert!(matches!(inputs(broken_after, 4), Err(Stop::NotJson(_))));
    }

    #[test]
    fn says_what_inputs_and_the_job_are_instead() {
        assert!(matches!(
            inputs(r#"{"inputs": "a"}"#, 3),
            Ok(Inputs::Not("a string"))
        ));
        assert!(matches!(
            inputs(r#"{"inputs": {"a": [1]}}"#, 3),
            Ok(Inputs::Not("an object"))
        ));
        assert!(matches!(inputs(r#"{"inputs": null}"#, 3), Ok(Inputs::Null)));
        for not_an_object in ["[]", "\"job\"", "1", "-1", "1.5", "true", "null"] {
            let read = read(not_an_object.as_bytes(), 3);
            assert!(
                matches!(read, Err(Stop::NotAnObject)),
                "{not_an_object}: {read:?}"
            );
        }
        assert!(matches!(read(b"{} {}", 3), Err(Stop::NotJson(_))));
        assert!(matches!(read(b"[1, 2", 3), Err(Stop::NotJson(_))));
        assert!(matches!(read(b"{\"action\": ", 3), Err(Stop::NotJson(_))));
    }
}
