//! Packing an OCI bundle's rootfs into a Proxmox template tarball.
//!
//! The archive keeps modes, numeric owners, mtimes, symlinks, hard links,
//! device nodes, FIFOs and extended attributes (as PAX `SCHILY.xattr.*`
//! records, which GNU tar restores with `--xattrs`). Entries are written
//! in sorted order, so the same tree always gives the same bytes, and the
//! archive is cached as `nexcage-<sha256>.tar`; a metadata index in front
//! of that cache lets a second create from an unchanged bundle skip even
//! reading the files.

use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nexcage_plugin_api::{BackendError, BackendResult};
use sha2::{Digest, Sha256};
use tar::{EntryType, Header, HeaderMode};

/// The packed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed {
    /// `nexcage-<hash>.tar`.
    pub file_name: String,
    /// Its full path in the cache directory.
    pub path: PathBuf,
    /// True when it was already in the cache.
    pub cache_hit: bool,
    /// Entries that could not be archived (sockets).
    pub skipped: Vec<String>,
}

/// A writer that hashes everything passing through.
struct HashWriter<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Packs `rootfs` into `cache_dir/nexcage-<sha256 of the archive>.tar`.
///
/// Two levels of cache, so an unchanged bundle is never packed twice and
/// the cold path reads the tree once:
/// 1. a metadata index: a stat-only walk of the tree (path, inode, size,
///    mode, owner, mtime and ctime of every entry) gives a key; if
///    `.nexcage-index/<key>` names a template that exists, that is a hit
///    without reading any file content. Any write, chmod, chown or xattr
///    change bumps an entry's ctime, so a changed tree never matches.
/// 2. the content hash: otherwise the archive is written once, hashed as
///    it is written, and renamed to its content-hash name; identical
///    content from another directory lands on the same file.
pub fn pack_cached(rootfs: &Path, cache_dir: &Path) -> BackendResult<Packed> {
    let meta = fs::metadata(rootfs)
        .map_err(|e| fail(format!("cannot read bundle rootfs {}", rootfs.display()), e))?;
    if !meta.is_dir() {
        return Err(BackendError::invalid_argument(format!(
            "bundle rootfs {} is not a directory",
            rootfs.display()
        )));
    }
    let index_dir = cache_dir.join(".nexcage-index");
    let key = metadata_key(rootfs)
        .map_err(|e| fail(format!("cannot read bundle rootfs {}", rootfs.display()), e))?;
    let index = index_dir.join(&key);
    if let Ok(recorded) = fs::read_to_string(&index) {
        let file_name = recorded.trim().to_owned();
        let path = cache_dir.join(&file_name);
        if is_template_name(&file_name) && path.is_file() {
            tracing::debug!(template = %path.display(), "template cache hit");
            return Ok(Packed {
                file_name,
                path,
                cache_hit: true,
                skipped: Vec::new(),
            });
        }
    }
    fs::create_dir_all(&index_dir).map_err(|e| {
        fail(
            format!("cannot create template directory {}", index_dir.display()),
            e,
        )
    })?;
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let tmp = cache_dir.join(format!(
        ".nexcage-pack.{}.{}.tmp",
        std::process::id(),
        SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let result = (|| -> io::Result<(String, Vec<String>)> {
        let file = File::create(&tmp)?;
        let mut w = HashWriter {
            inner: BufWriter::with_capacity(1 << 20, file),
            hash: Sha256::new(),
        };
        let skipped = write_archive(rootfs, &mut w)?;
        w.flush()?;
        let digest = hex(&w.hash.finalize());
        let file = w.inner.into_inner().map_err(|e| e.into_error())?;
        file.set_permissions(fs::Permissions::from_mode(0o644))?;
        // Durable before it gets its final name: a crash must never leave
        // a truncated template that later creates would reuse.
        file.sync_all()?;
        Ok((digest, skipped))
    })();
    let (digest, skipped) = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(fail(format!("cannot write template {}", tmp.display()), e));
        }
    };
    let file_name = format!("nexcage-{digest}.tar");
    let path = cache_dir.join(&file_name);
    let cache_hit = path.is_file();
    let stored = if cache_hit {
        // Same content packed before (from another directory): keep one.
        fs::remove_file(&tmp)
    } else {
        fs::rename(&tmp, &path)
    };
    if let Err(e) = stored {
        let _ = fs::remove_file(&tmp);
        return Err(fail(format!("cannot store template {}", path.display()), e));
    }
    // The index is only a shortcut: failing to record it costs a repack
    // next time, nothing else.
    if let Err(e) = nexcage_plugin_api::state::atomic_write(&index, file_name.as_bytes()) {
        tracing::debug!("cannot record template index {}: {e}", index.display());
    }
    tracing::debug!(template = %path.display(), cache_hit, "template packed");
    Ok(Packed {
        file_name,
        path,
        cache_hit,
        skipped,
    })
}

fn is_template_name(name: &str) -> bool {
    name.strip_prefix("nexcage-")
        .and_then(|n| n.strip_suffix(".tar"))
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The stat-only key of a tree (see [`pack_cached`]).
fn metadata_key(root: &Path) -> io::Result<String> {
    let mut h = Sha256::new();
    h.update(b"nexcage-pack-index-v1\0");
    let top = fs::symlink_metadata(root)?;
    hash_meta(&mut h, Path::new(""), &top);
    key_walk(&mut h, root, Path::new(""))?;
    Ok(hex(&h.finalize()))
}

fn key_walk(h: &mut Sha256, dir: &Path, rel: &Path) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = rel.join(e.file_name());
        let meta = fs::symlink_metadata(e.path())?;
        hash_meta(h, &name, &meta);
        if meta.is_dir() {
            key_walk(h, &e.path(), &name)?;
        }
    }
    Ok(())
}

fn hash_meta(h: &mut Sha256, name: &Path, m: &fs::Metadata) {
    h.update(name.as_os_str().as_bytes());
    h.update(b"\0");
    for v in [m.dev(), m.ino(), m.size(), m.rdev(), m.nlink()] {
        h.update(v.to_le_bytes());
    }
    for v in [m.mode(), m.uid(), m.gid()] {
        h.update(v.to_le_bytes());
    }
    for v in [m.mtime(), m.mtime_nsec(), m.ctime(), m.ctime_nsec()] {
        h.update(v.to_le_bytes());
    }
}

fn fail(context: String, e: io::Error) -> BackendError {
    BackendError::failed(format!("{context}: {e}"))
}

/// Writes the archive of `root`'s contents to `w`; returns skipped paths.
fn write_archive<W: Write>(root: &Path, w: &mut W) -> io::Result<Vec<String>> {
    let mut b = tar::Builder::new(w);
    b.mode(HeaderMode::Complete);
    b.follow_symlinks(false);
    let mut state = Walk {
        links: HashMap::new(),
        skipped: Vec::new(),
    };
    walk(&mut b, root, Path::new(""), &mut state)?;
    b.finish()?;
    Ok(state.skipped)
}

struct Walk {
    /// (dev, ino) of multiply-linked files already archived → their name.
    links: HashMap<(u64, u64), PathBuf>,
    skipped: Vec<String>,
}

fn walk<W: Write>(
    b: &mut tar::Builder<W>,
    dir: &Path,
    rel: &Path,
    st: &mut Walk,
) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let name = rel.join(e.file_name());
        let meta = fs::symlink_metadata(&path)?;
        let ft = meta.file_type();
        if ft.is_socket() {
            st.skipped.push(name.display().to_string());
            continue;
        }
        append_xattrs(b, &path, &name)?;
        let mut h = Header::new_gnu();
        h.set_metadata_in_mode(&meta, HeaderMode::Complete);
        if ft.is_dir() {
            h.set_entry_type(EntryType::Directory);
            h.set_size(0);
            b.append_data(&mut h, &name, io::empty())?;
            walk(b, &path, &name, st)?;
        } else if ft.is_symlink() {
            h.set_entry_type(EntryType::Symlink);
            h.set_size(0);
            let target = fs::read_link(&path)?;
            b.append_link(&mut h, &name, &target)?;
        } else if ft.is_file() {
            let key = (meta.dev(), meta.ino());
            if meta.nlink() > 1 {
                if let Some(first) = st.links.get(&key) {
                    h.set_entry_type(EntryType::Link);
                    h.set_size(0);
                    let first = first.clone();
                    b.append_link(&mut h, &name, &first)?;
                    continue;
                }
                st.links.insert(key, name.clone());
            }
            h.set_entry_type(EntryType::Regular);
            h.set_size(meta.len());
            let f = File::open(&path)?;
            let mut data = ExactReader {
                inner: f.take(meta.len()),
                left: meta.len(),
                path: path.clone(),
            };
            b.append_data(&mut h, &name, &mut data)?;
        } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
            h.set_entry_type(if ft.is_char_device() {
                EntryType::Char
            } else if ft.is_block_device() {
                EntryType::Block
            } else {
                EntryType::Fifo
            });
            h.set_size(0);
            let rdev = meta.rdev();
            h.set_device_major(libc::major(rdev))?;
            h.set_device_minor(libc::minor(rdev))?;
            b.append_data(&mut h, &name, io::empty())?;
        } else {
            st.skipped.push(name.display().to_string());
        }
    }
    Ok(())
}

/// Reads exactly `left` bytes; a file that shrank while being packed is
/// an error rather than a corrupt archive.
struct ExactReader<R> {
    inner: R,
    left: u64,
    path: PathBuf,
}

impl<R: Read> Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(io::Error::other(format!(
                "{} changed size while being packed",
                self.path.display()
            )));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Emits a PAX extended header with the entry's xattrs, if it has any.
fn append_xattrs<W: Write>(b: &mut tar::Builder<W>, path: &Path, name: &Path) -> io::Result<()> {
    let attrs = read_xattrs(path)?;
    if attrs.is_empty() {
        return Ok(());
    }
    let mut data = Vec::new();
    for (k, v) in &attrs {
        let key = format!("SCHILY.xattr.{}", String::from_utf8_lossy(k));
        pax_record(&mut data, &key, v);
    }
    let mut h = Header::new_ustar();
    h.set_entry_type(EntryType::XHeader);
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_mtime(0);
    // Conventional name; readers ignore it. Keep it short (ustar: 100).
    let base = name
        .file_name()
        .map(|n| n.to_string_lossy().chars().take(80).collect::<String>())
        .unwrap_or_default();
    b.append_data(&mut h, format!("PaxHeaders/{base}"), data.as_slice())
}

/// `"<len> <key>=<value>\n"`, where len counts the whole record.
fn pax_record(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    let rest = 1 + key.len() + 1 + value.len() + 1;
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    out.extend_from_slice(format!("{len} {key}=").as_bytes());
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// All extended attributes of `path` (not following symlinks), sorted.
fn read_xattrs(path: &Path) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::other("path contains a nul byte"))?;
    let names = match xattr_call(|buf, len| {
        // SAFETY: c is a valid C string; buf/len describe a writable buffer
        // (or null/0 to query the size).
        unsafe { libc::llistxattr(c.as_ptr(), buf.cast(), len) }
    }) {
        Ok(n) => n,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTSUP)) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for n in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let cn = CString::new(n).map_err(|_| io::Error::other("bad xattr name"))?;
        let v = match xattr_call(|buf, len| {
            // SAFETY: as above; cn is a valid C string.
            unsafe { libc::lgetxattr(c.as_ptr(), cn.as_ptr(), buf.cast(), len) }
        }) {
            Ok(v) => v,
            // Removed between list and get.
            Err(e) if e.raw_os_error() == Some(libc::ENODATA) => continue,
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!(
                        "cannot read xattr {} of {}: {e}",
                        OsStr::from_bytes(n).to_string_lossy(),
                        path.display()
                    ),
                ));
            }
        };
        out.push((n.to_vec(), v));
    }
    out.sort();
    Ok(out)
}

/// Calls a size-query-then-fill xattr function, retrying on ERANGE.
fn xattr_call(mut f: impl FnMut(*mut u8, usize) -> isize) -> io::Result<Vec<u8>> {
    loop {
        let size = f(std::ptr::null_mut(), 0);
        if size < 0 {
            return Err(io::Error::last_os_error());
        }
        if size == 0 {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; size.unsigned_abs()];
        let got = f(buf.as_mut_ptr(), buf.len());
        if got < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ERANGE) {
                continue;
            }
            return Err(e);
        }
        buf.truncate(got.unsigned_abs());
        return Ok(buf);
    }
}

/// Finds `env` inside a rootfs (following symlinks within it), for
/// passing several environment variables through the entrypoint.
pub fn find_in_rootfs(rootfs: &Path, candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .find(|c| resolves_to_file(rootfs, c, 0))
        .map(|c| (*c).to_owned())
}

fn resolves_to_file(rootfs: &Path, abs: &str, depth: u32) -> bool {
    if depth > 16 {
        return false;
    }
    let mut cur = PathBuf::from("/");
    let comps: Vec<&str> = abs.split('/').filter(|c| !c.is_empty()).collect();
    for (i, c) in comps.iter().enumerate() {
        if *c == ".." {
            cur.pop();
            continue;
        }
        if *c == "." {
            continue;
        }
        let next = cur.join(c);
        let host = rootfs.join(next.strip_prefix("/").unwrap_or(&next));
        match fs::symlink_metadata(&host) {
            Ok(m) if m.file_type().is_symlink() => {
                let Ok(t) = fs::read_link(&host) else {
                    return false;
                };
                let t = t.to_string_lossy().into_owned();
                let resolved = if t.starts_with('/') {
                    t
                } else {
                    format!("{}/{t}", cur.display())
                };
                let rest = comps[i + 1..].join("/");
                let full = if rest.is_empty() {
                    resolved
                } else {
                    format!("{resolved}/{rest}")
                };
                return resolves_to_file(rootfs, &full, depth + 1);
            }
            Ok(m) if i + 1 == comps.len() => {
                return m.is_file() && m.permissions().mode() & 0o111 != 0;
            }
            Ok(m) if m.is_dir() => cur = next,
            _ => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_length_counts_itself() {
        let mut v = Vec::new();
        pax_record(&mut v, "SCHILY.xattr.user.a", b"1");
        let s = String::from_utf8(v.clone()).unwrap();
        let (len, _) = s.split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), v.len());
        // Around a digit-count boundary.
        let mut v = Vec::new();
        pax_record(&mut v, "k", &[b'x'; 94]);
        let s = String::from_utf8(v.clone()).unwrap();
        let (len, _) = s.split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), v.len());
    }

    #[test]
    fn finds_env_through_symlinks() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        fs::create_dir_all(r.join("bin")).unwrap();
        fs::create_dir_all(r.join("usr")).unwrap();
        fs::write(r.join("bin/busybox"), b"").unwrap();
        fs::set_permissions(r.join("bin/busybox"), fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("/bin", r.join("usr/bin")).unwrap();
        std::os::unix::fs::symlink("busybox", r.join("bin/env")).unwrap();
        assert_eq!(
            find_in_rootfs(r, &["/usr/bin/env"]),
            Some("/usr/bin/env".into())
        );
        assert_eq!(find_in_rootfs(r, &["/sbin/env"]), None);
    }
}
