//! The template tarball keeps modes, owners, symlinks, hard links, device
//! nodes, FIFOs and xattrs, and is cached by content hash.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use nexcage_proxmox_lxc::pack::pack_cached;
use tar::EntryType;

fn mknod(path: &Path, mode: u32, dev: u64) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: valid C string; test runs as root.
    let rc = unsafe { libc::mknod(c.as_ptr(), mode, dev) };
    assert_eq!(
        rc,
        0,
        "mknod {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) -> bool {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = CString::new(name).unwrap();
    // SAFETY: valid C strings and buffer.
    unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        ) == 0
    }
}

struct Seen {
    kind: EntryType,
    mode: u32,
    uid: u64,
    gid: u64,
    link: Option<String>,
    dev: Option<(u32, u32)>,
    xattrs: BTreeMap<String, Vec<u8>>,
    data: Vec<u8>,
}

fn read_archive(path: &Path) -> BTreeMap<String, Seen> {
    use std::io::Read;
    let mut ar = tar::Archive::new(std::fs::File::open(path).unwrap());
    let mut out = BTreeMap::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let mut xattrs = BTreeMap::new();
        if let Some(exts) = e.pax_extensions().unwrap() {
            for x in exts {
                let x = x.unwrap();
                if let Some(k) = x.key().unwrap().strip_prefix("SCHILY.xattr.") {
                    xattrs.insert(k.to_owned(), x.value_bytes().to_vec());
                }
            }
        }
        let h = e.header().clone();
        let name = e
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches('/')
            .to_owned();
        let link = e
            .link_name()
            .unwrap()
            .map(|l| l.to_string_lossy().into_owned());
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        let dev = match h.entry_type() {
            EntryType::Char | EntryType::Block => Some((
                h.device_major().unwrap().unwrap(),
                h.device_minor().unwrap().unwrap(),
            )),
            _ => None,
        };
        out.insert(
            name,
            Seen {
                kind: h.entry_type(),
                mode: h.mode().unwrap(),
                uid: h.uid().unwrap(),
                gid: h.gid().unwrap(),
                link,
                dev,
                xattrs,
                data,
            },
        );
    }
    out
}

#[test]
fn packing_keeps_metadata_and_caches() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("rootfs");
    let cache = d.path().join("cache");
    for dir in ["bin", "etc", "dev", "var/empty"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    let set_mode = |p: &str, m: u32| {
        std::fs::set_permissions(root.join(p), std::fs::Permissions::from_mode(m)).unwrap()
    };
    std::fs::write(root.join("bin/tool"), b"#!/bin/sh\necho tool\n").unwrap();
    set_mode("bin/tool", 0o755);
    std::fs::write(root.join("bin/suid"), b"x").unwrap();
    set_mode("bin/suid", 0o4755);
    std::fs::write(root.join("etc/shadow"), b"root:*:1::::::\n").unwrap();
    set_mode("etc/shadow", 0o600);
    std::os::unix::fs::chown(root.join("etc/shadow"), Some(1234), Some(42)).unwrap();
    set_mode("var/empty", 0o1777);
    symlink("tool", root.join("bin/rel-link")).unwrap();
    symlink("/bin/tool", root.join("bin/abs-link")).unwrap();
    std::fs::hard_link(root.join("bin/tool"), root.join("bin/tool-hard")).unwrap();
    mknod(
        &root.join("dev/null"),
        libc::S_IFCHR | 0o666,
        libc::makedev(1, 3),
    );
    mknod(&root.join("dev/fifo"), libc::S_IFIFO | 0o644, 0);
    let long_dir = "d".repeat(60);
    let long_name = format!("{long_dir}/{}", "f".repeat(80));
    std::fs::create_dir_all(root.join(&long_dir)).unwrap();
    std::fs::write(root.join(&long_name), b"long").unwrap();
    std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
    let have_xattr = set_xattr(&root.join("bin/tool"), "user.nexcage", b"yes");
    if !have_xattr {
        eprintln!("this filesystem has no user xattrs; skipping that check");
    }

    let first = pack_cached(&root, &cache).unwrap();
    assert!(!first.cache_hit);
    assert!(first.file_name.starts_with("nexcage-") && first.file_name.ends_with(".tar"));
    assert_eq!(first.skipped, ["sock"]);
    let entries = read_archive(&first.path);

    let e = &entries["bin/tool"];
    assert_eq!(e.kind, EntryType::Regular);
    assert_eq!(e.mode & 0o7777, 0o755);
    assert_eq!(e.data, b"#!/bin/sh\necho tool\n");
    if have_xattr {
        assert_eq!(
            e.xattrs.get("user.nexcage").map(Vec::as_slice),
            Some(&b"yes"[..])
        );
    }
    assert_eq!(entries["bin/suid"].mode & 0o7777, 0o4755);
    let sh = &entries["etc/shadow"];
    assert_eq!((sh.mode & 0o7777, sh.uid, sh.gid), (0o600, 1234, 42));
    assert_eq!(entries["var/empty"].kind, EntryType::Directory);
    assert_eq!(entries["var/empty"].mode & 0o7777, 0o1777);
    assert_eq!(entries["bin/rel-link"].kind, EntryType::Symlink);
    assert_eq!(entries["bin/rel-link"].link.as_deref(), Some("tool"));
    assert_eq!(entries["bin/abs-link"].link.as_deref(), Some("/bin/tool"));
    // The second name of the inode is a hard link to the first.
    let hard = &entries["bin/tool-hard"];
    assert_eq!(hard.kind, EntryType::Link);
    assert_eq!(hard.link.as_deref(), Some("bin/tool"));
    assert_eq!(entries["dev/null"].kind, EntryType::Char);
    assert_eq!(entries["dev/null"].dev, Some((1, 3)));
    assert_eq!(entries["dev/fifo"].kind, EntryType::Fifo);
    assert_eq!(entries[&long_name].data, b"long");
    assert!(!entries.contains_key("sock"));

    // GNU tar (what Proxmox extracts with) reads it back faithfully.
    let out = d.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let st = std::process::Command::new("tar")
        .args(["--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf"])
        .arg(&first.path)
        .arg("-C")
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    use std::os::unix::fs::MetadataExt;
    let m = |p: &str| std::fs::symlink_metadata(out.join(p)).unwrap();
    assert_eq!(m("bin/suid").mode() & 0o7777, 0o4755);
    assert_eq!(m("bin/tool").ino(), m("bin/tool-hard").ino());
    assert_eq!((m("etc/shadow").uid(), m("etc/shadow").gid()), (1234, 42));
    assert_eq!(
        std::fs::read_link(out.join("bin/abs-link")).unwrap(),
        Path::new("/bin/tool")
    );
    assert_eq!(m("dev/null").rdev(), libc::makedev(1, 3));

    // Unchanged tree: cache hit, nothing rewritten.
    let mtime = std::fs::metadata(&first.path).unwrap().modified().unwrap();
    let second = pack_cached(&root, &cache).unwrap();
    assert!(second.cache_hit);
    assert_eq!(second.path, first.path);
    assert_eq!(
        std::fs::metadata(&first.path).unwrap().modified().unwrap(),
        mtime
    );

    // A changed tree gets a new template; no temporary files remain.
    std::fs::write(root.join("etc/motd"), b"changed\n").unwrap();
    let third = pack_cached(&root, &cache).unwrap();
    assert!(!third.cache_hit);
    assert_ne!(third.file_name, first.file_name);
    let names: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".nexcage-index")
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("nexcage-") && n.ends_with(".tar"))
    );
}

#[test]
fn rootfs_must_be_a_directory() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("file");
    std::fs::write(&f, b"x").unwrap();
    let e = pack_cached(&f, d.path()).unwrap_err();
    assert!(e.message.contains("is not a directory"), "{e}");
    let e = pack_cached(&d.path().join("missing"), d.path()).unwrap_err();
    assert!(e.message.contains("cannot read bundle rootfs"), "{e}");
}

#[test]
fn same_content_elsewhere_shares_one_template() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let mut paths = Vec::new();
    for copy in ["a", "b"] {
        let root = dir.path().join(copy);
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::write(root.join("bin/tool"), b"same bytes").unwrap();
        let f = std::fs::File::open(root.join("bin/tool")).unwrap();
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        f.set_modified(t).unwrap();
        std::fs::File::open(root.join("bin"))
            .unwrap()
            .set_modified(t)
            .unwrap();
        std::fs::File::open(&root).unwrap().set_modified(t).unwrap();
        let packed = pack_cached(&root, &cache).unwrap();
        // The second tree has other inodes, so the metadata index misses,
        // but the content hash finds the first archive.
        assert_eq!(packed.cache_hit, copy == "b");
        paths.push(packed.path);
    }
    assert_eq!(paths[0], paths[1]);
    let leftovers: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}
