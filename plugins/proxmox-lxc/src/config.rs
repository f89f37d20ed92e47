//! The `[backends.proxmox-lxc]` table: parsing, defaults and validation.

use std::path::PathBuf;
use std::time::Duration;

use nexcage_plugin_api::{BackendError, BackendResult, process::which};
use serde::Deserialize;

/// The table as written by the user; every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    pct: Option<PathBuf>,
    pveam: Option<PathBuf>,
    pvesh: Option<PathBuf>,
    node: Option<String>,
    storage: Option<String>,
    template_storage: Option<String>,
    template_dir: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    rootfs_gib: Option<u32>,
    memory_mb: Option<u64>,
    swap_mb: Option<u64>,
    cores: Option<u32>,
    bridge: Option<String>,
    unprivileged: Option<bool>,
    features: Option<String>,
    onboot: Option<bool>,
    tags: Option<Vec<String>>,
    timeout_secs: Option<u64>,
    shutdown_timeout_secs: Option<u64>,
    nextid_retries: Option<u32>,
    keep_env: Option<bool>,
}

/// A tool path: configured, found on `PATH`, or missing (reported on use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolPath {
    /// Resolved to a file.
    Found(PathBuf),
    /// Not configured and not on `PATH`.
    Missing(&'static str),
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub pct: ToolPath,
    pub pveam: ToolPath,
    pub pvesh: ToolPath,
    pub node: String,
    pub storage: String,
    pub template_storage: String,
    /// The template storage's `template/cache` directory, if known.
    pub template_dir: Option<PathBuf>,
    /// Where the name ⇄ VMID map lives, if not under nexcage's `--root`
    /// (which is tmpfs by default): e.g. `/var/lib/nexcage/proxmox-lxc`.
    pub state_dir: Option<PathBuf>,
    pub rootfs_gib: u32,
    pub memory_mb: u64,
    pub swap_mb: u64,
    pub cores: Option<u32>,
    /// `None` disables networking (`bridge = ""`).
    pub bridge: Option<String>,
    pub unprivileged: bool,
    pub features: Option<String>,
    pub onboot: Option<bool>,
    pub tags: Vec<String>,
    pub timeout: Duration,
    pub shutdown_timeout_secs: u64,
    pub nextid_retries: u32,
    pub keep_env: bool,
}

/// Proxmox's defaults for a new CT (`LXC.pm` create_vm).
pub const DEFAULT_MEMORY_MB: u64 = 512;
/// Proxmox's default swap for a new CT.
pub const DEFAULT_SWAP_MB: u64 = 512;
/// Where storage `local` keeps templates on a real node.
pub const LOCAL_TEMPLATE_DIR: &str = "/var/lib/vz/template/cache";

impl Config {
    /// Parses and validates the table.
    pub fn from_json(value: serde_json::Value) -> BackendResult<Self> {
        // The host passes `null` or `{}` for an absent table.
        let value = if value.is_null() {
            serde_json::Value::Object(Default::default())
        } else {
            value
        };
        let raw: Raw = nexcage_plugin_api::parse_config(value)?;
        let tool = |key: &'static str, given: Option<PathBuf>| -> BackendResult<ToolPath> {
            match given {
                Some(p) if p.as_os_str().is_empty() => {
                    Err(bad(key, format!("{key} must not be empty")))
                }
                Some(p) => which(&p.to_string_lossy())
                    .map(ToolPath::Found)
                    .ok_or_else(|| bad(key, format!("{key}: {} does not exist", p.display()))),
                None => Ok(which(key).map_or(ToolPath::Missing(key), ToolPath::Found)),
            }
        };
        let node = match raw.node {
            Some(n) => n,
            None => local_node_name(),
        };
        if !is_node_name(&node) {
            return Err(bad(
                "node",
                format!("node: '{node}' is not a valid proxmox node name"),
            ));
        }
        let storage = raw.storage.unwrap_or_else(|| "local-lvm".into());
        check_storage_id("storage", &storage)?;
        let template_storage = raw.template_storage.unwrap_or_else(|| "local".into());
        check_storage_id("template_storage", &template_storage)?;
        let template_dir = match raw.template_dir {
            Some(d) if !d.is_absolute() => {
                return Err(bad(
                    "template_dir",
                    format!("template_dir: {} must be an absolute path", d.display()),
                ));
            }
            Some(d) => Some(d),
            None if template_storage == "local" => Some(PathBuf::from(LOCAL_TEMPLATE_DIR)),
            None => None,
        };
        if let Some(d) = raw.state_dir.as_ref().filter(|d| !d.is_absolute()) {
            return Err(bad(
                "state_dir",
                format!("state_dir: {} must be an absolute path", d.display()),
            ));
        }
        let rootfs_gib = raw.rootfs_gib.unwrap_or(8);
        if rootfs_gib == 0 {
            return Err(bad("rootfs_gib", "rootfs_gib must be at least 1"));
        }
        let memory_mb = raw.memory_mb.unwrap_or(DEFAULT_MEMORY_MB);
        check_memory("memory_mb", memory_mb)?;
        let swap_mb = raw.swap_mb.unwrap_or(DEFAULT_SWAP_MB);
        if let Some(c) = raw.cores {
            check_cores("cores", c)?;
        }
        let bridge = match raw.bridge {
            None => Some("vmbr0".to_owned()),
            Some(b) if b.is_empty() => None,
            Some(b) => {
                check_bridge("bridge", &b)?;
                Some(b)
            }
        };
        if let Some(f) = &raw.features {
            check_features("features", f)?;
        }
        let tags = raw.tags.unwrap_or_default();
        for t in &tags {
            check_tag("tags", t)?;
        }
        let timeout_secs = raw.timeout_secs.unwrap_or(120);
        if timeout_secs == 0 {
            return Err(bad("timeout_secs", "timeout_secs must be at least 1"));
        }
        let nextid_retries = raw.nextid_retries.unwrap_or(5);
        if nextid_retries == 0 {
            return Err(bad("nextid_retries", "nextid_retries must be at least 1"));
        }
        Ok(Config {
            pct: tool("pct", raw.pct)?,
            pveam: tool("pveam", raw.pveam)?,
            pvesh: tool("pvesh", raw.pvesh)?,
            node,
            storage,
            template_storage,
            template_dir,
            state_dir: raw.state_dir,
            rootfs_gib,
            memory_mb,
            swap_mb,
            cores: raw.cores,
            bridge,
            unprivileged: raw.unprivileged.unwrap_or(true),
            features: raw.features,
            onboot: raw.onboot,
            tags,
            timeout: Duration::from_secs(timeout_secs),
            shutdown_timeout_secs: raw.shutdown_timeout_secs.unwrap_or(30),
            nextid_retries,
            keep_env: raw.keep_env.unwrap_or(false),
        })
    }
}

fn bad(key: &str, message: impl Into<String>) -> BackendError {
    BackendError::invalid_config(key, message)
}

/// The short host name, which is the Proxmox node name; `pve` if unknown.
fn local_node_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "pve".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let full = String::from_utf8_lossy(&buf[..end]).into_owned();
    let short = full.split('.').next().unwrap_or_default().to_owned();
    if is_node_name(&short) {
        short
    } else {
        "pve".into()
    }
}

/// `^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$`: a node name, a DNS label.
pub fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

fn is_node_name(s: &str) -> bool {
    is_dns_label(s)
}

/// Proxmox's `dns-name` format: dot-separated DNS labels.
pub fn is_dns_name(s: &str) -> bool {
    s.len() <= 255 && s.split('.').all(is_dns_label)
}

/// `pve-storage-id`: `^[a-z][a-z0-9\-_.]*[a-z0-9]$`, case-insensitive.
pub fn is_storage_id(s: &str) -> bool {
    let b = s.to_ascii_lowercase().into_bytes();
    b.len() >= 2
        && b[0].is_ascii_lowercase()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"-_.".contains(c))
}

fn check_storage_id(key: &str, v: &str) -> BackendResult<()> {
    if is_storage_id(v) {
        Ok(())
    } else {
        Err(bad(
            key,
            format!("{key}: '{v}' is not a valid proxmox storage id"),
        ))
    }
}

/// Memory is an integer number of MiB, at least 16.
pub fn check_memory(key: &str, mb: u64) -> BackendResult<()> {
    if mb < 16 {
        Err(bad(
            key,
            format!("{key} must be at least 16 (MiB), got {mb}"),
        ))
    } else {
        Ok(())
    }
}

/// Cores are 1..=8192.
pub fn check_cores(key: &str, c: u32) -> BackendResult<()> {
    if (1..=8192).contains(&c) {
        Ok(())
    } else {
        Err(bad(
            key,
            format!("{key} must be between 1 and 8192, got {c}"),
        ))
    }
}

/// A Linux interface name: at most 15 bytes, no `/`, `,`, `=` or spaces.
pub fn check_bridge(key: &str, b: &str) -> BackendResult<()> {
    let ok = !b.is_empty()
        && b.len() <= 15
        && b.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c));
    if ok {
        Ok(())
    } else {
        Err(bad(
            key,
            format!(
                "{key}: '{b}' is not a valid bridge name (letters, digits, '-', '_', '.'; at most 15)"
            ),
        ))
    }
}

/// `key=value[,key=value...]` as `pct --features` expects.
pub fn check_features(key: &str, f: &str) -> BackendResult<()> {
    let ok = f.split(',').all(|kv| {
        kv.split_once('=').is_some_and(|(k, v)| {
            !k.is_empty()
                && k.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
                && !v.is_empty()
                && !v.contains(char::is_whitespace)
        })
    });
    if ok {
        Ok(())
    } else {
        Err(bad(
            key,
            format!("{key}: '{f}' is not a features list like 'nesting=1,keyctl=1'"),
        ))
    }
}

/// `pve-tag`: `[a-z0-9_][a-z0-9_\-+.]*`, case-insensitive.
pub fn check_tag(key: &str, t: &str) -> BackendResult<()> {
    let b = t.as_bytes();
    let ok = !b.is_empty()
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_-+.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(bad(
            key,
            format!(
                "{key}: '{t}' is not a valid proxmox tag (letters, digits, '_', '-', '+', '.')"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexcage_plugin_api::ErrorKind;
    use serde_json::json;

    #[test]
    fn defaults() {
        let c = Config::from_json(json!({"node": "pve"})).unwrap();
        assert_eq!(c.storage, "local-lvm");
        assert_eq!(c.template_storage, "local");
        assert_eq!(c.template_dir, Some(PathBuf::from(LOCAL_TEMPLATE_DIR)));
        assert_eq!(c.rootfs_gib, 8);
        assert_eq!(c.bridge.as_deref(), Some("vmbr0"));
        assert!(c.unprivileged);
        assert!(!c.keep_env);
        assert_eq!(c.timeout, Duration::from_secs(120));
        assert_eq!(c.shutdown_timeout_secs, 30);
        assert_eq!(c.nextid_retries, 5);
    }

    #[test]
    fn null_table_is_defaults() {
        assert!(Config::from_json(serde_json::Value::Null).is_ok());
    }

    #[test]
    fn empty_bridge_disables_networking() {
        let c = Config::from_json(json!({"bridge": ""})).unwrap();
        assert_eq!(c.bridge, None);
    }

    #[test]
    fn errors_name_the_key() {
        for (cfg, key) in [
            (json!({"storag": "x"}), "storag"),
            (json!({"storage": "1bad"}), "storage"),
            (json!({"template_storage": "a"}), "template_storage"),
            (json!({"memory_mb": 8}), "memory_mb"),
            (json!({"cores": 0}), "cores"),
            (json!({"rootfs_gib": 0}), "rootfs_gib"),
            (json!({"bridge": "br with space"}), "bridge"),
            (json!({"features": "nesting"}), "features"),
            (json!({"tags": ["a;b"]}), "tags"),
            (json!({"timeout_secs": 0}), "timeout_secs"),
            (json!({"nextid_retries": 0}), "nextid_retries"),
            (json!({"node": "-x"}), "node"),
            (json!({"pct": "/nonexistent/pct"}), "pct"),
            (json!({"template_dir": "rel"}), "template_dir"),
            (json!({"state_dir": "rel"}), "state_dir"),
        ] {
            let e = Config::from_json(cfg.clone()).unwrap_err();
            assert_eq!(e.kind, ErrorKind::INVALID_CONFIG, "{cfg}");
            assert_eq!(e.key.as_deref(), Some(key), "{cfg}: {e}");
            assert!(e.message.contains(key), "{cfg}: {e}");
        }
        let e = Config::from_json(json!({"rootfs_gib": "eight"})).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("rootfs_gib"), "{e}");
    }

    #[test]
    fn other_template_storage_has_no_default_dir() {
        let c = Config::from_json(json!({"template_storage": "nfs-tpl"})).unwrap();
        assert_eq!(c.template_dir, None);
    }

    #[test]
    fn name_rules() {
        assert!(is_dns_label("web-1"));
        assert!(!is_dns_label("web_1"));
        assert!(!is_dns_label("-web"));
        assert!(is_dns_name("a.b-c.d"));
        assert!(!is_dns_name("a..b"));
        assert!(is_storage_id("local-lvm"));
        assert!(!is_storage_id("l"));
    }
}
