//! Builds a tiny busybox container template for tests.
//!
//! The rootfs holds the static `/bin/busybox` (package busybox-static), a
//! set of applet symlinks, `sbin/init` (busybox init with an inittab whose
//! only `respawn` entry keeps the container up; `SIGUSR2` powers it off)
//! and minimal `etc/passwd`, `etc/group`, `etc/os-release`. It is packed
//! with the system `tar` as `<root>/var/lib/vz/template/cache/<name>`, copied
//! to the `pveam download` source directory and registered in the
//! `pveam available` index (section `system`).

use crate::node::Node;
use crate::proc;
use crate::pveam::{self, AplEntry};
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Default template file name (Proxmox style
/// `<os>-<version>-<flavour>_<release>_<arch>.tar.gz`).
pub const TEMPLATE_NAME: &str = "busybox-1.36-nexcage_1.0-1_amd64.tar.gz";

/// Volume id of the default template on storage `local`.
pub fn default_volid() -> String {
    format!("local:vztmpl/{TEMPLATE_NAME}")
}

const APPLETS: &[&str] = &[
    "sh", "ash", "ls", "echo", "cat", "sleep", "id", "hostname", "ps", "mount", "umount", "true",
    "false", "env", "kill", "cp", "mv", "rm", "mkdir", "rmdir", "ln", "chmod", "chown", "grep",
    "sed", "head", "tail", "wc", "test", "printf", "uname", "date", "pwd", "touch", "find", "sort",
    "tr", "cut", "readlink", "stat", "df", "free", "which", "seq", "tee", "timeout", "basename",
    "dirname", "uptime", "whoami",
];
const SBIN_APPLETS: &[&str] = &["init", "halt", "poweroff", "reboot"];

const INITTAB: &str = "\
# busybox init: keep the container up with one respawning sleeper.
::sysinit:/bin/true
::respawn:/bin/sleep 2147483647
::shutdown:/bin/true
";

/// Source of the busybox binary (`$PVE_DOUBLE_BUSYBOX` or `/bin/busybox`).
fn busybox_binary() -> PathBuf {
    std::env::var_os("PVE_DOUBLE_BUSYBOX")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/bin/busybox"))
}

fn io(ctx: &str, p: &Path, e: std::io::Error) -> String {
    format!("{ctx} '{}': {e}", p.display())
}

/// Writes the busybox rootfs into `dir` (which must exist and be empty).
pub fn build_rootfs(dir: &Path) -> Result<(), String> {
    for d in [
        "bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "root", "run", "var/log", "usr/bin",
        "usr/sbin", "home",
    ] {
        let p = dir.join(d);
        fs::create_dir_all(&p).map_err(|e| io("unable to create", &p, e))?;
    }
    let _ = fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777));
    let src = busybox_binary();
    let dst = dir.join("bin/busybox");
    fs::copy(&src, &dst).map_err(|e| io("unable to copy", &src, e))?;
    fs::set_permissions(&dst, fs::Permissions::from_mode(0o755))
        .map_err(|e| io("unable to chmod", &dst, e))?;
    for a in APPLETS {
        let l = dir.join("bin").join(a);
        symlink("busybox", &l).map_err(|e| io("unable to symlink", &l, e))?;
    }
    for a in SBIN_APPLETS {
        let l = dir.join("sbin").join(a);
        symlink("../bin/busybox", &l).map_err(|e| io("unable to symlink", &l, e))?;
    }
    let files: &[(&str, &str)] = &[
        ("etc/inittab", INITTAB),
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        ),
        ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
        (
            "etc/os-release",
            "NAME=\"BusyBox\"\nID=busybox\nVERSION_ID=1.36\nPRETTY_NAME=\"BusyBox (nexcage test template)\"\n",
        ),
        ("etc/hostname", "busybox\n"),
        ("etc/hosts", "127.0.0.1 localhost\n"),
    ];
    for (name, text) in files {
        let p = dir.join(name);
        fs::write(&p, text).map_err(|e| io("unable to write", &p, e))?;
    }
    Ok(())
}

/// Builds the template under `node` and registers it. Returns its path.
pub fn make_template(node: &Node, name: Option<&str>) -> Result<PathBuf, String> {
    node.ensure_layout()
        .map_err(|e| e.render().trim_end().to_string())?;
    let mut name = name.unwrap_or(TEMPLATE_NAME).to_string();
    if !crate::storage::VZTMPL_EXT.iter().any(|e| name.ends_with(e)) {
        name.push_str(".tar.gz");
    }
    if name.contains('/') {
        return Err(format!("invalid template name '{name}'"));
    }
    let work = node.root.join("var/lib/pve-double");
    fs::create_dir_all(&work).map_err(|e| io("unable to create", &work, e))?;
    let build = tempfile::Builder::new()
        .prefix("mktemplate-")
        .tempdir_in(&work)
        .map_err(|e| io("unable to create temp dir in", &work, e))?;
    let rootfs = build.path().join("rootfs");
    fs::create_dir(&rootfs).map_err(|e| io("unable to create", &rootfs, e))?;
    build_rootfs(&rootfs)?;

    let cache = node.local().template_dir();
    fs::create_dir_all(&cache).map_err(|e| io("unable to create", &cache, e))?;
    let tmp = build.path().join(&name);
    let mut tar = Command::new("tar");
    tar.arg("-c")
        .arg("-a")
        .arg("-f")
        .arg(&tmp)
        .arg("--numeric-owner")
        .arg("--owner=0")
        .arg("--group=0")
        .arg("-C")
        .arg(&rootfs)
        .arg(".");
    proc::run_ok(&mut tar, Duration::from_secs(120))?;
    let dest = cache.join(&name);
    fs::copy(&tmp, &dest).map_err(|e| io("unable to copy to", &dest, e))?;
    let src = node.apl_source_dir().join(&name);
    fs::create_dir_all(node.apl_source_dir())
        .map_err(|e| io("unable to create", &node.apl_source_dir(), e))?;
    fs::copy(&tmp, &src).map_err(|e| io("unable to copy to", &src, e))?;
    let sha = pveam::sha512_file(&dest).map_err(|e| io("unable to read", &dest, e))?;

    let mut entry = AplEntry::default();
    let package = name.split('-').next().unwrap_or("busybox").to_string();
    for (k, v) in [
        ("Package", package.as_str()),
        ("Version", "1.36-1"),
        ("Type", "lxc"),
        ("OS", "unmanaged"),
        ("Section", "system"),
        ("Location", name.as_str()),
        ("Architecture", "amd64"),
        ("sha512sum", sha.as_str()),
        (
            "Description",
            "BusyBox test template for the nexcage pct double",
        ),
    ] {
        entry.fields.insert(k.to_string(), v.to_string());
    }
    pveam::register(node, entry).map_err(|e| e.render().trim_end().to_string())?;
    Ok(dest)
}
