//! The `oci` backend driving the real runc on this machine (root, runc and
//! busybox-static required). Every test has its own runc root and unique
//! container ids, and force-deletes its containers even when it fails.

mod common;

use std::time::{Duration, Instant};

use common::{Bundle, Env, TERM_AWARE, alive, unique_id};
use nexcage_plugin_api::{
    Backend, CreateRequest, DeleteRequest, ErrorKind, ExecRequest, FeaturesRequest, IdRequest,
    KillRequest, ListRequest, Response, StopRequest, UpdateRequest,
};
use serde_json::json;

fn id_req(id: &str) -> IdRequest {
    IdRequest { id: id.into() }
}

fn exec(env: &Env, id: &str, args: &[&str]) -> Response {
    env.oci
        .exec(&ExecRequest {
            id: id.into(),
            args: args.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        })
        .expect("exec")
}

fn kill(env: &Env, id: &str, signal: i32) -> Result<(), nexcage_plugin_api::BackendError> {
    env.oci.kill(&KillRequest {
        id: id.into(),
        signal,
        all: false,
    })
}

#[test]
fn full_lifecycle() {
    let env = Env::new();
    let bundle = Bundle::new(TERM_AWARE);
    let id = unique_id("life");
    let pid_file = bundle.path().join("init.pid");
    let _guard = env.guard(&id);

    env.oci
        .create(&CreateRequest {
            id: id.clone(),
            bundle: Some(bundle.path().to_owned()),
            pid_file: Some(pid_file.clone()),
            ..Default::default()
        })
        .expect("create");

    let s = env.state(&id).expect("state after create");
    assert_eq!(s.status, "created");
    assert_eq!(s.id, id);
    assert!(alive(s.pid), "init pid {} is not alive", s.pid);
    assert_eq!(s.bundle, bundle.path().display().to_string());
    // runc's extra fields are kept.
    assert!(s.extra.contains_key("rootfs"), "{:?}", s.extra);
    assert!(s.extra.contains_key("created"), "{:?}", s.extra);
    let written: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid file holds a pid");
    assert_eq!(written, s.pid);

    env.oci.start(&id_req(&id)).expect("start");
    let s = env.state(&id).expect("state after start");
    assert_eq!(s.status, "running");

    assert_eq!(exec(&env, &id, &["echo", "hi"]), Response::Exited(0));
    assert_eq!(
        exec(&env, &id, &["sh", "-c", "exit 3"]),
        Response::Exited(3)
    );

    let pids = env.oci.ps(&id_req(&id)).expect("ps");
    assert!(pids.contains(&s.pid), "{pids:?} lacks init {}", s.pid);

    let list = env.oci.list(&ListRequest {}).expect("list");
    let row = list.iter().find(|r| r.id == id).expect("listed");
    assert_eq!(row.status, "running");
    assert_eq!(row.pid, s.pid);
    assert!(!row.created.is_empty());

    kill(&env, &id, 15).expect("kill TERM");
    env.wait_status(&id, "stopped", Duration::from_secs(10));

    let e = kill(&env, &id, 15).expect_err("kill after exit");
    assert_eq!(e.kind, ErrorKind::NOT_RUNNING);
    assert!(e.message.contains("container not running"), "{e}");

    env.oci
        .delete(&DeleteRequest {
            id: id.clone(),
            force: false,
        })
        .expect("delete stopped");
    let e = env.state(&id).expect_err("state after delete");
    assert_eq!(e.kind, ErrorKind::NOT_FOUND);
    assert!(env.oci.list(&ListRequest {}).expect("list").is_empty());
}

#[test]
fn runtime_refusals_keep_runc_words() {
    let env = Env::new();
    let bundle = Bundle::new(&["sleep", "300"]);
    let id = unique_id("refuse");
    let _guard = env.create(&id, &bundle);

    // A duplicate create fails (stderr is inherited, so the exit status is
    // all we report) and leaves the first container alone.
    let e = env
        .oci
        .create(&CreateRequest {
            id: id.clone(),
            bundle: Some(bundle.path().to_owned()),
            ..Default::default()
        })
        .expect_err("duplicate create");
    assert_eq!(e.kind, ErrorKind::BACKEND_FAILED);
    assert_eq!(
        e.message,
        "runtime command 'runc create' failed with exit status 1"
    );
    assert_eq!(env.state(&id).expect("state").status, "created");

    env.oci.start(&id_req(&id)).expect("start");
    let e = env.oci.start(&id_req(&id)).expect_err("start twice");
    assert_eq!(e.kind, ErrorKind::ALREADY_RUNNING);
    assert_eq!(e.message, "cannot start an already running container");

    let e = env
        .oci
        .delete(&DeleteRequest {
            id: id.clone(),
            force: false,
        })
        .expect_err("delete running");
    assert_eq!(e.kind, ErrorKind::INVALID_STATE);
    assert!(e.message.contains("not stopped"), "{e}");
    assert_eq!(env.state(&id).expect("state").status, "running");

    env.oci
        .delete(&DeleteRequest {
            id: id.clone(),
            force: true,
        })
        .expect("delete --force");
    assert_eq!(env.state(&id).expect_err("gone").kind, ErrorKind::NOT_FOUND);
}

#[test]
fn unknown_container() {
    let env = Env::new();
    let id = unique_id("ghost");
    let e = env.state(&id).expect_err("state of unknown id");
    assert_eq!(e.kind, ErrorKind::NOT_FOUND);
    assert!(e.message.contains("does not exist"), "{e}");
    // The runc log wrapper (time=… level=error msg="…") is stripped.
    assert_eq!(e.message, "container does not exist");

    for e in [
        env.oci.start(&id_req(&id)).expect_err("start"),
        kill(&env, &id, 9).expect_err("kill"),
        env.oci
            .delete(&DeleteRequest {
                id: id.clone(),
                force: false,
            })
            .expect_err("delete"),
        env.oci.pause(&id_req(&id)).expect_err("pause"),
    ] {
        assert_eq!(e.kind, ErrorKind::NOT_FOUND, "{e}");
        assert!(e.message.contains("does not exist"), "{e}");
    }
    // runc's own behaviour: a forced delete of an unknown id succeeds
    // (podman relies on it not failing or hanging after a failed create).
    env.oci
        .delete(&DeleteRequest {
            id: id.clone(),
            force: true,
        })
        .expect("delete --force of an unknown id");
    // Nothing was created yet: list is empty rather than an error.
    assert!(env.oci.list(&ListRequest {}).expect("list").is_empty());
}

#[test]
fn caller_log_flags_are_passed_through() {
    let log_dir = tempfile::tempdir().expect("log dir");
    let log = log_dir.path().join("log.json");
    let env = Env::with_host(json!({}), |h| {
        h.log_file = Some(log.clone());
        h.log_format = Some("json".into());
    });
    let e = env.state(&unique_id("logged")).expect_err("unknown id");
    assert_eq!(e.kind, ErrorKind::NOT_FOUND);
    assert_eq!(e.message, "container does not exist");
    let text = std::fs::read_to_string(&log).expect("runc wrote the --log file");
    let line: serde_json::Value =
        serde_json::from_str(text.lines().last().expect("a log line")).expect("json log line");
    assert_eq!(line["level"], "error");
    assert_eq!(line["msg"], "container does not exist");
}

#[test]
fn run_in_foreground_returns_the_exit_code() {
    let env = Env::new();
    let bundle = Bundle::new(&["sh", "-c", "exit 7"]);
    let id = unique_id("run");
    let _guard = env.guard(&id);
    let r = env
        .oci
        .run(&CreateRequest {
            id: id.clone(),
            bundle: Some(bundle.path().to_owned()),
            ..Default::default()
        })
        .expect("run");
    assert_eq!(r.exit_code, Some(7));
    assert_eq!(r.id, id);
    // runc run removes the container when it exits (no --keep).
    assert_eq!(env.state(&id).expect_err("gone").kind, ErrorKind::NOT_FOUND);
}

#[test]
fn run_detached_then_stop_escalates_to_kill() {
    let env = Env::new();
    // sleep as PID 1 has no TERM handler, so only SIGKILL ends it.
    let bundle = Bundle::new(&["sleep", "300"]);
    let id = unique_id("stop");
    let _guard = env.guard(&id);
    let r = env
        .oci
        .run(&CreateRequest {
            id: id.clone(),
            bundle: Some(bundle.path().to_owned()),
            detach: true,
            ..Default::default()
        })
        .expect("run --detach");
    assert_eq!(r.exit_code, None);
    let pid = env.state(&id).expect("state").pid;
    assert_eq!(env.state(&id).expect("state").status, "running");

    let started = Instant::now();
    env.oci
        .stop(&StopRequest {
            id: id.clone(),
            timeout_secs: Some(1),
            force: false,
        })
        .expect("stop");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1),
        "stop skipped the grace period: {took:?}"
    );
    assert!(took < Duration::from_secs(20), "stop took {took:?}");
    assert_eq!(env.state(&id).expect("state").status, "stopped");
    assert!(!alive(pid));

    // Stopping a stopped container is a no-op.
    env.oci
        .stop(&StopRequest {
            id: id.clone(),
            ..Default::default()
        })
        .expect("stop again");
    env.oci
        .delete(&DeleteRequest { id, force: false })
        .expect("delete");
}

#[test]
fn stop_with_term_handler_is_quick() {
    let env = Env::new();
    let bundle = Bundle::new(TERM_AWARE);
    let id = unique_id("stopterm");
    let _guard = env.create(&id, &bundle);
    env.oci.start(&id_req(&id)).expect("start");
    let started = Instant::now();
    env.oci
        .stop(&StopRequest {
            id: id.clone(),
            timeout_secs: Some(30),
            force: false,
        })
        .expect("stop");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(env.state(&id).expect("state").status, "stopped");
}

#[test]
fn pause_resume_update_exec_detached() {
    let env = Env::new();
    let bundle = Bundle::new(&["sleep", "300"]);
    let id = unique_id("misc");
    let _guard = env.create(&id, &bundle);
    env.oci.start(&id_req(&id)).expect("start");

    env.oci.pause(&id_req(&id)).expect("pause");
    assert_eq!(env.state(&id).expect("state").status, "paused");
    env.oci.resume(&id_req(&id)).expect("resume");
    assert_eq!(env.state(&id).expect("state").status, "running");

    env.oci
        .update(&UpdateRequest {
            id: id.clone(),
            resources_json: r#"{"pids": {"limit": 100}}"#.into(),
        })
        .expect("update");
    let e = env
        .oci
        .update(&UpdateRequest {
            id: id.clone(),
            resources_json: "{not json".into(),
        })
        .expect_err("bad resources");
    assert_eq!(e.kind, ErrorKind::INVALID_ARGUMENT);

    let pid_file = bundle.path().join("exec.pid");
    let r = env
        .oci
        .exec(&ExecRequest {
            id: id.clone(),
            args: vec!["sleep".into(), "300".into()],
            detach: true,
            pid_file: Some(pid_file),
            ..Default::default()
        })
        .expect("exec --detach");
    let Response::Spawned(pid) = r else {
        panic!("expected spawned, got {r:?}")
    };
    assert!(alive(pid), "exec pid {pid} is not alive");
    let pids = env.oci.ps(&id_req(&id)).expect("ps");
    assert!(pids.contains(&pid), "{pids:?} lacks exec pid {pid}");

    let features = env.oci.features(&FeaturesRequest {}).expect("features");
    assert!(features["ociVersionMin"].is_string(), "{features}");
}

#[test]
fn exec_timeout_kills_the_process() {
    let env = Env::with_config(json!({"exec_timeout_secs": 1}));
    let bundle = Bundle::new(&["sleep", "300"]);
    let id = unique_id("exectmo");
    let _guard = env.create(&id, &bundle);
    env.oci.start(&id_req(&id)).expect("start");

    let started = Instant::now();
    let e = env
        .oci
        .exec(&ExecRequest {
            id: id.clone(),
            args: vec!["sleep".into(), "300".into()],
            ..Default::default()
        })
        .expect_err("exec past its deadline");
    assert_eq!(e.kind, ErrorKind::TIMEOUT);
    assert!(started.elapsed() < Duration::from_secs(10));
    // Only init is left once the timed-out process is reaped.
    let init = env.state(&id).expect("state").pid;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let pids = env.oci.ps(&id_req(&id)).expect("ps");
        if pids == [init] {
            break;
        }
        assert!(Instant::now() < deadline, "exec process survived: {pids:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A quick exec still works under the same deadline.
    assert_eq!(exec(&env, &id, &["true"]), Response::Exited(0));
}

#[test]
fn inherited_failure_names_command_and_status() {
    let env = Env::new();
    let missing = tempfile::tempdir().expect("tmp");
    let e = env
        .oci
        .create(&CreateRequest {
            id: unique_id("nobundle"),
            bundle: Some(missing.path().join("no-such-bundle")),
            ..Default::default()
        })
        .expect_err("create from a missing bundle");
    assert_eq!(e.kind, ErrorKind::BACKEND_FAILED);
    assert_eq!(
        e.message,
        "runtime command 'runc create' failed with exit status 1"
    );
}

#[test]
fn stop_thaws_a_paused_container() {
    let env = Env::new();
    let bundle = Bundle::new(TERM_AWARE);
    let id = unique_id("stoppaused");
    let _guard = env.create(&id, &bundle);
    env.oci.start(&id_req(&id)).expect("start");
    env.oci.pause(&id_req(&id)).expect("pause");
    env.oci
        .stop(&StopRequest {
            id: id.clone(),
            timeout_secs: Some(30),
            force: false,
        })
        .expect("stop a paused container");
    assert_eq!(env.state(&id).expect("state").status, "stopped");
}

#[test]
fn forced_stop_of_a_created_container() {
    let env = Env::new();
    let bundle = Bundle::new(&["sleep", "300"]);
    let id = unique_id("stopcreated");
    let _guard = env.create(&id, &bundle);
    let started = Instant::now();
    env.oci
        .stop(&StopRequest {
            id: id.clone(),
            timeout_secs: None,
            force: true,
        })
        .expect("stop --force");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(env.state(&id).expect("state").status, "stopped");
}
