//! Running the runtime binary: argument vectors, stdio wiring, deadlines and
//! turning its error output into a [`BackendError`].

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nexcage_plugin_api::process::{self, Output, Stdio};
use nexcage_plugin_api::{BackendError, BackendResult, ErrorKind, HostInfo};

use crate::config::Settings;

/// The caller's global flags that every runtime invocation carries.
#[derive(Debug, Clone, Default)]
pub(crate) struct GlobalFlags {
    pub log_file: Option<PathBuf>,
    pub log_format: Option<String>,
    pub systemd_cgroup: bool,
    pub rootless: Option<String>,
    pub debug: bool,
}

impl From<&HostInfo> for GlobalFlags {
    fn from(h: &HostInfo) -> Self {
        Self {
            log_file: h.log_file.clone(),
            log_format: h.log_format.clone(),
            systemd_cgroup: h.systemd_cgroup,
            rootless: h.rootless.clone(),
            debug: h.debug,
        }
    }
}

/// One runtime binary with its root and flags.
#[derive(Debug, Clone)]
pub(crate) struct Runtime {
    pub settings: Settings,
    pub flags: GlobalFlags,
}

/// How a runtime command's stdio is wired and how its failure is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Container stdio: everything inherited; a failure is reported by
    /// command name and exit status (the runtime already printed why).
    Inherit,
    /// stdout inherited, stderr captured and turned into the error message.
    Checked,
    /// stdout and stderr captured; stdout is the result.
    Capture,
}

impl Runtime {
    /// The short name used in messages (`runc`, `crun`).
    pub fn label(&self) -> String {
        Path::new(&self.settings.binary).file_name().map_or_else(
            || self.settings.binary.clone(),
            |n| n.to_string_lossy().into_owned(),
        )
    }

    /// Finds the binary now, so a missing runtime fails every command with
    /// one clear message but does not stop the plugin from loading.
    pub fn program(&self) -> BackendResult<PathBuf> {
        let binary = &self.settings.binary;
        process::which(binary).ok_or_else(|| {
            let where_ = if binary.contains('/') { "" } else { " on PATH" };
            BackendError::failed(format!("runtime binary '{binary}' not found{where_}"))
        })
    }

    /// The global arguments, in order: `extra_args`, then `--root` and the
    /// caller's flags.
    pub fn global_args(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = self
            .settings
            .extra_args
            .iter()
            .map(OsString::from)
            .collect();
        a.push("--root".into());
        a.push(self.settings.root.clone().into());
        if let Some(log) = &self.flags.log_file {
            a.push("--log".into());
            a.push(log.clone().into());
        }
        if let Some(format) = &self.flags.log_format {
            a.push("--log-format".into());
            a.push(format.into());
        }
        if self.flags.systemd_cgroup {
            a.push("--systemd-cgroup".into());
        }
        if let Some(rootless) = &self.flags.rootless {
            a.push("--rootless".into());
            a.push(rootless.into());
        }
        if self.flags.debug {
            a.push("--debug".into());
        }
        a
    }

    /// The full argument vector (without the program) for `sub args...`.
    pub fn argv(&self, sub: &str, args: &[OsString]) -> Vec<OsString> {
        let mut a = self.global_args();
        a.push(sub.into());
        a.extend(args.iter().cloned());
        a
    }

    /// Runs `sub args...` and returns its output. Fails when the runtime
    /// exits non-zero, except in [`Mode::Inherit`], where the exit code is
    /// the caller's to interpret (see [`Runtime::inherit_checked`]).
    pub fn call(
        &self,
        sub: &str,
        args: &[OsString],
        mode: Mode,
        timeout: Option<Duration>,
        input: Option<&[u8]>,
    ) -> BackendResult<Output> {
        let program = self.program()?;
        let argv = self.argv(sub, args);
        tracing::debug!(program = %program.display(), args = ?argv, "running runtime");
        let mut cmd = Command::new(&program);
        cmd.args(&argv);
        let stdio = match mode {
            Mode::Inherit => Stdio::Inherit,
            Mode::Checked => Stdio::InheritStdout,
            Mode::Capture => Stdio::Capture,
        };
        let out = process::run_with_input(&mut cmd, stdio, timeout, input).map_err(|e| {
            BackendError::from(e).context(format!("runtime command '{} {sub}'", self.label()))
        })?;
        if mode != Mode::Inherit && !out.success() {
            return Err(self.failure(sub, &out));
        }
        Ok(out)
    }

    /// Runs with inherited stdio and fails, naming the command and its exit
    /// status, when the runtime exits non-zero.
    pub fn inherit_checked(
        &self,
        sub: &str,
        args: &[OsString],
        timeout: Option<Duration>,
    ) -> BackendResult<()> {
        let log_start = self.log_len();
        let out = self.call(sub, args, Mode::Inherit, timeout, None)?;
        if out.success() {
            return Ok(());
        }
        // The runtime's reason went to the caller's stderr and, with --log,
        // to the log file. containerd shows only the last error line of that
        // file, which will be ours: carry the runtime's words in it.
        let reason = log_start.and_then(|start| self.log_error_since(start));
        Err(match reason {
            Some(msg) => BackendError::new(
                kind_of(&msg),
                format!("runtime command '{} {sub}' failed: {msg}", self.label()),
            ),
            None => BackendError::failed(format!(
                "runtime command '{} {sub}' failed with exit status {}",
                self.label(),
                out.code
            )),
        })
    }

    fn log_len(&self) -> Option<u64> {
        let log = self.flags.log_file.as_ref()?;
        Some(std::fs::metadata(log).map_or(0, |m| m.len()))
    }

    /// The last error message the runtime appended to the log file after
    /// byte `start`.
    fn log_error_since(&self, start: u64) -> Option<String> {
        use std::io::{Read, Seek, SeekFrom};
        let log = self.flags.log_file.as_ref()?;
        let mut f = std::fs::File::open(log).ok()?;
        f.seek(SeekFrom::Start(start)).ok()?;
        let mut tail = String::new();
        // Bounded: a runtime's few lines of log, not a whole history.
        f.take(1 << 20).read_to_string(&mut tail).ok()?;
        tail.lines()
            .rev()
            .filter_map(|l| parse_log_line(l.trim()))
            .find(|(level, _)| matches!(level.as_str(), "error" | "fatal" | "panic"))
            .map(|(_, msg)| msg)
    }

    /// The lifecycle deadline.
    pub fn timeout(&self) -> Option<Duration> {
        Some(self.settings.timeout)
    }

    fn failure(&self, sub: &str, out: &Output) -> BackendError {
        match error_message(&out.stderr) {
            Some(msg) => BackendError::new(kind_of(&msg), msg),
            None => BackendError::failed(format!(
                "runtime command '{} {sub}' failed with exit status {}",
                self.label(),
                out.code
            )),
        }
    }
}

/// Extracts the runtime's error text from its stderr.
///
/// runc logs through logrus: `time="…" level=error msg="…"` in text format,
/// `{"level":"error","msg":"…"}` in JSON format, and a bare line when the
/// log goes to a `--log` file. Debug, info and warning lines are skipped;
/// the last error wins (as containerd does). Lines in no log format are
/// kept as they are.
pub(crate) fn error_message(stderr: &str) -> Option<String> {
    let mut last_error = None;
    let mut plain = Vec::new();
    for line in stderr.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match parse_log_line(line) {
            Some((level, msg)) => {
                if matches!(level.as_str(), "error" | "fatal" | "panic") {
                    last_error = Some(msg);
                }
            }
            None => plain.push(line),
        }
    }
    last_error.or_else(|| (!plain.is_empty()).then(|| plain.join("; ")))
}

/// `(level, msg)` of a logrus line in text or JSON format.
fn parse_log_line(line: &str) -> Option<(String, String)> {
    if line.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        let level = v.get("level")?.as_str()?.to_owned();
        let msg = v.get("msg").and_then(|m| m.as_str()).unwrap_or_default();
        return Some((level, msg.to_owned()));
    }
    let level = logfmt_value(line, "level")?;
    let msg = logfmt_value(line, "msg").unwrap_or_default();
    Some((level, msg))
}

/// The value of `key=` in a logfmt line; quoted values are unescaped.
fn logfmt_value(line: &str, key: &str) -> Option<String> {
    let pattern = format!("{key}=");
    let mut search = 0;
    let start = loop {
        let pos = search + line[search..].find(&pattern)?;
        // The key must start a field, not end another one (`xmsg=`).
        if pos == 0 || line[..pos].ends_with(' ') {
            break pos + pattern.len();
        }
        search = pos + pattern.len();
    };
    let rest = &line[start..];
    let Some(quoted) = rest.strip_prefix('"') else {
        return Some(rest.split(' ').next().unwrap_or_default().to_owned());
    };
    let mut out = String::new();
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some(other) => out.push(other),
                None => break,
            },
            c => out.push(c),
        }
    }
    // An unterminated quote: keep what there is.
    Some(out)
}

/// Maps the runtime's words to a stable kind; clients match the words
/// themselves, so the message is never rewritten.
pub(crate) fn kind_of(msg: &str) -> ErrorKind {
    let m = msg.to_ascii_lowercase();
    if m.contains("does not exist") {
        ErrorKind::NOT_FOUND
    } else if m.contains("not running") {
        ErrorKind::NOT_RUNNING
    } else if m.contains("already running") {
        ErrorKind::ALREADY_RUNNING
    } else if m.contains("already exists") || m.contains("container with id exists") {
        ErrorKind::ALREADY_EXISTS
    } else if m.contains("not stopped")
        || m.contains("not paused")
        || m.contains("already paused")
        || m.contains("has stopped")
    {
        ErrorKind::INVALID_STATE
    } else {
        ErrorKind::BACKEND_FAILED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime(flags: GlobalFlags, extra: &[&str]) -> Runtime {
        Runtime {
            settings: Settings {
                binary: "/usr/sbin/runc".into(),
                root: "/state/root".into(),
                timeout: Duration::from_secs(1),
                exec_timeout: None,
                extra_args: extra.iter().map(|s| (*s).to_owned()).collect(),
            },
            flags,
        }
    }

    fn strings(v: Vec<OsString>) -> Vec<String> {
        v.into_iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn root_is_always_passed() {
        let r = runtime(GlobalFlags::default(), &[]);
        assert_eq!(
            strings(r.argv("state", &["c1".into()])),
            ["--root", "/state/root", "state", "c1"]
        );
        assert_eq!(r.label(), "runc");
    }

    #[test]
    fn every_global_flag_is_passed_after_extra_args() {
        let r = runtime(
            GlobalFlags {
                log_file: Some("/b/log.json".into()),
                log_format: Some("json".into()),
                systemd_cgroup: true,
                rootless: Some("false".into()),
                debug: true,
            },
            &["--criu", "/usr/sbin/criu"],
        );
        assert_eq!(
            strings(r.argv("kill", &["c1".into(), "9".into()])),
            [
                "--criu",
                "/usr/sbin/criu",
                "--root",
                "/state/root",
                "--log",
                "/b/log.json",
                "--log-format",
                "json",
                "--systemd-cgroup",
                "--rootless",
                "false",
                "--debug",
                "kill",
                "c1",
                "9"
            ]
        );
    }

    #[test]
    fn logrus_text_error_is_stripped_to_msg() {
        let e = "time=\"2026-11-25T17:02:32Z\" level=error msg=\"container does not exist\"\n";
        assert_eq!(
            error_message(e).as_deref(),
            Some("container does not exist")
        );
    }

    #[test]
    fn quoted_msg_is_unescaped() {
        let e = r#"time="t" level=error msg="exec failed: \"sh\": not found\n""#;
        assert_eq!(
            error_message(e).as_deref(),
            Some("exec failed: \"sh\": not found\n")
        );
        let e = "level=fatal msg=bare-word other=1";
        assert_eq!(error_message(e).as_deref(), Some("bare-word"));
    }

    #[test]
    fn json_error_is_stripped_to_msg() {
        let e = r#"{"level":"error","msg":"container not running","time":"t"}"#;
        assert_eq!(error_message(e).as_deref(), Some("container not running"));
    }

    #[test]
    fn debug_lines_are_skipped_and_last_error_wins() {
        let e = "time=\"t\" level=debug msg=\"nsexec started\"\n\
                 time=\"t\" level=warning msg=\"careful\"\n\
                 time=\"t\" level=error msg=\"first\"\n\
                 {\"level\":\"error\",\"msg\":\"second\"}\n";
        assert_eq!(error_message(e).as_deref(), Some("second"));
    }

    #[test]
    fn bare_lines_are_kept() {
        // runc with --log FILE prints the bare message on stderr.
        assert_eq!(
            error_message("container does not exist\n").as_deref(),
            Some("container does not exist")
        );
        assert_eq!(
            error_message("crun: a\n\ncrun: b\n").as_deref(),
            Some("crun: a; crun: b")
        );
        assert_eq!(error_message(" \n"), None);
        // Only debug output: nothing to report but the exit status.
        assert_eq!(error_message("time=\"t\" level=debug msg=\"x\"\n"), None);
    }

    #[test]
    fn key_must_start_a_field() {
        assert_eq!(
            logfmt_value("xmsg=\"no\" msg=\"yes\"", "msg").as_deref(),
            Some("yes")
        );
        assert_eq!(logfmt_value("nothing here", "msg"), None);
    }

    #[test]
    fn kinds_follow_the_runtime_words() {
        for (msg, kind) in [
            ("container does not exist", ErrorKind::NOT_FOUND),
            ("container not running", ErrorKind::NOT_RUNNING),
            (
                "cannot start an already running container",
                ErrorKind::ALREADY_RUNNING,
            ),
            (
                "cannot delete container c1 that is not stopped: running",
                ErrorKind::INVALID_STATE,
            ),
            ("container with id exists: c1", ErrorKind::ALREADY_EXISTS),
            ("permission denied somewhere", ErrorKind::BACKEND_FAILED),
        ] {
            assert_eq!(kind_of(msg), kind, "{msg}");
        }
    }

    #[test]
    fn missing_binary_is_named() {
        let mut r = runtime(GlobalFlags::default(), &[]);
        r.settings.binary = "nexcage-no-such-runtime".into();
        let e = r.program().unwrap_err();
        assert_eq!(
            e.message,
            "runtime binary 'nexcage-no-such-runtime' not found on PATH"
        );
        r.settings.binary = "/nonexistent/runc".into();
        let e = r.program().unwrap_err();
        assert_eq!(e.message, "runtime binary '/nonexistent/runc' not found");
        assert_eq!(r.label(), "runc");
    }
}
