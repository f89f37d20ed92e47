//! Mapping an OCI runtime spec (`config.json`) onto `pct create` options.
//!
//! Everything the spec asks for either becomes a pct option or a warning
//! naming the field; nothing is dropped silently. See the README for the
//! full table.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use nexcage_plugin_api::{BackendError, BackendResult};
use serde_json::{Map, Value};

use crate::config::is_dns_name;
use crate::pack::find_in_rootfs;

/// What the spec contributes to a create.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// The rootfs directory to pack.
    pub rootfs: PathBuf,
    /// `hostname`, when valid.
    pub hostname: Option<String>,
    /// `--memory`, `--swap` (MiB).
    pub memory_mb: Option<u64>,
    pub swap_mb: Option<u64>,
    /// Extra `pct create` options, in order (`cpulimit`, `mpN`, `netN`,
    /// `entrypoint`, `env`).
    pub options: Vec<(String, String)>,
    /// True when `linux.netDevices` decided the network (even to none).
    pub net_from_spec: bool,
    /// Fields that were not (or only partly) honoured.
    pub warnings: Vec<String>,
    /// The spec's annotations.
    pub annotations: BTreeMap<String, String>,
}

const PSEUDO_TYPES: [&str; 8] = [
    "proc", "sysfs", "devpts", "tmpfs", "mqueue", "cgroup", "cgroup2", "shm",
];
/// Destinations LXC itself provides in every container.
const STANDARD_DESTS: [&str; 7] = [
    "/proc",
    "/sys",
    "/dev",
    "/dev/pts",
    "/dev/shm",
    "/dev/mqueue",
    "/sys/fs/cgroup",
];
/// Mount options that are meaningful for a bind mount and honoured
/// (`ro`), or implied by a Proxmox bind mount point.
const BIND_OPTS_OK: [&str; 10] = [
    "bind", "rbind", "ro", "rw", "private", "rprivate", "slave", "rslave", "shared", "rshared",
];

/// Reads and maps `<bundle>/config.json`. `bridge` is where network
/// devices are attached (`None`: networking disabled).
pub fn plan(bundle: &Path, bridge: Option<&str>) -> BackendResult<Plan> {
    let cfg_path = bundle.join("config.json");
    let text = std::fs::read_to_string(&cfg_path).map_err(|e| {
        BackendError::invalid_argument(format!("cannot read {}: {e}", cfg_path.display()))
    })?;
    let spec: Value = serde_json::from_str(&text).map_err(|e| {
        BackendError::invalid_argument(format!("{} is not valid json: {e}", cfg_path.display()))
    })?;
    let Some(spec) = spec.as_object() else {
        return Err(BackendError::invalid_argument(format!(
            "{} is not a json object",
            cfg_path.display()
        )));
    };
    map_spec(bundle, spec, bridge)
}

/// The mapping proper (separate from file reading for tests).
pub fn map_spec(
    bundle: &Path,
    spec: &Map<String, Value>,
    bridge: Option<&str>,
) -> BackendResult<Plan> {
    let mut p = Plan::default();
    let w = &mut p.warnings;
    unhandled(
        spec,
        "",
        &[
            "ociVersion",
            "root",
            "process",
            "hostname",
            "mounts",
            "linux",
            "annotations",
        ],
        w,
    );

    // root
    let root = obj(spec, "root");
    let root_path = root
        .and_then(|r| r.get("path"))
        .and_then(Value::as_str)
        .unwrap_or("rootfs");
    p.rootfs = if Path::new(root_path).is_absolute() {
        PathBuf::from(root_path)
    } else {
        bundle.join(root_path)
    };
    if let Some(r) = root {
        if r.get("readonly").and_then(Value::as_bool) == Some(true) {
            w.push("root.readonly is not applied: the container's root disk is writable".into());
        }
        unhandled(r, "root.", &["path", "readonly"], w);
    }

    // hostname
    if let Some(h) = spec.get("hostname").and_then(Value::as_str) {
        if is_dns_name(h) {
            p.hostname = Some(h.to_owned());
        } else if !h.is_empty() {
            w.push(format!(
                "hostname '{h}' is not a valid dns name; the container name is used instead"
            ));
        }
    }

    if let Some(a) = obj(spec, "annotations") {
        for (k, v) in a {
            if let Some(v) = v.as_str() {
                p.annotations.insert(k.clone(), v.to_owned());
            }
        }
    }

    map_process(&mut p, obj(spec, "process"))?;
    map_mounts(&mut p, bundle, spec.get("mounts"))?;
    map_linux(&mut p, obj(spec, "linux"), bridge);
    Ok(p)
}

fn map_process(p: &mut Plan, process: Option<&Map<String, Value>>) -> BackendResult<()> {
    let Some(pr) = process else {
        return Ok(());
    };
    let w = &mut p.warnings;
    unhandled(
        pr,
        "process.",
        &[
            "terminal",
            "consoleSize",
            "user",
            "args",
            "env",
            "cwd",
            "capabilities",
            "rlimits",
            "noNewPrivileges",
        ],
        w,
    );
    if pr.get("terminal").and_then(Value::as_bool) == Some(true) {
        w.push(
            "process.terminal is not applied: the entrypoint runs on the container console (use `pct console`/`pct enter`)"
                .into(),
        );
    }
    if let Some(u) = obj(pr, "user") {
        let uid = u.get("uid").and_then(Value::as_u64).unwrap_or(0);
        let gid = u.get("gid").and_then(Value::as_u64).unwrap_or(0);
        if uid != 0 || gid != 0 {
            w.push(format!(
                "process.user (uid {uid}, gid {gid}) is not applied: lxc.init.uid/gid cannot be set through pct; the entrypoint runs as root"
            ));
        }
        if u.get("additionalGids")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
        {
            w.push("process.user.additionalGids is not applied".into());
        }
        if u.get("umask").is_some() {
            w.push("process.user.umask is not applied".into());
        }
        unhandled(
            u,
            "process.user.",
            &["uid", "gid", "additionalGids", "umask"],
            w,
        );
    }
    if let Some(cwd) = pr
        .get("cwd")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty() && *c != "/")
    {
        w.push(format!(
            "process.cwd ({cwd}) is not applied: lxc.init.cwd cannot be set through pct; the entrypoint starts in /"
        ));
    }
    if pr.get("capabilities").is_some() {
        w.push(
            "process.capabilities is not applied: proxmox sets the container's capabilities itself"
                .into(),
        );
    }
    if pr
        .get("rlimits")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        w.push("process.rlimits is not applied".into());
    }
    if pr.get("noNewPrivileges").and_then(Value::as_bool) == Some(true) {
        w.push("process.noNewPrivileges is not applied".into());
    }

    let args: Vec<String> = strings(pr.get("args"));
    let env: Vec<String> = strings(pr.get("env"));
    for (i, e) in env.iter().enumerate() {
        if !e.contains('=') || e.starts_with('=') {
            return Err(BackendError::invalid_argument(format!(
                "process.env[{i}] ('{e}') is not KEY=VALUE"
            )));
        }
    }
    for (i, a) in args.iter().enumerate() {
        if !is_init_word(a) {
            return Err(BackendError::invalid_argument(format!(
                "process.args[{i}] ('{}') cannot be part of a proxmox entrypoint: lxc.init.cmd is split on blanks and has no quoting, so an argument must be non-empty without blanks, quotes or control characters; wrap the command in a script inside the image",
                a.escape_debug()
            )));
        }
    }
    // pct's `--env` is a NUL-separated list, and an argument vector cannot
    // carry NUL: one variable goes there; the others ride on the
    // entrypoint as `env K=V... cmd` when the rootfs has an `env` binary.
    let mut env_opt: Option<String> = None;
    let mut via_entry: Vec<String> = Vec::new();
    let mut dropped: Vec<String> = Vec::new();
    if env.len() == 1 {
        env_opt = Some(env[0].clone());
    } else if env.len() > 1 {
        let env_bin = if args.is_empty() {
            None
        } else {
            find_in_rootfs(&p.rootfs, &["/usr/bin/env", "/bin/env"])
        };
        let (plain, awkward): (Vec<String>, Vec<String>) =
            env.iter().cloned().partition(|e| is_init_word(e));
        if let Some(bin) = &env_bin {
            via_entry.push(bin.clone());
            via_entry.extend(plain);
        } else {
            dropped.extend(plain);
        }
        for e in awkward {
            if env_opt.is_none() {
                env_opt = Some(e);
            } else {
                dropped.push(e);
            }
        }
        if env_opt.is_none() && !dropped.is_empty() {
            env_opt = Some(dropped.remove(0));
        }
        if !dropped.is_empty() {
            let names: Vec<&str> = dropped.iter().filter_map(|e| e.split('=').next()).collect();
            w.push(format!(
                "process.env is not applied for {}: pct --env carries one variable through a command line, and the rest need process.args, an env binary in the rootfs and values without blanks or quotes",
                names.join(", ")
            ));
        }
    }
    if let Some(e) = env_opt {
        if e.chars().any(char::is_control) {
            return Err(BackendError::invalid_argument(format!(
                "process.env value '{}' contains control characters",
                e.escape_debug()
            )));
        }
        p.options.push(("env".into(), e));
    }
    if !args.is_empty() {
        via_entry.extend(args);
        p.options.push(("entrypoint".into(), via_entry.join(" ")));
    }
    Ok(())
}

/// True when `a` survives `lxc.init.cmd`, which LXC splits on blanks
/// with no quoting: non-empty, no whitespace, quotes or control chars.
pub fn is_init_word(a: &str) -> bool {
    !a.is_empty()
        && !a
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '\'' || c == '"')
}

fn map_mounts(p: &mut Plan, bundle: &Path, mounts: Option<&Value>) -> BackendResult<()> {
    let Some(mounts) = mounts.and_then(Value::as_array) else {
        return Ok(());
    };
    let mut n = 0usize;
    for (i, m) in mounts.iter().enumerate() {
        let Some(m) = m.as_object() else { continue };
        let dest = m.get("destination").and_then(Value::as_str).unwrap_or("");
        let typ = m.get("type").and_then(Value::as_str).unwrap_or("");
        let src = m.get("source").and_then(Value::as_str).unwrap_or("");
        let opts = strings(m.get("options"));
        let is_bind = typ == "bind" || opts.iter().any(|o| o == "bind" || o == "rbind");
        let w = &mut p.warnings;
        if !is_bind {
            let pseudo = PSEUDO_TYPES.contains(&typ) || PSEUDO_TYPES.contains(&src);
            let dest_n = normalize(dest).unwrap_or_default();
            if pseudo && STANDARD_DESTS.contains(&dest_n.as_str()) {
                // LXC mounts these itself in every container.
                continue;
            }
            w.push(if pseudo {
                format!(
                    "mounts[{i}] ({typ} on {dest}) is not applied: proxmox mount points cannot be pseudo-filesystems"
                )
            } else {
                format!(
                    "mounts[{i}] ({typ} {src} on {dest}) is not applied: only bind mounts map to proxmox mount points"
                )
            });
            continue;
        }
        let Some(dest_n) = normalize(dest) else {
            w.push(format!(
                "mounts[{i}] destination '{dest}' is not an absolute path without '..'; not applied"
            ));
            continue;
        };
        let src_p = if Path::new(src).is_absolute() {
            PathBuf::from(src)
        } else {
            bundle.join(src)
        };
        if !src_p.exists() {
            return Err(BackendError::invalid_argument(format!(
                "mounts[{i}].source {} does not exist",
                src_p.display()
            )));
        }
        let src_s = src_p.to_string_lossy().into_owned();
        if [src_s.as_str(), dest_n.as_str()]
            .iter()
            .any(|s| s.contains([',', '=', ' ']) || s.chars().any(char::is_control))
        {
            w.push(format!(
                "mounts[{i}] ({src_s} on {dest_n}) is not applied: proxmox mount point paths cannot contain ',', '=' or blanks"
            ));
            continue;
        }
        let ro = opts.iter().any(|o| o == "ro");
        let other: Vec<&str> = opts
            .iter()
            .map(String::as_str)
            .filter(|o| !BIND_OPTS_OK.contains(o))
            .collect();
        if !other.is_empty() {
            w.push(format!(
                "mounts[{i}] options {} are not applied (only ro/rw are)",
                other.join(",")
            ));
        }
        let mut v = format!("{src_s},mp={dest_n}");
        if ro {
            v.push_str(",ro=1");
        }
        p.options.push((format!("mp{n}"), v));
        n += 1;
    }
    Ok(())
}

/// `/a/./b/` → `/a/b`; `None` for relative paths or `..`.
fn normalize(path: &str) -> Option<String> {
    let p = Path::new(path);
    if !p.is_absolute() {
        return None;
    }
    let mut out = String::new();
    for c in p.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(s) => {
                out.push('/');
                out.push_str(&s.to_string_lossy());
            }
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(if out.is_empty() { "/".into() } else { out })
}

fn map_linux(p: &mut Plan, linux: Option<&Map<String, Value>>, bridge: Option<&str>) {
    let Some(l) = linux else { return };
    unhandled(
        l,
        "linux.",
        &["resources", "namespaces", "netDevices"],
        &mut p.warnings,
    );
    if let Some(ns) = l.get("namespaces").and_then(Value::as_array) {
        let types: Vec<&str> = ns
            .iter()
            .filter_map(|n| n.get("type").and_then(Value::as_str))
            .collect();
        for n in ns {
            if let (Some(t), Some(path)) = (
                n.get("type").and_then(Value::as_str),
                n.get("path").and_then(Value::as_str),
            ) {
                p.warnings.push(format!(
                    "linux.namespaces: joining the {t} namespace at {path} is not applied; the container gets its own"
                ));
            }
        }
        if !types.contains(&"network") {
            p.warnings.push(
                "linux.namespaces has no network namespace: sharing the host's network is not applied; the container gets its own".into(),
            );
        }
    }
    if let Some(r) = obj(l, "resources") {
        map_resources(p, r);
    }
    if let Some(nd) = obj(l, "netDevices") {
        p.net_from_spec = true;
        let Some(bridge) = bridge else {
            p.warnings.push(
                "linux.netDevices is not applied: networking is disabled (bridge = \"\")".into(),
            );
            return;
        };
        for (i, (host, v)) in nd.iter().enumerate() {
            let ct_if = v
                .get("name")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or(host);
            let usable = !ct_if.is_empty()
                && ct_if.len() <= 15
                && ct_if
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c));
            if !usable {
                p.warnings.push(format!(
                    "linux.netDevices.{host}: interface name '{ct_if}' is not usable; not applied"
                ));
                continue;
            }
            p.options.push((
                format!("net{i}"),
                format!("name={ct_if},bridge={bridge},ip=dhcp"),
            ));
            p.warnings.push(format!(
                "linux.netDevices.{host}: the host device is not moved into the container; a veth '{ct_if}' on bridge {bridge} is created instead"
            ));
        }
    }
}

fn map_resources(p: &mut Plan, r: &Map<String, Value>) {
    const MIB: i64 = 1024 * 1024;
    let w = &mut p.warnings;
    unhandled(r, "linux.resources.", &["memory", "cpu", "devices"], w);
    if let Some(m) = obj(r, "memory") {
        unhandled(m, "linux.resources.memory.", &["limit", "swap"], w);
        let limit = m.get("limit").and_then(Value::as_i64).filter(|l| *l > 0);
        if let Some(limit) = limit {
            let mb = u64::try_from((limit + MIB - 1) / MIB).unwrap_or(u64::MAX);
            if mb < 16 {
                w.push(format!(
                    "linux.resources.memory.limit ({limit} bytes) is below proxmox's minimum; 16 MiB is used"
                ));
            }
            p.memory_mb = Some(mb.max(16));
        }
        match (m.get("swap").and_then(Value::as_i64), limit) {
            (None, _) => {}
            (Some(-1), _) => w.push(
                "linux.resources.memory.swap (unlimited) is not applied: proxmox swap is a fixed size".into(),
            ),
            (Some(s), Some(l)) if s >= l => {
                p.swap_mb = Some(u64::try_from((s - l) / MIB).unwrap_or(0));
            }
            (Some(s), _) => w.push(format!(
                "linux.resources.memory.swap ({s}) is not applied: it needs a memory limit not above it"
            )),
        }
    }
    if let Some(c) = obj(r, "cpu") {
        unhandled(c, "linux.resources.cpu.", &["shares", "quota", "period"], w);
        let quota = c.get("quota").and_then(Value::as_i64).filter(|q| *q > 0);
        let period = c.get("period").and_then(Value::as_u64).unwrap_or(100_000);
        if let Some(q) = quota {
            if period > 0 {
                let limit = (q as f64 / period as f64).min(8192.0);
                let s = format!("{limit:.2}");
                let s = s.trim_end_matches('0').trim_end_matches('.').to_owned();
                if s == "0" {
                    w.push(format!(
                        "linux.resources.cpu.quota ({q}/{period}) is below proxmox's 0.01 cpu granularity; not applied"
                    ));
                } else {
                    p.options.push(("cpulimit".into(), s));
                }
            }
        } else if c.get("period").is_some() {
            // A period without a quota means no limit: nothing to do.
        }
        if let Some(sh) = c.get("shares").and_then(Value::as_u64) {
            p.options
                .push(("cpuunits".into(), sh.min(500_000).to_string()));
        }
    }
    if let Some(d) = r.get("devices").and_then(Value::as_array) {
        let default_deny = d.iter().all(|e| {
            e.get("allow").and_then(Value::as_bool) == Some(false)
                && e.get("type").is_none_or(|t| t == "a")
                && e.get("major").is_none()
                && e.get("minor").is_none()
        });
        if !default_deny {
            w.push(
                "linux.resources.devices is not applied: proxmox sets the device allowlist itself"
                    .into(),
            );
        }
    }
}

fn obj<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a Map<String, Value>> {
    m.get(k).and_then(Value::as_object)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Warns about every present, non-empty key of `m` not in `handled`.
fn unhandled(m: &Map<String, Value>, prefix: &str, handled: &[&str], w: &mut Vec<String>) {
    for (k, v) in m {
        let empty = match v {
            Value::Null => true,
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            Value::String(s) => s.is_empty(),
            _ => false,
        };
        if !empty && !handled.contains(&k.as_str()) {
            w.push(format!(
                "{prefix}{k} is not applied by the proxmox-lxc backend"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(spec: Value) -> Plan {
        let d = tempfile::tempdir().unwrap();
        map_spec(d.path(), spec.as_object().unwrap(), Some("vmbr0")).unwrap()
    }

    fn opt<'a>(p: &'a Plan, k: &str) -> Option<&'a str> {
        p.options
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    fn warned(p: &Plan, needle: &str) -> bool {
        p.warnings.iter().any(|w| w.contains(needle))
    }

    #[test]
    fn runc_default_spec() {
        let p = map(json!({
            "ociVersion": "1.0.2",
            "process": {
                "terminal": true,
                "user": {"uid": 0, "gid": 0},
                "args": ["sh"],
                "env": ["PATH=/usr/bin:/bin", "TERM=xterm"],
                "cwd": "/",
                "capabilities": {"bounding": ["CAP_KILL"]},
                "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
                "noNewPrivileges": true
            },
            "root": {"path": "rootfs", "readonly": true},
            "hostname": "runc",
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]},
                {"destination": "/dev/pts", "type": "devpts", "source": "devpts"},
                {"destination": "/dev/shm", "type": "tmpfs", "source": "shm"},
                {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue"},
                {"destination": "/sys", "type": "sysfs", "source": "sysfs"},
                {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup"}
            ],
            "linux": {
                "resources": {"devices": [{"allow": false, "access": "rwm"}]},
                "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
                "maskedPaths": ["/proc/kcore"],
                "readonlyPaths": ["/proc/sys"]
            }
        }));
        assert_eq!(p.hostname.as_deref(), Some("runc"));
        // Pseudo filesystems at their standard places vanish silently.
        assert!(!p.options.iter().any(|(k, _)| k.starts_with("mp")));
        assert!(!warned(&p, "mounts["), "{:?}", p.warnings);
        for f in [
            "process.terminal",
            "process.capabilities",
            "process.rlimits",
            "process.noNewPrivileges",
            "root.readonly",
            "linux.maskedPaths",
            "linux.readonlyPaths",
        ] {
            assert!(warned(&p, f), "{f}: {:?}", p.warnings);
        }
        assert!(!warned(&p, "linux.resources.devices"));
        assert!(!warned(&p, "process.user"));
    }

    #[test]
    fn resources_map_to_pct_options() {
        let p = map(json!({
            "process": {"args": ["/bin/app", "--flag", "x=y"], "cwd": "/srv", "user": {"uid": 1000, "gid": 1000}},
            "linux": {"resources": {
                "memory": {"limit": 268435456, "swap": 402653184, "reservation": 1},
                "cpu": {"quota": 150000, "period": 100000, "shares": 2048, "cpus": "0-1"},
                "pids": {"limit": 100}
            }}
        }));
        assert_eq!(p.memory_mb, Some(256));
        assert_eq!(p.swap_mb, Some(128));
        assert_eq!(opt(&p, "cpulimit"), Some("1.5"));
        assert_eq!(opt(&p, "cpuunits"), Some("2048"));
        assert_eq!(opt(&p, "entrypoint"), Some("/bin/app --flag x=y"));
        for f in [
            "linux.resources.memory.reservation",
            "linux.resources.cpu.cpus",
            "linux.resources.pids",
            "process.cwd (/srv)",
            "process.user (uid 1000",
        ] {
            assert!(warned(&p, f), "{f}: {:?}", p.warnings);
        }
    }

    #[test]
    fn bind_mounts_become_mount_points() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("data");
        std::fs::create_dir(&src).unwrap();
        let spec = json!({
            "mounts": [
                {"destination": "/data/./x", "type": "bind", "source": src, "options": ["rbind", "ro", "nosuid"]},
                {"destination": "/rw", "type": "none", "source": src, "options": ["bind"]},
                {"destination": "/run", "type": "tmpfs", "source": "tmpfs"},
                {"destination": "/mnt/nfs", "type": "nfs", "source": "server:/x"}
            ]
        });
        let p = map_spec(d.path(), spec.as_object().unwrap(), Some("vmbr0")).unwrap();
        let s = src.display();
        assert_eq!(
            opt(&p, "mp0"),
            Some(format!("{s},mp=/data/x,ro=1").as_str())
        );
        assert_eq!(opt(&p, "mp1"), Some(format!("{s},mp=/rw").as_str()));
        assert!(warned(&p, "mounts[0] options nosuid"));
        assert!(warned(&p, "mounts[2] (tmpfs on /run)"));
        assert!(warned(&p, "mounts[3] (nfs"));
    }

    #[test]
    fn missing_bind_source_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let spec = json!({"mounts": [{"destination": "/x", "type": "bind", "source": "/nonexistent/src"}]});
        let e = map_spec(d.path(), spec.as_object().unwrap(), None).unwrap_err();
        assert!(e.message.contains("mounts[0].source"), "{e}");
    }

    #[test]
    fn net_devices_use_the_bridge() {
        let p = map(json!({"linux": {"netDevices": {"eth5": {"name": "ceth0"}, "eth6": {}}}}));
        assert!(p.net_from_spec);
        assert_eq!(opt(&p, "net0"), Some("name=ceth0,bridge=vmbr0,ip=dhcp"));
        assert_eq!(opt(&p, "net1"), Some("name=eth6,bridge=vmbr0,ip=dhcp"));
        assert!(warned(&p, "linux.netDevices.eth5"));
        let d = tempfile::tempdir().unwrap();
        let spec = json!({"linux": {"netDevices": {"eth5": {}}}});
        let p = map_spec(d.path(), spec.as_object().unwrap(), None).unwrap();
        assert!(p.options.is_empty());
        assert!(warned(&p, "networking is disabled"));
    }

    #[test]
    fn env_single_and_many() {
        let p = map(json!({"process": {"args": ["sleep", "1"], "env": ["A=1"]}}));
        assert_eq!(opt(&p, "env"), Some("A=1"));
        assert_eq!(opt(&p, "entrypoint"), Some("sleep 1"));
        // Several variables and no env binary in the (empty) rootfs: one
        // fits in --env, the other is reported.
        let p = map(json!({"process": {"args": ["sleep", "1"], "env": ["A=1", "B=2"]}}));
        assert_eq!(opt(&p, "env"), Some("A=1"));
        assert!(
            warned(&p, "process.env is not applied for B:"),
            "{:?}",
            p.warnings
        );
        // With an env binary they ride on the entrypoint.
        let d = tempfile::tempdir().unwrap();
        let bin = d.path().join("rootfs/usr/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("env"), b"").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(bin.join("env"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let spec =
            json!({"process": {"args": ["sleep", "1"], "env": ["A=1", "B=x y", "C=2", "D=z z"]}});
        let p = map_spec(d.path(), spec.as_object().unwrap(), None).unwrap();
        assert_eq!(opt(&p, "entrypoint"), Some("/usr/bin/env A=1 C=2 sleep 1"));
        // The one value with a blank goes through --env; a second cannot.
        assert_eq!(opt(&p, "env"), Some("B=x y"));
        assert!(warned(&p, "not applied for D:"), "{:?}", p.warnings);
    }

    #[test]
    fn init_words() {
        assert!(is_init_word("a-b=c/d"));
        for bad in ["a b", "it's", "", "a\nb", "\"", "a\tb"] {
            assert!(!is_init_word(bad), "{bad:?}");
        }
        let d = tempfile::tempdir().unwrap();
        let spec = json!({"process": {"args": ["sh", "-c", "echo two words"]}});
        let e = map_spec(d.path(), spec.as_object().unwrap(), None).unwrap_err();
        assert!(e.message.contains("process.args[2]"), "{e}");
    }

    #[test]
    fn unknown_fields_are_named() {
        let p = map(
            json!({"hooks": {"prestart": [{"path": "/x"}]}, "domainname": "x", "linux": {"sysctl": {"a": "1"}, "seccomp": {"defaultAction": "SCMP_ACT_ERRNO"}}}),
        );
        for f in ["hooks", "domainname", "linux.sysctl", "linux.seccomp"] {
            assert!(warned(&p, f), "{f}: {:?}", p.warnings);
        }
    }
}
