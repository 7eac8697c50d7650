//! Actions by name. The built-ins are registered by `Registry::builtin`; an embedding program
//! can add its own with `register`.

use std::{collections::BTreeMap, sync::Arc};

use crowd_shared::catalog::Catalog;

use crate::{actions, Action};

#[derive(Clone, Default)]
pub struct Registry {
    actions: BTreeMap<&'static str, Arc<dyn Action>>,
}

impl Registry {
    /// `word_count`, `noop` (what `crowd bench` runs) and the actions the test suite drives.
    pub fn builtin() -> Self {
        let mut registry = Registry::default();
        registry.register(actions::word_count::WordCount);
        registry.register(actions::noop::Noop);
        registry.register(actions::chunked_word_count::ChunkedWordCount);
        registry.register(actions::failure_testing::FailureTesting);
        registry.register(actions::always_fails::AlwaysFails);
        registry
    }

    pub fn register(&mut self, action: impl Action) {
        self.actions.insert(action.name(), Arc::new(action));
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn Action>> {
        self.actions.get(name).cloned()
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.actions.keys().copied()
    }

    /// What the api needs to accept and start jobs.
    pub fn catalog(&self) -> Catalog {
        self.actions
            .iter()
            .map(|(name, a)| (name.to_string(), a.stages()))
            .collect()
    }
}
