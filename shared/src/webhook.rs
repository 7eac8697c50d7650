//! Signed callbacks, as Standard Webhooks (<https://www.standardwebhooks.com>) sign them: a
//! delivery carries `webhook-id`, `webhook-timestamp` and `webhook-signature`, the latter
//! `v1,` + base64 of HMAC-SHA256 over `{id}.{timestamp}.{body}`. The key is the secret's
//! bytes: `callback_secret` is written as the spec's libraries take it, `whsec_` + base64 of
//! the key (the prefix optional), so a receiver using one of them verifies with the same
//! string.

use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The spec's conventional prefix of a secret.
const PREFIX: &str = "whsec_";

/// The shortest key taken, in bytes (the spec asks for 24 to 64).
pub const MIN_KEY_BYTES: usize = 24;

/// Why `callback_secret` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadSecret {
    #[error(
        "`callback_secret` must be `whsec_` followed by base64 (make one with \
         `echo whsec_$(head -c 32 /dev/urandom | base64)`)"
    )]
    NotBase64,
    #[error(
        "`callback_secret` holds {0} bytes; it needs at least {MIN_KEY_BYTES} (make one with \
         `echo whsec_$(head -c 32 /dev/urandom | base64)`)"
    )]
    TooShort(usize),
}

/// The key callbacks are signed with.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl SigningKey {
    /// The key a secret (`whsec_<base64>`, or the base64 alone) stands for.
    pub fn from_secret(secret: &str) -> Result<SigningKey, BadSecret> {
        let encoded = secret.trim();
        let encoded = encoded.strip_prefix(PREFIX).unwrap_or(encoded);
        let key = STANDARD.decode(encoded).map_err(|_| BadSecret::NotBase64)?;
        if key.len() < MIN_KEY_BYTES {
            return Err(BadSecret::TooShort(key.len()));
        }
        Ok(SigningKey(key))
    }

    /// The `webhook-signature` of a delivery: `v1,<base64 of the HMAC>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC takes a key of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(********)")
    }
}

/// The `webhook-id` of a job's callback: the same on every retry, so a receiver can tell a
/// retry from a new event; the job's creation time keeps it unique should ids start again
/// (a new database).
pub fn message_id(job_id: i64, created_at_ms: i64) -> String {
    format!("job_{job_id}_{created_at_ms}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks reference libraries' tests.
    #[test]
    fn signs_as_the_reference_libraries_do() {
        let key = SigningKey::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("key");
        let signature = key.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn the_prefix_is_optional_and_bad_secrets_are_named() {
        let with = SigningKey::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("key");
        let without = SigningKey::from_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("key");
        assert_eq!(with.0, without.0);
        assert_eq!(
            SigningKey::from_secret("whsec_not base64!").map(|_| ()),
            Err(BadSecret::NotBase64)
        );
        assert_eq!(
            SigningKey::from_secret("whsec_c2hvcnQ=").map(|_| ()),
            Err(BadSecret::TooShort(5))
        );
    }

    #[test]
    fn the_key_never_prints() {
        let key = SigningKey::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("key");
        assert_eq!(format!("{key:?}"), "SigningKey(********)");
    }
}
