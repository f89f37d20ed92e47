//! Test fixture: a private pct-double node per test, the backend wired to
//! it, calls.log accounting, and a guard that removes every LXC container
//! of the node even when the test fails.
//!
//! The double's binaries must be built first:
//! `cargo build -p nexcage-pct-double` (same target directory).
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nexcage_plugin_api::{HostInfo, Plugin};
use nexcage_proxmox_lxc::ProxmoxLxc;
use serde_json::{Value, json};

/// The template `pve-double-mktemplate` builds.
pub const TEMPLATE_FILE: &str = "busybox-1.36-nexcage_1.0-1_amd64.tar.gz";

pub fn template_volid() -> String {
    format!("local:vztmpl/{TEMPLATE_FILE}")
}

/// Where the double's binaries are.
pub fn double_bin_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("debug");
    assert!(
        dir.join("pct").is_file() && dir.join("pve-double-mktemplate").is_file(),
        "the pct double is not built in {}: run `cargo build -p nexcage-pct-double` first",
        dir.display()
    );
    dir
}

/// A simulated Proxmox node.
pub struct Node {
    pub dir: tempfile::TempDir,
    pub state: PathBuf,
}

impl Node {
    pub fn new() -> Node {
        let dir = tempfile::Builder::new()
            .prefix("pxl-")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let state = dir.path().join("nexcage-state");
        std::fs::create_dir_all(&state).unwrap();
        let n = Node { dir, state };
        n.wrap("plain", &[]);
        n
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Writes wrapper scripts `<root>/wrap/<set>/{pct,pveam,pvesh}` that
    /// point the double at this node and set extra environment variables
    /// (the fault knobs). Test scaffolding only: the plugin itself never
    /// runs a shell.
    pub fn wrap(&self, set: &str, env: &[(&str, &str)]) -> PathBuf {
        let dir = self.root().join("wrap").join(set);
        std::fs::create_dir_all(&dir).unwrap();
        let bins = double_bin_dir();
        for tool in ["pct", "pveam", "pvesh"] {
            let mut script = String::from("#!/bin/sh\n");
            script.push_str(&format!(
                "export PVE_DOUBLE_ROOT='{}'\nunset PVE_DOUBLE_HANG PVE_DOUBLE_FAIL PVE_DOUBLE_TAKE_NEXT PVE_DOUBLE_NODE\n",
                self.root().display()
            ));
            for (k, v) in env {
                script.push_str(&format!("export {k}='{v}'\n"));
            }
            script.push_str(&format!("exec '{}' \"$@\"\n", bins.join(tool).display()));
            let p = dir.join(tool);
            std::fs::write(&p, script).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        dir
    }

    /// Replaces one tool of wrapper set `set` with a custom script body
    /// (run after `PVE_DOUBLE_ROOT` is exported; `$BIN` is the double's
    /// binary directory).
    pub fn wrap_custom(&self, set: &str, tool: &str, body: &str) {
        let dir = self.wrap(set, &[]);
        let script = format!(
            "#!/bin/sh\nexport PVE_DOUBLE_ROOT='{}'\nunset PVE_DOUBLE_HANG PVE_DOUBLE_FAIL PVE_DOUBLE_TAKE_NEXT\nBIN='{}'\n{body}\n",
            self.root().display(),
            double_bin_dir().display()
        );
        std::fs::write(dir.join(tool), script).unwrap();
    }

    /// Backend config pointing at wrapper set `set`.
    pub fn config(&self, set: &str, extra: Value) -> Value {
        let dir = self.root().join("wrap").join(set);
        let mut c = json!({
            "pct": dir.join("pct"),
            "pveam": dir.join("pveam"),
            "pvesh": dir.join("pvesh"),
            "node": "pve",
            "rootfs_gib": 1,
            "template_dir": self.root().join("var/lib/vz/template/cache"),
            "timeout_secs": 60,
            "shutdown_timeout_secs": 10,
        });
        if let (Some(c), Some(e)) = (c.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                c.insert(k.clone(), v.clone());
            }
        }
        c
    }

    pub fn backend_with(&self, set: &str, extra: Value) -> ProxmoxLxc {
        let host = HostInfo {
            backend: "proxmox-lxc".into(),
            state_dir: self.state.clone(),
            ..Default::default()
        };
        ProxmoxLxc::new(self.config(set, extra), &host).expect("backend")
    }

    pub fn backend(&self) -> ProxmoxLxc {
        self.backend_with("plain", json!({}))
    }

    /// Builds the busybox template into storage `local`.
    pub fn template(&self) -> String {
        let o = Command::new(double_bin_dir().join("pve-double-mktemplate"))
            .arg(self.root())
            .output()
            .expect("spawn mktemplate");
        assert!(
            o.status.success(),
            "mktemplate failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        template_volid()
    }

    /// Runs a double tool directly (for setup and inspection).
    pub fn tool(&self, tool: &str, args: &[&str]) -> (i32, String, String) {
        let o = Command::new(self.root().join("wrap/plain").join(tool))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("spawn");
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    /// The lines of calls.log.
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.root().join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Runs `f` and returns the calls.log lines it added.
    pub fn count<T>(&self, f: impl FnOnce() -> T) -> (T, Vec<String>) {
        let before = self.calls().len();
        let out = f();
        let after = self.calls();
        (out, after[before..].to_vec())
    }

    pub fn conf(&self, vmid: u32) -> String {
        std::fs::read_to_string(
            self.root()
                .join(format!("etc/pve/nodes/pve/lxc/{vmid}.conf")),
        )
        .unwrap_or_default()
    }

    pub fn name_map(&self) -> Value {
        let p = nexcage_proxmox_lxc::name_map_path(&self.state);
        serde_json::from_slice(&std::fs::read(p).unwrap_or_else(|_| b"{}".to_vec())).unwrap()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if std::env::var_os("PXL_TEST_KEEP").is_some() {
            // Debugging: keep the node (and its containers) for inspection.
            eprintln!("keeping test node {}", self.root().display());
            self.dir.disable_cleanup(true);
            return;
        }
        let lxcpath = self.root().join("lxc");
        if let Ok(rd) = std::fs::read_dir(&lxcpath) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                for args in [
                    vec!["30", "lxc-stop", "-P"],
                    vec!["30", "lxc-destroy", "-P"],
                ] {
                    let mut c = Command::new("timeout");
                    c.args(&args).arg(&lxcpath).args(["-n", &name]);
                    if args[1] == "lxc-stop" {
                        c.arg("--kill");
                    }
                    let _ = c.stdout(Stdio::null()).stderr(Stdio::null()).status();
                }
            }
        }
    }
}

/// The VMID in a `<name> <vmid>` summary.
pub fn vmid_of(summary: &Option<String>) -> u32 {
    summary
        .as_deref()
        .and_then(|s| s.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("summary '<name> <vmid>'")
}

/// Builds an OCI bundle with a busybox rootfs under `dir`.
pub fn busybox_bundle(dir: &Path, config: Value) -> PathBuf {
    let bundle = dir.join("bundle");
    let rootfs = bundle.join("rootfs");
    for d in [
        "bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "usr/bin", "data",
    ] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    let busybox = std::env::var("PVE_DOUBLE_BUSYBOX").unwrap_or_else(|_| "/bin/busybox".into());
    std::fs::copy(&busybox, rootfs.join("bin/busybox")).unwrap();
    std::fs::set_permissions(
        rootfs.join("bin/busybox"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    for applet in [
        "sh", "sleep", "cat", "echo", "env", "grep", "tr", "test", "true", "false", "ls", "id",
        "hostname", "kill", "ps", "stat",
    ] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
    std::os::unix::fs::symlink("/bin/env", rootfs.join("usr/bin/env")).unwrap();
    std::fs::write(rootfs.join("etc/hostname"), "bundle\n").unwrap();
    std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/:/bin/sh\n").unwrap();
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\n").unwrap();
    std::fs::write(
        bundle.join("config.json"),
        serde_json::to_vec_pretty(&config).unwrap(),
    )
    .unwrap();
    bundle
}
