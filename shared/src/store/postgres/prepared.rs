//! Which statements are prepared once per connection (see the module's note in `mod.rs`): only
//! those whose best plan does not depend on how many rows a parameter brings. A statement over
//! a batch (an array unnested or matched with `ANY`, a `LIMIT` given) would fall back to
//! Postgres' generic plan after five runs, which guesses ten rows.

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The text of each `prepare_cached("...")` in `source`.
    fn prepared(source: &str) -> Vec<&str> {
        source
            .match_indices("prepare_cached(")
            .filter_map(|(at, call)| {
                let rest = source[at + call.len()..].trim_start();
                let body = rest.strip_prefix('"')?;
                body.find('"').map(|end| &body[..end])
            })
            .collect()
    }

    #[test]
    fn no_statement_over_a_batch_is_prepared() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/postgres");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir)
            .expect("the store's sources")
            .flatten()
        {
            if entry.path().ends_with("prepared.rs") {
                continue; // its own example
            }
            let text = std::fs::read_to_string(entry.path()).expect("readable");
            for sql in prepared(&text) {
                seen += 1;
                for batch in ["unnest", "ANY(", "ANY (", "LIMIT $"] {
                    assert!(
                        !sql.contains(batch),
                        "{}: a statement over a batch is prepared: {sql}",
                        entry.path().display()
                    );
                }
            }
        }
        assert!(seen > 10, "the statements were found ({seen})");
    }

    #[test]
    fn finds_the_text_of_each_prepared_statement() {
        let source = r#"tx.prepare_cached("SELECT 1").await?; c.prepare_cached(
                "SELECT unnest($1)")"#;
        assert_eq!(prepared(source), ["SELECT 1", "SELECT unnest($1)"]);
    }
}
