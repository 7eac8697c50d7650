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
    /// `word_count`, `graphics_magick`, `noop` (what `crowd bench` runs) and the actions the
    /// test suite drives.
    pub fn builtin() -> Self {
        let mut registry = Registry::default();
        registry.register(actions::word_count::WordCount);
        registry.register(actions::graphics_magick::GraphicsMagick);
        registry.register(actions::process_pdfs::ProcessPdfs);
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

    /// The programs `name` runs that are not on `PATH`.
    pub fn missing_tools(&self, name: &str) -> Vec<String> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        self.get(name)
            .map(|action| {
                action
                    .tools()
                    .iter()
                    .filter(|tool| !on_path(tool, &path))
                    .map(|tool| tool.to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// What the api needs to accept and start jobs.
    pub fn catalog(&self) -> Catalog {
        self.actions
            .iter()
            .map(|(name, a)| (name.clone(), a.stages()))
            .collect()
    }
}

/// Whether an executable file named `tool` is in one of `path`'s directories.
fn on_path(tool: &str, path: &std::ffi::OsStr) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path).any(|dir| {
        std::fs::metadata(dir.join(tool))
            .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_is_found_only_as_an_executable_on_the_path() {
        let dir = tempfile::tempdir().expect("dir");
        let path = std::env::join_paths([dir.path()]).expect("path");
        assert!(!on_path("gm", &path));
        let tool = dir.path().join("gm");
        std::fs::write(&tool, "#!/bin/sh\n").expect("write");
        assert!(!on_path("gm", &path), "not executable");
        std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        assert!(on_path("gm", &path));
    }
}
