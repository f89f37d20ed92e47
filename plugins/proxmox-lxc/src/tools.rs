//! Running `pct`, `pveam` and `pvesh`: an argument vector (never a shell),
//! a deadline, captured stderr, and failures mapped to typed errors by the
//! words the tools print (never by exit code, except success = 0).

use std::process::Command;
use std::time::Duration;

use nexcage_plugin_api::process::{Output, Stdio, run};
use nexcage_plugin_api::{BackendError, BackendResult, ErrorKind};

use crate::config::ToolPath;

/// Which tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Pct,
    Pveam,
    Pvesh,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Pct => "pct",
            Tool::Pveam => "pveam",
            Tool::Pvesh => "pvesh",
        }
    }
}

/// The three tools and the per-call deadline.
#[derive(Debug, Clone)]
pub struct Tools {
    pub pct: ToolPath,
    pub pveam: ToolPath,
    pub pvesh: ToolPath,
    pub timeout: Duration,
}

impl Tools {
    fn command(&self, tool: Tool) -> BackendResult<Command> {
        let path = match tool {
            Tool::Pct => &self.pct,
            Tool::Pveam => &self.pveam,
            Tool::Pvesh => &self.pvesh,
        };
        match path {
            ToolPath::Found(p) => Ok(Command::new(p)),
            ToolPath::Missing(name) => Err(BackendError::invalid_config(
                *name,
                format!(
                    "{name} was not found on PATH; is this a proxmox ve node? set `{name}` in the backend table to its path"
                ),
            )),
        }
    }

    /// Runs `tool args...` capturing its output; a non-zero exit becomes a
    /// typed error carrying the tool's own words.
    pub fn call(&self, tool: Tool, args: &[String]) -> BackendResult<Output> {
        self.call_with_timeout(tool, args, self.timeout)
    }

    /// Like [`Tools::call`] with an explicit deadline.
    pub fn call_with_timeout(
        &self,
        tool: Tool,
        args: &[String],
        timeout: Duration,
    ) -> BackendResult<Output> {
        let out = self.call_raw(tool, args, timeout)?;
        if out.success() {
            Ok(out)
        } else {
            Err(classify(&describe(tool, args), &out))
        }
    }

    /// Runs the tool and returns its output whatever the exit status; only
    /// spawn failures and timeouts are errors.
    pub fn call_raw(
        &self,
        tool: Tool,
        args: &[String],
        timeout: Duration,
    ) -> BackendResult<Output> {
        let mut cmd = self.command(tool)?;
        cmd.args(args);
        // Messages are matched by substring; keep them untranslated.
        cmd.env("LC_ALL", "C");
        tracing::debug!(tool = tool.name(), ?args, "running");
        run(&mut cmd, Stdio::Capture, Some(timeout))
            .map_err(|e| BackendError::from(e).context(format!("{} failed", describe(tool, args))))
    }

    /// `pct exec`-style call with every stream inherited and no deadline;
    /// returns the exit code.
    pub fn call_inherit(&self, tool: Tool, args: &[String]) -> BackendResult<i32> {
        let mut cmd = self.command(tool)?;
        cmd.args(args);
        tracing::debug!(tool = tool.name(), ?args, "running with inherited stdio");
        let out = run(&mut cmd, Stdio::Inherit, None).map_err(|e| {
            BackendError::from(e).context(format!("{} failed", describe(tool, args)))
        })?;
        Ok(out.code)
    }
}

/// `pct start 105`: the tool and its first positionals, for messages.
pub fn describe(tool: Tool, args: &[String]) -> String {
    let mut s = tool.name().to_owned();
    for a in args.iter().take_while(|a| !a.starts_with('-')).take(2) {
        s.push(' ');
        s.push_str(a);
    }
    s
}

/// Maps a failed call to an error whose message is `<what>: <tool's words>`.
pub fn classify(what: &str, out: &Output) -> BackendError {
    let stderr = out.stderr.trim();
    // A task's own log goes to stdout; the final error to stderr. Fall back
    // to stdout's last line when stderr is empty.
    let words = if stderr.is_empty() {
        out.stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_owned()
    } else {
        tidy(stderr)
    };
    let kind = kind_of(&words);
    let mut words = if words.is_empty() {
        format!("exited with status {} and printed nothing", out.code)
    } else {
        words
    };
    // An unrecognised task failure: the task log on stdout says why.
    if kind == ErrorKind::BACKEND_FAILED && !stderr.is_empty() {
        let tail: Vec<&str> = out
            .stdout
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        if !tail.is_empty() {
            let from = tail.len().saturating_sub(3);
            words.push_str(&format!(" (task output: {})", tail[from..].join("; ")));
        }
    }
    BackendError::new(kind, format!("{what}: {words}"))
}

/// Drops the usage line and blank lines of a `400` block, keeping every
/// `name: message` line; other output is kept as is, joined by "; ".
fn tidy(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    let is_400 = lines.iter().any(|l| l.starts_with("400 "));
    let kept: Vec<&str> = lines
        .into_iter()
        .filter(|l| {
            !(is_400
                && (l.starts_with("pct ") || l.starts_with("pveam ") || l.starts_with("pvesh "))
                && l.contains('<'))
        })
        .filter(|l| *l != "trying to acquire lock...")
        .collect();
    kept.join("; ")
}

/// The error kind for a tool's message (contract §5), by substring.
pub fn kind_of(words: &str) -> ErrorKind {
    let has = |s: &str| words.contains(s);
    if has("400 ") && (has("Parameter verification failed") || has("unable to parse option"))
        || has("400 not enough arguments")
        || has("400 too many arguments")
    {
        ErrorKind::INVALID_ARGUMENT
    } else if has("CT is locked") || has("can't lock file") {
        ErrorKind::LOCKED
    } else if has("already exists") {
        ErrorKind::ALREADY_EXISTS
    } else if has("already running") {
        ErrorKind::ALREADY_RUNNING
    } else if has("not running") {
        ErrorKind::NOT_RUNNING
    } else if has("container is running") {
        ErrorKind::INVALID_STATE
    } else if has("does not exist") || has("can't find file") || has("no such template") {
        ErrorKind::NOT_FOUND
    } else if has("please run as root") || has("Permission check failed") {
        ErrorKind::PERMISSION_DENIED
    } else if has("unable to parse volume ID")
        || has("unable to parse directory volume name")
        || has("content type needs to be")
        || has("does not support container directories")
    {
        ErrorKind::INVALID_ARGUMENT
    } else {
        ErrorKind::BACKEND_FAILED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(stderr: &str) -> BackendError {
        classify(
            "pct create 100",
            &Output {
                code: 255,
                stdout: String::new(),
                stderr: stderr.into(),
            },
        )
    }

    #[test]
    fn contract_rows_map_to_kinds() {
        let rows = [
            (
                "Configuration file 'nodes/pve/lxc/101.conf' does not exist\n",
                ErrorKind::NOT_FOUND,
                "does not exist",
            ),
            (
                "CT 100 already exists on node 'pve'\n",
                ErrorKind::ALREADY_EXISTS,
                "already exists",
            ),
            (
                "CT 100 already running\n",
                ErrorKind::ALREADY_RUNNING,
                "already running",
            ),
            (
                "CT 100 not running\n",
                ErrorKind::NOT_RUNNING,
                "not running",
            ),
            (
                "container '100' not running!\n",
                ErrorKind::NOT_RUNNING,
                "not running",
            ),
            (
                "CT is locked (backup)\n",
                ErrorKind::LOCKED,
                "CT is locked (backup)",
            ),
            (
                "unable to destroy CT 100 - container is running\n",
                ErrorKind::INVALID_STATE,
                "container is running",
            ),
            (
                "unable to create CT 100 - can't find file 'local:vztmpl/x.tar.zst'\n",
                ErrorKind::NOT_FOUND,
                "can't find file",
            ),
            ("please run as root\n", ErrorKind::PERMISSION_DENIED, "root"),
            (
                "command 'systemctl start pve-container@100' failed: exit code 1\n",
                ErrorKind::BACKEND_FAILED,
                "systemctl",
            ),
        ];
        for (stderr, kind, needle) in rows {
            let e = fail(stderr);
            assert_eq!(e.kind, kind, "{stderr}");
            assert!(e.message.contains(needle), "{e}");
            assert!(e.message.starts_with("pct create 100: "), "{e}");
        }
    }

    #[test]
    fn parameter_errors_keep_every_line_but_usage() {
        let e = fail(
            "400 Parameter verification failed.\nmemory: value must have a minimum value of 16\nhostname: invalid format - value does not look like a valid DNS name\n\npct create <vmid> <ostemplate> [OPTIONS]\n",
        );
        assert_eq!(e.kind, ErrorKind::INVALID_ARGUMENT);
        assert!(e.message.contains("400 Parameter verification failed."));
        assert!(
            e.message
                .contains("memory: value must have a minimum value of 16")
        );
        assert!(e.message.contains("hostname: invalid format"));
        assert!(!e.message.contains("[OPTIONS]"), "{}", e.message);
    }

    #[test]
    fn empty_stderr_uses_stdout_or_status() {
        let e = classify(
            "pct start 100",
            &Output {
                code: 255,
                stdout: "line1\nboom\n".into(),
                stderr: String::new(),
            },
        );
        assert!(e.message.ends_with("boom"));
        let e = classify(
            "pct start 100",
            &Output {
                code: 3,
                ..Default::default()
            },
        );
        assert!(e.message.contains("status 3"), "{e}");
    }

    #[test]
    fn describe_stops_at_options() {
        let args: Vec<String> = ["status", "105", "--verbose"].map(String::from).to_vec();
        assert_eq!(describe(Tool::Pct, &args), "pct status 105");
    }
}
