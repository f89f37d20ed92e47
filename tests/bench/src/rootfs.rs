//! Test trees: a busybox rootfs, an OCI bundle around it, and the
//! deterministic 200 MB tree the packer is measured on.

use std::fs;
use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use crate::err;
use crate::util::{Res, need, run};

const APPLETS: &[&str] = &[
    "sh", "ls", "echo", "cat", "sleep", "id", "hostname", "ps", "mount", "true", "env", "uname",
];

/// A minimal busybox rootfs at `dir` (busybox-static's binary).
pub fn busybox_rootfs(dir: &Path) -> Res<()> {
    let bb = need("busybox", "apt-get install -y busybox-static")?;
    let io = |e: std::io::Error| format!("rootfs {}: {e}", dir.display());
    for d in ["bin", "proc", "sys", "dev", "etc", "tmp", "root"] {
        fs::create_dir_all(dir.join(d)).map_err(io)?;
    }
    fs::copy(&bb, dir.join("bin/busybox")).map_err(io)?;
    for a in APPLETS {
        symlink("busybox", dir.join("bin").join(a)).map_err(io)?;
    }
    fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").map_err(io)?;
    fs::write(dir.join("etc/group"), "root:x:0:\n").map_err(io)?;
    Ok(())
}

/// An OCI bundle at `dir` running `args`, made by `runc spec` and edited:
/// no terminal, the given args.
pub fn busybox_bundle(dir: &Path, args: &[&str]) -> Res<()> {
    let runc = need("runc", "apt-get install -y runc")?;
    busybox_rootfs(&dir.join("rootfs"))?;
    run(Command::new(runc).arg("spec").arg("--bundle").arg(dir))?;
    let path = dir.join("config.json");
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut spec: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    spec["process"]["terminal"] = false.into();
    spec["process"]["args"] = args.iter().map(|a| serde_json::Value::from(*a)).collect();
    spec["hostname"] = "nexcage-bench".into();
    let out = serde_json::to_string_pretty(&spec).map_err(|e| e.to_string())?;
    fs::write(&path, out).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(())
}

/// A xorshift64* generator: the same seed gives the same tree everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
}

/// What [`pack_tree`] made.
#[derive(Debug, Default, Clone, Copy)]
pub struct TreeStats {
    /// Bytes of file data (each inode counted once).
    pub bytes: u64,
    /// Regular files (inodes).
    pub files: u64,
    /// Extra hard links.
    pub hard_links: u64,
    /// Symlinks.
    pub symlinks: u64,
    /// Directories.
    pub dirs: u64,
}

/// Builds a deterministic tree of at least `target_bytes` of file data:
/// 256 directories in two levels, 90 % small files (64 B–16 KiB), 9.5 %
/// medium (16 KiB–256 KiB), 0.5 % large (1–8 MiB) — about 4,700 files
/// for 200 MB, like a small distribution rootfs — every 20th entry a symlink
/// and every 25th a hard link to an earlier file. Contents are pseudo-
/// random (incompressible), modes vary, mtimes are fixed.
pub fn pack_tree(root: &Path, target_bytes: u64) -> Res<TreeStats> {
    let io = |e: std::io::Error| format!("tree {}: {e}", root.display());
    let mut rng = Rng(0x6e65_7863_6167_6521);
    let mut st = TreeStats::default();
    let mut dirs = Vec::new();
    for a in 0..16 {
        for b in 0..16 {
            let d = root.join(format!("d{a:02}")).join(format!("s{b:02}"));
            fs::create_dir_all(&d).map_err(io)?;
            dirs.push(d);
        }
    }
    st.dirs = 1 + 16 + 256;
    let mtime = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    while st.bytes < target_bytes {
        n += 1;
        let dir = &dirs[usize::try_from(rng.below(dirs.len() as u64)).unwrap_or(0)];
        if n.is_multiple_of(20) && !files.is_empty() {
            let to = &files[usize::try_from(rng.below(files.len() as u64)).unwrap_or(0)];
            let rel = Path::new("../..").join(to.strip_prefix(root).map_err(|e| e.to_string())?);
            symlink(rel, dir.join(format!("l{n:06}"))).map_err(io)?;
            st.symlinks += 1;
            continue;
        }
        if n.is_multiple_of(25) && !files.is_empty() {
            let to = &files[usize::try_from(rng.below(files.len() as u64)).unwrap_or(0)];
            fs::hard_link(to, dir.join(format!("h{n:06}"))).map_err(io)?;
            st.hard_links += 1;
            continue;
        }
        let size = match rng.below(1000) {
            0..900 => rng.range(64, 16 << 10),
            900..995 => rng.range(16 << 10, 256 << 10),
            _ => rng.range(1 << 20, 8 << 20),
        };
        let path = dir.join(format!("f{n:06}.bin"));
        let mut f = fs::File::create(&path).map_err(io)?;
        let mut left = size;
        while left > 0 {
            let chunk = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
            for w in buf[..chunk].chunks_mut(8) {
                let r = rng.next().to_le_bytes();
                w.copy_from_slice(&r[..w.len()]);
            }
            f.write_all(&buf[..chunk]).map_err(io)?;
            left -= chunk as u64;
        }
        f.set_modified(mtime).map_err(io)?;
        let mode = if n.is_multiple_of(7) { 0o755 } else { 0o644 };
        fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(mode))
            .map_err(io)?;
        st.bytes += size;
        st.files += 1;
        files.push(path);
    }
    if st.files == 0 {
        return err!("empty tree");
    }
    Ok(st)
}
