//! The state root: which backend owns which container.
//!
//! One small JSON file per container under `<root>/owners/`, written
//! atomically; every read-modify-write holds `<root>/owners/.lock`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nexcage_plugin_api::state::{FileLock, StateError, read_json, write_json};
use serde::{Deserialize, Serialize};

use crate::config::BackendConfig;

/// An ownership record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// The container id as given to `create`.
    pub id: String,
    /// The backend instance that created it.
    pub backend: String,
    /// Its plugin, so the container stays reachable if the config later
    /// drops the instance.
    #[serde(default)]
    pub plugin: String,
    /// The instance's settings at create time (same purpose).
    #[serde(default)]
    pub settings: serde_json::Value,
    /// Unix seconds.
    pub created: u64,
}

/// The state root.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// A store at `root` (created lazily).
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
        }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn owners(&self) -> PathBuf {
        self.root.join("owners")
    }

    fn record(&self, id: &str) -> PathBuf {
        self.owners().join(format!("{id}.json"))
    }

    /// The directory a backend instance keeps its own state in.
    pub fn backend_dir(&self, backend: &str) -> Result<PathBuf, StateError> {
        let dir = self.root.join("backends").join(backend);
        create_private_dir(&dir)?;
        Ok(dir)
    }

    /// The recorded owner of `id`, if any. A corrupt record is an error.
    pub fn owner(&self, id: &str) -> Result<Option<Owner>, StateError> {
        read_json(&self.record(id))
    }

    /// Records that `backend` owns `id`.
    pub fn set_owner(&self, id: &str, backend: &BackendConfig) -> Result<(), StateError> {
        create_private_dir(&self.owners())?;
        let _lock = FileLock::exclusive(&self.owners().join(".lock"))?;
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs();
        write_json(
            &self.record(id),
            &Owner {
                id: id.to_owned(),
                backend: backend.name.clone(),
                plugin: backend.plugin.clone(),
                settings: backend.settings.clone(),
                created,
            },
        )
    }

    /// Forgets `id`'s owner (after delete).
    pub fn remove_owner(&self, id: &str) -> Result<(), StateError> {
        let path = self.record(id);
        if !path.exists() {
            return Ok(());
        }
        let _lock = FileLock::exclusive(&self.owners().join(".lock"))?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StateError::Io {
                action: "cannot remove",
                path,
                source,
            }),
        }
    }

    /// Every recorded owner (corrupt records are reported, not skipped).
    pub fn all_owners(&self) -> Result<Vec<Owner>, StateError> {
        let dir = self.owners();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(StateError::Io {
                    action: "cannot read",
                    path: dir,
                    source,
                });
            }
        };
        let mut out = Vec::new();
        for e in entries.filter_map(|e| e.ok()) {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json")
                && let Some(o) = read_json::<Owner>(&p)?
            {
                out.push(o);
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }
}

fn create_private_dir(dir: &Path) -> Result<(), StateError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| StateError::Io {
            action: "cannot create directory",
            path: dir.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_concurrent_writers_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let threads: Vec<_> = (0..16)
            .map(|i| {
                let s = store.clone();
                std::thread::spawn(move || {
                    s.set_owner(&format!("c{i}"), &BackendConfig::implicit("oci"))
                        .unwrap()
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(store.all_owners().unwrap().len(), 16);
        assert_eq!(store.owner("c3").unwrap().unwrap().backend, "oci");
        store.remove_owner("c3").unwrap();
        assert!(store.owner("c3").unwrap().is_none());
        store.remove_owner("c3").unwrap();
    }

    #[test]
    fn corrupt_record_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        std::fs::create_dir_all(dir.path().join("owners")).unwrap();
        std::fs::write(dir.path().join("owners/x.json"), "garbage").unwrap();
        let e = store.owner("x").unwrap_err().to_string();
        assert!(e.contains("is corrupt"), "{e}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("owners/x.json")).unwrap(),
            "garbage"
        );
    }
}
