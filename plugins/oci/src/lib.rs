//! # nexcage-oci
//!
//! The `oci` backend: drives any runc-compatible runtime binary (`runc`,
//! `crun`, …) named in its config, one runtime invocation per command.
//!
//! ```toml
//! [backends.runc]
//! plugin = "oci"            # binary defaults to "runc"
//!
//! [backends.crun]
//! plugin = "oci"
//! binary = "crun"
//! timeout_secs = 30
//! ```
//!
//! Rules it keeps:
//! - the runtime always gets `--root` (its own state dir, by default
//!   `<state_dir>/root`) and every global flag the caller gave;
//! - container stdio is never captured: `create`, `run` and `exec` inherit
//!   all three streams;
//! - every invocation has a deadline except a foreground `run`/`exec`
//!   (the user's workload), which gets `exec_timeout_secs` only if set;
//! - the runtime's own error text is the error message, stripped of its
//!   log wrapper, so the words engines match on (`container does not
//!   exist`, `container not running`) reach them unchanged.
//!
//! See the crate README for the full list of what is passed through.

mod config;
mod runtime;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nexcage_plugin_api::{
    Backend, BackendError, BackendResult, Command, ContainerState, ContainerSummary, CreateRequest,
    CreateResponse, DeleteRequest, ErrorKind, ExecRequest, FeaturesRequest, HostInfo, IdRequest,
    KillRequest, ListRequest, Plugin, Response, StopRequest, UpdateRequest, parse_config,
};
use serde::Deserialize;

use crate::config::Config;
use crate::runtime::{GlobalFlags, Mode, Runtime};

const SIGKILL: i32 = 9;
const SIGTERM: i32 = 15;

/// How long `stop` waits after SIGTERM when the request names no timeout
/// (the grace period docker and podman use).
const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);

/// How often `stop` looks at the container's state while waiting.
const STOP_POLL: Duration = Duration::from_millis(100);

/// A backend instance driving one runc-compatible runtime.
#[derive(Debug)]
pub struct Oci {
    rt: Runtime,
    state_dir: PathBuf,
}

impl Oci {
    /// The runtime root this instance passes as `--root`.
    pub fn runtime_root(&self) -> &Path {
        &self.rt.settings.root
    }

    fn id_args(id: &str) -> BackendResult<Vec<OsString>> {
        check_id(id)?;
        Ok(vec![id.into()])
    }

    fn create_args(req: &CreateRequest, run: bool) -> BackendResult<Vec<OsString>> {
        check_id(&req.id)?;
        reject_unsupported(req, run)?;
        let mut a: Vec<OsString> = Vec::new();
        if let Some(bundle) = &req.bundle {
            a.push("--bundle".into());
            a.push(bundle.into());
        }
        if let Some(pid_file) = &req.pid_file {
            a.push("--pid-file".into());
            a.push(pid_file.into());
        }
        if let Some(socket) = &req.console_socket {
            a.push("--console-socket".into());
            a.push(socket.into());
        }
        if req.no_pivot {
            a.push("--no-pivot".into());
        }
        if req.no_new_keyring {
            a.push("--no-new-keyring".into());
        }
        if let Some(n) = req.preserve_fds {
            a.push("--preserve-fds".into());
            a.push(n.to_string().into());
        }
        if run && req.detach {
            a.push("--detach".into());
        }
        if run && req.keep {
            a.push("--keep".into());
        }
        a.push(req.id.as_str().into());
        Ok(a)
    }

    fn exec_args(req: &ExecRequest, pid_file: Option<&Path>) -> BackendResult<Vec<OsString>> {
        check_id(&req.id)?;
        let mut a: Vec<OsString> = Vec::new();
        if let Some(process) = &req.process_file {
            a.push("--process".into());
            a.push(process.into());
        }
        if req.detach {
            a.push("--detach".into());
        }
        if let Some(pid_file) = pid_file {
            a.push("--pid-file".into());
            a.push(pid_file.into());
        }
        if req.tty {
            a.push("--tty".into());
        }
        if let Some(socket) = &req.console_socket {
            a.push("--console-socket".into());
            a.push(socket.into());
        }
        for env in &req.env {
            a.push("--env".into());
            a.push(env.into());
        }
        if let Some(cwd) = &req.cwd {
            a.push("--cwd".into());
            a.push(cwd.into());
        }
        if let Some(user) = &req.user {
            a.push("--user".into());
            a.push(user.into());
        }
        if let Some(n) = req.preserve_fds {
            a.push("--preserve-fds".into());
            a.push(n.to_string().into());
        }
        a.extend(req.extra_args.iter().map(OsString::from));
        a.push(req.id.as_str().into());
        a.extend(req.args.iter().map(OsString::from));
        Ok(a)
    }

    fn kill_args(req: &KillRequest) -> BackendResult<Vec<OsString>> {
        check_id(&req.id)?;
        if req.signal < 0 {
            return Err(BackendError::invalid_argument(format!(
                "invalid signal {} for container {}",
                req.signal, req.id
            )));
        }
        let mut a: Vec<OsString> = Vec::new();
        if req.all {
            a.push("--all".into());
        }
        a.push(req.id.as_str().into());
        a.push(req.signal.to_string().into());
        Ok(a)
    }

    fn delete_args(req: &DeleteRequest) -> BackendResult<Vec<OsString>> {
        check_id(&req.id)?;
        let mut a: Vec<OsString> = Vec::new();
        if req.force {
            a.push("--force".into());
        }
        a.push(req.id.as_str().into());
        Ok(a)
    }

    /// Runs `sub` with captured output and parses its stdout as JSON.
    fn json<T: serde::de::DeserializeOwned>(
        &self,
        sub: &str,
        args: &[OsString],
    ) -> BackendResult<T> {
        let out = self
            .rt
            .call(sub, args, Mode::Capture, self.rt.timeout(), None)?;
        serde_json::from_str(&out.stdout).map_err(|e| {
            BackendError::failed(format!(
                "cannot parse the output of '{} {sub}': {e}",
                self.rt.label()
            ))
        })
    }

    fn kill_signal(&self, id: &str, signal: i32) -> BackendResult<()> {
        self.kill(&KillRequest {
            id: id.to_owned(),
            signal,
            all: false,
        })
    }

    /// Sends `signal` as part of `stop`; `Ok(false)` when the container had
    /// already stopped. A paused container is thawed so the signal lands.
    fn stop_signal(&self, id: &str, signal: i32, paused: bool) -> BackendResult<bool> {
        match self.kill_signal(id, signal) {
            Ok(()) => {}
            Err(e) if e.kind == ErrorKind::NOT_RUNNING => return Ok(false),
            Err(e) => return Err(e),
        }
        if paused {
            self.resume(&IdRequest { id: id.to_owned() })?;
        }
        Ok(true)
    }

    /// Polls `state` until the container is stopped (or gone) or `limit`
    /// has passed; true when it stopped.
    fn wait_stopped(&self, id: &str, limit: Duration) -> BackendResult<bool> {
        let deadline = Instant::now() + limit;
        loop {
            match self.state(&IdRequest { id: id.to_owned() }) {
                Ok(s) if s.status == "stopped" => return Ok(true),
                Ok(_) => {}
                Err(e) if e.kind == ErrorKind::NOT_FOUND => return Ok(true),
                Err(e) => return Err(e),
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            std::thread::sleep(STOP_POLL.min(deadline - now));
        }
    }

    /// A pid file of our own, so a foreground exec that hits its deadline
    /// can be killed (runc dies, its process would not).
    fn private_pid_file(&self, id: &str) -> PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        self.state_dir
            .join(format!("exec-{id}-{}-{nanos}.pid", std::process::id()))
    }
}

/// Container ids go to the runtime as a positional argument; one that
/// looks like a flag would be read as one.
fn check_id(id: &str) -> BackendResult<()> {
    if id.is_empty() {
        return Err(BackendError::invalid_argument("container id is empty"));
    }
    if id.starts_with('-') {
        return Err(BackendError::invalid_argument(format!(
            "invalid container id '{id}': it must not start with '-'"
        )));
    }
    Ok(())
}

/// The Proxmox-style create options have no runc equivalent: the bundle's
/// config.json says all of it. Refuse them rather than ignore them.
fn reject_unsupported(req: &CreateRequest, run: bool) -> BackendResult<()> {
    let mut given = Vec::new();
    let mut note = |set: bool, name: &'static str| {
        if set {
            given.push(name);
        }
    };
    note(req.image.is_some(), "image");
    note(req.pull, "pull");
    note(req.vmid.is_some(), "vmid");
    note(req.hostname.is_some(), "hostname");
    note(req.memory_mb.is_some(), "memory");
    note(req.swap_mb.is_some(), "swap");
    note(req.cores.is_some(), "cores");
    note(req.rootfs_gib.is_some(), "rootfs size");
    note(req.storage.is_some(), "storage");
    note(req.bridge.is_some(), "bridge");
    note(req.unprivileged.is_some(), "unprivileged");
    note(req.features.is_some(), "features");
    note(req.onboot.is_some(), "onboot");
    note(!req.tags.is_empty(), "tags");
    note(req.description.is_some(), "description");
    note(!req.options.is_empty(), "options");
    note(!run && req.detach, "detach");
    note(!run && req.keep, "keep");
    if given.is_empty() {
        return Ok(());
    }
    Err(BackendError::new(
        ErrorKind::UNSUPPORTED,
        format!(
            "the oci backend creates containers from an OCI bundle only and cannot honour: {} \
             (set these in the bundle's config.json)",
            given.join(", ")
        ),
    ))
}

fn read_pid_file(path: &Path) -> Result<i32, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    text.trim().parse::<i32>().map_err(|e| e.to_string())
}

/// One row of `runc list --format json`.
#[derive(Default, Deserialize)]
#[serde(default)]
struct ListEntry {
    id: String,
    pid: i32,
    status: String,
    bundle: String,
    created: String,
    annotations: Option<std::collections::BTreeMap<String, String>>,
}

impl Backend for Oci {
    fn create(&self, req: &CreateRequest) -> BackendResult<CreateResponse> {
        let args = Self::create_args(req, false)?;
        // After a successful create the runtime's stderr is the container's:
        // nothing may be captured.
        self.rt
            .inherit_checked("create", &args, self.rt.timeout())?;
        Ok(CreateResponse {
            id: req.id.clone(),
            ..Default::default()
        })
    }

    fn run(&self, req: &CreateRequest) -> BackendResult<CreateResponse> {
        let args = Self::create_args(req, true)?;
        if req.detach {
            self.rt.inherit_checked("run", &args, self.rt.timeout())?;
            return Ok(CreateResponse {
                id: req.id.clone(),
                ..Default::default()
            });
        }
        let out = match self.rt.call(
            "run",
            &args,
            Mode::Inherit,
            self.rt.settings.exec_timeout,
            None,
        ) {
            Ok(out) => out,
            Err(e) if e.kind == ErrorKind::TIMEOUT => {
                // The runtime was killed; its container was not. Do what the
                // runtime would have done on exit.
                let cleanup = if req.keep {
                    self.kill_signal(&req.id, SIGKILL)
                } else {
                    self.delete(&DeleteRequest {
                        id: req.id.clone(),
                        force: true,
                    })
                };
                if let Err(c) = cleanup {
                    tracing::warn!(id = %req.id, error = %c, "cannot clean up after a timed-out run");
                }
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        Ok(CreateResponse {
            id: req.id.clone(),
            exit_code: Some(out.code),
            ..Default::default()
        })
    }

    fn start(&self, req: &IdRequest) -> BackendResult<()> {
        let args = Self::id_args(&req.id)?;
        self.rt
            .call("start", &args, Mode::Checked, self.rt.timeout(), None)
            .map(drop)
    }

    fn state(&self, req: &IdRequest) -> BackendResult<ContainerState> {
        let args = Self::id_args(&req.id)?;
        self.json("state", &args)
    }

    fn kill(&self, req: &KillRequest) -> BackendResult<()> {
        let args = Self::kill_args(req)?;
        self.rt
            .call("kill", &args, Mode::Checked, self.rt.timeout(), None)
            .map(drop)
    }

    fn delete(&self, req: &DeleteRequest) -> BackendResult<()> {
        let args = Self::delete_args(req)?;
        self.rt
            .call("delete", &args, Mode::Checked, self.rt.timeout(), None)
            .map(drop)
    }

    fn stop(&self, req: &StopRequest) -> BackendResult<()> {
        let state = self.state(&IdRequest { id: req.id.clone() })?;
        if state.status == "stopped" {
            return Ok(());
        }
        let paused = state.status == "paused";
        if !req.force {
            let grace = req
                .timeout_secs
                .map_or(DEFAULT_STOP_GRACE, Duration::from_secs);
            if !self.stop_signal(&req.id, SIGTERM, paused)? || self.wait_stopped(&req.id, grace)? {
                return Ok(());
            }
            tracing::info!(id = %req.id, "container ignored SIGTERM, sending SIGKILL");
        }
        if !self.stop_signal(&req.id, SIGKILL, paused)? {
            return Ok(());
        }
        if self.wait_stopped(&req.id, self.rt.settings.timeout)? {
            Ok(())
        } else {
            Err(BackendError::new(
                ErrorKind::TIMEOUT,
                format!(
                    "container {} did not stop within {}s of SIGKILL",
                    req.id,
                    self.rt.settings.timeout.as_secs()
                ),
            ))
        }
    }

    fn list(&self, _req: &ListRequest) -> BackendResult<Vec<ContainerSummary>> {
        // runc prints `null` when it has no containers.
        let rows: Option<Vec<ListEntry>> =
            self.json("list", &["--format".into(), "json".into()])?;
        Ok(rows
            .unwrap_or_default()
            .into_iter()
            .map(|r| ContainerSummary {
                id: r.id,
                status: r.status,
                pid: r.pid,
                bundle: r.bundle,
                created: r.created,
                backend: String::new(),
                annotations: r.annotations.unwrap_or_default(),
            })
            .collect())
    }

    fn exec(&self, req: &ExecRequest) -> BackendResult<Response> {
        if req.detach {
            let args = Self::exec_args(req, req.pid_file.as_deref())?;
            self.rt.inherit_checked("exec", &args, self.rt.timeout())?;
            let pid = match &req.pid_file {
                Some(path) => read_pid_file(path).unwrap_or_else(|e| {
                    tracing::warn!(path = %path.display(), error = %e, "cannot read the exec pid file");
                    0
                }),
                None => 0,
            };
            return Ok(Response::Spawned(pid));
        }
        // With a deadline we need the process's pid to end it on timeout.
        let private = match (self.rt.settings.exec_timeout, &req.pid_file) {
            (Some(_), None) => Some(self.private_pid_file(&req.id)),
            _ => None,
        };
        let pid_file = req.pid_file.as_deref().or(private.as_deref());
        let args = Self::exec_args(req, pid_file)?;
        let result = self.rt.call(
            "exec",
            &args,
            Mode::Inherit,
            self.rt.settings.exec_timeout,
            None,
        );
        if let (Err(e), Some(path)) = (&result, pid_file)
            && e.kind == ErrorKind::TIMEOUT
        {
            kill_pid_from(path);
        }
        if let Some(path) = &private {
            let _ = std::fs::remove_file(path);
        }
        Ok(Response::Exited(result?.code))
    }

    fn pause(&self, req: &IdRequest) -> BackendResult<()> {
        let args = Self::id_args(&req.id)?;
        self.rt
            .call("pause", &args, Mode::Checked, self.rt.timeout(), None)
            .map(drop)
    }

    fn resume(&self, req: &IdRequest) -> BackendResult<()> {
        let args = Self::id_args(&req.id)?;
        self.rt
            .call("resume", &args, Mode::Checked, self.rt.timeout(), None)
            .map(drop)
    }

    fn ps(&self, req: &IdRequest) -> BackendResult<Vec<i32>> {
        let mut args: Vec<OsString> = vec!["--format".into(), "json".into()];
        args.extend(Self::id_args(&req.id)?);
        let pids: Option<Vec<i32>> = self.json("ps", &args)?;
        Ok(pids.unwrap_or_default())
    }

    fn update(&self, req: &UpdateRequest) -> BackendResult<()> {
        check_id(&req.id)?;
        let resources: serde_json::Value =
            serde_json::from_str(&req.resources_json).map_err(|e| {
                BackendError::invalid_argument(format!(
                    "resources for container {} are not valid json: {e}",
                    req.id
                ))
            })?;
        if !resources.is_object() {
            return Err(BackendError::invalid_argument(format!(
                "resources for container {} must be a json object",
                req.id
            )));
        }
        let args: Vec<OsString> = vec!["--resources".into(), "-".into(), req.id.as_str().into()];
        self.rt
            .call(
                "update",
                &args,
                Mode::Checked,
                self.rt.timeout(),
                Some(req.resources_json.as_bytes()),
            )
            .map(drop)
    }

    fn features(&self, _req: &FeaturesRequest) -> BackendResult<serde_json::Value> {
        self.json("features", &[])
    }
}

/// Best effort: SIGKILL the pid recorded in `path`.
fn kill_pid_from(path: &Path) {
    match read_pid_file(path) {
        Ok(pid) if pid > 0 => {
            // SAFETY: kill(2) has no memory-safety preconditions.
            let rc = unsafe { libc::kill(pid, libc::SIGKILL) };
            if rc != 0 {
                tracing::warn!(pid, error = %std::io::Error::last_os_error(), "cannot kill the timed-out exec process");
            }
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read the exec pid file to kill the timed-out process");
        }
    }
}

impl Plugin for Oci {
    const NAME: &'static str = "oci";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const COMMANDS: &'static [Command] = &Command::ALL;

    fn new(config: serde_json::Value, host: &HostInfo) -> BackendResult<Self> {
        let settings = parse_config::<Config>(config)?.validate(host)?;
        Ok(Oci {
            rt: Runtime {
                settings,
                flags: GlobalFlags::from(host),
            },
            state_dir: host.state_dir.clone(),
        })
    }
}

nexcage_plugin_api::export_plugin!(Oci);

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: Vec<OsString>) -> Vec<String> {
        v.into_iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn create_passes_every_oci_flag() {
        let req = CreateRequest {
            id: "c1".into(),
            bundle: Some("/b".into()),
            pid_file: Some("/b/init.pid".into()),
            console_socket: Some("/tmp/pty.sock".into()),
            no_pivot: true,
            no_new_keyring: true,
            preserve_fds: Some(2),
            ..Default::default()
        };
        assert_eq!(
            strings(Oci::create_args(&req, false).unwrap()),
            [
                "--bundle",
                "/b",
                "--pid-file",
                "/b/init.pid",
                "--console-socket",
                "/tmp/pty.sock",
                "--no-pivot",
                "--no-new-keyring",
                "--preserve-fds",
                "2",
                "c1"
            ]
        );
        let run = CreateRequest {
            id: "c1".into(),
            detach: true,
            keep: true,
            ..Default::default()
        };
        assert_eq!(
            strings(Oci::create_args(&run, true).unwrap()),
            ["--detach", "--keep", "c1"]
        );
    }

    #[test]
    fn create_refuses_what_it_cannot_honour() {
        let req = CreateRequest {
            id: "c1".into(),
            image: Some("debian".into()),
            memory_mb: Some(512),
            ..Default::default()
        };
        let e = Oci::create_args(&req, false).unwrap_err();
        assert_eq!(e.kind, ErrorKind::UNSUPPORTED);
        assert!(e.message.contains("cannot honour: image, memory"), "{e}");
        let req = CreateRequest {
            id: "c1".into(),
            detach: true,
            ..Default::default()
        };
        assert!(Oci::create_args(&req, false).is_err());
    }

    #[test]
    fn exec_passes_every_flag_then_id_then_command() {
        let req = ExecRequest {
            id: "c1".into(),
            args: vec!["sh".into(), "-c".into(), "echo hi".into()],
            process_file: Some("/tmp/p.json".into()),
            env: vec!["A=1".into(), "B=2".into()],
            cwd: Some("/tmp".into()),
            user: Some("1000:1000".into()),
            tty: true,
            detach: true,
            pid_file: None,
            console_socket: Some("/tmp/s".into()),
            preserve_fds: Some(1),
            extra_args: vec!["--cap".into(), "CAP_KILL".into()],
        };
        assert_eq!(
            strings(Oci::exec_args(&req, Some(Path::new("/tmp/e.pid"))).unwrap()),
            [
                "--process",
                "/tmp/p.json",
                "--detach",
                "--pid-file",
                "/tmp/e.pid",
                "--tty",
                "--console-socket",
                "/tmp/s",
                "--env",
                "A=1",
                "--env",
                "B=2",
                "--cwd",
                "/tmp",
                "--user",
                "1000:1000",
                "--preserve-fds",
                "1",
                "--cap",
                "CAP_KILL",
                "c1",
                "sh",
                "-c",
                "echo hi"
            ]
        );
    }

    #[test]
    fn kill_and_delete_use_runc_positional_forms() {
        let k = KillRequest {
            id: "c1".into(),
            signal: 9,
            all: true,
        };
        assert_eq!(strings(Oci::kill_args(&k).unwrap()), ["--all", "c1", "9"]);
        let k = KillRequest {
            id: "c1".into(),
            signal: -1,
            all: false,
        };
        assert_eq!(
            Oci::kill_args(&k).unwrap_err().kind,
            ErrorKind::INVALID_ARGUMENT
        );
        let d = DeleteRequest {
            id: "c1".into(),
            force: true,
        };
        assert_eq!(strings(Oci::delete_args(&d).unwrap()), ["--force", "c1"]);
    }

    #[test]
    fn ids_that_look_like_flags_are_refused() {
        assert!(check_id("").is_err());
        assert!(check_id("--all").is_err());
        assert!(check_id("web-1").is_ok());
    }
}
