//! Running external tools: always an argument vector, never a shell, and
//! always a deadline.
//!
//! ```
//! use std::time::Duration;
//! use nexcage_plugin_api::process::{run, Stdio};
//!
//! let mut cmd = std::process::Command::new("echo");
//! cmd.arg("hello");
//! let out = run(&mut cmd, Stdio::Capture, Some(Duration::from_secs(5))).unwrap();
//! assert_eq!(out.code, 0);
//! assert_eq!(out.stdout, "hello\n");
//! ```

use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use wait_timeout::ChildExt;

use crate::error::{BackendError, ErrorKind};

/// How the child's standard streams are wired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stdio {
    /// stdin from /dev/null; stdout and stderr captured. The child gets its
    /// own process group, so a timeout kills everything it started.
    Capture,
    /// Like `Capture`, but stdout is inherited (the user sees it live).
    InheritStdout,
    /// All three inherited: the child owns the caller's terminal and pipes
    /// (container stdio must never be buffered by us).
    Inherit,
}

/// What a finished tool left behind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Exit code; 128 + N when killed by signal N.
    pub code: i32,
    /// Captured stdout (empty when inherited).
    pub stdout: String,
    /// Captured stderr (empty when inherited).
    pub stderr: String,
}

impl Output {
    /// True when the tool exited 0.
    pub fn success(&self) -> bool {
        self.code == 0
    }
}

/// Why a tool could not be run to completion.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The program could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The program did not finish in time and was killed.
    #[error("{program} did not finish within {}s and was killed", .after.as_secs_f64())]
    Timeout {
        /// The program.
        program: String,
        /// The deadline.
        after: Duration,
    },
    /// Waiting on the program failed.
    #[error("waiting for {program} failed: {source}")]
    Wait {
        /// The program.
        program: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl From<RunError> for BackendError {
    fn from(e: RunError) -> Self {
        let kind = match &e {
            RunError::Timeout { .. } => ErrorKind::TIMEOUT,
            _ => ErrorKind::BACKEND_FAILED,
        };
        BackendError::new(kind, e.to_string())
    }
}

fn program_name(cmd: &Command) -> String {
    PathBuf::from(cmd.get_program())
        .file_name()
        .map_or_else(|| "command".into(), |n| n.to_string_lossy().into_owned())
}

fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

/// Runs `cmd` to completion with an optional deadline.
///
/// `None` means no deadline, for foreground workloads the user controls
/// (`exec`, `run`); everything else passes one.
pub fn run(cmd: &mut Command, stdio: Stdio, timeout: Option<Duration>) -> Result<Output, RunError> {
    run_with_input(cmd, stdio, timeout, None)
}

/// Like [`run`], writing `input` to the child's stdin (only with a
/// capturing [`Stdio`]).
pub fn run_with_input(
    cmd: &mut Command,
    stdio: Stdio,
    timeout: Option<Duration>,
    input: Option<&[u8]>,
) -> Result<Output, RunError> {
    let program = program_name(cmd);
    let capture_out = stdio == Stdio::Capture;
    let capture_err = stdio != Stdio::Inherit;
    if stdio != Stdio::Inherit {
        cmd.stdin(if input.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        });
        // Own process group: a timeout can then kill the tool's children
        // too, and a Ctrl-C aimed at us does not hit it half-way.
        cmd.process_group(0);
    }
    if capture_out {
        cmd.stdout(std::process::Stdio::piped());
    }
    if capture_err {
        cmd.stderr(std::process::Stdio::piped());
    }
    let mut child = cmd.spawn().map_err(|source| RunError::Spawn {
        program: program.clone(),
        source,
    })?;
    let writer = match (input, child.stdin.take()) {
        (Some(data), Some(mut stdin)) => {
            let data = data.to_vec();
            // A child that exits without reading gives EPIPE; that is its
            // business and shows in its exit code.
            Some(thread::spawn(move || {
                let _ = stdin.write_all(&data);
            }))
        }
        _ => None,
    };
    let started = Instant::now();
    let out_reader = child.stdout.take().map(spawn_reader);
    let err_reader = child.stderr.take().map(spawn_reader);
    let status = wait(&mut child, &program, timeout, stdio != Stdio::Inherit);
    // A process the tool left behind (a daemon in its own session) can hold
    // our pipes open after the tool exited: the deadline bounds the reading
    // too, with a short grace to drain what is already in the pipe.
    let until = timeout.map(|t| (started + t).max(Instant::now() + READ_GRACE));
    let stdout = out_reader.map(|r| r.collect(until)).unwrap_or_default();
    let stderr = err_reader.map(|r| r.collect(until)).unwrap_or_default();
    if let Some(w) = writer {
        let _ = w.join();
    }
    let status = status?;
    Ok(Output {
        code: exit_code(status),
        stdout,
        stderr,
    })
}

fn wait(
    child: &mut Child,
    program: &str,
    timeout: Option<Duration>,
    own_group: bool,
) -> Result<ExitStatus, RunError> {
    let wait_err = |source| RunError::Wait {
        program: program.to_owned(),
        source,
    };
    let Some(limit) = timeout else {
        return child.wait().map_err(wait_err);
    };
    match child.wait_timeout(limit).map_err(wait_err)? {
        Some(status) => Ok(status),
        None => {
            kill_tree(child, own_group);
            let _ = child.wait();
            Err(RunError::Timeout {
                program: program.to_owned(),
                after: limit,
            })
        }
    }
}

fn kill_tree(child: &mut Child, own_group: bool) {
    if let (true, Ok(pid)) = (own_group, i32::try_from(child.id())) {
        // SAFETY: kill(2) with a negative pid signals the process group the
        // child leads; it has no memory-safety preconditions.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    let _ = child.kill();
}

/// How long reading may go on after the tool exited at its deadline.
const READ_GRACE: Duration = Duration::from_millis(200);

/// A pipe drained by a thread into a shared buffer, so the caller can stop
/// waiting for end-of-file and still keep what was read.
struct Reader {
    buf: Arc<Mutex<Vec<u8>>>,
    done: mpsc::Receiver<()>,
}

fn spawn_reader<R: Read + Send + 'static>(mut r: R) -> Reader {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let (tx, done) = mpsc::channel();
    let shared = Arc::clone(&buf);
    thread::spawn(move || {
        let mut chunk = [0u8; 64 * 1024];
        loop {
            match r.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => match shared.lock() {
                    Ok(mut b) => b.extend_from_slice(&chunk[..n]),
                    Err(_) => break,
                },
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = tx.send(());
    });
    Reader { buf, done }
}

impl Reader {
    /// The output, once the pipe closed or `until` passed (`None`: wait
    /// for the pipe to close).
    fn collect(self, until: Option<Instant>) -> String {
        let _ = match until {
            None => self
                .done
                .recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            Some(t) => self
                .done
                .recv_timeout(t.saturating_duration_since(Instant::now())),
        };
        let bytes = self.buf.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// The search path used when `PATH` is unset or empty, as execvp(3) and
/// login shells would: engines such as podman call the runtime with an
/// almost empty environment.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Finds `name` on `PATH` (or [`DEFAULT_PATH`] when `PATH` is unset or
/// empty) unless it already contains a `/`.
pub fn which(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_PATH.into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_and_reports_exit_code() {
        let mut c = Command::new("sh");
        c.args(["-c", "echo out; echo err >&2; exit 3"]);
        let o = run(&mut c, Stdio::Capture, Some(Duration::from_secs(5))).unwrap();
        assert_eq!(o.code, 3);
        assert_eq!(o.stdout, "out\n");
        assert_eq!(o.stderr, "err\n");
    }

    #[test]
    fn timeout_kills_the_whole_group() {
        let mut c = Command::new("sh");
        // The grandchild keeps the pipe open; only a group kill ends it.
        c.args(["-c", "sleep 30 & sleep 30"]);
        let start = std::time::Instant::now();
        let e = run(&mut c, Stdio::Capture, Some(Duration::from_millis(300))).unwrap_err();
        assert!(matches!(e, RunError::Timeout { .. }), "{e}");
        assert!(start.elapsed() < Duration::from_secs(10));
        assert!(
            e.to_string().contains("sh did not finish within 0.3s"),
            "{e}"
        );
    }

    #[test]
    fn a_left_behind_process_holding_the_pipe_does_not_block_past_the_deadline() {
        let mut c = Command::new("sh");
        // The tool exits at once; the sleep in a new session keeps stdout
        // open and is out of reach of the group kill.
        c.args(["-c", "setsid sleep 5 & echo hi"]);
        let start = std::time::Instant::now();
        let o = run(&mut c, Stdio::Capture, Some(Duration::from_millis(500))).unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
        assert_eq!((o.code, o.stdout.as_str()), (0, "hi\n"));
    }

    #[test]
    fn missing_program_is_a_spawn_error() {
        let mut c = Command::new("/nonexistent/tool");
        let e = run(&mut c, Stdio::Capture, Some(Duration::from_secs(1))).unwrap_err();
        assert!(e.to_string().starts_with("cannot run tool:"), "{e}");
    }

    #[test]
    fn stdin_is_fed() {
        let mut c = Command::new("cat");
        let o = run_with_input(
            &mut c,
            Stdio::Capture,
            Some(Duration::from_secs(5)),
            Some(b"abc"),
        )
        .unwrap();
        assert_eq!(o.stdout, "abc");
    }

    #[test]
    fn signal_death_maps_to_128_plus() {
        let mut c = Command::new("sh");
        c.args(["-c", "kill -9 $$"]);
        let o = run(&mut c, Stdio::Capture, Some(Duration::from_secs(5))).unwrap();
        assert_eq!(o.code, 137);
    }
}
