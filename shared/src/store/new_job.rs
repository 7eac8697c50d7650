//! A job as the api hands it to the store, once it passed validation.

use serde_json::Value;

/// A job that passed validation, as the api hands it to the store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub action: String,
    pub inputs: Vec<Value>,
    pub options: Value,
    pub callback_url: Option<String>,
    pub email: Option<String>,
}

impl NewJob {
    /// The size of its options as JSON, which decides whether they travel with every unit.
    pub fn options_bytes(&self) -> i32 {
        i32::try_from(crate::messages::encoded_len(&self.options)).unwrap_or(i32::MAX)
    }
}
