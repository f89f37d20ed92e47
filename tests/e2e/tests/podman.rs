//! podman (Debian's 4.3, through conmon) with the freshly built nexcage as
//! its OCI runtime, configured only through files in a temp dir:
//! `containers.conf` (runtime, cgroupfs, events file, no network, ulimits
//! this sandbox allows) and `storage.conf` (vfs, private root/runroot).
//!
//! How nexcage gets its config: `podman --runtime-flag config=FILE` makes
//! podman and conmon put `--config=FILE` before the command on create,
//! start, exec, kill, pause, resume and delete. conmon passes no other
//! environment, and the `podman container cleanup` process that conmon
//! starts when a container exits calls `state` and `delete --force`
//! *without* any runtime flag. Those calls find the container through the
//! owner record nexcage wrote at create time, which keeps the backend's
//! plugin and settings; that only works in the default state root
//! (/run/nexcage), so no `--runtime-flag root=…` is passed here.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use nexcage_e2e::{CLIENT_TIMEOUT, NEXCAGE_TIMEOUT, Out, require_tool, run, run_on_pty};

const IMAGE: &str = "localhost/nxe2e-bb:latest";

/// A private podman: its own storage, run root, tmp dir and events log.
struct Podman {
    dir: tempfile::TempDir,
    nexcage: PathBuf,
    nexcage_config: PathBuf,
}

impl Podman {
    fn new(prefix: &str) -> Self {
        nexcage_e2e::require_root();
        require_tool("podman", "podman");
        require_tool("conmon", "conmon");
        require_tool("newuidmap", "uidmap");
        require_tool("runc", "runc");
        nexcage_e2e::busybox();
        let nexcage = nexcage_e2e::nexcage_bin();
        let dir = nexcage_e2e::tempdir(prefix);
        let d = dir.path();
        let nexcage_config = d.join("nexcage.toml");
        std::fs::write(&nexcage_config, nexcage_e2e::oci_config_text()).unwrap();
        std::fs::write(
            d.join("containers.conf"),
            format!(
                r#"[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
netns = "none"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{d}/events.log"
tmp_dir = "{d}/tmp"
runtime = "nexcage"
runtime_supports_json = ["nexcage"]

[engine.runtimes]
nexcage = ["{bin}"]
"#,
                d = d.display(),
                bin = nexcage.display()
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("storage.conf"),
            format!(
                "[storage]\ndriver = \"vfs\"\ngraphroot = \"{d}/root\"\nrunroot = \"{d}/runroot\"\n",
                d = d.display()
            ),
        )
        .unwrap();
        let p = Self {
            dir,
            nexcage,
            nexcage_config,
        };
        let tar = p.dir.path().join("busybox-rootfs.tar");
        nexcage_e2e::busybox_rootfs_tar(p.dir.path(), &tar);
        p.run(&["import".as_ref(), tar.as_os_str(), IMAGE.as_ref()])
            .ok();
        p
    }

    /// `podman --runtime-flag config=… <args>` with the private config files.
    fn cmd(&self) -> Command {
        let d = self.dir.path();
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", d.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", d.join("storage.conf"))
            .arg("--runtime-flag")
            .arg(format!("config={}", self.nexcage_config.display()));
        c
    }

    fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Out {
        run(self.cmd().args(args), CLIENT_TIMEOUT)
    }

    /// `podman inspect` status of a container.
    fn status(&self, name: &str) -> String {
        self.run(&["inspect", "--format", "{{.State.Status}}", name])
            .ok()
            .out()
            .to_owned()
    }

    /// nexcage's own view (default root, as podman uses it).
    fn nexcage_state(&self, id: &str) -> Out {
        run(
            Command::new(&self.nexcage)
                .arg("--config")
                .arg(&self.nexcage_config)
                .args(["state", id]),
            NEXCAGE_TIMEOUT,
        )
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.run(&["rm", "--all", "--force", "--time", "0"]);
    }
}

/// `run --rm … echo hello` prints hello; an exit code passes through; the
/// runtime podman reports is nexcage.
#[test]
fn podman_run_rm_output_and_exit_code() {
    let p = Podman::new("podman-run");
    let o = p
        .run(&[
            "info",
            "--format",
            "{{.Host.OCIRuntime.Name}} {{.Host.OCIRuntime.Path}}",
        ])
        .ok();
    assert_eq!(
        o.out(),
        format!("nexcage {}", p.nexcage.display()),
        "podman must use nexcage:\n{o}"
    );

    let o = p.run(&["run", "--rm", IMAGE, "echo", "hello"]).ok();
    assert_eq!(o.out(), "hello", "{o}");
    let o = p.run(&["run", "--rm", IMAGE, "sh", "-c", "exit 3"]);
    assert_eq!(o.code(), 3, "{o}");
    // stderr of the workload reaches podman's stderr.
    let o = p
        .run(&["run", "--rm", IMAGE, "sh", "-c", "echo to-err >&2"])
        .ok();
    assert!(o.stderr.contains("to-err"), "{o}");
    let o = p.run(&["ps", "--all", "--quiet"]).ok();
    assert_eq!(o.out(), "", "--rm containers must be gone:\n{o}");
}

/// A command that does not exist: podman maps the runtime's words to exit
/// code 127 and shows runc's reason.
#[test]
fn podman_run_missing_command() {
    let p = Podman::new("podman-err");
    let o = p
        .run(&["run", "--rm", IMAGE, "/no/such/binary"])
        .code_is(127);
    assert!(o.stderr.contains("/no/such/binary"), "{o}");
    let o = p.run(&["ps", "--all", "--quiet"]).ok();
    assert_eq!(o.out(), "", "the failed container must be gone:\n{o}");
}

/// `run -d`, `exec`, `pause`/`unpause`, `stop`, `rm`, cross-checked with
/// nexcage's own `state`.
#[test]
fn podman_detached_exec_pause_stop_rm() {
    let p = Podman::new("podman-d");
    let name = nexcage_e2e::unique("pm");
    let o = p
        .run(&["run", "-d", "--name", &name, IMAGE, "sleep", "300"])
        .ok();
    let id = o.out().to_owned();
    assert_eq!(id.len(), 64, "podman prints the container id:\n{o}");
    assert_eq!(p.status(&name), "running");
    let s = p.nexcage_state(&id).ok().json();
    assert_eq!(s["status"], "running", "{s:#}");

    let o = p
        .run(&["exec", &name, "sh", "-c", "echo in-exec; exit 5"])
        .code_is(5);
    assert_eq!(o.out(), "in-exec", "{o}");

    p.run(&["pause", &name]).ok();
    assert_eq!(p.status(&name), "paused");
    assert_eq!(p.nexcage_state(&id).ok().json()["status"], "paused");
    p.run(&["unpause", &name]).ok();
    assert_eq!(p.status(&name), "running");

    let o = p.run(&["top", &name]).ok();
    assert!(o.stdout.contains("sleep 300"), "{o}");

    // sleep as pid 1 ignores TERM, so podman falls back to KILL after 1 s.
    let start = Instant::now();
    p.run(&["stop", "--time", "1", &name]).ok();
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "stop took {:?}",
        start.elapsed()
    );
    assert_eq!(p.status(&name), "exited");
    p.run(&["rm", &name]).ok();
    let o = p.nexcage_state(&id).failed();
    assert!(o.stderr.contains("does not exist"), "{o}");
}

/// `run -t` gets a terminal: conmon passes `--console-socket` and nexcage
/// (runc) sends the pty master there.
#[test]
fn podman_run_tty() {
    let p = Podman::new("podman-tty");
    let o = run_on_pty(
        p.cmd()
            .args(["run", "--rm", "-t", IMAGE, "sh", "-c", "tty; echo tty-done"]),
        CLIENT_TIMEOUT,
    );
    assert_eq!(o.code(), 0, "{o}");
    assert!(
        o.stdout.contains("/dev/pts/"),
        "no terminal in the container:\n{o}"
    );
    assert!(o.stdout.contains("tty-done"), "{o}");
}
