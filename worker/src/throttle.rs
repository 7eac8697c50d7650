//! CloudCrowd's node throttles: a worker takes no new units while the machine's load average is
//! above `max_load` or its available memory below `min_free_memory` (both off by default),
//! says why in its heartbeat, and takes them again by itself once the machine recovers. Units
//! it already runs go on; units delivered meanwhile wait for a slot, as when it is busy.

use std::time::Duration;

use crowd_shared::{shutdown::CancellationToken, Config};
use tokio::sync::watch;

/// How often the machine is looked at.
pub const EVERY: Duration = Duration::from_secs(1);

/// The limits a worker keeps to.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limits {
    pub max_load: Option<f64>,
    /// Megabytes.
    pub min_free_memory: Option<u64>,
}

impl Limits {
    pub fn of(config: &Config) -> Self {
        Limits {
            max_load: config.max_load,
            min_free_memory: config.min_free_memory,
        }
    }

    pub fn is_off(&self) -> bool {
        self.max_load.is_none() && self.min_free_memory.is_none()
    }
}

/// What the machine shows now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// The 1-minute load average.
    pub load: f64,
    /// Available memory, in megabytes.
    pub free_memory: u64,
}

/// Why the worker should take no new units, or `None` when it may.
pub fn decide(limits: &Limits, reading: &Reading) -> Option<String> {
    if let Some(max) = limits.max_load {
        if reading.load > max {
            return Some(format!("load {:.2} is above max_load {max}", reading.load));
        }
    }
    if let Some(min) = limits.min_free_memory {
        if reading.free_memory < min {
            return Some(format!(
                "{} MB free is below min_free_memory {min} MB",
                reading.free_memory
            ));
        }
    }
    None
}

/// The machine now, from `/proc`.
pub fn read() -> std::io::Result<Reading> {
    let loadavg = std::fs::read_to_string("/proc/loadavg")?;
    let meminfo = std::fs::read_to_string("/proc/meminfo")?;
    parse(&loadavg, &meminfo).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, "unreadable /proc figures")
    })
}

fn parse(loadavg: &str, meminfo: &str) -> Option<Reading> {
    let load = loadavg.split_whitespace().next()?.parse().ok()?;
    let kilobytes: u64 = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemAvailable:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(Reading {
        load,
        free_memory: kilobytes / 1024,
    })
}

/// Looks at the machine every `every` with `read` and publishes the decision to `state`, until
/// `stop`; says when the worker stops and starts taking units.
pub async fn watch(
    limits: Limits,
    mut read: impl FnMut() -> std::io::Result<Reading> + Send,
    state: watch::Sender<Option<String>>,
    every: Duration,
    stop: CancellationToken,
) {
    let mut ticks = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let now = match read() {
            Ok(reading) => decide(&limits, &reading),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the machine's load and memory; not throttling");
                None
            }
        };
        state.send_if_modified(|was| {
            if *was == now {
                return false;
            }
            match &now {
                Some(why) => tracing::warn!(reason = %why, "throttled: taking no new units"),
                None => tracing::info!("no longer throttled: taking units again"),
            }
            *was = now;
            true
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_load: Some(2.0),
        min_free_memory: Some(512),
    };

    #[test]
    fn past_either_limit_is_throttled_and_says_which() {
        let fine = Reading {
            load: 1.5,
            free_memory: 4096,
        };
        assert_eq!(decide(&LIMITS, &fine), None);
        let loaded = Reading { load: 3.25, ..fine };
        assert_eq!(
            decide(&LIMITS, &loaded).as_deref(),
            Some("load 3.25 is above max_load 2")
        );
        let short = Reading {
            free_memory: 100,
            ..fine
        };
        assert_eq!(
            decide(&LIMITS, &short).as_deref(),
            Some("100 MB free is below min_free_memory 512 MB")
        );
        assert_eq!(
            decide(
                &Limits::default(),
                &Reading {
                    load: 99.0,
                    free_memory: 0
                }
            ),
            None
        );
    }

    #[test]
    fn proc_figures_are_read() {
        let reading = parse(
            "0.52 0.40 0.30 1/234 5678\n",
            "MemTotal:       16384000 kB\nMemFree:  100 kB\nMemAvailable:    2097152 kB\n",
        );
        assert_eq!(
            reading,
            Some(Reading {
                load: 0.52,
                free_memory: 2048
            })
        );
        assert_eq!(parse("", ""), None);
        assert!(read().is_ok(), "this machine's /proc");
    }

    #[tokio::test]
    async fn a_worker_is_throttled_and_resumes_by_itself() {
        let readings = std::sync::Mutex::new(
            vec![
                Reading {
                    load: 0.5,
                    free_memory: 4096,
                },
                Reading {
                    load: 5.0,
                    free_memory: 4096,
                },
                Reading {
                    load: 0.5,
                    free_memory: 4096,
                },
            ]
            .into_iter(),
        );
        let (state, mut seen) = watch::channel(None);
        let stop = CancellationToken::new();
        let watching = tokio::spawn(watch(
            LIMITS,
            move || {
                Ok(readings.lock().expect("lock").next().unwrap_or(Reading {
                    load: 0.5,
                    free_memory: 4096,
                }))
            },
            state,
            Duration::from_millis(5),
            stop.clone(),
        ));
        seen.changed().await.expect("throttled");
        assert_eq!(
            seen.borrow_and_update().as_deref(),
            Some("load 5.00 is above max_load 2")
        );
        seen.changed().await.expect("resumed");
        assert_eq!(*seen.borrow_and_update(), None);
        stop.cancel();
        watching.await.expect("join");
    }
}
