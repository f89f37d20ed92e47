//! The `pvesh` command: only `get /cluster/nextid` (contract §7).

use crate::cli::Table;
use crate::config;
use crate::error::{Failure, Result};
use crate::faults;
use crate::getopt::{Kind, Spec};
use crate::node::Node;
use crate::schema::Ty;
use std::collections::BTreeSet;

const TOOL: &str = "pvesh";
const NEXTID_LOWER: u32 = 100;
const NEXTID_UPPER: u32 = 1_000_000;

fn spec(cmd: &str) -> Spec {
    let p = format!("{TOOL} {cmd}");
    let mut s = match cmd {
        "get" => Spec::new(
            &p,
            &["api_path"],
            vec![
                ("vmid".into(), Kind::Str),
                ("output-format".into(), Kind::Str),
                ("noborder".into(), Kind::Bool),
                ("noheader".into(), Kind::Bool),
                ("human-readable".into(), Kind::Bool),
            ],
        ),
        "ls" | "usage" => Spec::new(&p, &["api_path"], vec![]),
        "help" => Spec::new(&p, &[], vec![("verbose".into(), Kind::Bool)]).with_extra_args(),
        _ => Spec::new(&p, &["api_path"], vec![("noproxy".into(), Kind::Bool)]),
    };
    if matches!(cmd, "get" | "set" | "create" | "delete" | "ls") {
        s.usage_suffix = " [FORMAT_OPTIONS]";
    }
    s
}

fn param_type(name: &str) -> Option<Ty> {
    Some(match name {
        "vmid" => Ty::Vmid,
        "output-format" => Ty::Enum(&["text", "json", "json-pretty", "yaml"]),
        _ => return None,
    })
}

pub fn table() -> Table {
    Table::of(
        TOOL,
        &["create", "delete", "get", "help", "ls", "set", "usage"],
        spec,
    )
}

pub fn run(node: &Node, argv: &[String]) -> Result<i32> {
    let table = table();
    let cmd = table.resolve(argv)?;
    faults::apply(TOOL, cmd)?;
    let sp = spec(cmd);
    let p = sp.parse_checked(&argv[1..], &param_type)?;
    if cmd == "help" {
        return table.help(&p.extra);
    }
    let raw = p.get("api_path").unwrap_or("");
    let path = format!("/{}", raw.trim_matches('/'));
    if cmd != "get" || path != "/cluster/nextid" {
        return Err(Failure::die(format!(
            "No '{cmd}' handler defined for '{path}'"
        )));
    }
    let used: BTreeSet<u32> = node.all_guests().into_iter().map(|g| g.0).collect();
    let json = matches!(p.get("output-format"), Some("json" | "json-pretty"));
    let text = if let Some(v) = p.get("vmid") {
        let id: u32 = v.parse().unwrap_or(0);
        if used.contains(&id) {
            return Err(Failure::param(
                "vmid",
                &format!("VM {id} already exists"),
                None,
            ));
        }
        // the API echoes the (string) parameter back
        if json {
            format!("\"{v}\"")
        } else {
            v.to_string()
        }
    } else {
        let Some(id) = (NEXTID_LOWER..NEXTID_UPPER).find(|i| !used.contains(i)) else {
            return Err(Failure::die(format!(
                "unable to get any free VMID in range [{NEXTID_LOWER}, {}]",
                NEXTID_UPPER - 1
            )));
        };
        if faults::take_next() {
            take(node, id)?;
        }
        id.to_string()
    };
    println!("{text}");
    Ok(0)
}

/// `PVE_DOUBLE_TAKE_NEXT`: another client creates the CT right away.
fn take(node: &Node, id: u32) -> Result<()> {
    let text = format!(
        "arch: amd64\nhostname: nextid-racer\nmemory: 512\nostype: unmanaged\nrootfs: local-lvm:vm-{id}-disk-0,size=1G\nswap: 512\nunprivileged: 1\n"
    );
    config::create_exclusive(node, id, &text)?;
    Ok(())
}
