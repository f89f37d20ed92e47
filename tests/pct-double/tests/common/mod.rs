//! Shared helpers for the pct-double integration tests: a private node root
//! per test and a guard that removes every LXC container it started.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub struct Node {
    pub dir: tempfile::TempDir,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

pub fn bin(name: &str) -> PathBuf {
    match name {
        "pct" => PathBuf::from(env!("CARGO_BIN_EXE_pct")),
        "pveam" => PathBuf::from(env!("CARGO_BIN_EXE_pveam")),
        "pvesh" => PathBuf::from(env!("CARGO_BIN_EXE_pvesh")),
        "mktemplate" => PathBuf::from(env!("CARGO_BIN_EXE_pve-double-mktemplate")),
        other => panic!("unknown binary {other}"),
    }
}

impl Node {
    pub fn new() -> Node {
        let dir = tempfile::Builder::new()
            .prefix("pctd-")
            .tempdir_in("/tmp")
            .expect("tempdir");
        Node { dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn cmd(&self, tool: &str) -> Command {
        let mut c = Command::new(bin(tool));
        c.env("PVE_DOUBLE_ROOT", self.root())
            .env_remove("PVE_DOUBLE_NODE")
            .env_remove("PVE_DOUBLE_HANG")
            .env_remove("PVE_DOUBLE_FAIL")
            .env_remove("PVE_DOUBLE_TAKE_NEXT")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, tool: &str, args: &[&str]) -> Run {
        Run::from(self.cmd(tool).args(args).output().expect("spawn"))
    }

    pub fn run_env(&self, tool: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = self.cmd(tool);
        for (k, v) in env {
            c.env(k, v);
        }
        Run::from(c.args(args).output().expect("spawn"))
    }

    /// Builds the busybox template; returns its volid.
    pub fn template(&self) -> String {
        let o = Command::new(bin("mktemplate"))
            .arg(self.root())
            .output()
            .expect("spawn mktemplate");
        assert!(
            o.status.success(),
            "mktemplate failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        pct_double::default_volid()
    }

    /// Creates a CT on local-lvm and asserts success.
    pub fn create(&self, vmid: &str, extra: &[&str]) -> Run {
        let tpl = pct_double::default_volid();
        let mut args = vec!["create", vmid, tpl.as_str(), "--rootfs", "local-lvm:1"];
        args.extend_from_slice(extra);
        let r = self.run("pct", &args);
        assert_eq!(r.code, 0, "create failed: {}", r.stderr);
        r
    }

    pub fn conf_path(&self, vmid: &str) -> PathBuf {
        self.root()
            .join(format!("etc/pve/nodes/pve/lxc/{vmid}.conf"))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // Stop and remove every container this node's lxcpath knows, even
        // when the test failed half-way.
        let lxcpath = self.root().join("lxc");
        if let Ok(rd) = std::fs::read_dir(&lxcpath) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let _ = Command::new("timeout")
                    .args(["30", "lxc-stop", "-P"])
                    .arg(&lxcpath)
                    .args(["-n", &name, "--kill"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
                let _ = Command::new("timeout")
                    .args(["30", "lxc-destroy", "-P"])
                    .arg(&lxcpath)
                    .args(["-n", &name])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}
