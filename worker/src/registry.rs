//! Actions by name: the built-ins (`Registry::builtin`), the executables of the configured
//! actions directories (`Registry::from_config`), and whatever an embedding program adds with
//! `register`.

use std::{collections::BTreeMap, path::PathBuf, sync::Arc};

use crowd_shared::{catalog::Catalog, Config};

use crate::{
    actions,
    executable::{discover::discover, ExecutableAction},
    Action,
};

#[derive(Clone, Default)]
pub struct Registry {
    actions: BTreeMap<String, Arc<dyn Action>>,
    /// Where each executable action is, for errors that name both of two with one name.
    programs: BTreeMap<String, PathBuf>,
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

    /// The built-ins and the executable actions in `config.actions_path`. An executable named
    /// as a built-in, or as another executable, is an error that names both.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let mut registry = Registry::builtin();
        let max_output = usize::try_from(config.max_message_bytes).unwrap_or(usize::MAX);
        for found in discover(&config.actions_path)? {
            if registry.actions.contains_key(&found.name) {
                anyhow::bail!(
                    "two actions are named {}: the built-in one and {}",
                    found.name,
                    found.program.display()
                );
            }
            registry
                .programs
                .insert(found.name.clone(), found.program.clone());
            registry.register(ExecutableAction::new(found, max_output));
        }
        Ok(registry)
    }

    pub fn register(&mut self, action: impl Action) {
        self.actions
            .insert(action.name().to_string(), Arc::new(action));
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn Action>> {
        self.actions.get(name).cloned()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.actions.keys().map(String::as_str)
    }

    /// Where an executable action is defined; `None` for a built-in one.
    pub fn program(&self, name: &str) -> Option<&std::path::Path> {
        self.programs.get(name).map(PathBuf::as_path)
    }

    /// What the api needs to accept and start jobs.
    pub fn catalog(&self) -> Catalog {
        self.actions
            .iter()
            .map(|(name, a)| (name.clone(), a.stages()))
            .collect()
    }
}
