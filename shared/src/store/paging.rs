//! Pages of a job's units and outputs, and the outputs a complete job lists.

use serde_json::Value;

/// The outputs a job lists when it ends: CloudCrowd's array for what fits
/// (`max_listed_outputs`), and how many there are in all (the rest are paged from the units).
#[derive(Debug, Clone, PartialEq)]
pub struct Outputs {
    pub listed: Value,
    pub total: i64,
}

/// Which page of a job's outputs or units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// From 1.
    pub page: u32,
    pub per_page: u32,
}

impl Paging {
    pub fn limit(&self) -> i64 {
        i64::from(self.per_page)
    }

    pub fn offset(&self) -> i64 {
        i64::from(self.page.saturating_sub(1)) * i64::from(self.per_page)
    }
}

/// A page of a job's outputs; none until it is complete.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct OutputsPage {
    pub outputs: Vec<Value>,
    /// Outputs of the job on every page.
    pub total: i64,
}

impl OutputsPage {
    /// The page of outputs a job lists in full.
    pub fn slice(listed: Option<Value>, query: Paging) -> OutputsPage {
        let all = match listed {
            Some(Value::Array(all)) => all,
            _ => Vec::new(),
        };
        let total = all.len() as i64;
        let outputs = all
            .into_iter()
            .skip(usize::try_from(query.offset()).unwrap_or(usize::MAX))
            .take(query.per_page as usize)
            .collect();
        OutputsPage { outputs, total }
    }
}
