//! `crowd worker`'s flags, laid over the configuration: what is given wins.

use crowd_shared::Config;

#[derive(Debug, Default, Clone, PartialEq, clap::Args)]
pub struct WorkerFlags {
    /// Units run at once (and the prefetch).
    #[arg(long)]
    pub max_workers: Option<u16>,
    /// Comma-separated actions to consume (default: all).
    #[arg(long)]
    pub actions: Option<String>,
    /// A label shown beside this node in /status.
    #[arg(long)]
    pub tag: Option<String>,
    /// Serve /metrics, /healthz and /readyz on this port (on `metrics_host`).
    #[arg(long)]
    pub metrics_port: Option<u16>,
}

impl WorkerFlags {
    pub fn apply(self, config: &mut Config) {
        config.metrics_port = self.metrics_port.or(config.metrics_port);
        if let Some(n) = self.max_workers {
            config.max_workers = n;
        }
        if let Some(actions) = self.actions {
            config.actions = actions
                .split(',')
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty())
                .collect();
        }
        if self.tag.is_some() {
            config.node_tag = self.tag;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_given_win_and_the_rest_is_left_alone() {
        let mut config = Config {
            max_workers: 3,
            metrics_port: Some(9464),
            node_tag: Some("old".into()),
            ..Config::default()
        };
        WorkerFlags {
            actions: Some(" word_count, ,noop ".into()),
            ..WorkerFlags::default()
        }
        .apply(&mut config);
        assert_eq!(config.actions, ["word_count", "noop"]);
        assert_eq!((config.max_workers, config.metrics_port), (3, Some(9464)));
        assert_eq!(config.node_tag.as_deref(), Some("old"));

        WorkerFlags {
            max_workers: Some(8),
            tag: Some("gpu".into()),
            metrics_port: Some(1),
            actions: None,
        }
        .apply(&mut config);
        assert_eq!((config.max_workers, config.metrics_port), (8, Some(1)));
        assert_eq!(config.node_tag.as_deref(), Some("gpu"));
        assert_eq!(config.actions, ["word_count", "noop"]);
    }
}
