//! The container config file (`Config.pm` `parse_pct_config` /
//! `write_pct_config`, contract §9).

use crate::error::{Failure, Result};
use crate::node::Node;
use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CtConfig {
    /// `key: value` entries (env is kept here, NUL-separated, as `env`).
    pub keys: BTreeMap<String, String>,
    /// description (decoded)
    pub description: Option<String>,
    /// raw `lxc.*` entries in file order
    pub lxc: Vec<(String, String)>,
    /// `[pve:pending]` and snapshot sections, kept verbatim
    pub tail: String,
}

/// `encode_text`: percent-encodes `%`, `:`, control and non-ASCII bytes.
pub fn encode_text(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b == b'%' || b == b':' || !(0x20..0x7f).contains(&b) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

pub fn decode_text(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && b[i + 1].is_ascii_hexdigit()
            && b[i + 2].is_ascii_hexdigit()
        {
            let hex = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
            out.push(hex(b[i + 1]) * 16 + hex(b[i + 2]));
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl CtConfig {
    pub fn parse(text: &str) -> CtConfig {
        let mut c = CtConfig::default();
        let mut desc: Vec<String> = Vec::new();
        let mut env: Vec<String> = Vec::new();
        let mut lines = text.split_inclusive('\n');
        for raw in lines.by_ref() {
            let line = raw.trim_end_matches('\n');
            if line.starts_with('[') {
                c.tail.push_str(raw);
                break;
            }
            if line.trim().is_empty() {
                continue;
            }
            if let Some(d) = line.strip_prefix('#') {
                desc.push(decode_text(d));
                continue;
            }
            if line.starts_with("lxc.") {
                let (k, v) = match line.split_once(':') {
                    Some((k, v)) if !k.contains('=') => (k.trim(), v.trim()),
                    _ => match line.split_once('=') {
                        Some((k, v)) => (k.trim(), v.trim()),
                        None => continue,
                    },
                };
                if k == "lxc.environment.runtime" {
                    env.push(v.to_string());
                } else {
                    c.lxc.push((k.to_string(), v.to_string()));
                }
                continue;
            }
            if let Some((k, v)) = line.split_once(':') {
                c.keys.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
        for raw in lines {
            c.tail.push_str(raw);
        }
        if !desc.is_empty() {
            c.description = Some(desc.join("\n"));
        }
        if !env.is_empty() {
            c.keys.insert("env".into(), env.join("\0"));
        }
        c
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        if let Some(d) = &self.description {
            for l in d.split('\n') {
                s.push('#');
                s.push_str(&encode_text(l));
                s.push('\n');
            }
        }
        for (k, v) in &self.keys {
            if k == "env" {
                continue;
            }
            s.push_str(&format!("{k}: {v}\n"));
        }
        if let Some(env) = self.keys.get("env") {
            for e in env.split('\0').filter(|e| !e.is_empty()) {
                s.push_str(&format!("lxc.environment.runtime: {e}\n"));
            }
        }
        for (k, v) in &self.lxc {
            s.push_str(&format!("{k}: {v}\n"));
        }
        if !self.tail.is_empty() {
            s.push('\n');
            s.push_str(&self.tail);
        }
        s
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.keys.get(k).map(String::as_str)
    }

    pub fn lxc_get(&self, k: &str) -> Option<&str> {
        self.lxc
            .iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    pub fn flag(&self, k: &str) -> bool {
        self.get(k) == Some("1")
    }

    /// `check_lock`.
    pub fn check_lock(&self) -> Result<()> {
        match self.get("lock") {
            Some(l) => Err(Failure::die(format!("CT is locked ({l})"))),
            None => Ok(()),
        }
    }
}

/// Loads a config (`load_config`).
pub fn load(node: &Node, vmid: u32) -> Result<CtConfig> {
    match fs::read_to_string(node.config_path(vmid)) {
        Ok(t) => Ok(CtConfig::parse(&t)),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(Failure::die(format!(
            "Configuration file '{}' does not exist",
            node.cfs_config_path(vmid)
        ))),
        Err(e) => Err(Failure::die(format!(
            "unable to read '{}' - {e}",
            node.cfs_config_path(vmid)
        ))),
    }
}

/// Writes a config atomically (temp file + rename).
pub fn write(node: &Node, vmid: u32, conf: &CtConfig) -> Result<()> {
    let path = node.config_path(vmid);
    let tmp = path.with_extension(format!("conf.tmp.{}", std::process::id()));
    let text = conf.render();
    let res = (|| -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o640)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, &path)
    })();
    res.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Failure::die(format!(
            "close (rename) atomic file '/etc/pve/{}' failed: {e}",
            node.cfs_config_path(vmid)
        ))
    })
}

/// Creates the config with `O_EXCL` holding `text`. `Ok(false)` when it
/// already exists.
pub fn create_exclusive(node: &Node, vmid: u32, text: &str) -> Result<bool> {
    let res = OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o640)
        .open(node.config_path(vmid));
    match res {
        Ok(mut f) => {
            f.write_all(text.as_bytes())?;
            Ok(true)
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let text = "#hello%3A world\n#line2\narch: amd64\nhostname: a\nlxc.environment.runtime: A=1\nlxc.environment.runtime: B=2\nlxc.init.cwd: /tmp\n";
        let c = CtConfig::parse(text);
        assert_eq!(c.description.as_deref(), Some("hello: world\nline2"));
        assert_eq!(c.get("env"), Some("A=1\0B=2"));
        assert_eq!(c.lxc_get("lxc.init.cwd"), Some("/tmp"));
        assert_eq!(c.render(), text);
    }
}
