//! Real LXC lifecycle through the double. Needs root and LXC 5.

mod common;
use common::Node;
use std::path::Path;

fn kv(out: &str, key: &str) -> Option<String> {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")).map(str::to_string))
}

#[test]
fn full_lifecycle() {
    let n = Node::new();
    let tpl = n.template();
    let id = n
        .run("pvesh", &["get", "/cluster/nextid"])
        .stdout
        .trim()
        .to_string();
    let id = id.as_str();
    assert_eq!(id, "100");
    let r = n.run(
        "pct",
        &[
            "create",
            id,
            &tpl,
            "--rootfs",
            "local-lvm:1",
            "--hostname",
            "t1",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("extracting archive '"));
    let conf = std::fs::read_to_string(n.conf_path(id)).unwrap();
    assert!(conf.contains("unprivileged: 1\n") && conf.contains("hostname: t1\n"));

    let r = n.run("pct", &["exec", id, "--", "true"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (255, "container '100' not running!\n")
    );

    let r = n.run("pct", &["start", id]);
    assert_eq!(r.code, 0, "start: {}{}", r.stdout, r.stderr);
    let r = n.run("pct", &["start", id]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (255, "CT 100 already running\n")
    );

    let r = n.run("pct", &["status", id]);
    assert_eq!(r.stdout, "status: running\n");
    let r = n.run("pct", &["status", id, "--verbose"]);
    let pid = kv(&r.stdout, "pid").expect("pid line");
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    assert_eq!(kv(&r.stdout, "name").as_deref(), Some("t1"));
    assert_eq!(kv(&r.stdout, "maxmem").as_deref(), Some("536870912"));
    assert_eq!(kv(&r.stdout, "type").as_deref(), Some("lxc"));
    assert!(!r.stdout.contains("\ncpu: "));
    let keys: Vec<&str> = r
        .stdout
        .lines()
        .map(|l| l.split(':').next().unwrap())
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);

    let r = n.run("pct", &["list"]);
    assert!(r.stdout.contains(&format!(
        "{:<10} {:<10} {:<12} {:<20}\n",
        "100", "running", "", "t1"
    )));

    let r = n.run("pct", &["exec", id, "--", "echo", "hi"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "hi\n"));
    let r = n.run("pct", &["exec", id, "--", "sh", "-c", "exit 7"]);
    assert_eq!(r.code, 7);
    let r = n.run("pct", &["exec", id, "--", "hostname"]);
    assert_eq!(r.stdout, "t1\n");
    let r = n.run("pct", &["exec", id, "--", "no-such-cmd"]);
    assert_eq!(r.code, 127);
    let r = n.run("pct", &["exec", id]);
    assert_eq!(r.code, 255);
    assert!(r.stderr.starts_with("missing command at "));
    // --keep-env 0 clears the caller's environment
    let r = n.run_env(
        "pct",
        &["exec", id, "--keep-env", "0", "--", "env"],
        &[("MARKER", "x1")],
    );
    assert!(!r.stdout.contains("MARKER=x1"), "{}", r.stdout);
    let r = n.run_env("pct", &["exec", id, "--", "env"], &[("MARKER", "x1")]);
    assert!(r.stdout.contains("MARKER=x1"), "{}", r.stdout);

    let r = n.run("pct", &["destroy", id]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (255, "unable to destroy CT 100 - container is running\n")
    );

    // suspend/resume via the freezer
    assert_eq!(
        n.run("pct", &["resume", id]).stderr,
        "CT 100 already running\n"
    );
    assert_eq!(n.run("pct", &["suspend", id]).code, 0);
    assert_eq!(n.run("pct", &["resume", id]).code, 0);

    let r = n.run("pct", &["shutdown", id, "--timeout", "10"]);
    assert_eq!(r.code, 0, "shutdown: {}{}", r.stdout, r.stderr);
    assert_eq!(n.run("pct", &["status", id]).stdout, "status: stopped\n");
    let r = n.run("pct", &["stop", id]);
    assert_eq!((r.code, r.stderr.as_str()), (255, "CT 100 not running\n"));
    let r = n.run("pct", &["shutdown", id]);
    assert_eq!((r.code, r.stderr.as_str()), (255, "CT 100 not running\n"));

    // start again, hard stop
    assert_eq!(n.run("pct", &["start", id]).code, 0);
    assert_eq!(n.run("pct", &["stop", id]).code, 0);
    assert_eq!(n.run("pct", &["status", id]).stdout, "status: stopped\n");

    let r = n.run("pct", &["destroy", id, "--purge"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("purging CT 100 from related configurations..\n")
    );
    assert!(!n.conf_path(id).exists());
    assert!(!n.root().join("var/lib/vz-lvm/vm-100-disk-0").exists());
    assert_eq!(n.run("pct", &["list"]).stdout, "");
}

#[test]
fn app_container_config_and_force_destroy() {
    let n = Node::new();
    n.template();
    let host = n.root().join("shared");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("f"), "from-host\n").unwrap();
    let mp = format!("{},mp=/data,ro=1", host.display());
    n.create(
        "210",
        &[
            "--hostname",
            "app",
            "--entrypoint",
            "/bin/sleep 1000",
            "--env",
            "A=1\\0B=two",
            "--mp0",
            &mp,
            "--mp1",
            "local-lvm:1,mp=/vol",
            "--cores",
            "1",
            "--memory",
            "128",
        ],
    );
    let conf = n.conf_path("210");
    let mut text = std::fs::read_to_string(&conf).unwrap();
    assert!(
        text.contains("lxc.environment.runtime: A=1\nlxc.environment.runtime: B=two\n"),
        "{text}"
    );
    text.push_str("lxc.init.cwd: /tmp\n");
    std::fs::write(&conf, text).unwrap();
    let r = n.run("pct", &["config", "210"]);
    assert!(r.stdout.contains("entrypoint: /bin/sleep 1000\n"));
    assert!(
        r.stdout
            .contains("mp1: local-lvm:vm-210-disk-1,mp=/vol,size=1G\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.ends_with("lxc.init.cwd: /tmp\n"));

    let r = n.run("pct", &["start", "210"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = n.run("pct", &["exec", "210", "--", "cat", "/proc/1/cmdline"]);
    assert_eq!(r.stdout, "/bin/sleep\u{0}1000\u{0}");
    let r = n.run("pct", &["exec", "210", "--", "cat", "/data/f"]);
    assert_eq!(r.stdout, "from-host\n");
    let r = n.run("pct", &["exec", "210", "--", "touch", "/data/g"]);
    assert_ne!(r.code, 0, "ro bind mount was writable");
    let r = n.run("pct", &["exec", "210", "--", "touch", "/vol/g"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = n.run("pct", &["exec", "210", "--", "cat", "/proc/1/environ"]);
    assert!(
        r.stdout.contains("A=1\u{0}") && r.stdout.contains("B=two\u{0}"),
        "{:?}",
        r.stdout
    );
    let r = n.run("pct", &["exec", "210", "--", "readlink", "/proc/1/cwd"]);
    assert_eq!(r.stdout, "/tmp\n");

    let r = n.run("pct", &["destroy", "210", "--force"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("forced to stop CT 210 before destroying!\n")
    );
    assert!(!conf.exists());
    assert!(
        host.join("f").exists(),
        "bind mount source must survive destroy"
    );
}

#[test]
fn start_failures_are_task_errors() {
    let n = Node::new();
    n.template();
    n.create("220", &["--entrypoint", "/nonexistent"]);
    let conf = n.conf_path("220");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, format!("lock: mounted\n{text}")).unwrap();
    // lock `mounted` does not block start; the bad entrypoint makes it fail
    let r = n.run("pct", &["start", "220"]);
    assert_eq!(r.code, 255);
    assert_eq!(
        r.stderr,
        "command 'systemctl start pve-container@220' failed: exit code 1\n"
    );
    assert_eq!(n.run("pct", &["status", "220"]).stdout, "status: stopped\n");
}

#[test]
fn shutdown_timeout_and_force_stop() {
    let n = Node::new();
    n.template();
    // sleep as PID 1 ignores the halt signal
    n.create("230", &["--entrypoint", "/bin/sleep 1000"]);
    let conf = n.conf_path("230");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(
        &conf,
        format!("{text}lxc.init.uid: 65534\nlxc.init.gid: 65534\n"),
    )
    .unwrap();
    assert_eq!(n.run("pct", &["start", "230"]).code, 0);
    let r = n.run("pct", &["exec", "230", "--", "cat", "/proc/1/status"]);
    assert!(
        r.stdout.lines().any(|l| l.starts_with("Uid:\t65534")),
        "{}",
        r.stdout
    );
    let r = n.run("pct", &["shutdown", "230", "--timeout", "1"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (255, "container did not stop\n")
    );
    assert_eq!(n.run("pct", &["status", "230"]).stdout, "status: running\n");
    let r = n.run(
        "pct",
        &["shutdown", "230", "--timeout", "1", "--forceStop", "1"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(n.run("pct", &["status", "230"]).stdout, "status: stopped\n");
}
