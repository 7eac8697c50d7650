//! Finding executable actions: every executable file in an actions directory is an action named
//! after the file, its extension dropped (`count_lines.py` is `count_lines`), with the stages an
//! optional manifest of the same name beside it declares (`count_lines.toml`: `split = true`,
//! `merge = true`). Nothing is run to find out.

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

use anyhow::Context;
use crowd_shared::catalog::Stages;

use crate::plain_name::is_plain_name;
use figment::{
    providers::{Format, Toml},
    Figment,
};

/// An action found in a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub name: String,
    pub program: PathBuf,
    pub stages: Stages,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    #[serde(default)]
    split: bool,
    #[serde(default)]
    merge: bool,
}

/// The actions in `dirs`, in name order. A directory that is not there, a manifest that does
/// not read, or a name found twice is an error that names them.
pub fn discover(dirs: &[PathBuf]) -> anyhow::Result<Vec<Found>> {
    let mut found: Vec<Found> = Vec::new();
    for dir in dirs {
        for action in in_dir(dir)? {
            if let Some(other) = found.iter().find(|f| f.name == action.name) {
                anyhow::bail!(
                    "two actions are named {}: {} and {}",
                    action.name,
                    other.program.display(),
                    action.program.display()
                );
            }
            found.push(action);
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

fn in_dir(dir: &Path) -> anyhow::Result<Vec<Found>> {
    // Absolute: the program is started from its unit's work directory.
    let dir = &std::fs::canonicalize(dir)
        .with_context(|| format!("reading the actions directory {}", dir.display()))?;
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("reading the actions directory {}", dir.display()))?;
    let mut found = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("reading the actions directory {}", dir.display()))?
            .path();
        let Some(name) = action_name(&path) else {
            continue;
        };
        let Ok(meta) = std::fs::metadata(&path) else {
            continue; // a dangling link
        };
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
            continue; // a manifest, a README, a helper module
        }
        found.push(Found {
            stages: manifest(&path.with_extension("toml"))?,
            name,
            program: path,
        });
    }
    Ok(found)
}

/// The action a file would be: its name without the extension, if that is a usable name (not
/// hidden; letters, digits, `_` and `-`, as in a queue name).
fn action_name(path: &Path) -> Option<String> {
    let stem = path.file_stem()?.to_str()?;
    is_plain_name(stem).then(|| stem.to_string())
}

fn manifest(path: &Path) -> anyhow::Result<Stages> {
    if !path.is_file() {
        return Ok(Stages::default());
    }
    let manifest: Manifest = Figment::from(Toml::file(path))
        .extract()
        .with_context(|| format!("reading the action manifest {}", path.display()))?;
    Ok(Stages {
        split: manifest.split,
        merge: manifest.merge,
    })
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    fn write(dir: &Path, name: &str, text: &str, executable: bool) {
        let path = dir.join(name);
        fs::write(&path, text).expect("write");
        let mode = if executable { 0o755 } else { 0o644 };
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn executables_are_actions_with_the_stages_their_manifests_declare() {
        let dir = tempfile::tempdir().expect("dir");
        write(
            dir.path(),
            "count_lines.py",
            "#!/usr/bin/env python3\n",
            true,
        );
        write(
            dir.path(),
            "count_lines.toml",
            "split = true\nmerge = true\n",
            false,
        );
        write(dir.path(), "shout", "#!/bin/sh\n", true);
        write(dir.path(), "README.md", "not an action", false);
        write(dir.path(), ".hidden", "#!/bin/sh\n", true);
        let found = discover(&[dir.path().to_path_buf()]).expect("found");
        assert_eq!(
            found,
            vec![
                Found {
                    name: "count_lines".into(),
                    program: dir.path().join("count_lines.py"),
                    stages: Stages {
                        split: true,
                        merge: true
                    },
                },
                Found {
                    name: "shout".into(),
                    program: dir.path().join("shout"),
                    stages: Stages::default(),
                },
            ]
        );
    }

    #[test]
    fn a_relative_directory_gives_programs_that_run_from_anywhere() {
        let dir = tempfile::tempdir().expect("dir");
        write(dir.path(), "shout.sh", "#!/bin/sh\n", true);
        // The same directory, named from here: up to the root, then down.
        let depth = std::env::current_dir().expect("cwd").components().count() - 1;
        let relative: PathBuf = std::iter::repeat_n(Path::new(".."), depth)
            .collect::<PathBuf>()
            .join(dir.path().strip_prefix("/").expect("absolute"));
        assert!(relative.is_relative());
        let found = discover(&[relative]).expect("found");
        assert!(found[0].program.is_absolute(), "{:?}", found[0].program);
    }

    #[test]
    fn a_name_found_twice_names_both_files() {
        let (a, b) = (
            tempfile::tempdir().expect("dir"),
            tempfile::tempdir().expect("dir"),
        );
        write(a.path(), "shout.sh", "#!/bin/sh\n", true);
        write(b.path(), "shout.py", "#!/usr/bin/env python3\n", true);
        let e = discover(&[a.path().to_path_buf(), b.path().to_path_buf()]).expect_err("twice");
        let text = e.to_string();
        assert!(text.contains("two actions are named shout"), "{text}");
        assert!(
            text.contains("shout.sh") && text.contains("shout.py"),
            "{text}"
        );
    }

    #[test]
    fn a_bad_manifest_or_a_missing_directory_is_named() {
        let dir = tempfile::tempdir().expect("dir");
        write(dir.path(), "a.sh", "#!/bin/sh\n", true);
        write(dir.path(), "a.toml", "splt = true\n", false);
        let e = discover(&[dir.path().to_path_buf()]).expect_err("bad manifest");
        assert!(format!("{e:#}").contains("a.toml"), "{e:#}");
        let e = discover(&[dir.path().join("nope")]).expect_err("no directory");
        assert!(format!("{e:#}").contains("nope"), "{e:#}");
    }
}
