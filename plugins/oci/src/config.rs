//! The `[backends.<name>]` table of an `oci` backend instance.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nexcage_plugin_api::{BackendError, BackendResult, HostInfo};
use serde::Deserialize;

/// Lifecycle commands (everything except a foreground `run`/`exec`) get
/// this many seconds unless the config says otherwise.
const DEFAULT_TIMEOUT_SECS: u64 = 60;

/// The raw config table, as the user wrote it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Config {
    /// The runtime: a name looked up on `PATH`, or an absolute path.
    pub binary: String,
    /// The runtime's `--root`; default `<state_dir>/root`.
    pub root: Option<PathBuf>,
    /// Deadline for lifecycle commands, in seconds.
    pub timeout_secs: u64,
    /// Deadline for a foreground `run`/`exec`; none by default.
    pub exec_timeout_secs: Option<u64>,
    /// Global arguments put in front of every runtime invocation.
    pub extra_args: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            binary: "runc".into(),
            root: None,
            timeout_secs: DEFAULT_TIMEOUT_SECS,
            exec_timeout_secs: None,
            extra_args: Vec::new(),
        }
    }
}

/// The validated settings the backend works with.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub binary: String,
    pub root: PathBuf,
    pub timeout: Duration,
    pub exec_timeout: Option<Duration>,
    pub extra_args: Vec<String>,
}

impl Config {
    /// Checks every value and fills in the defaults that depend on the host.
    pub fn validate(self, host: &HostInfo) -> BackendResult<Settings> {
        let binary = self.binary;
        if binary.trim().is_empty() {
            return Err(BackendError::invalid_config(
                "binary",
                "binary must not be empty",
            ));
        }
        if binary.contains('/') && !Path::new(&binary).is_absolute() {
            return Err(BackendError::invalid_config(
                "binary",
                format!("binary must be a name on PATH or an absolute path, got '{binary}'"),
            ));
        }
        let root = match self.root {
            Some(root) if root.is_absolute() => root,
            Some(root) => {
                return Err(BackendError::invalid_config(
                    "root",
                    format!("root must be an absolute path, got '{}'", root.display()),
                ));
            }
            None if host.state_dir.is_absolute() => host.state_dir.join("root"),
            None => {
                return Err(BackendError::invalid_config(
                    "root",
                    format!(
                        "the host gave no absolute state directory ('{}'), so root must be set",
                        host.state_dir.display()
                    ),
                ));
            }
        };
        if self.timeout_secs == 0 {
            return Err(BackendError::invalid_config(
                "timeout_secs",
                "timeout_secs must be at least 1",
            ));
        }
        if self.exec_timeout_secs == Some(0) {
            return Err(BackendError::invalid_config(
                "exec_timeout_secs",
                "exec_timeout_secs must be at least 1 (leave it out for no deadline)",
            ));
        }
        Ok(Settings {
            binary,
            root,
            timeout: Duration::from_secs(self.timeout_secs),
            exec_timeout: self.exec_timeout_secs.map(Duration::from_secs),
            extra_args: self.extra_args,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexcage_plugin_api::{ErrorKind, parse_config};
    use serde_json::json;

    fn host() -> HostInfo {
        HostInfo {
            state_dir: "/var/lib/nexcage/backends/runc".into(),
            ..Default::default()
        }
    }

    fn settings(v: serde_json::Value) -> BackendResult<Settings> {
        parse_config::<Config>(v)?.validate(&host())
    }

    #[test]
    fn defaults() {
        let s = settings(json!({})).unwrap();
        assert_eq!(s.binary, "runc");
        assert_eq!(s.root, PathBuf::from("/var/lib/nexcage/backends/runc/root"));
        assert_eq!(s.timeout, Duration::from_secs(60));
        assert_eq!(s.exec_timeout, None);
        assert!(s.extra_args.is_empty());
    }

    #[test]
    fn full_table() {
        let s = settings(json!({
            "binary": "/usr/bin/crun",
            "root": "/run/crun-nexcage",
            "timeout_secs": 5,
            "exec_timeout_secs": 600,
            "extra_args": ["--cgroup-manager=cgroupfs"],
        }))
        .unwrap();
        assert_eq!(s.binary, "/usr/bin/crun");
        assert_eq!(s.root, PathBuf::from("/run/crun-nexcage"));
        assert_eq!(s.timeout, Duration::from_secs(5));
        assert_eq!(s.exec_timeout, Some(Duration::from_secs(600)));
        assert_eq!(s.extra_args, ["--cgroup-manager=cgroupfs"]);
    }

    #[test]
    fn unknown_key_is_named() {
        let e = settings(json!({"binry": "runc"})).unwrap_err();
        assert_eq!(e.kind, ErrorKind::INVALID_CONFIG);
        assert!(e.message.contains("unknown field `binry`"), "{e}");
        // plugin-api 1.0.0 with serde_path_to_error 0.1.20 reports the key
        // as `binry.binry`; accept the fixed form too.
        let key = e.key.unwrap_or_default();
        assert!(key == "binry" || key == "binry.binry", "{key}");
    }

    #[test]
    fn bad_values_are_rejected_with_their_key() {
        for (v, key) in [
            (json!({"binary": ""}), "binary"),
            (json!({"binary": "  "}), "binary"),
            (json!({"binary": "bin/runc"}), "binary"),
            (json!({"root": "relative/root"}), "root"),
            (json!({"timeout_secs": 0}), "timeout_secs"),
            (json!({"exec_timeout_secs": 0}), "exec_timeout_secs"),
            (json!({"timeout_secs": -1}), "timeout_secs"),
            (json!({"extra_args": "--debug"}), "extra_args"),
        ] {
            let e = settings(v.clone()).unwrap_err();
            assert_eq!(e.kind, ErrorKind::INVALID_CONFIG, "{v}");
            assert_eq!(e.key.as_deref(), Some(key), "{v}: {}", e.message);
        }
    }

    #[test]
    fn relative_state_dir_needs_an_explicit_root() {
        let c: Config = parse_config(json!({})).unwrap();
        let e = c.validate(&HostInfo::default()).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("root"));
        let c: Config = parse_config(json!({"root": "/tmp/r"})).unwrap();
        assert_eq!(
            c.validate(&HostInfo::default()).unwrap().root,
            PathBuf::from("/tmp/r")
        );
    }
}
