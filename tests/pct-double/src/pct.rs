//! The `pct` command (contract §2).

use crate::cli::Table;
use crate::config::{self, CtConfig};
use crate::error::{Failure, Result};
use crate::getopt::{Kind, Parsed, Spec};
use crate::lxc::{self, State};
use crate::node::Node;
use crate::schema::{self, Fmt, Ty};
use crate::{faults, proc, storage};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const TOOL: &str = "pct";

/// Every real pct subcommand (for prefix expansion); `None` usage means the
/// double implements it and builds the usage from its [`Spec`].
const OTHER_COMMANDS: &[(&str, &str)] = &[
    ("clone", "pct clone <vmid> <newid> [OPTIONS]"),
    ("console", "pct console <vmid> [OPTIONS]"),
    ("cpusets", "pct cpusets"),
    ("delsnapshot", "pct delsnapshot <vmid> <snapname> [OPTIONS]"),
    ("df", "pct df <vmid>"),
    ("enter", "pct enter <vmid> [OPTIONS]"),
    ("fsck", "pct fsck <vmid> [OPTIONS]"),
    ("fstrim", "pct fstrim <vmid> [OPTIONS]"),
    ("listsnapshot", "pct listsnapshot <vmid>"),
    ("migrate", "pct migrate <vmid> <target> [OPTIONS]"),
    ("mount", "pct mount <vmid>"),
    (
        "move-volume",
        "pct move-volume <vmid> <volume> [<storage>] [<target-vmid>] [<target-volume>] [OPTIONS]",
    ),
    (
        "move_volume",
        "pct move_volume <vmid> <volume> [<storage>] [<target-vmid>] [<target-volume>] [OPTIONS]",
    ),
    ("pending", "pct pending <vmid>"),
    ("pull", "pct pull <vmid> <path> <destination> [OPTIONS]"),
    ("push", "pct push <vmid> <file> <destination> [OPTIONS]"),
    ("reboot", "pct reboot <vmid> [OPTIONS]"),
    (
        "remote-migrate",
        "pct remote-migrate <vmid> [<target-vmid>] <target-endpoint> --target-bridge <string> --target-storage <string> [OPTIONS]",
    ),
    ("rescan", "pct rescan [OPTIONS]"),
    ("resize", "pct resize <vmid> <disk> <size> [OPTIONS]"),
    ("restore", "pct restore <vmid> <ostemplate> [OPTIONS]"),
    ("rollback", "pct rollback <vmid> <snapname> [OPTIONS]"),
    ("snapshot", "pct snapshot <vmid> <snapname> [OPTIONS]"),
    ("template", "pct template <vmid>"),
    ("unmount", "pct unmount <vmid>"),
];

const IMPLEMENTED: &[&str] = &[
    "config", "create", "destroy", "exec", "help", "list", "resume", "set", "shutdown", "start",
    "status", "stop", "suspend", "unlock",
];

const CREATE_ONLY: &[(&str, Ty)] = &[
    ("password", Ty::Str(None, Some(5))),
    ("ssh-public-keys", Ty::Str(None, None)),
    ("storage", Ty::StorageId),
    ("force", Ty::Bool),
    ("restore", Ty::Bool),
    ("unique", Ty::Bool),
    ("pool", Ty::Str(None, None)),
    ("ignore-unpack-errors", Ty::Bool),
    ("bwlimit", Ty::Num(Some(0.0), None)),
    ("start", Ty::Bool),
    ("ha-managed", Ty::Bool),
];

/// Type of any parameter name used by the pct commands.
fn param_type(name: &str) -> Option<Ty> {
    if let Some(t) = schema::config_key_type(name) {
        return Some(t);
    }
    if let Some((_, t)) = CREATE_ONLY.iter().find(|(n, _)| *n == name) {
        return Some(*t);
    }
    Some(match name {
        "vmid" => Ty::Vmid,
        "ostemplate" => Ty::Str(Some(255), None),
        "skiplock"
        | "overrule-shutdown"
        | "forceStop"
        | "purge"
        | "destroy-unreferenced-disks"
        | "verbose"
        | "current"
        | "keep-env" => Ty::Bool,
        "timeout" => Ty::Int(Some(0), None),
        "snapshot" => Ty::Str(Some(40), None),
        "delete" | "revert" => Ty::ConfigIdList,
        "digest" => Ty::Str(Some(40), None),
        _ => return None,
    })
}

fn opts(names: &[&str]) -> Vec<(String, Kind)> {
    names
        .iter()
        .map(|n| {
            (
                n.to_string(),
                param_type(n).map(Ty::kind).unwrap_or(Kind::Str),
            )
        })
        .collect()
}

fn config_opts() -> Vec<(String, Kind)> {
    schema::config_key_names()
        .into_iter()
        .map(|n| {
            let k = param_type(&n).map(Ty::kind).unwrap_or(Kind::Str);
            (n, k)
        })
        .collect()
}

fn spec(cmd: &str) -> Spec {
    let p = format!("{TOOL} {cmd}");
    match cmd {
        "create" => {
            let mut o = config_opts();
            o.extend(CREATE_ONLY.iter().map(|(n, t)| (n.to_string(), t.kind())));
            Spec::new(&p, &["vmid", "ostemplate"], o)
        }
        "set" => {
            let mut o = config_opts();
            o.extend(opts(&["delete", "revert", "digest"]));
            Spec::new(&p, &["vmid"], o)
        }
        "start" => Spec::new(&p, &["vmid"], opts(&["skiplock", "debug"])),
        "stop" => Spec::new(&p, &["vmid"], opts(&["skiplock", "overrule-shutdown"])),
        "shutdown" => Spec::new(&p, &["vmid"], opts(&["timeout", "forceStop"])),
        "destroy" => Spec::new(
            &p,
            &["vmid"],
            opts(&["force", "purge", "destroy-unreferenced-disks"]),
        ),
        "status" => Spec::new(&p, &["vmid"], opts(&["verbose"])),
        "config" => Spec::new(&p, &["vmid"], opts(&["current", "snapshot"])),
        "exec" => Spec::new(&p, &["vmid"], opts(&["keep-env"])).with_extra_args(),
        "help" => Spec::new(&p, &[], opts(&["verbose"])).with_extra_args(),
        "list" => Spec::new(&p, &[], vec![]),
        _ => Spec::new(&p, &["vmid"], vec![]),
    }
}

pub fn table() -> Table {
    let mut commands: Vec<(&'static str, String)> = OTHER_COMMANDS
        .iter()
        .map(|(n, u)| (*n, u.to_string()))
        .collect();
    for c in IMPLEMENTED {
        commands.push((c, spec(c).usage()));
    }
    commands.sort();
    Table {
        tool: TOOL,
        commands,
        aliases: &["move_volume"],
    }
}

/// Parses and schema-validates the arguments of `cmd`.
fn parse(cmd: &str, args: &[String]) -> Result<(Parsed, Spec)> {
    let sp = spec(cmd);
    let p = sp.parse_checked(args, &param_type)?;
    Ok((p, sp))
}

fn vmid_of(p: &Parsed) -> Result<u32> {
    p.get("vmid")
        .and_then(|v| v.trim_start_matches('+').parse().ok())
        .ok_or_else(|| Failure::die("pct double: missing vmid"))
}

/// Runs a worker task synchronously (contract §1.3 A): its output goes to
/// stdout, its error to stderr with newlines replaced, exit 255.
fn task(f: impl FnOnce() -> Result<()>) -> Result<i32> {
    let r = f();
    let _ = std::io::stdout().flush();
    match r {
        Ok(()) => Ok(0),
        Err(Failure::Die(m)) | Err(Failure::Task(m)) => Err(Failure::Task(m)),
        Err(Failure::Param { errors, .. }) => {
            let m: Vec<String> = errors.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            Err(Failure::Task(m.join(" ")))
        }
        Err(other) => Err(other),
    }
}

pub fn run(node: &Node, argv: &[String]) -> Result<i32> {
    let table = table();
    let cmd = table.resolve(argv)?;
    faults::apply(TOOL, cmd)?;
    let args = &argv[1..];
    match cmd {
        "create" => create(node, args),
        "start" => start(node, args),
        "stop" => stop(node, args),
        "shutdown" => shutdown(node, args),
        "destroy" => destroy(node, args),
        "status" => status(node, args),
        "list" => list(node, args),
        "config" => show_config(node, args),
        "set" => set(node, args),
        "exec" => exec(node, args),
        "suspend" => suspend(node, args),
        "resume" => resume(node, args),
        "unlock" => unlock(node, args),
        "help" => {
            let (p, _) = parse("help", args)?;
            table.help(&p.extra)
        }
        other => Err(Failure::die(format!(
            "pct double: command '{other}' is not implemented"
        ))),
    }
}

// ---------------------------------------------------------------- create

/// `STORAGE:SIZE` new-disk syntax (`$NEW_DISK_RE`); a bare number uses
/// `default_storage`.
fn new_disk(volume: &str, default_storage: &str) -> Option<(String, String)> {
    let is_size = |s: &str| {
        let (a, b) = s.split_once('.').unwrap_or((s, "0"));
        !a.is_empty()
            && !b.is_empty()
            && a.bytes().all(|c| c.is_ascii_digit())
            && b.bytes().all(|c| c.is_ascii_digit())
    };
    if is_size(volume) {
        return Some((default_storage.to_string(), volume.to_string()));
    }
    let (sid, size) = volume.split_once(':')?;
    if sid.is_empty() || sid.contains(char::is_whitespace) || !is_size(size) {
        return None;
    }
    Some((sid.to_string(), size.to_string()))
}

fn size_string(gib: &str) -> String {
    match gib.parse::<f64>() {
        Ok(g) if g.fract() == 0.0 => format!("{}G", g as u64),
        Ok(g) => format!("{}M", (g * 1024.0).round() as u64),
        Err(_) => format!("{gib}G"),
    }
}

/// A volume to allocate inside the create task.
struct NewVol {
    key: String,
    storage: String,
    size: String,
    opts: BTreeMap<String, String>,
}

fn random_mac() -> String {
    let mut b = [0u8; 3];
    if let Ok(mut f) = fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut b);
    }
    format!("BC:24:11:{:02X}:{:02X}:{:02X}", b[0], b[1], b[2])
}

/// Normalises a config value before it is stored (net, tags, env, ...).
fn normalize(key: &str, value: &str) -> String {
    if key.starts_with("net") && schema::config_key_type(key).is_some() {
        if let Ok(mut m) = schema::parse_prop(Fmt::Net, value, key) {
            m.entry("type".into()).or_insert_with(|| "veth".into());
            m.entry("hwaddr".into()).or_insert_with(random_mac);
            return schema::print_prop(Fmt::Net, &m);
        }
        return value.to_string();
    }
    match key {
        "tags" => {
            let mut t: Vec<String> = schema::split_tags(value)
                .into_iter()
                .map(|t| t.to_ascii_lowercase())
                .collect();
            t.sort();
            t.dedup();
            t.join(";")
        }
        "features" => schema::parse_prop(Fmt::Features, value, key)
            .map(|m| schema::print_prop(Fmt::Features, &m))
            .unwrap_or_else(|_| value.to_string()),
        "env" => value.replace("\\0", "\0"),
        _ => value.to_string(),
    }
}

/// Keys of `create` that are not config keys.
fn is_create_only(k: &str) -> bool {
    CREATE_ONLY.iter().any(|(n, _)| *n == k) || k == "vmid" || k == "ostemplate"
}

fn create(node: &Node, args: &[String]) -> Result<i32> {
    let (p, sp) = parse("create", args)?;
    let vmid = vmid_of(&p)?;
    let ostemplate = p.get("ostemplate").unwrap_or("").to_string();

    // 2. vmid unused
    node.check_vmid_unused(vmid)?;
    // 3. ssh keys (file-mapped option)
    if let Some(path) = p.get("ssh-public-keys")
        && fs::metadata(path).is_err()
    {
        return Err(Failure::die(format!(
            "can't open '{path}' - No such file or directory"
        )));
    }
    if p.flag("restore") {
        return Err(Failure::die("pct double: --restore is not supported"));
    }
    // 6. template volume access
    let template = storage::template_source(node, &ostemplate)?;
    // 7. storages of new volumes support rootdir
    let default_storage = p.get("storage").unwrap_or("local").to_string();
    let has_mp = p.opts.keys().any(|k| k.starts_with("mp"));
    let mut new_vols: Vec<NewVol> = Vec::new();
    let mut binds: BTreeMap<String, String> = BTreeMap::new();
    let rootfs_str = match p.get("rootfs") {
        Some(r) => r.to_string(),
        None if has_mp => {
            return Err(Failure::die(
                "mount points configured, but 'rootfs' not set - aborting",
            ));
        }
        None => format!("{default_storage}:4"),
    };
    let mut disk_keys: Vec<(String, Fmt, String)> =
        vec![("rootfs".into(), Fmt::Rootfs, rootfs_str)];
    for (k, v) in &p.opts {
        if k.starts_with("mp") && schema::config_key_type(k).is_some() {
            disk_keys.push((k.clone(), Fmt::Mp, v.clone()));
        }
    }
    for (key, fmt, value) in disk_keys {
        let m = schema::parse_prop(fmt, &value, &key).map_err(|e| Failure::Param {
            errors: vec![(key.clone(), format!("invalid format - {e}"))],
            usage: Some(sp.usage()),
        })?;
        let vol = m.get("volume").cloned().unwrap_or_default();
        if fmt == Fmt::Mp && vol.starts_with('/') {
            binds.insert(key, schema::print_prop(fmt, &m));
            continue;
        }
        let Some((sid, size)) = new_disk(&vol, &default_storage) else {
            return Err(Failure::die(format!(
                "pct double: only new volumes (STORAGE:SIZE) or bind mounts are supported on create, got '{vol}'"
            )));
        };
        let st = node.storage_or_die(&sid)?;
        if !st.supports_rootdir() {
            return Err(Failure::Param {
                errors: vec![(
                    "storage".into(),
                    format!("storage '{sid}' does not support container directories"),
                )],
                usage: Some(sp.usage()),
            });
        }
        new_vols.push(NewVol {
            key,
            storage: sid,
            size,
            opts: m,
        });
    }

    // 9. create_and_lock_config
    if !config::create_exclusive(node, vmid, "lock: create\n")? {
        return Err(Failure::die(format!(
            "unable to create CT {vmid} - CT {vmid} already exists on node '{}'",
            node.name
        )));
    }

    let mut allocated: Vec<String> = Vec::new();
    let res = task(|| {
        create_task(node, vmid, &p, &template, &new_vols, &binds, &mut allocated).map_err(|e| {
            match e {
                Failure::Die(m) | Failure::Task(m) => {
                    Failure::Die(format!("unable to create CT {vmid} - {m}"))
                }
                other => other,
            }
        })
    });
    if res.is_err() {
        if lxc::state(node, vmid).is_running() {
            let _ = lxc::stop_kill(node, vmid);
        }
        lxc::forget(node, vmid);
        for volid in &allocated {
            storage::free_volume(node, volid, false);
        }
        let _ = fs::remove_file(node.config_path(vmid));
    }
    res
}

fn create_task(
    node: &Node,
    vmid: u32,
    p: &Parsed,
    template: &storage::TemplateSource,
    new_vols: &[NewVol],
    binds: &BTreeMap<String, String>,
    allocated: &mut Vec<String>,
) -> Result<()> {
    let mut conf = CtConfig::default();
    let mut rootdir: Option<PathBuf> = None;
    for v in new_vols {
        let (volid, path) = storage::alloc_volume(node, &v.storage, vmid)?;
        allocated.push(volid.clone());
        let mut m = v.opts.clone();
        m.insert("volume".into(), volid);
        m.insert("size".into(), size_string(&v.size));
        let fmt = if v.key == "rootfs" {
            Fmt::Rootfs
        } else {
            Fmt::Mp
        };
        conf.keys.insert(v.key.clone(), schema::print_prop(fmt, &m));
        if v.key == "rootfs" {
            rootdir = Some(path);
        }
    }
    for (k, v) in binds {
        conf.keys.insert(k.clone(), v.clone());
    }
    let rootdir = rootdir.ok_or_else(|| Failure::die("no rootfs volume allocated"))?;

    let archive = match template {
        storage::TemplateSource::Path(path) => path.clone(),
        storage::TemplateSource::Volume { volid, path } => {
            if !path.exists() {
                println!("can't find file '{volid}'");
                return Err(Failure::die(format!("can't find file '{volid}'")));
            }
            path.clone()
        }
    };
    if !archive.exists() {
        return Err(Failure::die(format!(
            "can't find file '{}'",
            archive.display()
        )));
    }
    println!("extracting archive '{}'", archive.display());
    let _ = std::io::stdout().flush();
    let mut tar = Command::new("tar");
    tar.arg("-x")
        .arg("-p")
        .arg("-f")
        .arg(&archive)
        .arg("--totals")
        .arg("--one-file-system")
        .arg("--numeric-owner")
        .arg("--sparse")
        .arg("-C")
        .arg(&rootdir)
        .arg("--skip-old-files")
        .arg("--anchored")
        .arg("--exclude")
        .arg("./dev/*");
    let line = proc::cmdline(&tar);
    let out = proc::run(&mut tar, Duration::from_secs(600)).map_err(Failure::Die)?;
    for l in out.stdout.lines().chain(out.stderr.lines()) {
        println!("{l}");
    }
    if !out.success() && !p.flag("ignore-unpack-errors") {
        return Err(Failure::die(format!(
            "command '{line}' failed: exit code {}",
            out.code.unwrap_or(-1)
        )));
    }

    // config keys given on the command line
    for (k, v) in &p.opts {
        if is_create_only(k) || k == "rootfs" || k.starts_with("mp") {
            continue;
        }
        if k == "description" {
            conf.description = Some(v.clone());
            continue;
        }
        conf.keys.insert(k.clone(), normalize(k, v));
    }
    if !conf.keys.contains_key("arch") {
        let arch = detect_arch(&rootdir).unwrap_or_else(|| "amd64".into());
        println!("Detected container architecture: {arch}");
        conf.keys.insert("arch".into(), arch);
    }
    if !conf.keys.contains_key("ostype") {
        conf.keys.insert("ostype".into(), detect_ostype(&rootdir));
    }
    conf.keys
        .entry("hostname".into())
        .or_insert_with(|| format!("CT{vmid}"));
    conf.keys
        .entry("memory".into())
        .or_insert_with(|| "512".into());
    conf.keys
        .entry("swap".into())
        .or_insert_with(|| "512".into());
    conf.keys
        .entry("unprivileged".into())
        .or_insert_with(|| "1".into());
    config::write(node, vmid, &conf)?;

    if p.flag("start") {
        do_start(node, vmid, false, false)?;
    }
    Ok(())
}

/// Architecture from the ELF header of the rootfs' `/bin/sh`.
fn detect_arch(rootdir: &Path) -> Option<String> {
    let mut path = rootdir.join("bin/sh");
    for _ in 0..10 {
        match fs::read_link(&path) {
            Ok(t) => {
                path = if t.is_absolute() {
                    rootdir.join(t.strip_prefix("/").ok()?)
                } else {
                    path.parent()?.join(t)
                };
            }
            Err(_) => break,
        }
    }
    let data = fs::read(&path).ok()?;
    if data.len() < 20 || &data[..4] != b"\x7fELF" {
        return None;
    }
    let machine = u16::from_le_bytes([data[18], data[19]]);
    let class64 = data[4] == 2;
    Some(
        match (machine, class64) {
            (0x3e, _) => "amd64",
            (0x03, _) => "i386",
            (0xb7, _) => "arm64",
            (0x28, _) => "armhf",
            (0xf3, true) => "riscv64",
            (0xf3, false) => "riscv32",
            _ => return None,
        }
        .to_string(),
    )
}

fn detect_ostype(rootdir: &Path) -> String {
    if let Ok(t) = fs::read_to_string(rootdir.join("etc/os-release")) {
        for l in t.lines() {
            if let Some(id) = l.strip_prefix("ID=") {
                let id = id.trim_matches('"');
                if schema::OSTYPES.contains(&id) {
                    return id.to_string();
                }
            }
        }
    }
    if rootdir.join("etc/debian_version").exists() {
        return "debian".into();
    }
    if rootdir.join("etc/alpine-release").exists() {
        return "alpine".into();
    }
    "unmanaged".into()
}

// ---------------------------------------------------------------- power

fn do_start(node: &Node, vmid: u32, skiplock: bool, debug: bool) -> Result<()> {
    let conf = config::load(node, vmid)?;
    if conf.flag("template") {
        return Err(Failure::die("you can't start a CT if it's a template"));
    }
    if !skiplock && conf.get("lock") != Some("mounted") {
        conf.check_lock()?;
    }
    lxc::write_config(node, vmid, &conf)?;
    match lxc::start(node, vmid, debug) {
        Ok(out) => {
            print!("{out}");
            Ok(())
        }
        Err(e) => Err(Failure::Die(e)),
    }
}

fn start(node: &Node, args: &[String]) -> Result<i32> {
    let (p, _) = parse("start", args)?;
    let vmid = vmid_of(&p)?;
    if lxc::state(node, vmid).is_running() {
        return Err(Failure::die(format!("CT {vmid} already running")));
    }
    task(|| do_start(node, vmid, p.flag("skiplock"), p.flag("debug")))
}

fn not_running(vmid: u32) -> Failure {
    Failure::die(format!("CT {vmid} not running"))
}

fn stop(node: &Node, args: &[String]) -> Result<i32> {
    let (p, _) = parse("stop", args)?;
    let vmid = vmid_of(&p)?;
    if !lxc::state(node, vmid).is_running() {
        return Err(not_running(vmid));
    }
    task(|| {
        let conf = config::load(node, vmid)?;
        if !p.flag("skiplock") {
            conf.check_lock()?;
        }
        lxc::stop_kill(node, vmid).map_err(Failure::Die)
    })
}

fn shutdown(node: &Node, args: &[String]) -> Result<i32> {
    let (p, _) = parse("shutdown", args)?;
    let vmid = vmid_of(&p)?;
    let timeout: u64 = p.get("timeout").and_then(|t| t.parse().ok()).unwrap_or(60);
    if !lxc::state(node, vmid).is_running() {
        return Err(not_running(vmid));
    }
    task(|| {
        let conf = config::load(node, vmid)?;
        conf.check_lock()?;
        let stopped =
            lxc::shutdown(node, vmid, timeout, p.flag("forceStop")).map_err(Failure::Die)?;
        if !stopped {
            return Err(Failure::die("container did not stop"));
        }
        Ok(())
    })
}

fn suspend(node: &Node, args: &[String]) -> Result<i32> {
    let (p, _) = parse("suspend", args)?;
    let vmid = vmid_of(&p)?;
    if !lxc::state(node, vmid).is_running() {
        return Err(not_running(vmid));
    }
    task(|| {
        let conf = config::load(node, vmid)?;
        conf.check_lock()?;
        lxc::freeze(node, vmid).map_err(Failure::Die)
    })
}

fn resume(node: &Node, args: &[String]) -> Result<i32> {
    let (p, _) = parse("resume", args)?;
    let vmid = vmid_of(&p)?;
    match lxc::state(node, vmid) {
        State::Stopped => Err(not_running(vmid)),
        State::Running(_) => Err(Failure::die(format!("CT {vmid} already running"))),
        State::Frozen(_) => task(|| {
            let conf = config::load(node, vmid)?;
            conf.check_lock()?;
            lxc::unfreeze(node, vmid).map_err(Failure::Die)
        }),
    }
}

fn destroy(node: &Node, args: &[String]) -> Result<i32> {
    let (p, _) = parse("destroy", args)?;
    let vmid = vmid_of(&p)?;
    let conf = config::load(node, vmid)?;
    if conf.flag("protection") {
        return Err(Failure::die(format!(
            "can't remove CT {vmid} - protection mode enabled"
        )));
    }
    conf.check_lock()?;
    let running = lxc::state(node, vmid).is_running();
    if running && !p.flag("force") {
        return Err(Failure::die(format!(
            "unable to destroy CT {vmid} - container is running"
        )));
    }
    task(|| {
        if running {
            println!("forced to stop CT {vmid} before destroying!");
            lxc::stop_kill(node, vmid).map_err(Failure::Die)?;
        }
        for (k, v) in &conf.keys {
            let fmt = if k == "rootfs" {
                Fmt::Rootfs
            } else if k.starts_with("mp") {
                Fmt::Mp
            } else if k.starts_with("unused") {
                storage::free_volume(node, v, true);
                continue;
            } else {
                continue;
            };
            if let Ok(m) = schema::parse_prop(fmt, v, k)
                && let Some(vol) = m.get("volume")
                && !vol.starts_with('/')
            {
                storage::free_volume(node, vol, true);
            }
        }
        if p.flag("destroy-unreferenced-disks") {
            storage::free_unreferenced(node, vmid);
        }
        lxc::forget(node, vmid);
        if p.flag("purge") {
            println!("purging CT {vmid} from related configurations..");
        }
        fs::remove_file(node.config_path(vmid)).map_err(|e| {
            Failure::die(format!(
                "unable to remove '{}' - {e}",
                node.cfs_config_path(vmid)
            ))
        })
    })
}

// ---------------------------------------------------------------- info

fn mib(conf: &CtConfig, k: &str, default: u64) -> u64 {
    conf.get(k).and_then(|v| v.parse().ok()).unwrap_or(default) * 1024 * 1024
}

fn disk_bytes(size: &str) -> Option<u64> {
    let (num, mult) = match size.chars().last()? {
        'K' => (&size[..size.len() - 1], 1u64 << 10),
        'M' => (&size[..size.len() - 1], 1 << 20),
        'G' => (&size[..size.len() - 1], 1 << 30),
        'T' => (&size[..size.len() - 1], 1 << 40),
        _ => (size, 1),
    };
    num.parse::<f64>().ok().map(|n| (n * mult as f64) as u64)
}

fn status(node: &Node, args: &[String]) -> Result<i32> {
    let (p, _) = parse("status", args)?;
    let vmid = vmid_of(&p)?;
    let conf = config::load(node, vmid)?;
    let st = lxc::state(node, vmid);
    let status = if st.is_running() {
        "running"
    } else {
        "stopped"
    };
    if !p.flag("verbose") {
        println!("status: {status}");
        return Ok(0);
    }
    let mut d: BTreeMap<&str, String> = BTreeMap::new();
    let host = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut cpus = conf
        .get("cores")
        .and_then(|c| c.parse::<usize>().ok())
        .unwrap_or(host)
        .to_string();
    if let Some(l) = conf.get("cpulimit").and_then(|c| c.parse::<f64>().ok())
        && l > 0.0
        && l < cpus.parse::<f64>().unwrap_or(f64::MAX)
    {
        cpus = l.to_string();
    }
    d.insert("cpus", cpus);
    let maxdisk = conf
        .get("rootfs")
        .and_then(|r| schema::parse_prop(Fmt::Rootfs, r, "rootfs").ok())
        .and_then(|m| m.get("size").and_then(|s| disk_bytes(s)))
        .unwrap_or(4 << 30);
    for k in ["disk", "diskread", "diskwrite", "netin", "netout", "swap"] {
        d.insert(k, "0".into());
    }
    d.insert("maxdisk", maxdisk.to_string());
    d.insert("maxmem", mib(&conf, "memory", 512).to_string());
    d.insert("maxswap", mib(&conf, "swap", 512).to_string());
    d.insert(
        "name",
        conf.get("hostname")
            .map(|h| h.split_whitespace().collect::<String>())
            .unwrap_or_else(|| format!("CT{vmid}")),
    );
    d.insert("status", status.into());
    d.insert("type", "lxc".into());
    d.insert("vmid", vmid.to_string());
    d.insert("mem", "0".into());
    d.insert("uptime", "0".into());
    if let Some(pid) = st.pid() {
        d.insert("pid", pid.to_string());
        d.insert("mem", lxc::mem_usage(pid).to_string());
        d.insert("uptime", lxc::uptime_of(pid).to_string());
        for k in [
            "pressurecpusome",
            "pressurecpufull",
            "pressureiosome",
            "pressureiofull",
            "pressurememorysome",
            "pressurememoryfull",
        ] {
            d.insert(k, "0".into());
        }
    }
    for k in ["lock", "tags", "template"] {
        if let Some(v) = conf.get(k) {
            d.insert(k, v.to_string());
        }
    }
    let mut out = String::new();
    for (k, v) in d {
        out.push_str(&format!("{k}: {v}\n"));
    }
    print!("{out}");
    Ok(0)
}

/// Formats `pct list` (contract §4.1).
pub fn format_list(rows: &[(u32, &str, &str, &str)]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut s = format!(
        "{:<10} {:<10} {:<12} {:<20}\n",
        "VMID", "Status", "Lock", "Name"
    );
    for (id, st, lock, name) in rows {
        s.push_str(&format!(
            "{:<10} {:<10} {:<12} {:<20}\n",
            id, st, lock, name
        ));
    }
    s
}

fn list(node: &Node, args: &[String]) -> Result<i32> {
    let _ = parse("list", args)?;
    let mut rows: Vec<(u32, String, String, String)> = Vec::new();
    for vmid in node.local_cts() {
        let Ok(conf) = config::load(node, vmid) else {
            continue;
        };
        let st = if lxc::state(node, vmid).is_running() {
            "running"
        } else {
            "stopped"
        };
        let name = conf
            .get("hostname")
            .map(|h| h.split_whitespace().collect::<String>())
            .unwrap_or_else(|| format!("CT{vmid}"));
        rows.push((vmid, st.into(), conf.get("lock").unwrap_or("").into(), name));
    }
    let refs: Vec<(u32, &str, &str, &str)> = rows
        .iter()
        .map(|(a, b, c, d)| (*a, b.as_str(), c.as_str(), d.as_str()))
        .collect();
    print!("{}", format_list(&refs));
    Ok(0)
}

fn show_config(node: &Node, args: &[String]) -> Result<i32> {
    let (p, sp) = parse("config", args)?;
    let vmid = vmid_of(&p)?;
    if p.get("snapshot").is_some() && p.flag("current") {
        return Err(Failure::Param {
            errors: vec![(
                "current".into(),
                "option conflicts with option 'snapshot'".into(),
            )],
            usage: Some(sp.usage()),
        });
    }
    let conf = config::load(node, vmid)?;
    if let Some(s) = p.get("snapshot") {
        return Err(Failure::die(format!("snapshot '{s}' does not exist")));
    }
    let mut all: BTreeMap<String, String> = conf.keys.clone();
    if let Some(d) = &conf.description {
        all.insert("description".into(), config::encode_text(d));
    }
    let mut out = String::new();
    for (k, v) in &all {
        out.push_str(&format!("{k}: {v}\n"));
    }
    for (k, v) in &conf.lxc {
        out.push_str(&format!("{k}: {v}\n"));
    }
    print!("{out}");
    Ok(0)
}

fn set(node: &Node, args: &[String]) -> Result<i32> {
    let (p, sp) = parse("set", args)?;
    let vmid = vmid_of(&p)?;
    let _guard = node.lock_config(vmid, Duration::from_secs(10))?;
    let mut conf = config::load(node, vmid)?;
    let changes: Vec<(&String, &String)> = p
        .opts
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "vmid" | "digest"))
        .collect();
    if changes.is_empty() {
        return Err(Failure::die("no options specified"));
    }
    conf.check_lock()?;
    let protected = conf.flag("protection");
    let mut deletes: Vec<String> = Vec::new();
    for key in ["delete", "revert"] {
        if let Some(list) = p.get(key) {
            deletes.extend(
                list.split([',', ';', ' '])
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
            );
        }
    }
    for (k, _) in &changes {
        if k.as_str() == "unprivileged" {
            return Err(Failure::die(
                "unable to modify read-only option: 'unprivileged'",
            ));
        }
    }
    for d in &deletes {
        if matches!(d.as_str(), "memory" | "rootfs" | "ostype") {
            return Err(Failure::die(format!(
                "unable to delete required option '{d}'"
            )));
        }
        if d == "unprivileged" {
            return Err(Failure::die(
                "unable to modify read-only option: 'unprivileged'",
            ));
        }
        if schema::config_key_type(d).is_none() && d != "description" {
            return Err(Failure::die(format!("delete: unknown option '{d}'")));
        }
        if d.starts_with("mp") && protected {
            return Err(Failure::die(format!(
                "can't update CT {vmid} drive '{d}' - protection mode enabled"
            )));
        }
    }
    for d in &deletes {
        if d == "description" {
            conf.description = None;
            continue;
        }
        if let Some(old) = conf.keys.remove(d)
            && d.starts_with("mp")
            && let Ok(m) = schema::parse_prop(Fmt::Mp, &old, d)
            && let Some(vol) = m.get("volume")
            && !vol.starts_with('/')
        {
            let n = (0..schema::MAX_UNUSED)
                .find(|i| !conf.keys.contains_key(&format!("unused{i}")))
                .unwrap_or(0);
            conf.keys.insert(format!("unused{n}"), vol.clone());
        }
    }
    for (k, v) in changes {
        match k.as_str() {
            "delete" | "revert" => continue,
            "description" => {
                conf.description = Some(v.clone());
                continue;
            }
            _ => {}
        }
        if k.starts_with("mp") {
            if protected {
                return Err(Failure::die(format!(
                    "can't update CT {vmid} drive '{k}' - protection mode enabled"
                )));
            }
            let mut m = schema::parse_prop(Fmt::Mp, v, k).map_err(|e| Failure::Param {
                errors: vec![(k.clone(), format!("invalid format - {e}"))],
                usage: Some(sp.usage()),
            })?;
            let vol = m.get("volume").cloned().unwrap_or_default();
            if !vol.starts_with('/')
                && let Some((sid, size)) = new_disk(&vol, "local")
            {
                let st = node.storage_or_die(&sid)?;
                if !st.supports_rootdir() {
                    return Err(Failure::die(format!(
                        "storage '{sid}' does not support container directories"
                    )));
                }
                let (volid, _) = storage::alloc_volume(node, &sid, vmid)?;
                m.insert("volume".into(), volid);
                m.insert("size".into(), size_string(&size));
            }
            conf.keys.insert(k.clone(), schema::print_prop(Fmt::Mp, &m));
            continue;
        }
        conf.keys.insert(k.clone(), normalize(k, v));
    }
    config::write(node, vmid, &conf)?;
    Ok(0)
}

fn exec(node: &Node, args: &[String]) -> Result<i32> {
    let (p, _) = parse("exec", args)?;
    let vmid = vmid_of(&p)?;
    let _conf = config::load(node, vmid)?;
    if !lxc::state(node, vmid).is_running() {
        return Err(Failure::die(format!("container '{vmid}' not running!")));
    }
    if p.extra.is_empty() {
        return Err(Failure::die(
            "missing command at /usr/share/perl5/PVE/CLI/pct.pm line 241.",
        ));
    }
    let keep_env = p.get("keep-env") != Some("0");
    let mut cmd = lxc::attach_command(node, vmid, keep_env, &p.extra);
    cmd.env_remove("SSL_CERT_FILE").env_remove("SSL_CERT_DIR");
    let _ = std::io::stdout().flush();
    let err = cmd.exec();
    Err(Failure::die(format!("exec lxc-attach failed: {err}")))
}

fn unlock(node: &Node, args: &[String]) -> Result<i32> {
    let (p, _) = parse("unlock", args)?;
    let vmid = vmid_of(&p)?;
    let _guard = node.lock_config(vmid, Duration::from_secs(10))?;
    let mut conf = config::load(node, vmid)?;
    if conf.keys.remove("lock").is_some() {
        config::write(node, vmid, &conf)?;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_format() {
        let s = format_list(&[
            (100, "running", "", "web01"),
            (101, "stopped", "backup", "db"),
        ]);
        assert_eq!(
            s,
            "VMID       Status     Lock         Name                \n\
             100        running                 web01               \n\
             101        stopped    backup       db                  \n"
        );
        assert_eq!(format_list(&[]), "");
    }

    #[test]
    fn disks() {
        assert_eq!(
            new_disk("local-lvm:8", "local"),
            Some(("local-lvm".into(), "8".into()))
        );
        assert_eq!(
            new_disk("8", "local-lvm"),
            Some(("local-lvm".into(), "8".into()))
        );
        assert_eq!(new_disk("local-lvm:vm-100-disk-0", "local"), None);
        assert_eq!(size_string("1"), "1G");
        assert_eq!(size_string("0.5"), "512M");
        assert_eq!(disk_bytes("1G"), Some(1 << 30));
    }
}
