//! The stores' SQL and the schema spell unit states, job statuses and stages as literals
//! (`state = 'pending'`, `status IN (2, 3)`), not as bound parameters: a partial index
//! (`work_units_outbox ... WHERE state = 'pending'`, `jobs_complete_updated ... WHERE status IN
//! (2, 3)`) is used only by a query whose text says the same, in SQLite always and in Postgres
//! under a generic plan. What binds them to the Rust enums instead is this test: every literal
//! in `store/` and `schema/` must be a value of its enum, every list must be a set the enums
//! name (the complete ones, the incomplete ones, or all), so neither side can drift alone.

use std::{collections::BTreeSet, path::Path};

use crate::status::{JobStatus, Stage, UnitState};

/// The SQL-bearing files: Rust sources under `store/` and the migrations of both dialects.
fn sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    let mut dirs = vec![
        root.join("src/store"),
        root.join("../schema/postgres"),
        root.join("../schema/sqlite"),
    ];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)
            .expect("a source directory")
            .flatten()
        {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs" || e == "sql")
                && !path.ends_with("sql_words.rs")
            {
                let text = std::fs::read_to_string(&path).expect("a readable source");
                found.push((path.display().to_string(), text));
            }
        }
    }
    found
}

/// What follows each whole-word `column` in `text`: an operator and its operand, as in
/// `= 'pending'`, `<> 5`, `IN (1, 4, 5)`; `None` for anything else (a bound `$1`, a column).
fn comparisons(text: &str, column: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices(column) {
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = text[at + column.len()..].trim_start();
        let (operator, operand) = if let Some(r) = rest.strip_prefix("<>") {
            ("<>", r)
        } else if let Some(r) = rest.strip_prefix('=') {
            ("=", r)
        } else if let Some(r) = rest.strip_prefix("IN (") {
            ("IN", r)
        } else {
            continue;
        };
        let operand = operand.trim_start();
        let values: Vec<String> = if operator == "IN" {
            let list = operand.split(')').next().unwrap_or_default();
            list.split(',').map(|v| v.trim().to_string()).collect()
        } else {
            let end = operand
                .find(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '_'))
                .unwrap_or(operand.len());
            vec![operand[..end].to_string()]
        };
        let literal = |v: &String| v.starts_with('\'') || v.chars().all(|c| c.is_ascii_digit());
        if !values.is_empty() && values.iter().all(literal) && !values[0].is_empty() {
            found.push(values);
        }
    }
    found
}

fn quoted(values: &[String]) -> BTreeSet<String> {
    values
        .iter()
        .map(|v| v.trim_matches('\'').to_string())
        .collect()
}

fn codes(values: &[String]) -> BTreeSet<i16> {
    values
        .iter()
        .map(|v| v.parse().expect("a number"))
        .collect()
}

const UNIT_STATES: [UnitState; 4] = [
    UnitState::Pending,
    UnitState::Queued,
    UnitState::Succeeded,
    UnitState::Failed,
];
const JOB_STATUSES: [JobStatus; 5] = [
    JobStatus::Processing,
    JobStatus::Succeeded,
    JobStatus::Failed,
    JobStatus::Splitting,
    JobStatus::Merging,
];

#[test]
fn every_unit_state_the_sql_spells_is_one_of_the_enum() {
    let all: BTreeSet<String> = UNIT_STATES.iter().map(|s| s.as_str().into()).collect();
    let (complete, incomplete): (BTreeSet<String>, BTreeSet<String>) = (
        UNIT_STATES
            .iter()
            .filter(|s| s.is_complete())
            .map(|s| s.as_str().into())
            .collect(),
        UNIT_STATES
            .iter()
            .filter(|s| !s.is_complete())
            .map(|s| s.as_str().into())
            .collect(),
    );
    let mut seen = 0;
    for (file, text) in sources() {
        for values in comparisons(&text, "state") {
            let named = quoted(&values);
            for v in &named {
                assert!(UnitState::parse(v).is_some(), "{file}: unit state '{v}'");
            }
            if values.len() > 1 {
                assert!(
                    [&all, &complete, &incomplete].contains(&&named),
                    "{file}: the states {named:?} are neither all, the complete nor the incomplete ones"
                );
            }
            seen += 1;
        }
    }
    assert!(seen > 20, "the scan found only {seen} unit states");
}

#[test]
fn every_job_status_and_stage_the_sql_spells_is_one_of_the_enums() {
    let complete: BTreeSet<i16> = JOB_STATUSES
        .iter()
        .filter(|s| s.is_complete())
        .map(|s| s.code())
        .collect();
    let incomplete: BTreeSet<i16> = JOB_STATUSES
        .iter()
        .filter(|s| !s.is_complete())
        .map(|s| s.code())
        .collect();
    let stages: BTreeSet<i16> = [Stage::Split, Stage::Process, Stage::Merge]
        .iter()
        .map(|s| s.code())
        .collect();
    let mut seen = 0;
    for (file, text) in sources() {
        for values in comparisons(&text, "status") {
            let named = codes(&values);
            for &c in &named {
                assert!(JobStatus::from_code(c).is_some(), "{file}: job status {c}");
            }
            if values.len() > 1 {
                assert!(
                    named == complete || named == incomplete,
                    "{file}: the statuses {named:?} are neither the complete nor the incomplete ones"
                );
            }
            seen += 1;
        }
        for values in comparisons(&text, "stage") {
            let named = codes(&values);
            for &c in &named {
                assert!(Stage::from_code(c).is_some(), "{file}: stage {c}");
            }
            if values.len() > 1 {
                assert_eq!(
                    named, stages,
                    "{file}: a list of stages that is not all of them"
                );
            }
            seen += 1;
        }
    }
    assert!(seen > 8, "the scan found only {seen} statuses and stages");
}

#[test]
fn the_scan_sees_what_it_checks() {
    let sql =
        "WHERE u.state IN ('pending', 'queued') AND status = 2 AND stage <> $6 AND state = 'x'";
    assert_eq!(
        comparisons(sql, "state"),
        vec![
            vec!["'pending'".to_string(), "'queued'".to_string()],
            vec!["'x'".to_string()]
        ]
    );
    assert_eq!(comparisons(sql, "status"), vec![vec!["2".to_string()]]);
    assert!(comparisons(sql, "stage").is_empty());
    assert!(comparisons("callback_state = 'pending'", "state").is_empty());
}
