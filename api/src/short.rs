//! Text a client sent, cut short where it is shown: in log lines and in error messages. A
//! posted `action` or `callback_url`, or a request's path, can be megabytes long, and a log
//! line or an error message carrying all of it helps no one and costs everyone.

use std::fmt;

/// How much of the text is shown.
const SHOWN_BYTES: usize = 100;

/// `text`, or its first `SHOWN_BYTES` (to a character boundary) and how long it was. Display
/// shows it as is, Debug quoted as `{:?}` quotes a string.
pub struct Short<'a>(pub &'a str);

impl Short<'_> {
    /// The part shown, and whether anything was left out.
    fn parts(&self) -> (&str, bool) {
        let text = self.0;
        if text.len() <= SHOWN_BYTES {
            return (text, false);
        }
        let end = (0..=SHOWN_BYTES)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        (&text[..end], true)
    }
}

impl fmt::Display for Short<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.parts() {
            (shown, false) => f.write_str(shown),
            (shown, true) => write!(f, "{shown}… ({} bytes)", self.0.len()),
        }
    }
}

impl fmt::Debug for Short<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.parts() {
            (shown, false) => write!(f, "{shown:?}"),
            (shown, true) => write!(f, "{shown:?}… ({} bytes)", self.0.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Short;

    #[test]
    fn long_text_is_cut_at_a_character_and_says_its_length() {
        assert_eq!(Short("http://a/b").to_string(), "http://a/b");
        assert_eq!(format!("{:?}", Short("a\"b")), r#""a\"b""#);
        let long = format!("{}é{}", "a".repeat(99), "b".repeat(5000));
        let shown = Short(&long).to_string();
        // The 'é' straddles byte 100, so the cut falls before it.
        assert_eq!(shown, format!("{}… (5101 bytes)", "a".repeat(99)));
        assert!(format!("{:?}", Short(&long)).ends_with("\"… (5101 bytes)"));
    }
}
