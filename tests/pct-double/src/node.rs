//! The simulated node: where state lives under `$PVE_DOUBLE_ROOT`, the
//! storage definitions, the call log and the per-CT config lock.

use crate::error::{Failure, Result};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const ROOT_ENV: &str = "PVE_DOUBLE_ROOT";
pub const NODE_ENV: &str = "PVE_DOUBLE_NODE";

/// Kind of a simulated storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageKind {
    /// `dir` storage `local`: content `vztmpl` only.
    Dir,
    /// `lvmthin` storage `local-lvm`: content `rootdir,images`, backed by
    /// plain directories.
    LvmThin,
}

#[derive(Debug, Clone)]
pub struct Storage {
    pub id: &'static str,
    pub kind: StorageKind,
    pub path: PathBuf,
}

impl Storage {
    pub fn supports_rootdir(&self) -> bool {
        self.kind == StorageKind::LvmThin
    }
    pub fn supports_vztmpl(&self) -> bool {
        self.kind == StorageKind::Dir
    }
    /// Directory holding templates of a dir storage.
    pub fn template_dir(&self) -> PathBuf {
        self.path.join("template").join("cache")
    }
    /// Directory backing volume `name` of an lvmthin storage.
    pub fn volume_dir(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

/// The simulated node.
#[derive(Debug, Clone)]
pub struct Node {
    pub root: PathBuf,
    pub name: String,
}

impl Node {
    /// Reads `$PVE_DOUBLE_ROOT` / `$PVE_DOUBLE_NODE` and lays out the
    /// directory skeleton if needed.
    pub fn from_env() -> Result<Node> {
        let root = match std::env::var_os(ROOT_ENV) {
            Some(r) if !r.is_empty() => PathBuf::from(r),
            _ => {
                return Err(Failure::die(format!(
                    "pve double: environment variable {ROOT_ENV} is not set (it must point to the simulated node's root directory)"
                )));
            }
        };
        let name = std::env::var(NODE_ENV)
            .ok()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "pve".to_string());
        let node = Node { root, name };
        node.ensure_layout()?;
        Ok(node)
    }

    pub fn new(root: impl Into<PathBuf>, name: &str) -> Node {
        Node {
            root: root.into(),
            name: name.to_string(),
        }
    }

    /// Creates the directories of a fresh node (idempotent).
    pub fn ensure_layout(&self) -> Result<()> {
        let mkdir = |p: PathBuf| {
            fs::create_dir_all(&p).map_err(|e| {
                Failure::die(format!(
                    "pve double: unable to create directory '{}': {e}",
                    p.display()
                ))
            })
        };
        mkdir(self.lxc_config_dir())?;
        mkdir(self.node_dir().join("qemu-server"))?;
        mkdir(self.local().template_dir())?;
        mkdir(self.local_lvm().path)?;
        mkdir(self.lxcpath())?;
        mkdir(self.lock_dir())?;
        mkdir(self.aplinfo_dir())?;
        mkdir(self.apl_source_dir())?;
        mkdir(self.task_dir())?;
        let link = self.root.join("etc/pve/lxc");
        if fs::symlink_metadata(&link).is_err() {
            let target = PathBuf::from("nodes").join(&self.name).join("lxc");
            match std::os::unix::fs::symlink(&target, &link) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(Failure::die(format!(
                        "pve double: unable to create symlink '{}': {e}",
                        link.display()
                    )));
                }
            }
        }
        Ok(())
    }

    pub fn node_dir(&self) -> PathBuf {
        self.root.join("etc/pve/nodes").join(&self.name)
    }
    pub fn lxc_config_dir(&self) -> PathBuf {
        self.node_dir().join("lxc")
    }
    /// Absolute path of a CT config.
    pub fn config_path(&self, vmid: u32) -> PathBuf {
        self.lxc_config_dir().join(format!("{vmid}.conf"))
    }
    /// Relative path used in error messages (`nodes/<node>/lxc/<vmid>.conf`).
    pub fn cfs_config_path(&self, vmid: u32) -> String {
        format!("nodes/{}/lxc/{vmid}.conf", self.name)
    }
    pub fn lxcpath(&self) -> PathBuf {
        self.root.join("lxc")
    }
    pub fn lock_dir(&self) -> PathBuf {
        self.root.join("run/lock/lxc")
    }
    pub fn aplinfo_dir(&self) -> PathBuf {
        self.root.join("var/lib/pve-manager/apl-info")
    }
    /// Index file read by `pveam available` / `pveam download`.
    pub fn aplinfo_index(&self) -> PathBuf {
        self.aplinfo_dir().join(crate::pveam::INDEX_FILE)
    }
    /// Where `pveam download` "downloads" templates from.
    pub fn apl_source_dir(&self) -> PathBuf {
        self.root.join("var/lib/pve-double/apl-source")
    }
    /// Where the double keeps task logs and scratch files.
    pub fn task_dir(&self) -> PathBuf {
        self.root.join("var/log/pve/tasks")
    }
    pub fn calls_log(&self) -> PathBuf {
        self.root.join("calls.log")
    }

    pub fn local(&self) -> Storage {
        Storage {
            id: "local",
            kind: StorageKind::Dir,
            path: self.root.join("var/lib/vz"),
        }
    }
    pub fn local_lvm(&self) -> Storage {
        Storage {
            id: "local-lvm",
            kind: StorageKind::LvmThin,
            path: self.root.join("var/lib/vz-lvm"),
        }
    }
    pub fn storage(&self, id: &str) -> Option<Storage> {
        match id {
            "local" => Some(self.local()),
            "local-lvm" => Some(self.local_lvm()),
            _ => None,
        }
    }
    pub fn storage_or_die(&self, id: &str) -> Result<Storage> {
        self.storage(id)
            .ok_or_else(|| Failure::die(format!("storage '{id}' does not exist")))
    }

    /// VMIDs of every guest on every node (`.vmlist`): `(vmid, node, is_ct)`.
    pub fn all_guests(&self) -> Vec<(u32, String, bool)> {
        let mut out = Vec::new();
        let nodes = self.root.join("etc/pve/nodes");
        let Ok(rd) = fs::read_dir(&nodes) else {
            return out;
        };
        for n in rd.flatten() {
            let nname = n.file_name().to_string_lossy().into_owned();
            for (sub, is_ct) in [("lxc", true), ("qemu-server", false)] {
                let Ok(files) = fs::read_dir(n.path().join(sub)) else {
                    continue;
                };
                for f in files.flatten() {
                    let fname = f.file_name().to_string_lossy().into_owned();
                    if let Some(id) = fname.strip_suffix(".conf")
                        && let Ok(id) = id.parse::<u32>()
                    {
                        out.push((id, nname.clone(), is_ct));
                    }
                }
            }
        }
        out.sort();
        out
    }

    /// VMIDs of the CTs on this node, sorted.
    pub fn local_cts(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = Vec::new();
        if let Ok(files) = fs::read_dir(self.lxc_config_dir()) {
            for f in files.flatten() {
                let fname = f.file_name().to_string_lossy().into_owned();
                if let Some(id) = fname.strip_suffix(".conf")
                    && let Ok(id) = id.parse::<u32>()
                {
                    ids.push(id);
                }
            }
        }
        ids.sort_unstable();
        ids
    }

    /// `check_vmid_unused`.
    pub fn check_vmid_unused(&self, vmid: u32) -> Result<()> {
        if let Some((_, node, is_ct)) = self.all_guests().into_iter().find(|g| g.0 == vmid) {
            let kind = if is_ct { "CT" } else { "VM" };
            return Err(Failure::die(format!(
                "{kind} {vmid} already exists on node '{node}'"
            )));
        }
        Ok(())
    }

    /// Takes the node-local config flock (`pve-config-<vmid>.lock`).
    pub fn lock_config(&self, vmid: u32, timeout: Duration) -> Result<ConfigLock> {
        let path = self.lock_dir().join(format!("pve-config-{vmid}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        let start = Instant::now();
        let mut announced = false;
        loop {
            // SAFETY: flock on a valid fd we own; no memory is touched.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                if announced {
                    eprintln!(" OK");
                }
                return Ok(ConfigLock { _file: file });
            }
            if !announced {
                eprint!("trying to acquire lock...");
                announced = true;
            }
            if start.elapsed() >= timeout {
                eprintln!();
                return Err(Failure::die(format!(
                    "can't lock file '/run/lock/lxc/pve-config-{vmid}.lock' - got timeout"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Held config flock; released on drop.
pub struct ConfigLock {
    _file: File,
}

/// Appends one line to `<root>/calls.log` with a single `write(2)` on an
/// `O_APPEND` descriptor, so concurrent invocations never interleave.
pub fn log_call(root: &Path, argv: &[String]) {
    let mut line = argv.join(" ");
    line.push('\n');
    let _ = fs::create_dir_all(root);
    if let Ok(mut f) = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o644)
        .open(root.join("calls.log"))
    {
        // One write call: O_APPEND makes it atomic for regular files.
        let _ = f.write(line.as_bytes());
    }
}
