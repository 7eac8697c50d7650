//! One run of an action's executable: a clean environment, its own process group, output read
//! up to a bound, and the whole group stopped (SIGTERM, then SIGKILL after a grace) if the run
//! is abandoned (the stage timed out, the job was deleted, the worker is stopping), so no
//! child process outlives its unit.

use std::{
    path::Path,
    process::{ExitStatus, Stdio},
    time::Duration,
};

use rustix::process::{kill_process_group, Pid, Signal};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWriteExt},
    process::Command,
};

use super::protocol::{self, Ended};
use crate::ActionError;

/// How long an abandoned run's processes get between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(5);
/// The worker's environment variables an action gets; every other one is left out.
pub const PASSED_ON: [&str; 7] = ["PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ"];
/// Bytes of stderr kept (its end).
const STDERR_BYTES: usize = 64 * 1024;

/// What a finished run wrote and how it ended.
pub struct Finished {
    pub ended: Ended,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// `program`, to be run in `work_dir` in a process group of its own with a clean environment.
pub fn clean_command(program: impl AsRef<std::ffi::OsStr>, work_dir: &Path) -> Command {
    let mut command = Command::new(program);
    // Nothing of the worker's own settings: no database, broker or cloud credentials, no
    // `CROWD_*`; only what finds programs and speaks the user's language.
    command.env_clear();
    for name in PASSED_ON {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    if std::env::var_os("LANG").is_none() {
        command.env("LANG", "C.UTF-8");
    }
    command
        .current_dir(work_dir)
        .env("TMPDIR", work_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    command
}

/// Runs `command` (made by `clean_command`) with `stdin` as its input; its stdout may be at
/// most `max_stdout` bytes.
pub async fn run(
    command: Command,
    stdin: Vec<u8>,
    max_stdout: usize,
) -> Result<Finished, ActionError> {
    run_reporting(command, stdin, max_stdout, &|_| {}).await
}

/// `run`, handing each `progress: N` line of stderr to `on_progress` as it comes (and keeping
/// it out of the stderr a failure quotes).
pub async fn run_reporting(
    mut command: Command,
    stdin: Vec<u8>,
    max_stdout: usize,
    on_progress: &(dyn Fn(u8) + Sync),
) -> Result<Finished, ActionError> {
    let program = command
        .as_std()
        .get_program()
        .to_string_lossy()
        .into_owned();
    let mut child = command
        .spawn()
        .map_err(|e| ActionError::Retryable(format!("could not start {program}: {e}")))?;
    let mut group = Group(child.id());
    let (mut input, stdout, stderr) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let feed = async move {
        if let Some(input) = input.as_mut() {
            // An action that does not read its input closes the pipe early: not an error.
            let _ = input.write_all(&stdin).await;
        }
        drop(input);
    };
    let (_, stdout, stderr, status) = tokio::join!(
        feed,
        read_at_most(stdout, max_stdout),
        read_stderr(stderr, STDERR_BYTES, on_progress),
        child.wait()
    );
    let status =
        status.map_err(|e| ActionError::Retryable(format!("waiting for the action: {e}")))?;
    // What the action started and left behind goes with it.
    group.stop_now();
    group.0 = None;
    let stdout = stdout?.ok_or_else(|| {
        ActionError::Retryable(format!(
            "the action wrote more than {max_stdout} bytes to stdout (`max_message_bytes`)"
        ))
    })?;
    Ok(Finished {
        ended: ended(status),
        stdout,
        stderr: stderr?,
    })
}

fn ended(status: ExitStatus) -> Ended {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(0), _) => Ended::Succeeded,
        (Some(code), _) => Ended::Exited(code),
        (None, Some(signal)) => Ended::Signalled(signal),
        (None, None) => Ended::Exited(-1),
    }
}

/// All of `from`, or `None` once it is over `limit` bytes (read on to its end, so the writer
/// is not blocked).
async fn read_at_most(
    from: Option<impl AsyncRead + Unpin>,
    limit: usize,
) -> Result<Option<Vec<u8>>, ActionError> {
    let Some(mut from) = from else {
        return Ok(Some(Vec::new()));
    };
    let mut kept = Vec::new();
    let mut over = false;
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let n = from.read(&mut buffer).await?;
        if n == 0 {
            return Ok((!over).then_some(kept));
        }
        if kept.len() + n > limit {
            over = true;
            kept = Vec::new();
        } else if !over {
            kept.extend_from_slice(&buffer[..n]);
        }
    }
}

/// The last `keep` bytes of `from`, without its progress lines, which go to `on_progress`.
async fn read_stderr(
    from: Option<impl AsyncRead + Unpin>,
    keep: usize,
    on_progress: &(dyn Fn(u8) + Sync),
) -> Result<Vec<u8>, ActionError> {
    let Some(from) = from else {
        return Ok(Vec::new());
    };
    let mut lines = tokio::io::BufReader::new(from);
    let mut kept = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        // A line longer than `keep` is cut to its end like the rest.
        let n = tokio::io::AsyncBufReadExt::read_until(&mut lines, b'\n', &mut line).await?;
        if n == 0 {
            return Ok(kept);
        }
        match protocol::progress(&String::from_utf8_lossy(&line)) {
            Some(percent) => on_progress(percent),
            None => kept.extend_from_slice(&line),
        }
        if kept.len() > keep {
            kept.drain(..kept.len() - keep);
        }
    }
}

/// The run's process group; dropped before the run ended (abandoned), it is stopped.
struct Group(Option<u32>);

impl Group {
    fn stop_now(&self) {
        if let Some(pgid) = self.pgid() {
            signal(pgid, Signal::KILL);
        }
    }

    fn pgid(&self) -> Option<Pid> {
        self.0
            .and_then(|pid| i32::try_from(pid).ok())
            .and_then(Pid::from_raw)
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let Some(pgid) = self.pgid() else {
            return;
        };
        signal(pgid, Signal::TERM);
        // A plain thread: the runtime may be shutting down when a run is abandoned.
        std::thread::spawn(move || {
            std::thread::sleep(GRACE);
            signal(pgid, Signal::KILL);
        });
    }
}

fn signal(pgid: Pid, signal: Signal) {
    // A group already gone (every process in it ended) is what was wanted.
    let _ = kill_process_group(pgid, signal);
}
