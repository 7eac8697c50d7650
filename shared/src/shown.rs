//! A URL as we show it: in log lines, error messages, a unit's error, `crowd config`. Jobs
//! name URLs that may carry credentials (`https://user:pass@host/...`) or signatures in their
//! query (a pre-signed S3 URL), and every place that shows a URL shows it through here, so
//! none of those leaks into a log, a stored error or a listing.

use std::fmt;

/// What a hidden credential or query value is replaced by.
const HIDDEN: &str = "***";

/// How much of a URL a log line or an error message shows, in bytes.
const SHOWN_BYTES: usize = 200;

/// Query parameters whose values are secrets, compared without case: exactly these...
const SECRET_PARAMS: &[&str] = &["sig", "pass", "pwd", "key", "apikey", "auth", "code"];
/// ...and any whose name contains one of these (`X-Amz-Signature`, `X-Amz-Security-Token`,
/// `X-Amz-Credential`, `client_secret`, `access_token`, `sslpassword`, `api_key`).
const SECRET_PARTS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "signature",
    "credential",
    "api_key",
    "api-key",
];

fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARAMS.contains(&name.as_str()) || SECRET_PARTS.iter().any(|part| name.contains(part))
}

/// `raw` with its user name and password replaced by `***`, and the values of secret query
/// parameters too; otherwise as it was. Not cut: for `crowd config`, which shows whole URLs.
pub fn redact_url(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return redact_unparsed(raw);
    };
    let mut changed = false;
    if !url.username().is_empty() || url.password().is_some() {
        // Fails only for URLs that cannot have credentials, which then have none.
        let _ = url.set_password(None);
        let _ = url.set_username(HIDDEN);
        changed = true;
    }
    if url.query_pairs().any(|(name, _)| is_secret_param(&name)) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(name, value)| {
                let value = if is_secret_param(&name) {
                    HIDDEN.to_string()
                } else {
                    value.into_owned()
                };
                (name.into_owned(), value)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
        changed = true;
    }
    if changed {
        url.to_string()
    } else {
        raw.to_string()
    }
}

/// A string the URL parser refused may still hold `scheme://user:pass@`: its user part goes.
fn redact_unparsed(raw: &str) -> String {
    let Some(start) = raw.find("://").map(|i| i + 3) else {
        return raw.to_string();
    };
    let authority_end = raw[start..]
        .find(['/', '?', '#'])
        .map_or(raw.len(), |i| start + i);
    match raw[start..authority_end].rfind('@') {
        Some(at) => format!("{}{HIDDEN}{}", &raw[..start], &raw[start + at..]),
        None => raw.to_string(),
    }
}

/// A URL for a log line or an error message: redacted as [`redact_url`] does, and cut after
/// `SHOWN_BYTES` (a pre-signed URL is long, and a posted one can be megabytes) with its
/// length said.
pub struct ShownUrl<'a>(pub &'a str);

impl fmt::Display for ShownUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = redact_url(self.0);
        if redacted.len() <= SHOWN_BYTES {
            return f.write_str(&redacted);
        }
        let end = (0..=SHOWN_BYTES)
            .rev()
            .find(|&i| redacted.is_char_boundary(i))
            .unwrap_or(0);
        write!(f, "{}… ({} bytes)", &redacted[..end], redacted.len())
    }
}

/// `ShownUrl` of a parsed URL, as a `String`.
pub fn shown_url(url: &url::Url) -> String {
    ShownUrl(url.as_str()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_hidden_and_the_rest_kept() {
        assert_eq!(
            redact_url("http://user:hunter2@127.0.0.1:8080/x?a=1"),
            "http://***@127.0.0.1:8080/x?a=1"
        );
        // A user name alone can be a token (https://TOKEN@host/).
        assert_eq!(
            redact_url("https://ghp_abc@example.com/r"),
            "https://***@example.com/r"
        );
        assert_eq!(
            redact_url("amqp://guest:guest@127.0.0.1:5672/%2f"),
            "amqp://***@127.0.0.1:5672/%2f"
        );
        let plain = "http://example.com/a%20b?x=1&y";
        assert_eq!(redact_url(plain), plain, "untouched when nothing is secret");
    }

    #[test]
    fn secret_query_values_are_hidden() {
        let presigned = "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256\
                         &X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abc123&X-Amz-Security-Token=t";
        let shown = redact_url(presigned);
        assert_eq!(
            shown,
            "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Security-Token=***"
        );
        let db = "postgres://db/crowd?sslmode=require&password=hunter2&sslpassword=p2";
        let shown = redact_url(db);
        assert!(
            !shown.contains("hunter2") && !shown.contains("p2"),
            "{shown}"
        );
        assert!(shown.contains("sslmode=require"), "{shown}");
        for name in ["sig", "secret", "token", "access_token", "api_key", "Key"] {
            let shown = redact_url(&format!("https://h/?{name}=s3cr3t"));
            assert_eq!(shown, format!("https://h/?{name}=***"));
        }
    }

    #[test]
    fn what_the_parser_refuses_still_loses_its_credentials() {
        assert_eq!(
            redact_url("http://user:pa ss@bad host/x"),
            "http://***@bad host/x"
        );
        assert_eq!(redact_url("just text"), "just text");
        assert_eq!(redact_url("http://bad host/a@b"), "http://bad host/a@b");
    }

    #[test]
    fn long_urls_are_cut_and_say_their_length() {
        let long = format!("http://u:p@h/{}", "é".repeat(300));
        let shown = ShownUrl(&long).to_string();
        assert!(shown.starts_with("http://***@h/%C3%A9"), "{shown}");
        let total = redact_url(&long).len();
        assert!(shown.ends_with(&format!("… ({total} bytes)")), "{shown}");
        assert!(shown.len() < 230, "{shown}");
        // Text that is no URL is cut at a character, not inside one.
        let text = format!("{}é{}", "a".repeat(199), "b".repeat(50));
        assert_eq!(
            ShownUrl(&text).to_string(),
            format!("{}… (251 bytes)", "a".repeat(199))
        );
    }
}
