//! What the run did, counted: answers per kind of request and per status, and how the jobs it
//! got accepted ended.

use std::{collections::BTreeMap, fmt};

use crate::request::Kind;

#[derive(Default)]
pub struct Tally {
    /// Per kind, per answer (`"200"`, `"400 (hyper)"`, `"no answer"`...).
    answers: BTreeMap<Kind, BTreeMap<String, usize>>,
    /// How accepted jobs ended: `"succeeded"`, `"failed"`, `"deleted"`...
    pub endings: BTreeMap<String, usize>,
    /// Bodies not sent because they named a URL off this machine (a generator bug).
    pub skipped: usize,
    pub heartbeats: usize,
    /// Units of the jobs that ended.
    pub units: usize,
}

impl Tally {
    pub fn answer(&mut self, kind: Kind, label: &str) {
        *self
            .answers
            .entry(kind)
            .or_default()
            .entry(label.to_string())
            .or_default() += 1;
    }

    pub fn ending(&mut self, how: &str) {
        *self.endings.entry(how.to_string()).or_default() += 1;
    }

    fn totals(&self) -> BTreeMap<&str, usize> {
        let mut totals = BTreeMap::new();
        for labels in self.answers.values() {
            for (label, n) in labels {
                *totals.entry(label.as_str()).or_default() += n;
            }
        }
        totals
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = |counts: &mut dyn Iterator<Item = (&str, usize)>| {
            counts
                .map(|(label, n)| format!("{label}: {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let sent: usize = self.totals().values().sum();
        writeln!(
            f,
            "fuzz: {sent} requests, {} heartbeats checked",
            self.heartbeats
        )?;
        writeln!(f, "  by answer: {}", line(&mut self.totals().into_iter()))?;
        for (kind, labels) in &self.answers {
            let total: usize = labels.values().sum();
            let mut counts = labels.iter().map(|(l, n)| (l.as_str(), *n));
            writeln!(
                f,
                "  {:<14} {total:>5}  {}",
                format!("{kind:?}"),
                line(&mut counts)
            )?;
        }
        let accepted: usize = self.endings.values().sum();
        let mut endings = self.endings.iter().map(|(l, n)| (l.as_str(), *n));
        write!(
            f,
            "  jobs accepted: {accepted} ({}), with {} units",
            line(&mut endings),
            self.units
        )?;
        if self.skipped > 0 {
            write!(f, "\n  not sent (a URL off this machine): {}", self.skipped)?;
        }
        Ok(())
    }
}
