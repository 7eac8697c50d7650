//! What the api knows of actions without running them: their names and which optional stages
//! they have. The worker's registry produces it.

use std::collections::BTreeMap;

/// The optional stages an action defines (every action processes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stages {
    pub split: bool,
    pub merge: bool,
}

/// Action name to its stages.
pub type Catalog = BTreeMap<String, Stages>;
