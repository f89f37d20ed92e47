//! Parameter validation in the style of `PVE::JSONSchema::check_prop`
//! (contract §1.4, §3): messages, check order and the trailing newline of
//! format-validator messages that produces the blank line in 400 blocks.

use crate::error::ParamError;
use crate::getopt::Kind;
use std::collections::BTreeMap;

pub const OSTYPES: &[&str] = &[
    "debian",
    "devuan",
    "ubuntu",
    "centos",
    "fedora",
    "opensuse",
    "archlinux",
    "alpine",
    "gentoo",
    "nixos",
    "unmanaged",
];
pub const ARCHES: &[&str] = &["amd64", "i386", "arm64", "armhf", "riscv32", "riscv64"];
pub const LOCKS: &[&str] = &[
    "backup",
    "create",
    "destroyed",
    "disk",
    "fstrim",
    "migrate",
    "mounted",
    "rollback",
    "snapshot",
    "snapshot-delete",
];
pub const CMODES: &[&str] = &["shell", "console", "tty"];

pub const MAX_MP: u32 = 256;
pub const MAX_NET: u32 = 32;
pub const MAX_DEV: u32 = 256;
pub const MAX_UNUSED: u32 = 256;

/// Property-string formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fmt {
    Rootfs,
    Mp,
    Net,
    Features,
    Startup,
}

/// Schema type of one parameter.
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    Int(Option<i64>, Option<i64>),
    Num(Option<f64>, Option<f64>),
    Bool,
    Str(Option<usize>, Option<usize>),
    Enum(&'static [&'static str]),
    Vmid,
    DnsName,
    StorageId,
    Tags,
    ConfigIdList,
    Prop(Fmt),
}

impl Ty {
    pub fn kind(self) -> Kind {
        match self {
            Ty::Bool => Kind::Bool,
            Ty::Tags | Ty::ConfigIdList => Kind::List,
            _ => Kind::Str,
        }
    }
}

fn indexed(name: &str, prefix: &str, max: u32) -> bool {
    name.strip_prefix(prefix)
        .filter(|n| !n.is_empty() && (n == &"0" || !n.starts_with('0')))
        .and_then(|n| n.parse::<u32>().ok())
        .is_some_and(|n| n < max)
}

/// Type of a container config key (`Config.pm` `$confdesc`).
pub fn config_key_type(name: &str) -> Option<Ty> {
    Some(match name {
        "hostname" => Ty::DnsName,
        "memory" => Ty::Int(Some(16), None),
        "swap" => Ty::Int(Some(0), None),
        "cores" => Ty::Int(Some(1), Some(8192)),
        "cpulimit" => Ty::Num(Some(0.0), Some(8192.0)),
        "cpuunits" => Ty::Int(Some(0), Some(500000)),
        "rootfs" => Ty::Prop(Fmt::Rootfs),
        "ostype" => Ty::Enum(OSTYPES),
        "arch" => Ty::Enum(ARCHES),
        "unprivileged" | "onboot" | "protection" | "console" | "template" | "debug" => Ty::Bool,
        "features" => Ty::Prop(Fmt::Features),
        "startup" => Ty::Prop(Fmt::Startup),
        "description" => Ty::Str(Some(8192), None),
        "tags" => Ty::Tags,
        "nameserver" | "searchdomain" => Ty::Str(None, None),
        "timezone" | "hookscript" | "entrypoint" | "env" => Ty::Str(None, None),
        "tty" => Ty::Int(Some(0), Some(6)),
        "cmode" => Ty::Enum(CMODES),
        "lock" => Ty::Enum(LOCKS),
        n if indexed(n, "mp", MAX_MP) => Ty::Prop(Fmt::Mp),
        n if indexed(n, "net", MAX_NET) => Ty::Prop(Fmt::Net),
        n if indexed(n, "dev", MAX_DEV) => Ty::Str(None, None),
        n if indexed(n, "unused", MAX_UNUSED) => Ty::Str(None, None),
        _ => return None,
    })
}

/// Every config key name (used to build the option lists).
pub fn config_key_names() -> Vec<String> {
    let mut v: Vec<String> = [
        "hostname",
        "memory",
        "swap",
        "cores",
        "cpulimit",
        "cpuunits",
        "rootfs",
        "ostype",
        "arch",
        "unprivileged",
        "onboot",
        "protection",
        "console",
        "template",
        "debug",
        "features",
        "startup",
        "description",
        "tags",
        "nameserver",
        "searchdomain",
        "timezone",
        "hookscript",
        "entrypoint",
        "env",
        "tty",
        "cmode",
        "lock",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend((0..MAX_MP).map(|i| format!("mp{i}")));
    v.extend((0..MAX_NET).map(|i| format!("net{i}")));
    v.extend((0..MAX_DEV).map(|i| format!("dev{i}")));
    v.extend((0..MAX_UNUSED).map(|i| format!("unused{i}")));
    v
}

fn is_int(v: &str) -> bool {
    let d = v.strip_prefix(['+', '-']).unwrap_or(v);
    !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
}

fn is_number(v: &str) -> bool {
    let d = v.strip_prefix(['+', '-']).unwrap_or(v);
    let (mant, exp) = match d.find(['e', 'E']) {
        Some(i) => (&d[..i], Some(&d[i + 1..])),
        None => (d, None),
    };
    let mant_ok = match mant.split_once('.') {
        Some((a, b)) => {
            (!a.is_empty() || !b.is_empty())
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        }
        None => !mant.is_empty() && mant.bytes().all(|c| c.is_ascii_digit()),
    };
    let exp_ok = exp.is_none_or(is_int);
    mant_ok && exp_ok
}

fn fmt_num(n: f64) -> String {
    if n.fract() == 0.0 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

fn dns_label(l: &str) -> bool {
    let b = l.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

pub fn is_dns_name(v: &str) -> bool {
    !v.is_empty() && v.split('.').all(dns_label)
}

pub fn is_storage_id(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn is_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'+' | b'.'))
}

pub fn is_config_id(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-'))
}

/// Splits a tag list on `,`, `;` and spaces.
pub fn split_tags(v: &str) -> Vec<String> {
    v.split([',', ';', ' '])
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// Checks one value; returns the error message (format errors end in `\n`).
pub fn check(ty: Ty, v: &str) -> Option<String> {
    match ty {
        Ty::Int(min, max) => {
            if !is_int(v) {
                return Some(format!("type check ('integer') failed - got '{v}'"));
            }
            let n: i128 = v.parse().ok()?;
            if let Some(mx) = max
                && n > mx as i128
            {
                return Some(format!("value must have a maximum value of {mx}"));
            }
            if let Some(mn) = min
                && n < mn as i128
            {
                return Some(format!("value must have a minimum value of {mn}"));
            }
            None
        }
        Ty::Num(min, max) => {
            if !is_number(v) {
                return Some(format!("type check ('number') failed - got '{v}'"));
            }
            let n: f64 = v.parse().ok()?;
            if let Some(mx) = max
                && n > mx
            {
                return Some(format!(
                    "value must have a maximum value of {}",
                    fmt_num(mx)
                ));
            }
            if let Some(mn) = min
                && n < mn
            {
                return Some(format!(
                    "value must have a minimum value of {}",
                    fmt_num(mn)
                ));
            }
            None
        }
        Ty::Bool => {
            if crate::getopt::parse_boolean(v).is_none() {
                Some(format!("type check ('boolean') failed - got '{v}'"))
            } else {
                None
            }
        }
        Ty::Str(max, min) => {
            if let Some(mx) = max
                && v.chars().count() > mx
            {
                return Some(format!("value may only be {mx} characters long"));
            }
            if let Some(mn) = min
                && v.chars().count() < mn
            {
                return Some(format!("value must be at least {mn} characters long"));
            }
            None
        }
        Ty::Enum(vals) => {
            if vals.contains(&v) {
                None
            } else {
                Some(format!(
                    "value '{v}' does not have a value in the enumeration '{}'",
                    vals.join(", ")
                ))
            }
        }
        Ty::Vmid => {
            if !is_int(v) {
                return Some(format!("type check ('integer') failed - got '{v}'"));
            }
            let b = v.as_bytes();
            let ok =
                (3..=9).contains(&b.len()) && b[0] != b'0' && b.iter().all(|c| c.is_ascii_digit());
            if !ok {
                return Some("invalid format - value does not look like a valid VM ID\n".into());
            }
            None
        }
        Ty::DnsName => {
            if !is_dns_name(v) {
                return Some("invalid format - value does not look like a valid DNS name\n".into());
            }
            if v.len() > 255 {
                return Some("value may only be 255 characters long".into());
            }
            None
        }
        Ty::StorageId => {
            if !is_storage_id(v) {
                return Some(format!(
                    "invalid format - storage ID '{v}' contains illegal characters\n"
                ));
            }
            None
        }
        Ty::Tags => {
            for t in split_tags(v) {
                if !is_tag(&t) {
                    return Some(format!("invalid format - invalid tag '{t}'\n"));
                }
            }
            None
        }
        Ty::ConfigIdList => {
            for id in v.split([',', ';', ' ']).filter(|s| !s.is_empty()) {
                if !is_config_id(id) {
                    return Some(format!(
                        "invalid format - invalid configuration ID '{id}'\n"
                    ));
                }
            }
            None
        }
        Ty::Prop(fmt) => match parse_prop(fmt, v, "") {
            Ok(_) => None,
            Err(e) => Some(format!("invalid format - {e}")),
        },
    }
}

/// Sub-keys of a property-string format: (name, type, required, default key).
fn prop_keys(fmt: Fmt) -> (&'static [(&'static str, SubTy)], Option<&'static str>) {
    use SubTy::*;
    const DISK: &[(&str, SubTy)] = &[
        ("volume", Req),
        ("acl", B),
        ("mountoptions", S),
        ("quota", B),
        ("replicate", B),
        ("ro", B),
        ("shared", B),
        ("size", Size),
    ];
    const MP: &[(&str, SubTy)] = &[
        ("volume", Req),
        ("mp", ReqPath),
        ("acl", B),
        ("backup", B),
        ("keepattrs", B),
        ("mountoptions", S),
        ("quota", B),
        ("replicate", B),
        ("ro", B),
        ("shared", B),
        ("size", Size),
    ];
    const NET: &[(&str, SubTy)] = &[
        ("bridge", S),
        ("firewall", B),
        ("gw", S),
        ("gw6", S),
        ("host-managed", B),
        ("hwaddr", Mac),
        ("ip", S),
        ("ip6", S),
        ("link_down", B),
        ("mtu", I(64, 65535)),
        ("name", Req),
        ("rate", S),
        ("tag", I(1, 4094)),
        ("trunks", S),
        ("type", Veth),
    ];
    const FEAT: &[(&str, SubTy)] = &[
        ("force_rw_sys", B),
        ("fuse", B),
        ("keyctl", B),
        ("mknod", B),
        ("mount", S),
        ("nesting", B),
    ];
    const STARTUP: &[(&str, SubTy)] = &[
        ("order", I(0, i64::MAX)),
        ("up", I(0, i64::MAX)),
        ("down", I(0, i64::MAX)),
    ];
    match fmt {
        Fmt::Rootfs => (DISK, Some("volume")),
        Fmt::Mp => (MP, Some("volume")),
        Fmt::Net => (NET, None),
        Fmt::Features => (FEAT, None),
        Fmt::Startup => (STARTUP, Some("order")),
    }
}

#[derive(Debug, Clone, Copy)]
enum SubTy {
    S,
    Req,
    ReqPath,
    B,
    I(i64, i64),
    Size,
    Mac,
    Veth,
}

fn is_mac(v: &str) -> bool {
    let parts: Vec<&str> = v.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|c| c.is_ascii_hexdigit()))
        && u8::from_str_radix(parts[0], 16).is_ok_and(|b| b & 1 == 0)
}

fn is_disk_size(v: &str) -> bool {
    let d = v.strip_suffix(['K', 'M', 'G', 'T']).unwrap_or(v);
    is_number(d) && !d.starts_with(['+', '-'])
}

/// `parse_property_string`: returns the key/value map or the error text
/// (without the `invalid format - ` prefix; multi-line for sub-key errors,
/// always ending in `\n`). `path` is the property name used for sub-key
/// error paths (`net0.name`).
pub fn parse_prop(fmt: Fmt, data: &str, path: &str) -> Result<BTreeMap<String, String>, String> {
    let (keys, default_key) = prop_keys(fmt);
    let mut res: BTreeMap<String, String> = BTreeMap::new();
    let mut default_key = default_key;
    for part in data.split(',') {
        if part.trim().is_empty() {
            continue;
        }
        if let Some((k, v)) = part.split_once('=')
            && !k.is_empty()
            && !v.is_empty()
        {
            if res.contains_key(k) {
                return Err(format!(
                    "duplicate key in comma-separated list property: {k}\n"
                ));
            }
            if !keys.iter().any(|(n, _)| *n == k) {
                return Err(format!(
                    "invalid key in comma-separated list property: {k}\n"
                ));
            }
            res.insert(k.to_string(), v.to_string());
        } else if !part.contains('=') {
            let Some(dk) = default_key else {
                return Err("value without key, but schema does not define a default key\n".into());
            };
            if res.contains_key(dk) {
                return Err(format!(
                    "duplicate key in comma-separated list property: {dk}\n"
                ));
            }
            res.insert(dk.to_string(), part.to_string());
            default_key = None;
        } else {
            return Err("missing key in comma-separated list property\n".into());
        }
    }
    let mut errs: Vec<(String, String)> = Vec::new();
    for (k, ty) in keys {
        let v = res.get(*k);
        let msg = match (ty, v) {
            (SubTy::Req | SubTy::ReqPath, None) => {
                Some("property is missing and it is not optional".to_string())
            }
            (_, None) => None,
            (SubTy::S | SubTy::Req, Some(_)) => None,
            (SubTy::ReqPath, Some(p)) => {
                if p.split('/').any(|c| c == "." || c == "..") {
                    Some(format!(
                        "invalid format - mount point '{p}' contains illegal character sequences\n"
                    ))
                } else {
                    None
                }
            }
            (SubTy::B, Some(v)) => check(Ty::Bool, v),
            (SubTy::I(mn, mx), Some(v)) => check(Ty::Int(Some(*mn), Some(*mx)), v),
            (SubTy::Size, Some(v)) => {
                (!is_disk_size(v)).then(|| "invalid format - unable to parse size\n".to_string())
            }
            (SubTy::Mac, Some(v)) => {
                (!is_mac(v)).then(|| "value does not match the regex pattern".to_string())
            }
            (SubTy::Veth, Some(v)) => check(Ty::Enum(&["veth"]), v),
        };
        if let Some(m) = msg {
            errs.push((k.to_string(), m));
        }
    }
    if errs.is_empty() {
        return Ok(res);
    }
    let mut s = String::from("format error\n");
    for (k, m) in errs {
        let p = if path.is_empty() {
            k
        } else {
            format!("{path}.{k}")
        };
        s.push_str(&format!("{p}: {}\n", m.trim_end_matches('\n')));
    }
    Err(s)
}

/// Prints a property string with keys in canonical (sorted) order, the
/// default key first and without `key=`.
pub fn print_prop(fmt: Fmt, map: &BTreeMap<String, String>) -> String {
    let (_, default_key) = prop_keys(fmt);
    let mut parts = Vec::new();
    if let Some(dk) = default_key
        && let Some(v) = map.get(dk)
    {
        parts.push(v.clone());
    }
    for (k, v) in map {
        if Some(k.as_str()) == default_key {
            continue;
        }
        parts.push(format!("{k}={v}"));
    }
    parts.join(",")
}

/// Validates every parsed option that has a known type. `types` maps an
/// option name to its type.
pub fn validate(
    opts: &BTreeMap<String, String>,
    types: &dyn Fn(&str) -> Option<Ty>,
) -> Vec<ParamError> {
    let mut errors = Vec::new();
    for (k, v) in opts {
        let Some(ty) = types(k) else { continue };
        if let Some(mut msg) = check(ty, v) {
            if let Ty::Prop(_) = ty {
                // nested errors carry the full path
                msg = fix_paths(&msg, k);
            }
            errors.push((k.clone(), msg));
        }
    }
    errors
}

fn fix_paths(msg: &str, key: &str) -> String {
    // parse_prop was called without a path: prefix sub-key lines.
    let mut out = String::new();
    for (i, line) in msg.split_inclusive('\n').enumerate() {
        if i > 0 && !line.trim().is_empty() {
            out.push_str(key);
            out.push('.');
        }
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vmid() {
        assert_eq!(check(Ty::Vmid, "100"), None);
        assert_eq!(
            check(Ty::Vmid, "50").as_deref(),
            Some("invalid format - value does not look like a valid VM ID\n")
        );
        assert_eq!(
            check(Ty::Vmid, "abc").as_deref(),
            Some("type check ('integer') failed - got 'abc'")
        );
    }

    #[test]
    fn net_missing_name() {
        let opts: BTreeMap<String, String> =
            [("net0".to_string(), "bridge=vmbr0".to_string())].into();
        let e = validate(&opts, &config_key_type);
        assert_eq!(
            e[0].1,
            "invalid format - format error\nnet0.name: property is missing and it is not optional\n"
        );
    }

    #[test]
    fn numbers() {
        assert!(is_number("1.5"));
        assert!(is_number(".5"));
        assert!(!is_number("x"));
        assert_eq!(
            check(Ty::Int(Some(16), None), "8").as_deref(),
            Some("value must have a minimum value of 16")
        );
    }
}
