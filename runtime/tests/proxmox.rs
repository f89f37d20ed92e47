//! The real `nexcage` binary with the real proxmox-lxc plugin, against the
//! pct double on real LXC: what a Proxmox user does by hand.
//!
//! Needs root, LXC and busybox-static, and the double built
//! (`cargo build --workspace`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{assert_code, stderr, stdout, target_dir};

const TEMPLATE: &str = "busybox-1.36-nexcage_1.0-1_amd64.tar.gz";

/// A private simulated node plus a nexcage config wired to it.
struct Node {
    dir: tempfile::TempDir,
}

impl Node {
    fn new(extra: &str) -> Node {
        let bin = target_dir();
        for tool in ["pct", "pveam", "pvesh", "pve-double-mktemplate"] {
            assert!(
                bin.join(tool).is_file(),
                "{tool} is not built: run `cargo build --workspace` first"
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("nxc-pve-")
            .tempdir_in("/tmp")
            .unwrap();
        let node = Node { dir };
        let o = Command::new(bin.join("pve-double-mktemplate"))
            .arg(node.root())
            .output()
            .unwrap();
        assert_code(&o, 0);
        let cfg = format!(
            r#"[routing]
default = "proxmox-lxc"
[backends.proxmox-lxc]
pct = "{b}/pct"
pveam = "{b}/pveam"
pvesh = "{b}/pvesh"
node = "pve"
storage = "local-lvm"
rootfs_gib = 1
bridge = ""
template_dir = "{r}/var/lib/vz/template/cache"
shutdown_timeout_secs = 5
{extra}
"#,
            b = bin.display(),
            r = node.root().display()
        );
        std::fs::write(node.config(), cfg).unwrap();
        node
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn config(&self) -> PathBuf {
        self.root().join("nexcage.toml")
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_nexcage"));
        c.arg("--config")
            .arg(self.config())
            .arg("--root")
            .arg(self.root().join("state"))
            .env("PVE_DOUBLE_ROOT", self.root())
            .env_remove("PVE_DOUBLE_HANG")
            .env_remove("PVE_DOUBLE_FAIL")
            .env_remove("PVE_DOUBLE_TAKE_NEXT")
            .env_remove("NEXCAGE_PLUGIN_PATH");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).stdin(Stdio::null()).output().unwrap()
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.root().join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Runs `f` and returns the tool calls it made.
    fn count(&self, f: impl FnOnce()) -> Vec<String> {
        let before = self.calls().len();
        f();
        self.calls()[before..].to_vec()
    }

    fn state(&self, id: &str) -> serde_json::Value {
        let o = self.run(&["state", id]);
        assert_code(&o, 0);
        serde_json::from_slice(&o.stdout).unwrap()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let lxcpath = self.root().join("lxc");
        let Ok(entries) = std::fs::read_dir(&lxcpath) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            for tool in ["lxc-stop", "lxc-destroy"] {
                let mut c = Command::new("timeout");
                c.arg("30")
                    .arg(tool)
                    .arg("-P")
                    .arg(&lxcpath)
                    .arg("-n")
                    .arg(&name);
                if tool == "lxc-stop" {
                    c.arg("--kill");
                }
                let _ = c.stdout(Stdio::null()).stderr(Stdio::null()).status();
            }
        }
    }
}

fn pid_alive(pid: i64) -> bool {
    pid > 0 && Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn template_lifecycle_by_name_and_vmid() {
    let node = Node::new("");
    // create prints the name and the VMID it got
    let o = node.run(&["create", "web1", "--image", "busybox", "--memory", "256"]);
    assert_code(&o, 0);
    let out = stdout(&o);
    let mut words = out.split_whitespace();
    assert_eq!(words.next(), Some("web1"), "{out}");
    let vmid: u32 = words.next().unwrap().parse().unwrap();
    let conf =
        std::fs::read_to_string(node.root().join(format!("etc/pve/lxc/{vmid}.conf"))).unwrap();
    assert!(conf.contains("memory: 256"), "{conf}");
    assert!(conf.contains("hostname: web1"), "{conf}");
    assert!(conf.contains("unprivileged: 1"), "{conf}");
    assert_eq!(node.state("web1")["status"], "created");

    let calls = node.count(|| assert_code(&node.run(&["start", "web1"]), 0));
    assert_eq!(calls.len(), 1, "start is one pct call: {calls:?}");

    // state: one call, real host pid, vmid annotation; by name and by VMID
    let mut s = serde_json::Value::Null;
    let calls = node.count(|| s = node.state("web1"));
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(s["status"], "running");
    assert!(pid_alive(s["pid"].as_i64().unwrap()), "{s}");
    assert_eq!(s["annotations"]["org.proxmox.vmid"], vmid.to_string());
    assert_eq!(node.state(&vmid.to_string())["pid"], s["pid"]);

    // exec: output and exit code pass straight through; one call
    let mut o = None;
    let calls = node.count(|| {
        o = Some(node.run(&[
            "exec",
            "web1",
            "--",
            "sh",
            "-c",
            "echo hello from $(hostname)",
        ]))
    });
    let o = o.unwrap();
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "hello from web1\n");
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_code(
        &node.run(&["exec", &vmid.to_string(), "sh", "-c", "exit 7"]),
        7,
    );

    // list: one pct list call, JSON with the vmid
    let mut o = None;
    let calls = node.count(|| o = Some(node.run(&["list", "--format", "json"])));
    assert_eq!(calls.len(), 1, "{calls:?}");
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.unwrap().stdout).unwrap();
    let row = rows.iter().find(|r| r["id"] == "web1").unwrap();
    assert_eq!(row["status"], "running");
    assert_eq!(row["backend"], "proxmox-lxc");

    // a running container is not deleted without --force
    let o = node.run(&["delete", "web1"]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("running"), "{}", stderr(&o));

    // kill reaches init: SIGKILL stops the container
    assert_code(&node.run(&["kill", "web1", "SIGKILL"]), 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    while node.state("web1")["status"] != "stopped" {
        assert!(
            Instant::now() < deadline,
            "container did not stop after SIGKILL"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let o = node.run(&["kill", "web1", "9"]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("not running"), "{}", stderr(&o));

    let calls = node.count(|| assert_code(&node.run(&["delete", "web1"]), 0));
    assert!(calls.len() <= 2, "{calls:?}");
    assert!(
        !node
            .root()
            .join(format!("etc/pve/lxc/{vmid}.conf"))
            .exists()
    );
    let o = node.run(&["state", "web1"]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
}

#[test]
fn stop_shuts_down_then_forces() {
    let node = Node::new("");
    assert_code(
        &node.run(&[
            "create",
            "s1",
            "--image",
            &format!("local:vztmpl/{TEMPLATE}"),
        ]),
        0,
    );
    assert_code(&node.run(&["start", "s1"]), 0);
    let calls = node.count(|| assert_code(&node.run(&["stop", "s1"]), 0));
    assert!((1..=2).contains(&calls.len()), "{calls:?}");
    assert!(calls[0].contains("shutdown"), "{calls:?}");
    assert_eq!(node.state("s1")["status"], "stopped");
    assert_code(&node.run(&["start", "s1"]), 0);
    let calls = node.count(|| assert_code(&node.run(&["stop", "--force", "s1"]), 0));
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(calls[0].starts_with("pct stop"), "{calls:?}");
    assert_code(&node.run(&["delete", "s1"]), 0);
}

#[test]
fn oci_bundle_follows_the_oci_lifecycle() {
    let node = Node::new("");
    let bundle = node.root().join("bundle");
    let rootfs = bundle.join("rootfs");
    for d in ["bin", "sbin", "etc", "proc", "sys", "dev", "tmp"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    for a in ["sh", "sleep", "echo", "cat", "hostname", "env"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a)).unwrap();
    }
    std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/:/bin/sh\n").unwrap();
    let spec = serde_json::json!({
        "ociVersion": "1.0.2",
        "hostname": "bundled",
        "process": {"args": ["/bin/sleep", "1000"], "env": ["PATH=/bin:/sbin"], "cwd": "/"},
        "root": {"path": "rootfs"},
        "linux": {"resources": {"memory": {"limit": 268435456}}}
    });
    std::fs::write(
        bundle.join("config.json"),
        serde_json::to_vec(&spec).unwrap(),
    )
    .unwrap();

    let o = node.run(&["create", "b1", "--bundle", bundle.to_str().unwrap()]);
    assert_code(&o, 0);
    // an OCI create prints nothing on stdout: it belongs to the container
    assert_eq!(stdout(&o), "");
    let s = node.state("b1");
    assert_eq!(s["status"], "created");
    assert_eq!(s["bundle"], bundle.to_str().unwrap());
    // process.args does not run before start
    let o = node.run(&["start", "b1"]);
    assert_code(&o, 0);
    let s = node.state("b1");
    assert_eq!(s["status"], "running");
    let pid = s["pid"].as_i64().unwrap();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(
        String::from_utf8_lossy(&cmdline).contains("sleep"),
        "init runs process.args"
    );
    let o = node.run(&["exec", "b1", "hostname"]);
    assert_eq!(stdout(&o), "bundled\n");
    // start twice fails; delete while running fails
    assert_code(&node.run(&["start", "b1"]), 1);
    assert_code(&node.run(&["delete", "b1"]), 1);
    assert_code(&node.run(&["kill", "b1", "KILL"]), 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    while node.state("b1")["status"] != "stopped" {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_code(&node.run(&["delete", "b1"]), 0);

    // OCI: a created container can be killed; it is then stopped
    assert_code(
        &node.run(&["create", "b3", "--bundle", bundle.to_str().unwrap()]),
        0,
    );
    assert_eq!(node.state("b3")["status"], "created");
    assert_code(&node.run(&["kill", "b3", "TERM"]), 0);
    assert_eq!(node.state("b3")["status"], "stopped");
    assert_code(&node.run(&["delete", "b3"]), 0);

    // engines' options are refused, not silently dropped
    let o = node.run(&[
        "create",
        "b2",
        "--bundle",
        bundle.to_str().unwrap(),
        "--pid-file",
        "/tmp/x.pid",
    ]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("--pid-file"), "{}", stderr(&o));
}

#[test]
fn contract_errors_surface_in_pcts_words() {
    let node = Node::new("");
    let o = node.run(&["start", "4242"]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));

    assert_code(&node.run(&["create", "dup", "--image", "busybox"]), 0);
    let o = node.run(&["create", "dup", "--image", "busybox"]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("exists"), "{}", stderr(&o));

    let o = node.run(&["create", "bad_name", "--image", "busybox"]);
    assert_code(&o, 1);
    assert!(
        stderr(&o).contains("invalid container name"),
        "{}",
        stderr(&o)
    );

    let o = node.run(&["create", "m1", "--image", "busybox", "--memory", "8"]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("memory"), "{}", stderr(&o));

    let o = node.run(&["create", "nope", "--image", "debian-12"]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("debian-12"), "{}", stderr(&o));

    // pct's own words reach the user through nexcage
    let o = node
        .cmd()
        .args(["start", "dup"])
        .env("PVE_DOUBLE_FAIL", "pct:start=CT is locked (backup)")
        .output()
        .unwrap();
    assert_code(&o, 1);
    assert!(
        stderr(&o).contains("CT is locked (backup)"),
        "{}",
        stderr(&o)
    );
    assert_code(&node.run(&["delete", "dup"]), 0);
}

#[test]
fn a_hanging_pct_hits_the_timeout() {
    let node = Node::new("timeout_secs = 2\n");
    assert_code(&node.run(&["create", "h1", "--image", "busybox"]), 0);
    let started = Instant::now();
    let o = node
        .cmd()
        .args(["state", "h1"])
        .env("PVE_DOUBLE_HANG", "pct:status")
        .output()
        .unwrap();
    assert_code(&o, 1);
    assert!(
        stderr(&o).contains("did not finish within 2s"),
        "{}",
        stderr(&o)
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_code(&node.run(&["delete", "h1"]), 0);
}

#[test]
fn concurrent_creates_get_distinct_vmids() {
    let node = Node::new("");
    let children: Vec<_> = (0..20)
        .map(|i| {
            node.cmd()
                .args(["create", &format!("c{i}"), "--image", "busybox"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut vmids = Vec::new();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert_code(&o, 0);
        vmids.push(stdout(&o).split_whitespace().nth(1).unwrap().to_owned());
    }
    vmids.sort();
    vmids.dedup();
    assert_eq!(vmids.len(), 20, "distinct vmids: {vmids:?}");
    let o = node.run(&["list", "-q"]);
    assert_eq!(stdout(&o).lines().count(), 20, "{}", stdout(&o));
}

#[test]
fn shipped_example_config_is_valid() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/config.toml");
    let o = Command::new(env!("CARGO_BIN_EXE_nexcage"))
        .arg("--config")
        .arg(&example)
        .args(["config", "check"])
        .output()
        .unwrap();
    assert_code(&o, 0);
    assert!(stdout(&o).contains("backend runc: ok"), "{}", stdout(&o));
}

#[test]
fn run_creates_and_starts() {
    let node = Node::new("");
    let o = node.run(&["run", "--detach", "r1", "--image", "busybox"]);
    assert_code(&o, 0);
    assert!(stdout(&o).starts_with("r1 "), "{}", stdout(&o));
    assert_eq!(node.state("r1")["status"], "running");
    // without --detach it still runs in the background, and says so
    let o = node.run(&["run", "r2", "--image", "busybox"]);
    assert_code(&o, 0);
    assert!(
        stderr(&o).contains("runs in the background"),
        "{}",
        stderr(&o)
    );
    for id in ["r1", "r2"] {
        assert_code(&node.run(&["delete", "--force", id]), 0);
    }
}

#[test]
fn name_map_can_live_outside_the_state_root() {
    let dir = tempfile::tempdir().unwrap();
    let persist = dir.path().join("persist");
    let node = Node::new(&format!("state_dir = \"{}\"\n", persist.display()));
    assert_code(&node.run(&["create", "p1", "--image", "busybox"]), 0);
    let map = std::fs::read_to_string(persist.join("containers.json")).unwrap();
    assert!(map.contains("\"p1\""), "{map}");
    // A new state root (as after a reboot of /run) still knows the name
    // from the map: one pct call, no `pct list` fallback by hostname.
    let calls = node.count(|| {
        let o = Command::new(env!("CARGO_BIN_EXE_nexcage"))
            .arg("--config")
            .arg(node.config())
            .arg("--root")
            .arg(dir.path().join("fresh-root"))
            .args(["state", "p1"])
            .env("PVE_DOUBLE_ROOT", node.root())
            .output()
            .unwrap();
        assert_code(&o, 0);
    });
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_code(&node.run(&["delete", "p1"]), 0);
}
