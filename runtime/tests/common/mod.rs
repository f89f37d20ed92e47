//! Shared helpers: run the real `nexcage` binary against real plugin
//! libraries in a private plugin directory.

#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The cargo profile directory the test binary was built into.
pub fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_nexcage"))
        .parent()
        .expect("binary has a parent directory")
        .to_owned()
}

/// A built fixture library (`libfixture_<name>.so`).
pub fn fixture(name: &str) -> PathBuf {
    let p = target_dir().join(format!("libfixture_{name}.so"));
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace` before the tests",
        p.display()
    );
    p
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub bundle: PathBuf,
    pub plugins: PathBuf,
    pub config: PathBuf,
    pub root: PathBuf,
}

impl Env {
    /// A private plugin dir holding the given fixtures under the given
    /// plugin file names, and a config that uses it.
    pub fn new(plugins: &[(&str, &str)], config: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let pdir = dir.path().join("plugins");
        std::fs::create_dir(&pdir).expect("mkdir");
        std::fs::set_permissions(&pdir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        for (fixture_name, plugin_name) in plugins {
            let dst = pdir.join(format!("libnexcage_{}.so", plugin_name.replace('-', "_")));
            std::fs::copy(fixture(fixture_name), &dst).expect("copy fixture");
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        // A minimal bundle (the testbed reads nothing from it); commands
        // run from it, so `--bundle .` names it.
        let bundle = dir.path().join("bundle");
        std::fs::create_dir(&bundle).expect("mkdir bundle");
        std::fs::write(bundle.join("config.json"), "{}").expect("write config.json");
        let env = Env {
            bundle,
            config: dir.path().join("config.toml"),
            root: dir.path().join("root"),
            plugins: pdir,
            dir,
        };
        env.write_config(config);
        env
    }

    pub fn write_config(&self, body: &str) {
        let text = format!(
            "{body}\n[plugins]\ndirs = [\"{}\"]\n",
            self.plugins.display()
        );
        std::fs::write(&self.config, text).expect("write config");
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_nexcage"));
        c.arg("--config")
            .arg(&self.config)
            .arg("--root")
            .arg(&self.root);
        c.current_dir(&self.bundle);
        c.env_remove("NEXCAGE_PLUGIN_PATH")
            .env_remove("NEXCAGE_CONFIG");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run nexcage")
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts an exit code, showing the output on failure.
#[track_caller]
pub fn assert_code(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        stdout(o),
        stderr(o)
    );
}
