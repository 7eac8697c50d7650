//! The CPU time of the processes `crowd bench` watches, read from `/proc/<pid>/stat` (Linux):
//! this process when the stack runs in it, or the `--pid`s of a stack elsewhere.

use std::time::Duration;

use anyhow::Context;

/// The kernel's `USER_HZ`: `/proc` counts CPU time in these ticks per second. It is 100 on
/// every architecture Linux runs on today (it is part of the ABI, whatever `HZ` the kernel was
/// built with).
const TICKS_PER_SEC: u64 = 100;

/// Processes whose CPU time is summed.
pub enum Watched {
    /// This process: the embedded stack and the client that drives it.
    ThisProcess,
    Pids(Vec<u32>),
}

impl Watched {
    /// `pids`, once each of them can be read.
    pub fn pids(pids: &[u32]) -> anyhow::Result<Watched> {
        let watched = Watched::Pids(pids.to_vec());
        watched.cpu_time()?;
        Ok(watched)
    }

    /// This process, if `/proc` can tell its CPU time.
    pub fn this_process() -> Option<Watched> {
        Watched::ThisProcess
            .cpu_time()
            .ok()
            .map(|_| Watched::ThisProcess)
    }

    /// How the report names them.
    pub fn describe(&self) -> String {
        match self {
            Watched::ThisProcess => "this process (the stack and the client)".into(),
            Watched::Pids(pids) => {
                let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
                format!("processes {}", pids.join(", "))
            }
        }
    }

    /// CPU time (user and system) they have used so far, theirs and that of the children they
    /// waited for, so that helpers that came and went in between (a Postgres backend) count.
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        let ticks = match self {
            Watched::ThisProcess => ticks_of("self")?,
            Watched::Pids(pids) => pids
                .iter()
                .map(|pid| ticks_of(&pid.to_string()))
                .sum::<anyhow::Result<u64>>()?,
        };
        Ok(Duration::from_millis(ticks * 1000 / TICKS_PER_SEC))
    }
}

fn ticks_of(pid: &str) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the CPU time of process {pid} in {path}"))?;
    cpu_ticks(&stat).with_context(|| format!("{path} is not what Linux writes there"))
}

/// utime + stime + cutime + cstime (fields 14 to 17) of a `/proc/<pid>/stat` line. The
/// command's name (field 2, in parentheses) may hold spaces and parentheses itself, so the
/// fields are counted from the last `)`.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let (_, after_name) = stat.rsplit_once(')')?;
    // The fields after the name start at field 3.
    let fields: Vec<&str> = after_name.split_whitespace().skip(14 - 3).take(4).collect();
    if fields.len() < 4 {
        return None;
    }
    fields.iter().map(|f| f.parse::<u64>().ok()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_counted_after_the_name_whatever_it_holds() {
        let stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 25 7 3 1 20 0 1 0";
        assert_eq!(cpu_ticks(stat), Some(25 + 7 + 3 + 1));
        assert_eq!(cpu_ticks("4242 (short) S 1 2"), None);
        assert_eq!(cpu_ticks("no name at all"), None);
    }

    #[test]
    fn this_process_has_a_cpu_time_that_grows() {
        let Some(me) = Watched::this_process() else {
            return; // No /proc here: nothing to read.
        };
        let before = me.cpu_time().expect("cpu time");
        let spin = std::time::Instant::now();
        let mut x = 0u64;
        while spin.elapsed() < Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(me.cpu_time().expect("cpu time") > before);
    }

    #[test]
    fn a_process_that_does_not_exist_is_an_error_that_names_it() {
        let error = Watched::pids(&[u32::MAX]).err().expect("no such process");
        assert!(
            format!("{error:#}").contains(&u32::MAX.to_string()),
            "{error:#}"
        );
    }
}
