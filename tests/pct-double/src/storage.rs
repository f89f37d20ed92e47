//! Volume handling on the simulated storages (`local` dir storage with
//! templates, `local-lvm` backed by plain directories).

use crate::error::{Failure, Result};
use crate::node::{Node, StorageKind};
use std::fs;
use std::io::ErrorKind;
use std::path::PathBuf;

/// Template file extensions accepted for `vztmpl` volumes.
pub const VZTMPL_EXT: &[&str] = &[".tar", ".tar.gz", ".tar.xz", ".tar.zst", ".tar.bz2"];

/// Where a `pct create` template comes from.
#[derive(Debug, Clone)]
pub enum TemplateSource {
    Path(PathBuf),
    Volume { volid: String, path: PathBuf },
}

/// `parse_volume_id`.
pub fn parse_volume_id(volid: &str) -> Result<(String, String)> {
    let bad = || Failure::die(format!("unable to parse volume ID '{volid}'"));
    let (sid, name) = volid.split_once(':').ok_or_else(bad)?;
    if !crate::schema::is_storage_id(sid) || name.is_empty() {
        return Err(bad());
    }
    Ok((sid.to_string(), name.to_string()))
}

/// The file name of a `vztmpl/<file>` volname, if it is one.
pub fn vztmpl_file(volname: &str) -> Option<&str> {
    let f = volname.strip_prefix("vztmpl/")?;
    (!f.contains('/')
        && VZTMPL_EXT
            .iter()
            .any(|e| f.ends_with(e) && f.len() > e.len()))
    .then_some(f)
}

/// Pre-fork template access checks of `pct create` (contract §2 item 6).
pub fn template_source(node: &Node, ostemplate: &str) -> Result<TemplateSource> {
    if ostemplate.starts_with('/') {
        return Ok(TemplateSource::Path(PathBuf::from(ostemplate)));
    }
    let (sid, volname) = parse_volume_id(ostemplate)?;
    let st = node.storage_or_die(&sid)?;
    match st.kind {
        StorageKind::Dir => {
            if let Some(f) = vztmpl_file(&volname) {
                return Ok(TemplateSource::Volume {
                    volid: ostemplate.to_string(),
                    path: st.template_dir().join(f),
                });
            }
            let known = [
                "iso/",
                "images/",
                "rootdir/",
                "dump/",
                "snippets/",
                "import/",
            ];
            if known.iter().any(|k| volname.starts_with(k)) {
                return Err(Failure::die(format!(
                    "unable to use volume {ostemplate} - content type needs to be 'vztmpl'"
                )));
            }
            Err(Failure::die(format!(
                "unable to parse directory volume name '{volname}'"
            )))
        }
        StorageKind::LvmThin => {
            if volname.starts_with("vm-") || volname.starts_with("base-") {
                return Err(Failure::die(format!(
                    "unable to use volume {ostemplate} - content type needs to be 'vztmpl'"
                )));
            }
            Err(Failure::die(format!(
                "unable to parse lvm volume name '{volname}'"
            )))
        }
    }
}

/// Allocates the next `vm-<vmid>-disk-N` on an lvm-backed storage.
pub fn alloc_volume(node: &Node, sid: &str, vmid: u32) -> Result<(String, PathBuf)> {
    let st = node.storage_or_die(sid)?;
    fs::create_dir_all(&st.path)?;
    for n in 0..1000 {
        let name = format!("vm-{vmid}-disk-{n}");
        let path = st.volume_dir(&name);
        match fs::create_dir(&path) {
            Ok(()) => {
                println!("  Logical volume \"{name}\" created.");
                return Ok((format!("{sid}:{name}"), path));
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(Failure::die(format!("lvcreate '{name}' error: {e}")));
            }
        }
    }
    Err(Failure::die(format!(
        "unable to allocate an image name for VM {vmid} in storage '{sid}'"
    )))
}

/// Removes a volume of the lvm-backed storage (ignores others).
pub fn free_volume(node: &Node, volid: &str, verbose: bool) {
    let Some((sid, name)) = volid.split_once(':') else {
        return;
    };
    let Some(st) = node.storage(sid) else { return };
    if st.kind != StorageKind::LvmThin || name.contains('/') || name.is_empty() {
        return;
    }
    let path = st.volume_dir(name);
    if path.exists() && fs::remove_dir_all(&path).is_ok() && verbose {
        println!("  Logical volume \"{name}\" successfully removed.");
    }
}

/// Removes every `vm-<vmid>-disk-*` volume left on the lvm-backed storage.
pub fn free_unreferenced(node: &Node, vmid: u32) {
    let st = node.local_lvm();
    let prefix = format!("vm-{vmid}-disk-");
    if let Ok(rd) = fs::read_dir(&st.path) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(&prefix) {
                free_volume(node, &format!("{}:{n}", st.id), true);
            }
        }
    }
}

/// Templates on a dir storage: `(volid, size in bytes)`, sorted.
pub fn list_templates(node: &Node, sid: &str) -> Result<Vec<(String, u64)>> {
    let st = node.storage_or_die(sid)?;
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir(st.template_dir()) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if vztmpl_file(&format!("vztmpl/{n}")).is_none() {
                continue;
            }
            let size = e.metadata().map(|m| m.len()).unwrap_or(0);
            out.push((format!("{sid}:vztmpl/{n}"), size));
        }
    }
    out.sort();
    Ok(out)
}
