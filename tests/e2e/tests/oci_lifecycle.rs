//! nexcage called directly, as runtime-tools validation and youki's contest
//! call a runtime: the `oci` backend (runc) on a busybox bundle built here.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nexcage_e2e::{NEXCAGE_TIMEOUT, Nexcage, run};

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

const SETTLE: Duration = Duration::from_secs(10);

/// create → created (pid, absolute bundle, pid-file) → start → running →
/// exec (output, exit codes) → the spec's refusals → kill → stopped → delete.
#[test]
fn lifecycle_create_start_exec_kill_delete() {
    let nx = Nexcage::new("life");
    let bundle = nx.bundle("bundle", &["sleep", "300"]);
    let id = nexcage_e2e::unique("life");
    let _g = nx.guard(&id);
    let pid_file = nx.dir.path().join("init.pid");

    // A relative --bundle, resolved against the working directory, like
    // runtime-tools' `create --bundle B` from the bundle's parent.
    run(
        nx.cmd()
            .current_dir(nx.dir.path())
            .args(["create", "--bundle", "bundle", "--pid-file"])
            .arg(&pid_file)
            .arg(&id),
        NEXCAGE_TIMEOUT,
    )
    .ok();
    let s = nx.state(&id);
    assert_eq!(s["status"], "created", "{s:#}");
    assert_eq!(s["id"], id.as_str(), "{s:#}");
    assert!(s["ociVersion"].is_string(), "{s:#}");
    let pid = s["pid"].as_i64().unwrap_or(0);
    assert!(pid > 0, "created container needs its init pid: {s:#}");
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} is not alive"
    );
    let b = s["bundle"].as_str().unwrap_or_default();
    assert!(Path::new(b).is_absolute(), "bundle must be absolute: {s:#}");
    assert_eq!(
        fs::canonicalize(b).unwrap(),
        fs::canonicalize(&bundle).unwrap(),
        "{s:#}"
    );
    let written = fs::read_to_string(&pid_file).expect("--pid-file must be written");
    assert_eq!(
        written.trim().parse::<i64>().ok(),
        Some(pid),
        "pid-file {written:?}"
    );

    // Duplicate create fails and leaves the first container alone.
    let dup = run(
        nx.cmd().arg("create").arg("--bundle").arg(&bundle).arg(&id),
        NEXCAGE_TIMEOUT,
    )
    .failed();
    assert_eq!(
        nx.state(&id)["pid"],
        pid,
        "duplicate create touched the container:\n{dup}"
    );

    nx.run(&["start", &id]).ok();
    nx.wait_status(&id, "running", SETTLE);

    // Start twice fails, with no effect.
    nx.run(&["start", &id]).failed();
    assert_eq!(nx.state(&id)["status"], "running");

    // exec: output and exit codes pass through.
    let o = nx
        .run(&["exec", &id, "sh", "-c", "echo in-exec; echo to-err >&2"])
        .ok();
    assert_eq!(o.out(), "in-exec", "{o}");
    assert!(o.stderr.contains("to-err"), "{o}");
    nx.run(&["exec", &id, "sh", "-c", "exit 7"]).code_is(7);
    // Options after the id and hyphenated command arguments.
    let o = nx.run(&["exec", &id, "ls", "-d", "/bin"]).ok();
    assert_eq!(o.out(), "/bin", "{o}");

    // Delete of a running container fails, with no effect.
    let o = nx.run(&["delete", &id]).failed();
    assert_eq!(nx.state(&id)["status"], "running", "{o}");

    nx.run(&["kill", &id, "KILL"]).ok();
    nx.wait_status(&id, "stopped", SETTLE);
    // Kill after exit: runc's words, which podman and containerd match.
    let o = nx.run(&["kill", &id, "9"]).failed();
    assert!(o.stderr.contains("container not running"), "{o}");

    nx.run(&["delete", &id]).ok();
    let o = nx.run(&["state", &id]).code_is(1);
    assert!(o.stderr.contains("does not exist"), "{o}");
}

/// `kill ID KILL` (runtime-tools), `kill ID SIGKILL`, `kill ID 9`
/// (containerd, podman), `kill --signal KILL ID`: each stops the container.
#[test]
fn kill_signal_forms() {
    let nx = Nexcage::new("kill");
    let bundle = nx.bundle("bundle", &["sleep", "300"]);
    let forms: [&[&str]; 4] = [&["KILL"], &["SIGKILL"], &["9"], &["--signal", "KILL"]];
    for form in forms {
        let id = nexcage_e2e::unique("kill");
        let _g = nx.guard(&id);
        nx.run(&["create", "--bundle", path_str(&bundle), &id]).ok();
        nx.run(&["start", &id]).ok();
        nx.wait_status(&id, "running", SETTLE);
        let mut args = vec!["kill", id.as_str()];
        args.extend_from_slice(form);
        nx.run(&args).ok();
        nx.wait_status(&id, "stopped", SETTLE);
        nx.run(&["delete", &id]).ok();
    }
}

/// The error rules clients depend on.
#[test]
fn errors_and_force_delete() {
    let nx = Nexcage::new("err");
    let unknown = nexcage_e2e::unique("never-created");

    let o = nx.run(&["state", &unknown]).code_is(1);
    assert!(o.stderr.contains("does not exist"), "{o}");
    let o = nx.run(&["start", &unknown]).failed();
    assert!(o.stderr.contains("does not exist"), "{o}");
    nx.run(&["kill", &unknown, "KILL"]).failed();

    // podman runs `delete --force` on ids the runtime may never have seen
    // (after a failed create): it must answer at once, and like runc, 0.
    let o = nx.run(&["delete", "--force", &unknown]);
    assert!(o.elapsed < Duration::from_secs(5), "slow: {o}");
    o.ok();

    // delete --force of a running container works.
    let bundle = nx.bundle("bundle", &["sleep", "300"]);
    let id = nexcage_e2e::unique("force");
    let _g = nx.guard(&id);
    // contest puts the options after the id
    nx.run(&["create", &id, "--bundle", path_str(&bundle)]).ok();
    nx.run(&["start", &id]).ok();
    nx.wait_status(&id, "running", SETTLE);
    nx.run(&["delete", "--force", &id]).ok();
    let o = nx.run(&["state", &id]).code_is(1);
    assert!(o.stderr.contains("does not exist"), "{o}");

    // An unknown command exits non-zero.
    nx.run(&["no-such-command"]).failed();
}

/// `--log F --log-format json`: errors become `{"level":"error","msg":…}`
/// lines in F (containerd shows the last one's msg to the user).
#[test]
fn json_log_lines() {
    let nx = Nexcage::new("log");
    let log = nx.dir.path().join("log.json");
    let unknown = nexcage_e2e::unique("nolog");
    run(
        nx.cmd()
            .arg("--log")
            .arg(&log)
            .args(["--log-format", "json", "state", &unknown]),
        NEXCAGE_TIMEOUT,
    )
    .code_is(1);
    // podman's `=` forms.
    run(
        nx.cmd().arg(format!("--log={}", log.display())).args([
            "--log-format=json",
            "kill",
            &unknown,
            "9",
        ]),
        NEXCAGE_TIMEOUT,
    )
    .failed();
    let text = fs::read_to_string(&log).expect("--log file must be written");
    let errors: Vec<serde_json::Value> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {l:?}\nfile:\n{text}"))
        })
        .filter(|v| v["level"] == "error")
        .collect();
    assert!(errors.len() >= 2, "two error lines expected:\n{text}");
    for e in &errors {
        let msg = e["msg"].as_str().unwrap_or_default();
        assert!(msg.contains("does not exist"), "msg {msg:?}\nfile:\n{text}");
    }
}

/// A foreground `run` returns the workload's exit code and passes its
/// stdout through; the container is gone afterwards.
#[test]
fn run_foreground_exit_code() {
    let nx = Nexcage::new("run");
    let bundle = nx.bundle("bundle", &["sh", "-c", "echo from-run; exit 5"]);
    let id = nexcage_e2e::unique("run");
    let _g = nx.guard(&id);
    let o = run(
        nx.cmd().arg("run").arg("--bundle").arg(&bundle).arg(&id),
        NEXCAGE_TIMEOUT,
    )
    .code_is(5);
    assert_eq!(o.out(), "from-run", "{o}");
    let o = nx.run(&["state", &id]).code_is(1);
    assert!(o.stderr.contains("does not exist"), "{o}");

    // A detached run leaves it running.
    let bundle = nx.bundle("bundle2", &["sleep", "300"]);
    let id = nexcage_e2e::unique("rund");
    let _g2 = nx.guard(&id);
    run(
        nx.cmd()
            .args(["run", "--detach", "--bundle"])
            .arg(&bundle)
            .arg(&id),
        NEXCAGE_TIMEOUT,
    )
    .ok();
    nx.wait_status(&id, "running", SETTLE);
}

/// `ps --format json` (containerd's `task ps`), pause/resume (`paused`).
#[test]
fn ps_pause_resume() {
    let nx = Nexcage::new("ps");
    let bundle = nx.bundle("bundle", &["sleep", "300"]);
    let id = nexcage_e2e::unique("ps");
    let _g = nx.guard(&id);
    run(
        nx.cmd().arg("create").arg("--bundle").arg(&bundle).arg(&id),
        NEXCAGE_TIMEOUT,
    )
    .ok();
    nx.run(&["start", &id]).ok();
    let pid = nx.wait_status(&id, "running", SETTLE)["pid"]
        .as_i64()
        .unwrap();

    let o = nx.run(&["ps", "--format", "json", &id]).ok();
    let pids = o.json();
    let pids: Vec<i64> = pids
        .as_array()
        .unwrap_or_else(|| panic!("ps --format json must print an array:\n{o}"))
        .iter()
        .filter_map(|v| v.as_i64())
        .collect();
    assert!(pids.contains(&pid), "init pid {pid} missing:\n{o}");

    nx.run(&["pause", &id]).ok();
    nx.wait_status(&id, "paused", SETTLE);
    let o = nx.run(&["pause", &id]).failed();
    assert_eq!(nx.state(&id)["status"], "paused", "{o}");
    nx.run(&["resume", &id]).ok();
    nx.wait_status(&id, "running", SETTLE);
    let o = nx.run(&["exec", &id, "echo", "after-resume"]).ok();
    assert_eq!(o.out(), "after-resume");
}

/// `features` prints the runtime-spec Features JSON.
#[test]
fn features_json() {
    let nx = Nexcage::new("feat");
    let o = nx.run(&["features"]).ok();
    let f = o.json();
    assert!(f["ociVersionMin"].is_string(), "{o}");
    assert!(f["ociVersionMax"].is_string(), "{o}");
}

/// `--version`: runc's three lines first (go-runc parses
/// `X version V`, `commit: …`, `spec: …`). runc itself prints more lines
/// after those (go, libseccomp), so extra lines are allowed.
#[test]
fn version_lines() {
    let bin = nexcage_e2e::nexcage_bin();
    for flag in ["--version", "-v"] {
        let o = run(Command::new(&bin).arg(flag), NEXCAGE_TIMEOUT).ok();
        let lines: Vec<&str> = o.stdout.lines().collect();
        assert!(lines.len() >= 3, "{o}");
        let words: Vec<&str> = lines[0].split(' ').collect();
        assert!(
            words.len() >= 3 && words[0] == "nexcage" && words[1] == "version",
            "line 1 must be `nexcage version X`:\n{o}"
        );
        assert!(lines[1].starts_with("commit:"), "{o}");
        assert!(lines[2].starts_with("spec: "), "{o}");
    }
}

/// podman and `containerd-shim-runc-v2 delete` run the runtime with an
/// environment that has no PATH (podman: only XDG_RUNTIME_DIR). With the
/// default `binary = "runc"`, nexcage's oci plugin then cannot find runc,
/// while runc itself needs no PATH. Ignored until the plugin falls back to
/// a default search path (see the e2e report).
#[test]
fn no_path_in_environment() {
    let nx = Nexcage::new("nopath");
    fs::write(&nx.config, "[routing]\ndefault = \"oci\"\n").unwrap();
    let bundle = nx.bundle("bundle", &["sleep", "300"]);
    let id = nexcage_e2e::unique("nopath");
    let _g = nx.guard(&id);
    run(
        nx.cmd().arg("create").arg("--bundle").arg(&bundle).arg(&id),
        NEXCAGE_TIMEOUT,
    )
    .ok();
    let o = run(
        nx.cmd()
            .env_clear()
            .env("XDG_RUNTIME_DIR", "")
            .args(["state", &id]),
        NEXCAGE_TIMEOUT,
    )
    .ok();
    assert_eq!(o.json()["status"], "created", "{o}");
}
