//! Shared helpers for the real-runc tests: busybox bundles, a backend with a
//! private state dir, and a guard that force-deletes containers on drop.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nexcage_oci::Oci;
use nexcage_plugin_api::{
    Backend, BackendError, ContainerState, CreateRequest, HostInfo, IdRequest, Plugin,
};
use serde_json::{Value, json};
use tempfile::TempDir;

/// Busybox applets the test containers use.
const APPLETS: &[&str] = &["sh", "sleep", "echo", "true", "cat", "ls", "ps", "kill"];

/// A container id unique across tests and across concurrent test runs (the
/// cgroup path is derived from it, and cgroups are host-wide).
pub fn unique_id(test: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "nxc-{test}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// An OCI bundle whose rootfs is busybox and whose process runs `args`.
pub struct Bundle {
    pub dir: TempDir,
}

impl Bundle {
    pub fn new(args: &[&str]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("nexcage-oci-bundle-")
            .tempdir()
            .expect("bundle tempdir");
        let rootfs = dir.path().join("rootfs");
        for sub in ["bin", "proc", "sys", "dev", "etc", "tmp", "root"] {
            std::fs::create_dir_all(rootfs.join(sub)).expect("rootfs dir");
        }
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox"))
            .expect("copy /bin/busybox (apt-get install busybox-static)");
        for applet in APPLETS {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet))
                .expect("applet symlink");
        }
        std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
            .expect("passwd");
        std::fs::write(rootfs.join("etc/group"), "root:x:0:\n").expect("group");

        let status = Process::new("runc")
            .args(["spec", "--bundle"])
            .arg(dir.path())
            .status()
            .expect("run `runc spec` (apt-get install runc)");
        assert!(status.success(), "runc spec failed: {status}");
        let path = dir.path().join("config.json");
        let mut spec: Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read config.json"))
                .expect("parse config.json");
        spec["process"]["args"] = json!(args);
        spec["process"]["terminal"] = json!(false);
        // CAP_SYS_RESOURCE is missing here and the hard NOFILE limit is
        // 20000: the spec's default of 1024 is fine, but say so explicitly.
        spec["process"]["rlimits"] = json!([
            {"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}
        ]);
        std::fs::write(&path, serde_json::to_vec_pretty(&spec).expect("encode"))
            .expect("write config.json");
        Bundle { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// A backend instance with its own state dir (and so its own runc root).
pub struct Env {
    pub oci: Oci,
    pub state_dir: PathBuf,
    _tmp: TempDir,
}

impl Env {
    pub fn new() -> Self {
        Self::with_config(json!({}))
    }

    pub fn with_config(config: Value) -> Self {
        Self::with_host(config, |_| {})
    }

    pub fn with_host(config: Value, edit: impl FnOnce(&mut HostInfo)) -> Self {
        let tmp = tempfile::Builder::new()
            .prefix("nexcage-oci-state-")
            .tempdir()
            .expect("state tempdir");
        let state_dir = tmp.path().join("backends/runc");
        std::fs::create_dir_all(&state_dir).expect("state dir");
        let mut host = HostInfo {
            host_version: "test".into(),
            api_version: nexcage_plugin_api::API_VERSION.into(),
            backend: "runc".into(),
            state_dir: state_dir.clone(),
            root: tmp.path().to_owned(),
            ..Default::default()
        };
        edit(&mut host);
        let oci = Oci::new(config, &host).expect("Oci::new");
        Env {
            oci,
            state_dir,
            _tmp: tmp,
        }
    }

    /// Creates `id` from `bundle` and returns a guard that force-deletes it.
    pub fn create(&self, id: &str, bundle: &Bundle) -> Guard {
        let guard = self.guard(id);
        self.oci
            .create(&CreateRequest {
                id: id.into(),
                bundle: Some(bundle.path().to_owned()),
                ..Default::default()
            })
            .expect("create");
        guard
    }

    pub fn guard(&self, id: &str) -> Guard {
        Guard {
            root: self.oci.runtime_root().to_owned(),
            id: id.to_owned(),
        }
    }

    pub fn state(&self, id: &str) -> Result<ContainerState, BackendError> {
        self.oci.state(&IdRequest { id: id.into() })
    }

    /// Polls until `id` has `status`, or panics after `limit`.
    pub fn wait_status(&self, id: &str, status: &str, limit: Duration) -> ContainerState {
        let deadline = Instant::now() + limit;
        loop {
            let s = self.state(id).expect("state while waiting");
            if s.status == status {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{id} is still {} after {limit:?}, wanted {status}",
                s.status
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Force-deletes a container with the real runc when dropped, so a failed
/// assertion does not leak a running container.
pub struct Guard {
    root: PathBuf,
    id: String,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = Process::new("runc")
            .arg("--root")
            .arg(&self.root)
            .args(["delete", "--force", &self.id])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// A shell loop that exits cleanly on SIGTERM (a PID 1 without a handler
/// ignores it).
pub const TERM_AWARE: &[&str] = &[
    "sh",
    "-c",
    "trap 'exit 0' TERM; while true; do sleep 1; done",
];

/// Whether a host PID is alive (a zombie waiting for its reaper is not).
pub fn alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // `pid (comm) S ...`: the state follows the last ')'.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, Some('Z' | 'X') | None)
}
