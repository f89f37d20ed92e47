//! containerd (Debian's 1.6, runc shim v2) and `ctr` with the freshly built
//! nexcage as the runc binary (`ctr run --runc-binary`, the shim option
//! `BinaryName`). Each test starts its own containerd (CRI disabled, its
//! own sockets, root and state in a temp dir) and stops it at the end.
//!
//! How nexcage gets its config: the shim inherits containerd's environment
//! and passes it to the runtime, so containerd is started with
//! `NEXCAGE_CONFIG=<file>`. The shim always passes `--root`; `ctr run
//! --runc-root DIR` makes it `DIR/<namespace>`, a private nexcage state root.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nexcage_e2e::{CLIENT_TIMEOUT, Daemon, NEXCAGE_TIMEOUT, Out, require_tool, run};

const IMAGE: &str = "localhost/nxe2e-bb:latest";

struct Containerd {
    dir: tempfile::TempDir,
    ns: String,
    nexcage: PathBuf,
    nexcage_config: PathBuf,
    // Dropped after `Drop::drop` has cleaned up the namespace.
    daemon: Daemon,
}

impl Containerd {
    fn start(prefix: &str) -> Self {
        nexcage_e2e::require_root();
        let containerd = require_tool("containerd", "containerd");
        require_tool("ctr", "containerd");
        require_tool("containerd-shim-runc-v2", "containerd");
        require_tool("runc", "runc");
        nexcage_e2e::busybox();
        let nexcage = nexcage_e2e::nexcage_bin();
        let dir = nexcage_e2e::tempdir(prefix);
        let d = dir.path();
        let nexcage_config = d.join("nexcage.toml");
        std::fs::write(&nexcage_config, nexcage_e2e::oci_config_text()).unwrap();
        let config = d.join("containerd.toml");
        std::fs::write(
            &config,
            format!(
                r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[debug]
  address = "{d}/debug.sock"
"#,
                d = d.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(d.join("containerd.log")).unwrap();
        let child = Command::new(containerd)
            .arg("--config")
            .arg(&config)
            .env("NEXCAGE_CONFIG", &nexcage_config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start containerd");
        let mut c = Self {
            ns: nexcage_e2e::unique("nxe2e"),
            dir,
            nexcage,
            nexcage_config,
            daemon: Daemon {
                child,
                what: "containerd".into(),
            },
        };
        c.wait_ready();
        let archive = c.dir.path().join("bb-oci.tar");
        nexcage_e2e::busybox_oci_archive(c.dir.path(), IMAGE, &archive);
        let o = c
            .run(&["image".as_ref(), "import".as_ref(), archive.as_os_str()])
            .ok();
        let o2 = c.run(&["image", "ls", "--quiet"]).ok();
        assert!(
            o2.stdout.lines().any(|l| l == IMAGE),
            "import:\n{o}\nls:\n{o2}"
        );
        c
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let o = self.run(&["version"]);
            if o.code() == 0 {
                return;
            }
            if !self.daemon.alive() || Instant::now() >= deadline {
                panic!(
                    "{} did not come up:\n{o}\nits log:\n{}",
                    self.daemon.what,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    /// `ctr --address … -n <ns>`.
    fn ctr(&self) -> Command {
        let mut c = Command::new("ctr");
        c.arg("--address")
            .arg(self.dir.path().join("containerd.sock"))
            .arg("-n")
            .arg(&self.ns);
        c
    }

    fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Out {
        run(self.ctr().args(args), CLIENT_TIMEOUT)
    }

    fn runc_root(&self) -> PathBuf {
        self.dir.path().join("runc-root")
    }

    /// `ctr run --runc-binary <nexcage> --runc-root <dir> <extra…> IMAGE ID CMD…`.
    fn ctr_run(&self, extra: &[&str], id: &str, cmd: &[&str]) -> Out {
        run(
            self.ctr()
                .args(["run", "--runc-binary"])
                .arg(&self.nexcage)
                .arg("--runc-root")
                .arg(self.runc_root())
                .args(extra)
                .args([IMAGE, id])
                .args(cmd),
            CLIENT_TIMEOUT,
        )
    }

    /// The task's status column in `ctr task ls`, if it is listed.
    fn task_status(&self, id: &str) -> Option<String> {
        let o = self.run(&["task", "ls"]).ok();
        o.stdout.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&id)).then(|| f.last().unwrap().to_string())
        })
    }

    fn wait_task(&self, id: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let s = self.task_status(id);
            if s.as_deref() == Some(want) {
                return;
            }
            assert!(Instant::now() < deadline, "task {id}: {s:?}, want {want}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// nexcage's own view of a container the shim created.
    fn nexcage_state(&self, id: &str) -> Out {
        run(
            Command::new(&self.nexcage)
                .arg("--config")
                .arg(&self.nexcage_config)
                .arg("--root")
                .arg(self.runc_root().join(&self.ns))
                .args(["state", id]),
            NEXCAGE_TIMEOUT,
        )
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // Whatever a failed test left: kill and delete tasks, remove
        // containers; then stop containerd (kill + wait, bounded).
        if self.daemon.alive() {
            let tasks = self.run(&["task", "ls", "--quiet"]).stdout;
            for t in tasks.lines() {
                let _ = self.run(&["task", "kill", "--signal", "SIGKILL", t]);
                let _ = self.run(&["task", "delete", "--force", t]);
            }
            let containers = self.run(&["container", "ls", "--quiet"]).stdout;
            for c in containers.lines() {
                let _ = self.run(&["container", "rm", c]);
            }
        }
        self.daemon.stop(Duration::from_secs(10));
    }
}

/// `ctr run --rm … echo hello` prints hello; exit codes pass through.
#[test]
fn ctr_run_rm_output_and_exit_code() {
    let c = Containerd::start("ctrd-run");
    let id = nexcage_e2e::unique("c");
    let o = c.ctr_run(&["--rm"], &id, &["echo", "hello"]).ok();
    assert_eq!(o.out(), "hello", "{o}");
    let o = c.ctr_run(&["--rm"], &id, &["sh", "-c", "exit 3"]);
    assert_eq!(o.code(), 3, "{o}");
    let o = c.run(&["container", "ls", "--quiet"]).ok();
    assert_eq!(o.out(), "", "{o}");
}

/// A failing create: the shim reads the last `{"level":"error","msg":…}`
/// line nexcage wrote to `--log <bundle>/log.json` and ctr shows it.
/// Ignored until fixed: runc writes its reason to that file, then nexcage
/// appends its own generic line (`oci: runtime command 'runc create' failed
/// with exit status 1`), which is the last one, so ctr shows only that.
#[test]
fn ctr_create_error_message() {
    let c = Containerd::start("ctrd-err");
    let id = nexcage_e2e::unique("c");
    let o = c.ctr_run(&["--rm"], &id, &["/no/such/binary"]).failed();
    assert!(o.stderr.contains("OCI runtime create failed"), "{o}");
    assert!(
        o.stderr.contains("/no/such/binary"),
        "runc's reason must reach the user:\n{o}"
    );
}

/// `run -d`, `task exec`, `task ps`, pause/resume, `task kill`,
/// `task delete`, `container rm`; cross-checked with nexcage's `state`.
#[test]
fn ctr_detached_exec_pause_kill_delete() {
    let c = Containerd::start("ctrd-d");
    let id = nexcage_e2e::unique("c");
    c.ctr_run(&["-d"], &id, &["sleep", "300"]).ok();
    c.wait_task(&id, "RUNNING");
    let s = c.nexcage_state(&id).ok().json();
    assert_eq!(s["status"], "running", "{s:#}");
    let pid = s["pid"].as_i64().unwrap_or(0);

    let o = c
        .run(&[
            "task",
            "exec",
            "--exec-id",
            "e1",
            &id,
            "sh",
            "-c",
            "echo in-exec; exit 4",
        ])
        .code_is(4);
    assert_eq!(o.out(), "in-exec", "{o}");

    let o = c.run(&["task", "ps", &id]).ok();
    assert!(o.stdout.contains(&pid.to_string()), "init pid {pid}:\n{o}");

    c.run(&["task", "pause", &id]).ok();
    c.wait_task(&id, "PAUSED");
    assert_eq!(c.nexcage_state(&id).ok().json()["status"], "paused");
    c.run(&["task", "resume", &id]).ok();
    c.wait_task(&id, "RUNNING");

    c.run(&["task", "kill", "--signal", "SIGKILL", &id]).ok();
    c.wait_task(&id, "STOPPED");
    c.run(&["task", "delete", &id]).ok();
    c.run(&["container", "rm", &id]).ok();
    let o = c.nexcage_state(&id).failed();
    assert!(o.stderr.contains("does not exist"), "{o}");
}
