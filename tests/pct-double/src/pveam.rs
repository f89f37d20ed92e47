//! The `pveam` command (contract §6).
//!
//! The appliance index is a file this double defines:
//! `<root>/var/lib/pve-manager/apl-info/nexcage-double.dat`, in the same
//! paragraph format as Proxmox's `aplinfo.dat` (`Key: value` lines,
//! paragraphs separated by blank lines; the keys used are `Package`,
//! `Version`, `Type`, `OS`, `Section`, `Location`, `Architecture`,
//! `sha512sum`, `Description`). `pveam download` "downloads" by copying
//! `<root>/var/lib/pve-double/apl-source/<template>`.

use crate::cli::Table;
use crate::error::{Failure, Result};
use crate::getopt::{Kind, Spec};
use crate::node::Node;
use crate::schema::Ty;
use crate::{faults, storage};
use sha2::{Digest, Sha512};
use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::Path;

const TOOL: &str = "pveam";
pub const INDEX_FILE: &str = "nexcage-double.dat";

/// One entry of the appliance index.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AplEntry {
    pub fields: BTreeMap<String, String>,
}

impl AplEntry {
    pub fn template(&self) -> Option<&str> {
        let loc = self.fields.get("Location")?;
        Some(loc.rsplit('/').next().unwrap_or(loc))
    }
    pub fn section(&self) -> &str {
        self.fields.get("Section").map(String::as_str).unwrap_or("")
    }
}

pub fn parse_index(text: &str) -> Vec<AplEntry> {
    let mut out = Vec::new();
    let mut cur = AplEntry::default();
    for line in text.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            if !cur.fields.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            cur.fields
                .insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    out
}

pub fn render_index(entries: &[AplEntry]) -> String {
    let order = [
        "Package",
        "Version",
        "Type",
        "OS",
        "Section",
        "Location",
        "Architecture",
        "sha512sum",
        "Description",
    ];
    let mut s = String::new();
    for e in entries {
        for k in order {
            if let Some(v) = e.fields.get(k) {
                s.push_str(&format!("{k}: {v}\n"));
            }
        }
        for (k, v) in &e.fields {
            if !order.contains(&k.as_str()) {
                s.push_str(&format!("{k}: {v}\n"));
            }
        }
        s.push('\n');
    }
    s
}

pub fn load_index(node: &Node) -> Vec<AplEntry> {
    fs::read_to_string(node.aplinfo_index())
        .map(|t| parse_index(&t))
        .unwrap_or_default()
}

/// Adds or replaces (by template name) an index entry.
pub fn register(node: &Node, entry: AplEntry) -> Result<()> {
    let mut all = load_index(node);
    all.retain(|e| e.template() != entry.template());
    all.push(entry);
    let path = node.aplinfo_index();
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    fs::write(&tmp, render_index(&all))?;
    fs::rename(&tmp, &path)?;
    Ok(())
}

pub fn sha512_file(path: &Path) -> std::io::Result<String> {
    let mut f = fs::File::open(path)?;
    let mut h = Sha512::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn spec(cmd: &str) -> Spec {
    let p = format!("{TOOL} {cmd}");
    match cmd {
        "available" => Spec::new(&p, &[], vec![("section".into(), Kind::Str)]),
        "download" => Spec::new(&p, &["storage", "template"], vec![]),
        "list" => Spec::new(&p, &["storage"], vec![]),
        "remove" => Spec::new(&p, &["template_path"], vec![]),
        "help" => Spec::new(&p, &[], vec![("verbose".into(), Kind::Bool)]).with_extra_args(),
        _ => Spec::new(&p, &[], vec![]),
    }
}

fn param_type(name: &str) -> Option<Ty> {
    Some(match name {
        "storage" => Ty::StorageId,
        "section" => Ty::Enum(&["system", "mail", "turnkeylinux"]),
        "template" => Ty::Str(Some(255), None),
        _ => return None,
    })
}

pub fn table() -> Table {
    Table::of(
        TOOL,
        &["available", "download", "help", "list", "remove", "update"],
        spec,
    )
}

pub fn run(node: &Node, argv: &[String]) -> Result<i32> {
    let table = table();
    let cmd = table.resolve(argv)?;
    faults::apply(TOOL, cmd)?;
    let sp = spec(cmd);
    let p = sp.parse_checked(&argv[1..], &param_type)?;
    match cmd {
        "update" => {
            println!("update successful");
            Ok(0)
        }
        "help" => table.help(&p.extra),
        "available" => {
            let mut rows: Vec<(String, String)> = load_index(node)
                .iter()
                .filter(|e| e.section() != "all")
                .filter(|e| p.get("section").is_none_or(|s| s == e.section()))
                .filter_map(|e| Some((e.section().to_string(), e.template()?.to_string())))
                .collect();
            rows.sort();
            let mut out = String::new();
            for (s, t) in rows {
                out.push_str(&format!("{s:<15} {t}\n"));
            }
            print!("{out}");
            Ok(0)
        }
        "list" => {
            let sid = p.get("storage").unwrap_or("");
            let st = node.storage_or_die(sid)?;
            if !st.supports_vztmpl() {
                return Err(Failure::die("Storage does not support templates!"));
            }
            let mut out = format!("{:<60} {:<6}\n", "NAME", "SIZE");
            for (volid, size) in storage::list_templates(node, sid)? {
                out.push_str(&format!("{volid:<60} {:<4.2}MB\n", size as f64 / 1048576.0));
            }
            print!("{out}");
            Ok(0)
        }
        "download" => download(
            node,
            p.get("storage").unwrap_or(""),
            p.get("template").unwrap_or(""),
            &sp,
        ),
        "remove" => remove(node, p.get("template_path").unwrap_or("")),
        other => Err(Failure::die(format!(
            "pveam double: command '{other}' is not implemented"
        ))),
    }
}

fn download(node: &Node, sid: &str, template: &str, sp: &Spec) -> Result<i32> {
    let st = node.storage_or_die(sid)?;
    let index = load_index(node);
    let Some(entry) = index.iter().find(|e| e.template() == Some(template)) else {
        return Err(Failure::param(
            "template",
            "no such template",
            Some(&sp.usage()),
        ));
    };
    if !st.supports_vztmpl() {
        return Err(Failure::die(format!(
            "storage '{sid}' does not support templates"
        )));
    }
    let src = node.apl_source_dir().join(template);
    let url = format!("file://{}", src.display());
    let dest = st.template_dir().join(template);
    let sha = entry.fields.get("sha512sum").cloned();
    // The task: no $upid_exit, so a failure prints on stderr but exits 0.
    let res = (|| -> std::result::Result<(), String> {
        fs::create_dir_all(st.template_dir()).map_err(|e| e.to_string())?;
        if dest.exists()
            && let Some(want) = &sha
            && sha512_file(&dest).ok().as_ref() == Some(want)
        {
            println!(
                "calculating checksum of existing file...OK, got correct file already, no need to download"
            );
            return Ok(());
        }
        println!("downloading {url} to {}", dest.display());
        let tmp = dest.with_extension(format!("tmp_{}", std::process::id()));
        fs::copy(&src, &tmp).map_err(|e| format!("download failed - {e}"))?;
        if let Some(want) = &sha {
            print!("calculating checksum...");
            let got = sha512_file(&tmp).map_err(|e| e.to_string())?;
            if &got != want {
                let _ = fs::remove_file(&tmp);
                println!();
                return Err(format!("checksum mismatch: got '{got}' != expect '{want}'"));
            }
            println!("OK, checksum verified");
        }
        fs::rename(&tmp, &dest).map_err(|e| e.to_string())?;
        println!("download of '{url}' to '{}' finished", dest.display());
        Ok(())
    })();
    let _ = std::io::stdout().flush();
    if let Err(e) = res {
        eprintln!("{}", e.replace('\n', " "));
    }
    Ok(0)
}

fn remove(node: &Node, volid: &str) -> Result<i32> {
    let (sid, volname) = storage::parse_volume_id(volid)?;
    let st = node.storage_or_die(&sid)?;
    let file = match storage::vztmpl_file(&volname) {
        Some(f) if st.supports_vztmpl() => f,
        _ => {
            return Err(Failure::die(format!(
                "unable to use volume {volid} - content type needs to be 'vztmpl'"
            )));
        }
    };
    let path = st.template_dir().join(file);
    fs::remove_file(&path)
        .map_err(|e| Failure::die(format!("unlink '{}' failed - {e}", path.display())))?;
    Ok(0)
}
