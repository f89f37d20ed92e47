//! The name ⇄ VMID map under the backend's state directory.
//!
//! One JSON file (`containers.json`), replaced atomically; every
//! read-modify-write holds an exclusive `flock` on `.lock` in the same
//! directory, so any number of nexcage processes can share it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nexcage_plugin_api::BackendResult;
use nexcage_plugin_api::state::{FileLock, read_json, write_json};
use serde::{Deserialize, Serialize};

/// What nexcage remembers about one container it created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Record {
    /// The Proxmox VMID.
    pub vmid: u32,
    /// Set while `create` is in flight: the creating process's PID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creating: Option<i32>,
    /// Started at least once since it was created (else OCI `created`).
    pub started: bool,
    /// Suspended by `pause` and not resumed since.
    pub paused: bool,
    /// The OCI bundle it was created from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle: Option<String>,
    /// The template volume it was created from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Creation time, RFC 3339 (UTC).
    pub created: String,
    /// The bundle's OCI annotations.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Record {
    /// True while a create is running in a live process.
    pub fn in_flight(&self) -> bool {
        self.creating.is_some_and(pid_alive)
    }
}

/// The whole file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Db {
    /// Format version.
    pub version: u32,
    /// By nexcage name.
    pub containers: BTreeMap<String, Record>,
}

impl Db {
    /// The name and record holding `vmid`, if any.
    pub fn by_vmid(&self, vmid: u32) -> Option<(&String, &Record)> {
        self.containers.iter().find(|(_, r)| r.vmid == vmid)
    }

    /// Drops records of creates whose process died half-way.
    pub fn reap_abandoned(&mut self) {
        self.containers
            .retain(|_, r| r.creating.is_none() || r.in_flight());
    }
}

/// The map's location.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
        }
    }

    fn file(&self) -> PathBuf {
        self.dir.join("containers.json")
    }

    /// A consistent snapshot (no lock needed: writes are atomic renames).
    pub fn load(&self) -> BackendResult<Db> {
        Ok(read_json(&self.file())?.unwrap_or_default())
    }

    /// Read-modify-write under the lock; `f`'s changes are written only
    /// when it succeeds.
    pub fn update<T>(&self, f: impl FnOnce(&mut Db) -> BackendResult<T>) -> BackendResult<T> {
        let _lock = FileLock::exclusive(&self.dir.join(".lock"))?;
        let mut db: Db = read_json(&self.file())?.unwrap_or_default();
        db.version = 1;
        let out = f(&mut db)?;
        write_json(&self.file(), &db)?;
        Ok(out)
    }

    /// Applies `f` to the record named `name` if there is one.
    pub fn modify(&self, name: &str, f: impl FnOnce(&mut Record)) -> BackendResult<()> {
        self.update(|db| {
            if let Some(r) = db.containers.get_mut(name) {
                f(r);
            }
            Ok(())
        })
    }

    /// Removes `name` if it still maps to `vmid`.
    pub fn remove(&self, name: &str, vmid: u32) -> BackendResult<()> {
        self.update(|db| {
            if db.containers.get(name).is_some_and(|r| r.vmid == vmid) {
                db.containers.remove(name);
            }
            Ok(())
        })
    }
}

fn pid_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks for existence.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Now as RFC 3339 UTC, e.g. `2026-04-01T12:00:00Z`.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_remove() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(d.path());
        s.update(|db| {
            db.containers.insert(
                "web".into(),
                Record {
                    vmid: 105,
                    ..Default::default()
                },
            );
            Ok(())
        })
        .unwrap();
        let db = s.load().unwrap();
        assert_eq!(db.by_vmid(105).unwrap().0, "web");
        s.remove("web", 106).unwrap();
        assert!(s.load().unwrap().containers.contains_key("web"));
        s.remove("web", 105).unwrap();
        assert!(s.load().unwrap().containers.is_empty());
    }

    #[test]
    fn abandoned_creates_are_reaped() {
        let mut db = Db::default();
        db.containers.insert(
            "dead".into(),
            Record {
                vmid: 100,
                creating: Some(i32::MAX - 1),
                ..Default::default()
            },
        );
        db.containers.insert(
            "live".into(),
            Record {
                vmid: 101,
                creating: Some(std::process::id() as i32),
                ..Default::default()
            },
        );
        db.reap_abandoned();
        assert!(!db.containers.contains_key("dead"));
        assert!(db.containers.contains_key("live"));
    }

    #[test]
    fn timestamp_shape() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
    }
}
