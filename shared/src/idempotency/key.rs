//! The key itself, checked once where it arrives: short enough to index and to show in a
//! message, and printable ASCII, so it reads the same in a header, a log line and the store.

use std::fmt;

/// The longest key taken, in bytes. A UUID is 36; 255 leaves room for keys made of a client's
/// own ids, as other APIs that take this header allow.
pub const MAX_KEY_BYTES: usize = 255;

/// A key that passed `parse`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

/// Why a key was refused; each says what a key may be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the Idempotency-Key header must not be empty")]
    Empty,
    #[error(
        "the Idempotency-Key header may be at most {MAX_KEY_BYTES} bytes long, this one has {0}"
    )]
    TooLong(usize),
    #[error(
        "the Idempotency-Key header may hold only printable ASCII characters (space to `~`), \
         e.g. a UUID"
    )]
    NotPrintable,
}

impl IdempotencyKey {
    /// The header's bytes, as they came (surrounding whitespace is already gone: HTTP drops it).
    pub fn parse(raw: &[u8]) -> Result<IdempotencyKey, KeyError> {
        if raw.is_empty() {
            return Err(KeyError::Empty);
        }
        if raw.len() > MAX_KEY_BYTES {
            return Err(KeyError::TooLong(raw.len()));
        }
        if !raw.iter().all(|b| (b' '..=b'~').contains(b)) {
            return Err(KeyError::NotPrintable);
        }
        let text = std::str::from_utf8(raw).map_err(|_| KeyError::NotPrintable)?;
        Ok(IdempotencyKey(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_printable_ascii_up_to_the_limit() {
        let uuid = "6f1c2d3e-0a9b-4c8d-9e7f-123456789abc";
        assert_eq!(
            IdempotencyKey::parse(uuid.as_bytes()).map(|k| k.to_string()),
            Ok(uuid.to_string())
        );
        assert!(IdempotencyKey::parse(b"order 42: retry ~ok").is_ok());
        assert!(IdempotencyKey::parse("k".repeat(MAX_KEY_BYTES).as_bytes()).is_ok());
    }

    #[test]
    fn refuses_empty_long_and_unprintable_keys_saying_why() {
        assert_eq!(IdempotencyKey::parse(b""), Err(KeyError::Empty));
        let long = "k".repeat(MAX_KEY_BYTES + 1);
        let err = IdempotencyKey::parse(long.as_bytes()).expect_err("too long");
        assert_eq!(err, KeyError::TooLong(256));
        assert!(err.to_string().contains("at most 255 bytes"), "{err}");
        for bad in [
            &b"tab\there"[..],
            b"nul\0",
            "caf\u{e9}".as_bytes(),
            b"del\x7f",
        ] {
            assert_eq!(
                IdempotencyKey::parse(bad),
                Err(KeyError::NotPrintable),
                "{bad:?}"
            );
        }
    }
}
