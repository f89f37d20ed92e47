//! Running helper programs with a timeout and without a shell.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::process::{Command, Stdio};
use std::time::Duration;
use wait_timeout::ChildExt;

/// Result of a finished helper command.
#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// Renders a command line the way PVE's `run_command` does in its errors.
pub fn cmdline(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

fn read_back(mut f: File) -> String {
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(0)).is_ok() {
        let _ = f.read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// Runs `cmd` with stdin closed and stdout/stderr captured in temporary
/// files (not pipes: daemonising programs such as `lxc-start -d` may keep
/// inherited descriptors open). Kills it after `timeout`.
pub fn run(cmd: &mut Command, timeout: Duration) -> Result<Output, String> {
    let line = cmdline(cmd);
    let out = tempfile::tempfile().map_err(|e| format!("unable to create temp file: {e}"))?;
    let err = tempfile::tempfile().map_err(|e| format!("unable to create temp file: {e}"))?;
    let out2 = out
        .try_clone()
        .map_err(|e| format!("unable to clone fd: {e}"))?;
    let err2 = err
        .try_clone()
        .map_err(|e| format!("unable to clone fd: {e}"))?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(out2))
        .stderr(Stdio::from(err2));
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("command '{line}' failed: {e}"))?;
    let status = match child.wait_timeout(timeout) {
        Ok(Some(st)) => st,
        Ok(None) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("command '{line}' failed: got timeout"));
        }
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("command '{line}' failed: {e}"));
        }
    };
    Ok(Output {
        code: status.code(),
        stdout: read_back(out),
        stderr: read_back(err),
    })
}

/// Like [`run`] but turns a non-zero exit into PVE's
/// `command '...' failed: exit code N` error.
pub fn run_ok(cmd: &mut Command, timeout: Duration) -> Result<Output, String> {
    let line = cmdline(cmd);
    let out = run(cmd, timeout)?;
    match out.code {
        Some(0) => Ok(out),
        Some(c) => Err(format!("command '{line}' failed: exit code {c}")),
        None => Err(format!("command '{line}' failed: killed by signal")),
    }
}
