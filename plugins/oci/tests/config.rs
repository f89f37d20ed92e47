//! Configuration and runtime-binary failures that need no container.

mod common;

use std::time::{Duration, Instant};

use common::Env;
use nexcage_oci::Oci;
use nexcage_plugin_api::{
    Backend, CreateRequest, ErrorKind, HostInfo, IdRequest, ListRequest, Plugin,
};
use serde_json::json;

#[test]
fn missing_binary_fails_every_command_but_not_loading() {
    let env = Env::with_config(json!({"binary": "nexcage-no-such-runtime"}));
    let want = "runtime binary 'nexcage-no-such-runtime' not found on PATH";
    let e = env
        .oci
        .state(&IdRequest { id: "x".into() })
        .expect_err("state");
    assert_eq!(e.message, want);
    assert_eq!(e.kind, ErrorKind::BACKEND_FAILED);
    let e = env.oci.list(&ListRequest {}).expect_err("list");
    assert_eq!(e.message, want);
    let e = env
        .oci
        .create(&CreateRequest {
            id: "x".into(),
            ..Default::default()
        })
        .expect_err("create");
    assert_eq!(e.message, want);

    let env = Env::with_config(json!({"binary": "/nonexistent/runc"}));
    let e = env.oci.list(&ListRequest {}).expect_err("list");
    assert_eq!(e.message, "runtime binary '/nonexistent/runc' not found");
}

#[test]
fn invalid_config_is_rejected() {
    let host = HostInfo {
        state_dir: "/tmp/nexcage-oci-unused".into(),
        ..Default::default()
    };
    for (config, key) in [
        (json!({"binary": ""}), "binary"),
        (json!({"timeout_secs": 0}), "timeout_secs"),
        (json!({"root": "rel"}), "root"),
    ] {
        let e = Oci::new(config.clone(), &host).expect_err("invalid config");
        assert_eq!(e.kind, ErrorKind::INVALID_CONFIG, "{config}");
        assert_eq!(e.key.as_deref(), Some(key), "{config}");
    }
    let e = Oci::new(json!({"bnary": "runc"}), &host).expect_err("unknown key");
    assert_eq!(e.kind, ErrorKind::INVALID_CONFIG);
    assert!(e.message.contains("unknown field `bnary`"), "{e}");
}

#[test]
fn root_defaults_under_state_dir_and_can_be_overridden() {
    let env = Env::new();
    assert_eq!(env.oci.runtime_root(), env.state_dir.join("root"));
    let env = Env::with_config(json!({"root": "/run/nexcage-oci-test-root"}));
    assert_eq!(
        env.oci.runtime_root(),
        std::path::Path::new("/run/nexcage-oci-test-root")
    );
}

/// A "runtime" that never answers: `tail -f /dev/null -- <runc args>` (the
/// `--` makes tail take runc's arguments as file names and keep following
/// /dev/null). The lifecycle deadline must end it.
#[test]
fn hanging_runtime_hits_the_timeout() {
    let tail = nexcage_plugin_api::process::which("tail").expect("tail on PATH");
    let env = Env::with_config(json!({
        "binary": tail,
        "extra_args": ["-f", "/dev/null", "--"],
        "timeout_secs": 1,
    }));
    let started = Instant::now();
    let e = env
        .oci
        .state(&IdRequest { id: "x".into() })
        .expect_err("state");
    assert_eq!(e.kind, ErrorKind::TIMEOUT);
    assert!(e.message.contains("runtime command 'tail state'"), "{e}");
    assert!(e.message.contains("did not finish within 1s"), "{e}");
    let e = env
        .oci
        .start(&IdRequest { id: "x".into() })
        .expect_err("start");
    assert_eq!(e.kind, ErrorKind::TIMEOUT);
    // With inherited stdio (create) the deadline holds as well.
    let e = env
        .oci
        .create(&CreateRequest {
            id: "x".into(),
            bundle: Some("/nonexistent".into()),
            ..Default::default()
        })
        .expect_err("create");
    assert_eq!(e.kind, ErrorKind::TIMEOUT);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}
