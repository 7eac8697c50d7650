//! The names that may become part of a file or queue name as they are: an action's, a
//! graphics step's, an image size's (letters, digits, `_` and `-`), and a file extension
//! (letters and digits).

pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

pub fn is_plain_extension(extension: &str) -> bool {
    !extension.is_empty() && extension.chars().all(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_and_extensions() {
        assert!(is_plain_name("count_words-2"));
        for name in ["", ".hidden", "a/b", "a b", "a.b"] {
            assert!(!is_plain_name(name), "{name:?}");
        }
        assert!(is_plain_extension("png"));
        assert!(!is_plain_extension("p.g") && !is_plain_extension(""));
    }
}
