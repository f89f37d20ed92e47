//! Every error row of the contract surfaces as a typed error carrying
//! pct's own words; hangs hit the deadline; VMID races are retried.

mod common;

use std::time::{Duration, Instant};

use common::{Node, vmid_of};
use nexcage_plugin_api::{
    Backend, BackendError, CreateRequest, DeleteRequest, ErrorKind, IdRequest, KillRequest,
    StopRequest,
};
use serde_json::json;

fn id(s: &str) -> IdRequest {
    IdRequest { id: s.into() }
}

fn create(b: &impl Backend, name: &str, volid: &str) -> Result<u32, BackendError> {
    b.create(&CreateRequest {
        id: name.into(),
        image: Some(volid.into()),
        ..Default::default()
    })
    .map(|r| vmid_of(&r.summary))
}

fn expect(e: BackendError, kind: ErrorKind, needle: &str) {
    assert_eq!(e.kind, kind, "{e}");
    assert!(e.message.contains(needle), "{needle:?} not in {e}");
}

#[test]
fn contract_error_rows() {
    let node = Node::new();
    let volid = node.template();
    let b = node.backend();

    // Missing CT by VMID: pct's "does not exist".
    expect(
        b.start(&id("999")).unwrap_err(),
        ErrorKind::NOT_FOUND,
        "Configuration file 'nodes/pve/lxc/999.conf' does not exist",
    );
    // Unknown name: one pct list, then not found.
    let (r, calls) = node.count(|| b.state(&id("ghost")));
    expect(r.unwrap_err(), ErrorKind::NOT_FOUND, "does not exist");
    assert_eq!(calls, ["pct list"]);
    // Invalid names never reach pct.
    let (r, calls) = node.count(|| create(&b, "bad_name", &volid));
    expect(
        r.unwrap_err(),
        ErrorKind::INVALID_ARGUMENT,
        "invalid container name",
    );
    assert!(calls.is_empty(), "{calls:?}");
    expect(
        b.state(&id("42")).unwrap_err(),
        ErrorKind::INVALID_ARGUMENT,
        "not a valid vmid",
    );

    let vmid = create(&b, "e1", &volid).unwrap();
    // Same name again: refused locally, no call.
    let (r, calls) = node.count(|| create(&b, "e1", &volid));
    expect(r.unwrap_err(), ErrorKind::ALREADY_EXISTS, "already exists");
    assert!(calls.is_empty(), "{calls:?}");
    // Pinned VMID that exists: pct's "already exists".
    let e = b
        .create(&CreateRequest {
            id: "e2".into(),
            image: Some(volid.clone()),
            vmid: Some(vmid),
            ..Default::default()
        })
        .unwrap_err();
    expect(
        e,
        ErrorKind::ALREADY_EXISTS,
        "already belongs to container e1",
    );
    // A VMID taken outside nexcage: pct's own "already exists".
    let (code, _, err) = node.tool("pct", &["create", "4000", &volid, "--rootfs=local-lvm:1"]);
    assert_eq!(code, 0, "{err}");
    let e = b
        .create(&CreateRequest {
            id: "e3".into(),
            image: Some(volid.clone()),
            vmid: Some(4000),
            ..Default::default()
        })
        .unwrap_err();
    expect(
        e,
        ErrorKind::ALREADY_EXISTS,
        "CT 4000 already exists on node 'pve'",
    );
    assert!(node.name_map()["containers"].get("e3").is_none());

    // Not running: stop, kill and pause of a stopped CT.
    let v = vmid.to_string();
    expect(
        b.stop(&StopRequest {
            id: v.clone(),
            ..Default::default()
        })
        .unwrap_err(),
        ErrorKind::NOT_RUNNING,
        &format!("CT {vmid} not running"),
    );
    // The CT was never started: OCI lets a `created` container be killed
    // once (it becomes `stopped`); after that it is not running.
    let kill = KillRequest {
        id: v.clone(),
        signal: 15,
        all: false,
    };
    b.kill(&kill).expect("kill of a created ct");
    assert_eq!(b.state(&id(&v)).unwrap().status, "stopped");
    expect(
        b.kill(&kill).unwrap_err(),
        ErrorKind::NOT_RUNNING,
        "not running",
    );
    expect(
        b.pause(&id(&v)).unwrap_err(),
        ErrorKind::NOT_RUNNING,
        "not running",
    );

    // Already running.
    b.start(&id(&v)).unwrap();
    expect(
        b.start(&id(&v)).unwrap_err(),
        ErrorKind::ALREADY_RUNNING,
        &format!("CT {vmid} already running"),
    );
    // Running CT: delete refused.
    expect(
        b.delete(&DeleteRequest {
            id: v.clone(),
            force: false,
        })
        .unwrap_err(),
        ErrorKind::INVALID_STATE,
        "container is running",
    );
    b.stop(&StopRequest {
        id: v.clone(),
        force: true,
        timeout_secs: None,
    })
    .unwrap();

    // Locked.
    let (code, _, err) = node.tool("pct", &["set", &v, "--lock=backup"]);
    assert_eq!(code, 0, "{err}");
    expect(
        b.start(&id(&v)).unwrap_err(),
        ErrorKind::LOCKED,
        "CT is locked (backup)",
    );
    let st = b.state(&id(&v)).unwrap();
    assert_eq!(st.annotations["org.proxmox.lock"], "backup");
    let l = b.list(&Default::default()).unwrap();
    let row = l.iter().find(|r| r.id == "e1").unwrap();
    assert_eq!(row.annotations["lock"], "backup");
    assert_eq!(row.annotations["name"], "e1");
    let (code, _, err) = node.tool("pct", &["unlock", &v]);
    assert_eq!(code, 0, "{err}");

    // 400 Parameter verification failed: every name: message line is kept.
    let mut req = CreateRequest {
        id: "e4".into(),
        image: Some(volid.clone()),
        ..Default::default()
    };
    req.options.insert("cpulimit".into(), "99999".into());
    req.options.insert("tty".into(), "9".into());
    let e = b.create(&req).unwrap_err();
    expect(
        e.clone(),
        ErrorKind::INVALID_ARGUMENT,
        "400 Parameter verification failed.",
    );
    assert!(
        e.message
            .contains("cpulimit: value must have a maximum value of 8192"),
        "{e}"
    );
    assert!(
        e.message
            .contains("tty: value must have a maximum value of 6"),
        "{e}"
    );
    assert!(!e.message.contains("[OPTIONS]"), "{e}");
    assert!(node.name_map()["containers"].get("e4").is_none());

    // Template file missing on a valid storage.
    let e = create(&b, "e5", "local:vztmpl/nope.tar.zst").unwrap_err();
    expect(
        e,
        ErrorKind::NOT_FOUND,
        "can't find file 'local:vztmpl/nope.tar.zst'",
    );

    // Bad storage in the request: caught before pct, or by pct.
    let e = b
        .create(&CreateRequest {
            id: "e6".into(),
            image: Some(volid.clone()),
            storage: Some("nosuch".into()),
            ..Default::default()
        })
        .unwrap_err();
    expect(e, ErrorKind::NOT_FOUND, "storage 'nosuch' does not exist");

    // Delete of a CT removed behind nexcage's back: not found, name dropped.
    let (code, _, err) = node.tool("pct", &["destroy", &v, "--purge"]);
    assert_eq!(code, 0, "{err}");
    expect(
        b.delete(&DeleteRequest {
            id: "e1".into(),
            force: false,
        })
        .unwrap_err(),
        ErrorKind::NOT_FOUND,
        "does not exist",
    );
    assert!(node.name_map()["containers"].get("e1").is_none());
}

#[test]
fn injected_failures_keep_pcts_words() {
    let node = Node::new();
    let volid = node.template();
    let b0 = node.backend();
    let vmid = create(&b0, "f1", &volid).unwrap();
    node.wrap(
        "fail",
        &[(
            "PVE_DOUBLE_FAIL",
            "pct:start=please run as root\npct:status=CT is locked (snapshot)",
        )],
    );
    let b = node.backend_with("fail", json!({}));
    expect(
        b.start(&id("f1")).unwrap_err(),
        ErrorKind::PERMISSION_DENIED,
        "please run as root",
    );
    let e = b.state(&id(&vmid.to_string())).unwrap_err();
    expect(e.clone(), ErrorKind::LOCKED, "CT is locked (snapshot)");
    assert!(
        e.message.starts_with(&format!("pct status {vmid}: ")),
        "{e}"
    );
}

#[test]
fn hanging_pct_hits_the_timeout() {
    let node = Node::new();
    let volid = node.template();
    create(&node.backend(), "h1", &volid).unwrap();
    node.wrap("hang", &[("PVE_DOUBLE_HANG", "pct:start,pvesh:get")]);
    let b = node.backend_with("hang", json!({"timeout_secs": 2}));
    let t = Instant::now();
    let e = b.start(&id("h1")).unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    expect(e.clone(), ErrorKind::TIMEOUT, "did not finish within 2s");
    assert!(e.message.contains("pct start"), "{e}");
    // A hang while allocating leaves no reservation behind.
    let t = Instant::now();
    let e = create(&b, "h2", &volid).unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    expect(e, ErrorKind::TIMEOUT, "pvesh get /cluster/nextid");
    assert!(node.name_map()["containers"].get("h2").is_none());
}

#[test]
fn vmid_taken_between_nextid_and_create_is_retried() {
    let node = Node::new();
    let volid = node.template();
    // Only the first nextid races: another client takes the id it hands out.
    let marker = node.root().join("raced-once");
    node.wrap_custom(
        "race1",
        "pvesh",
        &format!(
            "if [ ! -e '{m}' ]; then : > '{m}'; export PVE_DOUBLE_TAKE_NEXT=1; fi\nexec \"$BIN/pvesh\" \"$@\"",
            m = marker.display()
        ),
    );
    let b = node.backend_with("race1", json!({}));
    let (r, calls) = node.count(|| create(&b, "r1", &volid));
    let vmid = r.expect("create after a race");
    eprintln!("race retry calls: {calls:?}");
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert!(calls[1].starts_with("pct create 100 "), "{calls:?}");
    assert!(calls[3].starts_with("pct create 101 "), "{calls:?}");
    assert_eq!(vmid, 101);
    assert!(node.conf(100).contains("nextid-racer"));
    assert!(node.conf(101).contains("hostname: r1"));
    assert_eq!(node.name_map()["containers"]["r1"]["vmid"], 101);

    // Every nextid races: give up after nextid_retries attempts.
    node.wrap("raceall", &[("PVE_DOUBLE_TAKE_NEXT", "1")]);
    let b = node.backend_with("raceall", json!({"nextid_retries": 3}));
    let (r, calls) = node.count(|| create(&b, "r2", &volid));
    let e = r.unwrap_err();
    expect(
        e.clone(),
        ErrorKind::ALREADY_EXISTS,
        "gave up after 3 vmids",
    );
    assert!(e.message.contains("already exists on node 'pve'"), "{e}");
    assert_eq!(calls.len(), 6, "{calls:?}");
    assert!(node.name_map()["containers"].get("r2").is_none());
}

#[test]
fn missing_tools_are_a_config_error() {
    if nexcage_plugin_api::process::which("pct").is_some() {
        return; // a real (or double) pct is on PATH here
    }
    use nexcage_plugin_api::{HostInfo, Plugin};
    let d = tempfile::tempdir().unwrap();
    let host = HostInfo {
        state_dir: d.path().into(),
        ..Default::default()
    };
    let b = nexcage_proxmox_lxc::ProxmoxLxc::new(json!({"node": "pve"}), &host).unwrap();
    let e = b.start(&id("100")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::INVALID_CONFIG, "{e}");
    assert_eq!(e.key.as_deref(), Some("pct"));
    assert!(e.message.contains("not found on PATH"), "{e}");
}
