//! What the api knows of actions without running them: their names and which optional stages
//! they have. The worker's registry produces it.

use std::collections::BTreeMap;

/// The optional stages an action defines (every action processes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Stages {
    pub split: bool,
    pub merge: bool,
}

impl Stages {
    /// Whether the action runs `stage` (every action processes).
    pub fn has(self, stage: crate::status::Stage) -> bool {
        match stage {
            crate::status::Stage::Split => self.split,
            crate::status::Stage::Process => true,
            crate::status::Stage::Merge => self.merge,
        }
    }
}

/// Action name to its stages.
pub type Catalog = BTreeMap<String, Stages>;

/// What a node's stored list of actions says: its actions and their stages, or nothing from a
/// version that listed names only.
pub fn advertised(stored: &serde_json::Value) -> Catalog {
    serde_json::from_value(stored.clone()).unwrap_or_default()
}
