//! What `crowd up` opens by default on one user's machine: its files and scratch space under
//! the data directory, `file://` inputs under the user's home and the current directory, the
//! actions in `./actions`, and,
//! when it listens on a loopback address (only this machine's users can post jobs), the host
//! names and networks those users reach anyway. The distributed services open none of this.

use std::path::{Path, PathBuf};

use crowd_shared::Config;

use crate::exposure::is_loopback;

/// What `crowd up` on a loopback address lets downloads and callbacks reach: this machine and
/// the private networks it is on. Link-local addresses (a cloud's metadata service) stay closed.
pub const LOCAL_NETWORKS: [&str; 7] = [
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "fc00::/7",
];

/// Files and scratch space under `data_dir`, and `file://` inputs readable under `home` and
/// `cwd`, where the configuration leaves them at their defaults.
pub fn data_defaults(
    config: &mut Config,
    data_dir: &Path,
    home: Option<PathBuf>,
    cwd: Option<PathBuf>,
) {
    let defaults = Config::default();
    if config.local_storage_path == defaults.local_storage_path {
        config.local_storage_path = data_dir.join("files");
    }
    if config.temp_storage_path == defaults.temp_storage_path {
        config.temp_storage_path = data_dir.join("tmp");
    }
    if config.allowed_file_roots.is_empty() {
        config.allowed_file_roots = home.into_iter().chain(cwd).collect();
    }
}

/// Executable actions in `./actions` (under `cwd`) when it is there and the configuration
/// names no actions directory.
pub fn actions_defaults(config: &mut Config, cwd: Option<PathBuf>) {
    if !config.actions_path.is_empty() {
        return;
    }
    if let Some(dir) = cwd
        .map(|cwd| cwd.join("actions"))
        .filter(|dir| dir.is_dir())
    {
        config.actions_path.push(dir);
    }
}

/// Everything `crowd up` opens by default, in order: its data under `data_dir`, `file://`
/// inputs under `home` and `cwd`, the actions in `cwd`'s `actions/`, and what listening on
/// `host` (the configured one when `None`) allows. Returns the host it listens on.
pub fn prepare_up(
    config: &mut Config,
    data_dir: &Path,
    host: Option<String>,
    home: Option<PathBuf>,
    cwd: Option<PathBuf>,
) -> String {
    data_defaults(config, data_dir, home, cwd.clone());
    actions_defaults(config, cwd);
    let host = host.unwrap_or_else(|| config.host.clone());
    listening_defaults(config, &host);
    host
}

/// On a loopback `host`: only this machine's own names are answered, and inputs and callbacks
/// on this machine and its networks just work, where the configuration says nothing else.
pub fn listening_defaults(config: &mut Config, host: &str) {
    if !is_loopback(host) {
        return;
    }
    if config.allowed_hosts.is_empty() {
        config.allowed_hosts = ["localhost", "127.0.0.1", "[::1]"].map(String::from).into();
    }
    if config.allowed_networks.is_empty() {
        config.allowed_networks = LOCAL_NETWORKS.map(String::from).into();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_opens_its_data_dir_and_this_machine_on_the_configured_host() {
        let data = tempfile::tempdir().expect("a directory");
        let mut config = Config::default();
        let host = prepare_up(
            &mut config,
            data.path(),
            None,
            Some("/home/me".into()),
            None,
        );
        assert_eq!(host, config.host);
        assert_eq!(config.local_storage_path, data.path().join("files"));
        assert_eq!(config.allowed_file_roots, [PathBuf::from("/home/me")]);
        assert!(!config.allowed_hosts.is_empty(), "127.0.0.1 is loopback");

        let mut config = Config::default();
        assert_eq!(
            prepare_up(&mut config, data.path(), Some("0.0.0.0".into()), None, None),
            "0.0.0.0"
        );
        assert!(
            config.allowed_hosts.is_empty(),
            "beyond this machine nothing more is opened"
        );
    }

    #[test]
    fn on_loopback_this_machine_and_its_networks_are_open() {
        let mut config = Config::default();
        listening_defaults(&mut config, "127.0.0.1");
        assert!(config.allowed_hosts.contains(&"localhost".to_string()));
        assert!(config
            .allowed_networks
            .contains(&"192.168.0.0/16".to_string()));
        assert!(
            !config
                .allowed_networks
                .iter()
                .any(|n| n.starts_with("169.254.")),
            "a cloud's metadata service stays closed"
        );
    }

    #[test]
    fn beyond_loopback_nothing_is_opened() {
        let mut config = Config::default();
        listening_defaults(&mut config, "0.0.0.0");
        assert!(config.allowed_hosts.is_empty());
        assert!(config.allowed_networks.is_empty());
    }

    #[test]
    fn what_the_configuration_says_is_kept() {
        let mut config = Config {
            allowed_networks: vec!["10.1.0.0/16".into()],
            allowed_file_roots: vec![PathBuf::from("/srv/inputs")],
            ..Config::default()
        };
        listening_defaults(&mut config, "localhost");
        data_defaults(
            &mut config,
            Path::new("/data"),
            Some("/home/u".into()),
            None,
        );
        assert_eq!(config.allowed_networks, vec!["10.1.0.0/16".to_string()]);
        assert_eq!(
            config.allowed_file_roots,
            vec![PathBuf::from("/srv/inputs")]
        );
        assert_eq!(config.local_storage_path, PathBuf::from("/data/files"));
        assert_eq!(config.temp_storage_path, PathBuf::from("/data/tmp"));
    }

    #[test]
    fn actions_here_are_found_unless_a_directory_is_configured() {
        let here = tempfile::tempdir().expect("dir");
        let mut config = Config::default();
        actions_defaults(&mut config, Some(here.path().to_path_buf()));
        assert!(
            config.actions_path.is_empty(),
            "no ./actions, nothing added"
        );
        std::fs::create_dir(here.path().join("actions")).expect("mkdir");
        actions_defaults(&mut config, Some(here.path().to_path_buf()));
        assert_eq!(config.actions_path, vec![here.path().join("actions")]);
        let mut configured = Config {
            actions_path: vec![PathBuf::from("/srv/actions")],
            ..Config::default()
        };
        actions_defaults(&mut configured, Some(here.path().to_path_buf()));
        assert_eq!(configured.actions_path, vec![PathBuf::from("/srv/actions")]);
    }

    #[test]
    fn file_inputs_are_read_under_home_and_here_by_default() {
        let mut config = Config::default();
        data_defaults(
            &mut config,
            Path::new("/data"),
            Some("/home/u".into()),
            Some("/work".into()),
        );
        assert_eq!(
            config.allowed_file_roots,
            vec![PathBuf::from("/home/u"), PathBuf::from("/work")]
        );
    }
}
