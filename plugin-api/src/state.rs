//! Durable little state files: atomic replacement and advisory locks.
//!
//! Backends keep their records (name maps, per-container notes) under the
//! directory the host gives them; these helpers make every write atomic
//! (write, fsync, rename, fsync the directory) and let read-modify-write
//! cycles hold an exclusive `flock`.
//!
//! ```
//! use nexcage_plugin_api::state::{atomic_write, FileLock};
//! let dir = std::env::temp_dir().join(format!("nexcage-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let _guard = FileLock::exclusive(&dir.join(".lock")).unwrap();
//! atomic_write(&dir.join("names.json"), b"{}").unwrap();
//! assert_eq!(std::fs::read(dir.join("names.json")).unwrap(), b"{}");
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Why a state file operation failed; every variant names the path.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// An I/O error on `path`.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The file exists but does not parse; it is left untouched.
    #[error("state file {} is corrupt ({reason}); it was left untouched, fix or remove it", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parser's complaint.
        reason: String,
    },
}

impl From<StateError> for crate::BackendError {
    fn from(e: StateError) -> Self {
        crate::BackendError::failed(e.to_string())
    }
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StateError + 'a {
    move |source| StateError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// Replaces `path` with `data` atomically: readers see the old or the new
/// content, never a mix, and a crash leaves one of the two on disk.
pub fn atomic_write(path: &Path, data: &[u8]) -> Result<(), StateError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(dir).map_err(io_err("cannot create directory", dir))?;
    let name = path
        .file_name()
        .map_or_else(|| "state".into(), |n| n.to_string_lossy().into_owned());
    let mut attempt = 0u32;
    let (tmp, mut file) = loop {
        let tmp = dir.join(format!(".{name}.{}.{attempt}.tmp", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 64 => attempt += 1,
            Err(e) => return Err(io_err("cannot create", &tmp)(e)),
        }
    };
    let result = file
        .write_all(data)
        .and_then(|()| file.sync_all())
        .map_err(io_err("cannot write", &tmp))
        .and_then(|()| fs::rename(&tmp, path).map_err(io_err("cannot replace", path)));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        return result;
    }
    // The rename is durable only once the directory entry is on disk.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("cannot sync directory", dir))
}

/// Reads a JSON state file; `Ok(None)` when it does not exist, and
/// [`StateError::Corrupt`] (never a silent reset) when it does not parse.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, StateError> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StateError::Corrupt {
                path: path.to_owned(),
                reason: e.to_string(),
            }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("cannot read", path)(e)),
    }
}

/// Writes a JSON state file atomically (pretty-printed, newline-terminated).
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), StateError> {
    let mut data = serde_json::to_vec_pretty(value).map_err(|e| StateError::Io {
        action: "cannot encode",
        path: path.to_owned(),
        source: io::Error::other(e),
    })?;
    data.push(b'\n');
    atomic_write(path, &data)
}

/// An exclusive advisory lock (`flock`) held until dropped.
#[derive(Debug)]
pub struct FileLock {
    file: File,
}

impl FileLock {
    /// Waits (up to [`FileLock::DEFAULT_TIMEOUT`]) until the lock on
    /// `path` (created if missing) is ours.
    pub fn exclusive(path: &Path) -> Result<Self, StateError> {
        Self::exclusive_timeout(path, Self::DEFAULT_TIMEOUT)
    }

    /// How long [`FileLock::exclusive`] waits before giving up.
    pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

    /// Waits up to `timeout` for the lock on `path`; a holder that never
    /// lets go gives a clear error instead of a hang.
    pub fn exclusive_timeout(
        path: &Path,
        timeout: std::time::Duration,
    ) -> Result<Self, StateError> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io_err("cannot create directory", dir))?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io_err("cannot open lock", path))?;
        let deadline = std::time::Instant::now() + timeout;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Self { file }),
                Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(StateError::Io {
                        action: "timed out waiting for lock",
                        path: path.to_owned(),
                        source: io::Error::from(io::ErrorKind::TimedOut),
                    });
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io_err("cannot lock", path)(e)),
            }
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_file_is_reported_and_kept() {
        let dir = tempdir();
        let p = dir.path().join("x.json");
        fs::write(&p, b"{not json").unwrap();
        let e = read_json::<serde_json::Value>(&p).unwrap_err();
        assert!(e.to_string().contains("is corrupt"), "{e}");
        assert_eq!(fs::read(&p).unwrap(), b"{not json");
    }

    #[test]
    fn missing_file_reads_as_none() {
        let dir = tempdir();
        assert!(
            read_json::<serde_json::Value>(&dir.path().join("nope"))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn concurrent_read_modify_write_loses_nothing() {
        let dir = tempdir();
        let file = dir.path().join("counter.json");
        let lock = dir.path().join(".lock");
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (file, lock) = (file.clone(), lock.clone());
                std::thread::spawn(move || {
                    for _ in 0..25 {
                        let _g = FileLock::exclusive(&lock).unwrap();
                        let n: u64 = read_json(&file).unwrap().unwrap_or(0);
                        write_json(&file, &(n + 1)).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(read_json::<u64>(&file).unwrap(), Some(200));
        // No temporary files are left behind.
        let left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(left.is_empty());
    }

    fn tempdir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }
}
