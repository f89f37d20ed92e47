//! Helpers shared by the end-to-end tests: bounded subprocesses, tool checks,
//! the busybox rootfs, OCI bundles and image archives, and the nexcage binary
//! with a private config and state root.
//!
//! Every subprocess started here has a deadline. A test that lacks root or a
//! required tool fails with a message naming the Debian package; it never
//! passes silently.

use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::symlink;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// Deadline for one nexcage call that is not a foreground workload.
pub const NEXCAGE_TIMEOUT: Duration = Duration::from_secs(30);
/// Deadline for one podman or ctr call.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(90);

/// The busybox applets linked into the test rootfs.
pub const APPLETS: &[&str] = &[
    "sh", "ls", "echo", "cat", "sleep", "id", "tty", "true", "false", "env", "hostname", "ps",
    "mount", "uname", "kill",
];

/// The result of one bounded subprocess.
#[derive(Debug, Clone)]
pub struct Out {
    /// The command line, for messages.
    pub cmdline: String,
    /// The exit status (None when it was killed by the deadline).
    pub status: Option<ExitStatus>,
    /// Whether the deadline killed it.
    pub timed_out: bool,
    /// Captured stdout.
    pub stdout: String,
    /// Captured stderr.
    pub stderr: String,
    /// How long it ran.
    pub elapsed: Duration,
}

impl Out {
    /// The exit code; a signal death counts as 128+N; a timeout as -1.
    pub fn code(&self) -> i32 {
        match self.status {
            None => -1,
            Some(s) => s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0)),
        }
    }

    /// Panics (with everything known) unless it exited 0.
    #[track_caller]
    pub fn ok(self) -> Self {
        self.code_is(0)
    }

    /// Panics (with everything known) unless it exited with `code`.
    #[track_caller]
    pub fn code_is(self, code: i32) -> Self {
        assert!(
            !self.timed_out && self.code() == code,
            "expected exit code {code}:\n{self}"
        );
        self
    }

    /// Panics unless it failed (non-zero, not a timeout).
    #[track_caller]
    pub fn failed(self) -> Self {
        assert!(
            !self.timed_out && self.code() != 0,
            "expected a failure:\n{self}"
        );
        self
    }

    /// stdout with surrounding whitespace removed.
    pub fn out(&self) -> &str {
        self.stdout.trim()
    }

    /// stdout parsed as JSON (panics with details if it is not).
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"))
    }
}

impl fmt::Display for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "  command: {}", self.cmdline)?;
        if self.timed_out {
            writeln!(f, "  TIMED OUT after {:?} (killed)", self.elapsed)?;
        } else {
            writeln!(f, "  exit: {} after {:?}", self.code(), self.elapsed)?;
        }
        writeln!(f, "  stdout: {}", indent(&self.stdout))?;
        write!(f, "  stderr: {}", indent(&self.stderr))
    }
}

fn indent(s: &str) -> String {
    if s.is_empty() {
        return "(empty)".into();
    }
    s.trim_end().replace('\n', "\n          ")
}

/// A printable command line.
pub fn cmdline(cmd: &Command) -> String {
    let mut s = String::new();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            s.push_str(&format!("{}={} ", k.to_string_lossy(), v.to_string_lossy()));
        }
    }
    s.push_str(&cmd.get_program().to_string_lossy());
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` with stdin from /dev/null, stdout and stderr captured into
/// anonymous files (so a daemon that inherits them cannot make us hang), in
/// its own process group. At the deadline the whole group gets SIGKILL.
pub fn run(cmd: &mut Command, timeout: Duration) -> Out {
    let line = cmdline(cmd);
    let mut out_f = tempfile::tempfile().expect("tempfile");
    let mut err_f = tempfile::tempfile().expect("tempfile");
    cmd.stdin(Stdio::null())
        .stdout(out_f.try_clone().expect("dup"))
        .stderr(err_f.try_clone().expect("dup"))
        .process_group(0);
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{line}`: {e}"));
    let (status, timed_out) = wait_deadline(&mut child, timeout, true);
    let elapsed = start.elapsed();
    let read = |f: &mut fs::File| {
        let mut b = Vec::new();
        f.seek(SeekFrom::Start(0)).expect("seek");
        f.read_to_end(&mut b).expect("read");
        String::from_utf8_lossy(&b).into_owned()
    };
    Out {
        cmdline: line,
        status,
        timed_out,
        stdout: read(&mut out_f),
        stderr: read(&mut err_f),
        elapsed,
    }
}

/// Waits for `child` until `timeout`; then SIGKILLs it (and, with `group`,
/// its process group) and reaps it. Returns (status if it exited, timed out).
pub fn wait_deadline(
    child: &mut Child,
    timeout: Duration,
    group: bool,
) -> (Option<ExitStatus>, bool) {
    let deadline = Instant::now() + timeout;
    let mut nap = Duration::from_millis(2);
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return (Some(s), false),
            Ok(None) => {}
            Err(e) => panic!("wait: {e}"),
        }
        if Instant::now() >= deadline {
            let pid = child.id() as libc::pid_t;
            // SAFETY: plain kill(2) on a pid (or group) we spawned.
            unsafe {
                if group {
                    libc::kill(-pid, libc::SIGKILL);
                }
                libc::kill(pid, libc::SIGKILL);
            }
            let _ = child.wait();
            return (None, true);
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(25));
    }
}

/// Runs `cmd` on a fresh pseudo-terminal (its stdin, stdout and stderr, as
/// its controlling terminal in a new session) and returns what it wrote to
/// the terminal as stdout. Bounded by `timeout`.
pub fn run_on_pty(cmd: &mut Command, timeout: Duration) -> Out {
    let line = cmdline(cmd);
    let (master, slave) = openpty();
    let dup = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup pty"));
    cmd.stdin(dup(&slave))
        .stdout(dup(&slave))
        .stderr(dup(&slave));
    // SAFETY: the closure only calls async-signal-safe functions.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{line}` on a pty: {e}"));
    // Close every copy of the slave we hold (the Command keeps its Stdio
    // until it is dropped or replaced), so the master reads EIO at the end.
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    drop(slave);
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let mut master_file = fs::File::from(master);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match master_file.read(&mut buf) {
                // EIO once every slave descriptor is closed.
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    // The session leader is the child itself, so the group is its pid.
    let (status, timed_out) = wait_deadline(&mut child, timeout, true);
    let mut bytes = Vec::new();
    let drain_until = Instant::now() + Duration::from_secs(3);
    loop {
        let left = drain_until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left.max(Duration::from_millis(1))) {
            Ok(b) => bytes.extend(b),
            Err(_) => break,
        }
    }
    Out {
        cmdline: line,
        status,
        timed_out,
        stdout: String::from_utf8_lossy(&bytes).into_owned(),
        stderr: String::new(),
        elapsed: start.elapsed(),
    }
}

fn openpty() -> (OwnedFd, OwnedFd) {
    let (mut m, mut s) = (-1, -1);
    // SAFETY: openpty writes two descriptors into the out-pointers; the
    // name, termios and winsize arguments may be null.
    let rc = unsafe {
        libc::openpty(
            &mut m,
            &mut s,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors are fresh and owned by nobody else.
    let (m, s) = unsafe { (OwnedFd::from_raw_fd(m), OwnedFd::from_raw_fd(s)) };
    // SAFETY: FD_CLOEXEC on our own master so children do not hold it.
    unsafe { libc::fcntl(m.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    (m, s)
}

// ---- preconditions ----

/// Panics unless the test runs as root.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    assert_eq!(
        uid, 0,
        "these end-to-end tests need root (containers, cgroups, mounts); run them as root"
    );
}

/// Finds `tool` on PATH or in the sbin directories; panics naming the Debian
/// package to install when it is missing.
pub fn require_tool(tool: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(
        [
            "/usr/local/sbin",
            "/usr/local/bin",
            "/usr/sbin",
            "/usr/bin",
            "/sbin",
            "/bin",
        ]
        .map(PathBuf::from),
    );
    for d in dirs {
        let p = d.join(tool);
        if is_executable(&p) {
            return p;
        }
    }
    panic!("required tool `{tool}` is not installed: apt-get install {package}");
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The static busybox; panics if missing or dynamically linked.
pub fn busybox() -> PathBuf {
    let p = require_tool("busybox", "busybox-static");
    let bytes = fs::read(&p).expect("read busybox");
    let head = &bytes[..bytes.len().min(8192)];
    assert!(
        !head.windows(7).any(|w| w == b"ld-linu") && !head.windows(6).any(|w| w == b"ld.so."),
        "{} is dynamically linked; the test rootfs needs a static one: apt-get install busybox-static",
        p.display()
    );
    p
}

// ---- names and directories ----

/// A name unique across concurrently running test binaries and threads:
/// `<prefix>-<pid>-<counter>-<time>`; lower case, digits and '-'.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_micros();
    format!("{prefix}-{}-{n}-{t}", std::process::id())
}

/// A private temporary directory under /tmp (short paths: unix sockets
/// live in some of them).
pub fn tempdir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("nxe2e-{prefix}-"))
        .tempdir_in("/tmp")
        .expect("create temp dir")
}

// ---- rootfs, bundles, images ----

/// Builds a busybox rootfs in `dir` (created): /bin/busybox, applet
/// symlinks, /etc/passwd and /etc/group, empty mount points.
pub fn busybox_rootfs(dir: &Path) {
    for d in ["bin", "proc", "sys", "dev", "etc", "tmp", "root"] {
        fs::create_dir_all(dir.join(d)).expect("mkdir rootfs");
    }
    fs::copy(busybox(), dir.join("bin/busybox")).expect("copy busybox");
    for a in APPLETS {
        symlink("busybox", dir.join("bin").join(a)).expect("applet symlink");
    }
    fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").expect("passwd");
    fs::write(dir.join("etc/group"), "root:x:0:\n").expect("group");
}

/// Builds an OCI bundle in `dir` (created): a busybox rootfs and a config
/// from `runc spec`, edited: `args`, terminal false, RLIMIT_NOFILE 1024.
/// Returns `dir`.
pub fn bundle(dir: &Path, args: &[&str]) -> PathBuf {
    let runc = require_tool("runc", "runc");
    busybox_rootfs(&dir.join("rootfs"));
    run(
        Command::new(runc).arg("spec").arg("--bundle").arg(dir),
        NEXCAGE_TIMEOUT,
    )
    .ok();
    let path = dir.join("config.json");
    let mut spec: Value =
        serde_json::from_slice(&fs::read(&path).expect("read config.json")).expect("parse spec");
    let p = &mut spec["process"];
    p["args"] = json!(args);
    p["terminal"] = json!(false);
    p["rlimits"] = json!([{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }]);
    fs::write(&path, serde_json::to_vec_pretty(&spec).unwrap()).expect("write config.json");
    dir.to_owned()
}

/// The sha256 of a file, hex, by `sha256sum` (coreutils).
pub fn sha256_file(p: &Path) -> String {
    let o = run(Command::new("sha256sum").arg(p), NEXCAGE_TIMEOUT).ok();
    o.stdout
        .split_whitespace()
        .next()
        .expect("sha256sum output")
        .to_owned()
}

/// Writes a tar of the busybox rootfs (for `podman import`) to `out`.
pub fn busybox_rootfs_tar(work: &Path, out: &Path) {
    let root = work.join("rootfs-for-tar");
    busybox_rootfs(&root);
    run(
        Command::new("tar")
            .arg("--numeric-owner")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(out)
            .arg("."),
        NEXCAGE_TIMEOUT,
    )
    .ok();
}

/// GOARCH name of this machine.
pub fn oci_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// Builds an OCI image archive (oci-layout tar, as `podman save --format
/// oci-archive` writes) holding the busybox rootfs as one uncompressed
/// layer, named `name` (e.g. `localhost/bb:latest`) through the
/// `org.opencontainers.image.ref.name` annotation. No podman needed.
pub fn busybox_oci_archive(work: &Path, name: &str, out: &Path) {
    let layout = work.join("oci-layout");
    let blobs = layout.join("blobs/sha256");
    fs::create_dir_all(&blobs).expect("mkdir blobs");
    let layer_tmp = work.join("layer.tar");
    busybox_rootfs_tar(work, &layer_tmp);
    let layer_digest = sha256_file(&layer_tmp);
    let layer_size = fs::metadata(&layer_tmp).unwrap().len();
    fs::rename(&layer_tmp, blobs.join(&layer_digest)).expect("move layer");
    let blob = |v: &Value| -> (String, usize) {
        let bytes = serde_json::to_vec(v).unwrap();
        let tmp = work.join("blob.tmp");
        fs::write(&tmp, &bytes).unwrap();
        let d = sha256_file(&tmp);
        fs::rename(&tmp, blobs.join(&d)).unwrap();
        (d, bytes.len())
    };
    let (cfg_digest, cfg_size) = blob(&json!({
        "architecture": oci_arch(),
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"]
        },
        "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{layer_digest}")] },
        "history": [{ "created_by": "nexcage-e2e: busybox-static rootfs" }]
    }));
    let (man_digest, man_size) = blob(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": format!("sha256:{cfg_digest}"),
            "size": cfg_size
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": format!("sha256:{layer_digest}"),
            "size": layer_size
        }]
    }));
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{man_digest}"),
            "size": man_size,
            "platform": { "architecture": oci_arch(), "os": "linux" },
            "annotations": { "org.opencontainers.image.ref.name": name }
        }]
    });
    fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    run(
        Command::new("tar")
            .arg("--numeric-owner")
            .arg("-C")
            .arg(&layout)
            .arg("-cf")
            .arg(out)
            .args(["oci-layout", "index.json", "blobs"]),
        NEXCAGE_TIMEOUT,
    )
    .ok();
}

// ---- nexcage ----

/// The freshly built nexcage binary: `$NEXCAGE_BIN`, else `nexcage` in the
/// cargo profile directory this test binary was built into (the oci plugin,
/// `libnexcage_oci.so`, must sit next to it). Panics if either is missing;
/// warns if one is older than the sources it is built from.
pub fn nexcage_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("NEXCAGE_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test> → target/<profile>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps");
    let bin = dir.join("nexcage");
    let plugin = dir.join("libnexcage_oci.so");
    for p in [&bin, &plugin] {
        assert!(
            p.exists(),
            "{} is missing: run `cargo build --workspace` before these tests",
            p.display()
        );
    }
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let checks: [(&PathBuf, &[&str]); 2] = [
        (&bin, &["runtime/src", "plugin-api/src"]),
        (&plugin, &["plugins/oci/src", "plugin-api/src"]),
    ];
    for (artifact, sources) in checks {
        let built = fs::metadata(artifact).and_then(|m| m.modified()).unwrap();
        for src in sources {
            if let Some(newer) = newer_than(&ws.join(src), built) {
                // A warning, not a failure: in a shared work tree sources
                // change under a running test; CI builds right before testing.
                eprintln!(
                    "WARNING: {} is older than {}: run `cargo build --workspace` before these tests",
                    artifact.display(),
                    newer.display()
                );
            }
        }
    }
    bin
}

fn newer_than(dir: &Path, t: SystemTime) -> Option<PathBuf> {
    for e in fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        let m = e.metadata().ok()?;
        if m.is_dir() {
            if let Some(n) = newer_than(&p, t) {
                return Some(n);
            }
        } else if m.modified().ok()? > t {
            return Some(p);
        }
    }
    None
}

/// The text of a nexcage config that routes everything to the `oci`
/// plugin, driving `runc` by absolute path (podman calls the runtime with
/// an environment that has no PATH).
pub fn oci_config_text() -> String {
    let runc = require_tool("runc", "runc");
    format!(
        "# nexcage-e2e: every container goes to the oci plugin (runc)\n\
         [routing]\ndefault = \"oci\"\n\n\
         [backends.oci]\nplugin = \"oci\"\nbinary = {:?}\n",
        runc.display().to_string()
    )
}

/// nexcage with a private config and state root in a temp dir.
pub struct Nexcage {
    /// The binary.
    pub bin: PathBuf,
    /// The config file.
    pub config: PathBuf,
    /// The state root (`--root`).
    pub root: PathBuf,
    /// The temp dir holding both (and anything else the test puts there).
    pub dir: tempfile::TempDir,
}

impl Nexcage {
    /// A fresh instance; checks root, runc and busybox first.
    pub fn new(prefix: &str) -> Self {
        require_root();
        require_tool("runc", "runc");
        busybox();
        let bin = nexcage_bin();
        let dir = tempdir(prefix);
        let config = dir.path().join("config.toml");
        fs::write(&config, oci_config_text()).unwrap();
        let root = dir.path().join("root");
        Self {
            bin,
            config,
            root,
            dir,
        }
    }

    /// `nexcage --config C --root R` (add the rest).
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--config")
            .arg(&self.config)
            .arg("--root")
            .arg(&self.root);
        c
    }

    /// Runs `nexcage --config C --root R <args>` with the default deadline.
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Out {
        run(self.cmd().args(args), NEXCAGE_TIMEOUT)
    }

    /// `state ID`, parsed.
    #[track_caller]
    pub fn state(&self, id: &str) -> Value {
        self.run(&["state", id]).ok().json()
    }

    /// Polls `state` until `status` is `want`, for at most `within`.
    #[track_caller]
    pub fn wait_status(&self, id: &str, want: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let s = self.state(id);
            if s["status"] == want || Instant::now() >= deadline {
                assert_eq!(s["status"], want, "state of {id}: {s:#}");
                return s;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A bundle under this instance's temp dir, named `name`.
    pub fn bundle(&self, name: &str, args: &[&str]) -> PathBuf {
        bundle(&self.dir.path().join(name), args)
    }

    /// A guard that force-deletes `id` when dropped.
    pub fn guard(&self, id: &str) -> Guard<'_> {
        Guard {
            nx: self,
            id: id.to_owned(),
        }
    }
}

/// Force-deletes a container on drop, even when the test panics.
pub struct Guard<'a> {
    nx: &'a Nexcage,
    id: String,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        let _ = self.nx.run(&["delete", "--force", &self.id]);
    }
}

/// A long-running child (a daemon) that is killed and reaped on drop.
pub struct Daemon {
    /// The child.
    pub child: Child,
    /// What it is, for messages.
    pub what: String,
}

impl Daemon {
    /// Stops it: SIGTERM, up to `grace` to exit, then SIGKILL; always reaped.
    pub fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        if let Ok(Some(s)) = self.child.try_wait() {
            return Some(s);
        }
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        wait_deadline(&mut self.child, grace, false).0
    }

    /// Whether it is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_kills_the_process_group() {
        let o = run(
            Command::new("sh").args(["-c", "sleep 30 & sleep 30"]),
            Duration::from_millis(300),
        );
        assert!(o.timed_out, "{o}");
        assert!(o.elapsed < Duration::from_secs(5), "{o}");
        assert_eq!(o.code(), -1);
    }

    #[test]
    fn output_and_exit_code_are_captured() {
        let o = run(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(10),
        )
        .code_is(3);
        assert_eq!((o.out(), o.stderr.trim()), ("out", "err"));
    }

    #[test]
    fn pty_is_a_terminal() {
        let o = run_on_pty(Command::new("tty").arg("-s"), Duration::from_secs(10));
        assert_eq!(o.code(), 0, "{o}");
    }

    #[test]
    #[should_panic(expected = "apt-get install some-package")]
    fn missing_tool_names_the_package() {
        require_tool("nxe2e-no-such-tool", "some-package");
    }
}
