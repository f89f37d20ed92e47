//! Real lifecycles against the pct double on LXC, with call counts.

mod common;

use common::{Node, busybox_bundle, vmid_of};
use nexcage_plugin_api::{
    Backend, CreateRequest, DeleteRequest, ErrorKind, ExecRequest, IdRequest, KillRequest,
    ListRequest, Response, StopRequest,
};
use serde_json::json;

fn id(s: &str) -> IdRequest {
    IdRequest { id: s.into() }
}

fn exec(b: &impl Backend, who: &str, args: &[&str]) -> i32 {
    match b
        .exec(&ExecRequest {
            id: who.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })
        .expect("exec")
    {
        Response::Exited(c) => c,
        other => panic!("unexpected {other:?}"),
    }
}

fn assert_calls(what: &str, calls: &[String], max: usize) {
    eprintln!("{what}: {} call(s): {calls:?}", calls.len());
    assert!(
        calls.len() <= max,
        "{what} made {} calls (limit {max}): {calls:?}",
        calls.len()
    );
}

#[test]
fn template_lifecycle_by_name_and_vmid() {
    let node = Node::new();
    let volid = node.template();
    let b = node.backend();

    // create from a volume id: nextid + create.
    let (made, calls) = node.count(|| {
        b.create(&CreateRequest {
            id: "web1".into(),
            image: Some(volid.clone()),
            memory_mb: Some(128),
            tags: vec!["nexcage".into()],
            description: Some("made by a test".into()),
            ..Default::default()
        })
    });
    let made = made.expect("create");
    assert_calls("create from volid", &calls, 3);
    assert_eq!(calls.len(), 2);
    assert!(
        calls[0].starts_with("pvesh get /cluster/nextid"),
        "{calls:?}"
    );
    let vmid = vmid_of(&made.summary);
    assert_eq!(
        made.summary.as_deref(),
        Some(format!("web1 {vmid}").as_str())
    );
    assert_eq!(made.id, "web1");
    let conf = node.conf(vmid);
    for line in [
        "hostname: web1",
        "memory: 128",
        "swap: 512",
        "unprivileged: 1",
        "rootfs: local-lvm:",
        "tags: nexcage",
        "net0: ",
        "bridge=vmbr0",
    ] {
        assert!(conf.contains(line), "missing {line:?} in\n{conf}");
    }
    assert_eq!(node.name_map()["containers"]["web1"]["vmid"], vmid);

    // state: exactly one call; a fresh CT is "created".
    let (st, calls) = node.count(|| b.state(&id("web1")));
    let st = st.expect("state");
    assert_calls("state", &calls, 1);
    assert_eq!(st.status, "created");
    assert_eq!(st.pid, 0);
    assert_eq!(st.annotations["org.proxmox.vmid"], vmid.to_string());
    assert_eq!(st.annotations["org.proxmox.status"], "stopped");

    // start: one call.
    let (r, calls) = node.count(|| b.start(&id("web1")));
    r.expect("start");
    assert_calls("start", &calls, 1);

    // state by VMID: running with the real host pid of init.
    let st = b.state(&id(&vmid.to_string())).expect("state by vmid");
    assert_eq!(st.id, "web1");
    assert_eq!(st.status, "running");
    assert!(st.pid > 1, "{st:?}");
    let comm = std::fs::read_to_string(format!("/proc/{}/cmdline", st.pid)).unwrap();
    assert!(comm.contains("init"), "host pid {} is {comm:?}", st.pid);

    // exec: output written inside, read back; exit codes pass through.
    let (code, calls) =
        node.count(|| exec(&b, "web1", &["sh", "-c", "echo hello-from-ct > /tmp/out"]));
    assert_eq!(code, 0);
    assert_calls("exec", &calls, 1);
    assert!(calls[0].contains("--keep-env=0 --"), "{calls:?}");
    assert_eq!(
        exec(&b, "web1", &["grep", "-qx", "hello-from-ct", "/tmp/out"]),
        0
    );
    assert_eq!(exec(&b, &vmid.to_string(), &["sh", "-c", "exit 7"]), 7);
    assert_eq!(exec(&b, "web1", &["no-such-command"]), 127);
    // hostname inside is the name.
    assert_eq!(
        exec(&b, "web1", &["sh", "-c", "test \"$(hostname)\" = web1"]),
        0
    );

    // list: one call; shows name, vmid, lock.
    let (l, calls) = node.count(|| b.list(&ListRequest::default()));
    let l = l.expect("list");
    assert_calls("list", &calls, 1);
    let row = l.iter().find(|c| c.id == "web1").expect("web1 listed");
    assert_eq!(row.status, "running");
    assert_eq!(row.annotations["vmid"], vmid.to_string());
    assert_eq!(row.annotations["lock"], "");
    assert_eq!(row.annotations["name"], "web1");

    // pause / resume (the double freezes).
    b.pause(&id("web1")).expect("pause");
    assert_eq!(b.state(&id("web1")).unwrap().status, "paused");
    b.resume(&id("web1")).expect("resume");
    assert_eq!(b.state(&id("web1")).unwrap().status, "running");

    // kill: SIGKILL to init from the host stops the CT.
    let (r, calls) = node.count(|| {
        b.kill(&KillRequest {
            id: "web1".into(),
            signal: 9,
            all: false,
        })
    });
    r.expect("kill");
    assert_calls("kill", &calls, 1);
    let mut stopped = false;
    for _ in 0..50 {
        if b.state(&id("web1")).unwrap().status == "stopped" {
            stopped = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(stopped, "ct still running after SIGKILL");
    let e = b
        .kill(&KillRequest {
            id: "web1".into(),
            signal: 15,
            all: false,
        })
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NOT_RUNNING);
    assert!(e.message.contains("not running"), "{e}");

    // start again, clean stop (busybox init halts on its signal): 1 call.
    b.start(&id(&vmid.to_string())).expect("restart");
    let (r, calls) = node.count(|| {
        b.stop(&StopRequest {
            id: "web1".into(),
            ..Default::default()
        })
    });
    r.expect("stop");
    assert_calls("stop (clean)", &calls, 2);
    assert!(
        calls[0].starts_with(&format!("pct shutdown {vmid} --timeout=")),
        "{calls:?}"
    );
    assert_eq!(b.state(&id("web1")).unwrap().status, "stopped");

    // delete: one call, purge; the name is gone.
    let (r, calls) = node.count(|| {
        b.delete(&DeleteRequest {
            id: "web1".into(),
            force: false,
        })
    });
    r.expect("delete");
    assert_calls("delete", &calls, 2);
    assert!(calls[0].contains("--purge"), "{calls:?}");
    assert!(node.name_map()["containers"].get("web1").is_none());
    let e = b.state(&id("web1")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::NOT_FOUND);
    assert!(e.message.contains("does not exist"), "{e}");
}

#[test]
fn short_name_resolution_force_stop_and_force_delete() {
    let node = Node::new();
    node.template();
    let b = node.backend();
    // A short name is resolved with one pveam list.
    let (made, calls) = node.count(|| {
        b.create(&CreateRequest {
            id: "short1".into(),
            image: Some("busybox".into()),
            ..Default::default()
        })
    });
    let made = made.expect("create");
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert!(calls[0].starts_with("pveam list local"), "{calls:?}");
    let vmid = vmid_of(&made.summary);
    assert!(node.conf(vmid).contains("memory: 512"));
    b.start(&id("short1")).unwrap();
    // Running CT: delete without force is refused with pct's words.
    let e = b
        .delete(&DeleteRequest {
            id: "short1".into(),
            force: false,
        })
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::INVALID_STATE, "{e}");
    assert!(e.message.contains("container is running"), "{e}");
    // force stop: straight to pct stop.
    let (r, calls) = node.count(|| {
        b.stop(&StopRequest {
            id: "short1".into(),
            force: true,
            timeout_secs: None,
        })
    });
    r.unwrap();
    assert_eq!(calls, vec![format!("pct stop {vmid}")]);
    b.start(&id("short1")).unwrap();
    let (r, calls) = node.count(|| {
        b.delete(&DeleteRequest {
            id: "short1".into(),
            force: true,
        })
    });
    r.expect("force delete");
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(calls[0].contains("--force"), "{calls:?}");
    assert!(node.conf(vmid).is_empty());
}

#[test]
fn foreign_containers_are_listed_and_addressable() {
    let node = Node::new();
    let volid = node.template();
    let (code, _, err) = node.tool(
        "pct",
        &[
            "create",
            "4242",
            &volid,
            "--rootfs=local-lvm:1",
            "--hostname=outsider",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let b = node.backend();
    let l = b.list(&ListRequest::default()).unwrap();
    let row = l.iter().find(|r| r.annotations["vmid"] == "4242").unwrap();
    assert_eq!(row.id, "4242");
    assert_eq!(row.annotations["name"], "outsider");
    assert_eq!(row.status, "stopped");
    // By hostname: one pct list to resolve, then the command.
    let (st, calls) = node.count(|| b.state(&id("outsider")));
    let st = st.unwrap();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(st.status, "stopped");
    assert_eq!(st.annotations["org.proxmox.vmid"], "4242");
    // By VMID: no extra call.
    let (st, calls) = node.count(|| b.state(&id("4242")));
    assert_eq!(st.unwrap().status, "stopped");
    assert_eq!(calls.len(), 1);
    b.start(&id("outsider")).unwrap();
    assert_eq!(exec(&b, "4242", &["true"]), 0);
    b.delete(&DeleteRequest {
        id: "outsider".into(),
        force: true,
    })
    .unwrap();
}

#[test]
fn oci_bundle_lifecycle_and_template_cache() {
    let node = Node::new();
    let work = tempfile::tempdir().unwrap();
    let shared = work.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(shared.join("greeting"), "hi from the host\n").unwrap();
    let bundle = busybox_bundle(
        work.path(),
        json!({
            "ociVersion": "1.0.2",
            "process": {
                "terminal": false,
                "user": {"uid": 0, "gid": 0},
                "args": ["/bin/sleep", "100000"],
                "env": ["PATH=/bin:/usr/bin", "GREETING=hello world", "MODE=test"],
                "cwd": "/",
                "capabilities": {"bounding": ["CAP_KILL"]}
            },
            "root": {"path": "rootfs"},
            "hostname": "ocibox",
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"},
                {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup"},
                {"destination": "/data", "type": "bind", "source": shared, "options": ["rbind", "ro"]}
            ],
            "linux": {
                "resources": {
                    "memory": {"limit": 134217728},
                    "cpu": {"quota": 50000, "period": 100000, "shares": 512}
                },
                "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "mount"}],
                "sysctl": {"net.ipv4.ip_forward": "1"}
            },
            "annotations": {"io.example/owner": "tests"}
        }),
    );
    let b = node.backend();
    let (made, calls) = node.count(|| {
        b.create(&CreateRequest {
            id: "oci1".into(),
            bundle: Some(bundle.clone()),
            ..Default::default()
        })
    });
    let made = made.expect("oci create");
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(made.summary, None, "oci creates print nothing");
    for w in ["process.capabilities", "linux.sysctl"] {
        assert!(
            made.warnings.iter().any(|x| x.contains(w)),
            "no warning about {w}: {:?}",
            made.warnings
        );
    }
    let cache = node.root().join("var/lib/vz/template/cache");
    let packed: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("nexcage-"))
        .collect();
    assert_eq!(packed.len(), 1, "{packed:?}");
    let tpl = cache.join(&packed[0]);
    let mtime = std::fs::metadata(&tpl).unwrap().modified().unwrap();

    let st = b.state(&id("oci1")).unwrap();
    assert_eq!(st.status, "created");
    assert_eq!(st.bundle, bundle.display().to_string());
    assert_eq!(st.annotations["io.example/owner"], "tests");
    let vmid: u32 = st.annotations["org.proxmox.vmid"].parse().unwrap();
    let conf = node.conf(vmid);
    for line in [
        "hostname: ocibox",
        "memory: 128",
        "cpulimit: 0.5",
        "cpuunits: 512",
        "entrypoint: /usr/bin/env PATH=/bin:/usr/bin MODE=test /bin/sleep 100000",
        "GREETING=hello world",
        "mp0: ",
        "mp=/data",
        "ro=1",
    ] {
        assert!(conf.contains(line), "missing {line:?} in\n{conf}");
    }

    b.start(&id("oci1")).expect("start");
    let st = b.state(&id("oci1")).unwrap();
    assert_eq!(st.status, "running");
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", st.pid)).unwrap();
    assert!(
        String::from_utf8_lossy(&cmdline).starts_with("/bin/sleep\x00100000"),
        "init is {:?}",
        String::from_utf8_lossy(&cmdline)
    );
    let environ =
        String::from_utf8_lossy(&std::fs::read(format!("/proc/{}/environ", st.pid)).unwrap())
            .into_owned();
    for var in ["GREETING=hello world", "MODE=test", "PATH=/bin:/usr/bin"] {
        assert!(environ.split('\0').any(|e| e == var), "{var}: {environ:?}");
    }
    // The read-only bind mount is there and read-only.
    assert_eq!(
        exec(
            &b,
            "oci1",
            &["grep", "-q", "hi from the host", "/data/greeting"]
        ),
        0
    );
    assert_ne!(exec(&b, "oci1", &["sh", "-c", "echo x > /data/new"]), 0);
    // exec with env and cwd, through a process file.
    let pf = work.path().join("process.json");
    std::fs::write(
        &pf,
        r#"{"args":["sh","-c","test \"$(pwd)\" = /tmp && test \"$X\" = y"],"env":["X=y"],"cwd":"/tmp","user":{"uid":0,"gid":0}}"#,
    )
    .unwrap();
    let r = b
        .exec(&ExecRequest {
            id: "oci1".into(),
            process_file: Some(pf),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(r, Response::Exited(0));
    // ps lists init.
    let pids = b.ps(&id("oci1")).unwrap();
    assert!(pids.contains(&st.pid), "{pids:?}");

    // sleep as init ignores the halt signal: shutdown times out, then stop.
    let b2 = node.backend_with("plain", json!({"shutdown_timeout_secs": 2}));
    let (r, calls) = node.count(|| {
        b2.stop(&StopRequest {
            id: "oci1".into(),
            ..Default::default()
        })
    });
    r.expect("stop");
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls[0].starts_with("pct shutdown"), "{calls:?}");
    assert_eq!(calls[1], format!("pct stop {vmid}"));
    assert_eq!(b.state(&id("oci1")).unwrap().status, "stopped");

    // The same bundle again: the cached template is reused, not repacked.
    let made2 = b
        .create(&CreateRequest {
            id: "oci2".into(),
            bundle: Some(bundle.clone()),
            ..Default::default()
        })
        .expect("second oci create");
    assert_eq!(made2.id, "oci2");
    let packed2: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("nexcage-") && n != ".nexcage-index")
        .collect();
    assert_eq!(packed2, packed, "no second template and no temp files");
    assert_eq!(std::fs::metadata(&tpl).unwrap().modified().unwrap(), mtime);

    for n in ["oci1", "oci2"] {
        b.delete(&DeleteRequest {
            id: n.into(),
            force: true,
        })
        .unwrap();
    }
    assert_eq!(node.name_map()["containers"], json!({}));
}

#[test]
fn pull_downloads_and_verifies() {
    let node = Node::new();
    node.template();
    // Not downloaded (only in the pveam index).
    std::fs::remove_file(
        node.root()
            .join("var/lib/vz/template/cache")
            .join(common::TEMPLATE_FILE),
    )
    .unwrap();
    let b = node.backend();
    let e = b
        .create(&CreateRequest {
            id: "p1".into(),
            image: Some("busybox-1.36".into()),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NOT_FOUND, "{e}");
    assert!(e.message.contains("does not exist"), "{e}");
    assert!(e.message.contains(common::TEMPLATE_FILE), "{e}");
    assert!(e.message.contains("pveam download local"), "{e}");
    let e = b
        .create(&CreateRequest {
            id: "p1".into(),
            image: Some("nothing-like-this".into()),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NOT_FOUND, "{e}");
    assert!(node.name_map()["containers"].get("p1").is_none());

    let (made, calls) = node.count(|| {
        b.create(&CreateRequest {
            id: "p1".into(),
            image: Some(common::TEMPLATE_FILE.into()),
            pull: true,
            ..Default::default()
        })
    });
    made.expect("create with pull");
    let tools: Vec<&str> = calls
        .iter()
        .map(|c| c.splitn(3, ' ').take(2).last().unwrap_or(""))
        .collect();
    assert_eq!(
        tools,
        ["list", "available", "download", "list", "get", "create"],
        "{calls:?}"
    );

    // A download that exits 0 without producing the file (the checksum of
    // the source does not match) is caught by the pveam list check.
    let node2 = Node::new();
    node2.template();
    let cache = node2.root().join("var/lib/vz/template/cache");
    std::fs::remove_file(cache.join(common::TEMPLATE_FILE)).unwrap();
    std::fs::write(
        node2
            .root()
            .join("var/lib/pve-double/apl-source")
            .join(common::TEMPLATE_FILE),
        b"corrupt",
    )
    .unwrap();
    let b2 = node2.backend();
    let e = b2
        .create(&CreateRequest {
            id: "p2".into(),
            image: Some("busybox".into()),
            pull: true,
            ..Default::default()
        })
        .unwrap_err();
    assert!(
        e.message
            .contains("did not put the template on storage local"),
        "{e}"
    );
    assert!(node2.name_map()["containers"].get("p2").is_none());
}
