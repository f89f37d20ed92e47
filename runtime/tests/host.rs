//! The host's behaviour end to end: config errors, routing, the state
//! root, exit codes and stream hygiene, with the testbed fixture plugin.

mod common;

use common::{Env, assert_code, stderr, stdout};

const TWO_BACKENDS: &str = r#"
[routing]
default = "testbed"
[[routing.rules]]
match = "re:^web-[0-9]+$"
backend = "web"
[[routing.rules]]
match = "kube-*"
commands = ["create"]
backend = "kube"
[backends.web]
plugin = "testbed"
[backends.kube]
plugin = "testbed"
"#;

#[test]
fn routes_by_rule_and_then_by_recorded_owner() {
    let env = Env::new(&[("testbed", "testbed")], TWO_BACKENDS);
    let o = env.run(&["route", "create", "kube-a"]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("backend: kube"), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("rule #2 match \"kube-*\""),
        "{}",
        stdout(&o)
    );

    // The kube rule only covers create; state would go to the default...
    let o = env.run(&["route", "state", "kube-a"]);
    assert!(stdout(&o).contains("backend: testbed"), "{}", stdout(&o));

    // ...until the container exists: then its owner serves every command.
    assert_code(&env.run(&["create", "kube-a", "--bundle", "."]), 0);
    let o = env.run(&["route", "state", "kube-a"]);
    assert!(stdout(&o).contains("backend: kube"), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("owner recorded at create"),
        "{}",
        stdout(&o)
    );
    let o = env.run(&["state", "kube-a"]);
    assert_code(&o, 0);
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["annotations"]["testbed.backend"], "kube");

    // Rewriting the rules does not move an existing container.
    env.write_config("[routing]\ndefault = \"testbed\"\n");
    let o = env.run(&["state", "kube-a"]);
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["annotations"]["testbed.backend"], "kube");

    // Deleting forgets the owner.
    assert_code(&env.run(&["delete", "kube-a"]), 0);
    let o = env.run(&["route", "state", "kube-a"]);
    assert!(stdout(&o).contains("routing.default"), "{}", stdout(&o));
}

#[test]
fn backend_flag_overrides_routing() {
    let env = Env::new(&[("testbed", "testbed")], TWO_BACKENDS);
    let o = env.run(&["--backend", "web", "route", "create", "kube-a"]);
    assert!(stdout(&o).contains("backend: web"), "{}", stdout(&o));
    assert!(stdout(&o).contains("--backend flag"), "{}", stdout(&o));
}

#[test]
fn list_merges_every_backend() {
    let env = Env::new(&[("testbed", "testbed")], TWO_BACKENDS);
    for id in ["web-1", "kube-x", "plain"] {
        assert_code(&env.run(&["create", id, "--bundle", "."]), 0);
    }
    let o = env.run(&["list", "--format", "json"]);
    assert_code(&o, 0);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let pairs: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().into(),
                r["backend"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [
            ("kube-x".to_string(), "kube".to_string()),
            ("plain".into(), "testbed".into()),
            ("web-1".into(), "web".into())
        ]
    );
    let o = env.run(&["list"]);
    let table = stdout(&o);
    assert!(table.starts_with("ID "), "{table}");
    assert_eq!(table.lines().count(), 4, "{table}");
    let o = env.run(&["list", "-q"]);
    assert_eq!(stdout(&o), "kube-x\nplain\nweb-1\n");
}

#[test]
fn concurrent_creates_lose_no_record() {
    let env = Env::new(
        &[("testbed", "testbed")],
        "[routing]\ndefault = \"testbed\"\n",
    );
    let children: Vec<_> = (0..20)
        .map(|i| {
            env.cmd()
                .args(["create", &format!("c{i}"), "--bundle", "."])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert_code(&o, 0);
    }
    let owners = std::fs::read_dir(env.root.join("owners"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json")
        })
        .count();
    assert_eq!(owners, 20);
    let o = env.run(&["list", "-q"]);
    assert_eq!(stdout(&o).lines().count(), 20, "{}", stdout(&o));
}

#[test]
fn config_errors_name_file_line_and_key() {
    let env = Env::new(
        &[("testbed", "testbed")],
        "[routing]\ndefault = \"testbed\"\ndefualt = 1\n",
    );
    let cfg = env.config.display().to_string();
    let o = env.run(&["list"]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains(&format!("{cfg}:3:")), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("unknown field `defualt`"),
        "{}",
        stderr(&o)
    );

    env.write_config("[routing]\ndefault = \"testbed\"\n[[routing.rules]]\nmatch = \"re:(\"\nbackend = \"testbed\"\n");
    let o = env.run(&["list"]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains(&format!("{cfg}:4:")), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("routing.rules[0].match: invalid regex"),
        "{}",
        stderr(&o)
    );

    env.write_config("[routing]\ndefault = \"nosuch\"\n");
    let o = env.run(&["list"]);
    assert_code(&o, 1);
    assert!(
        stderr(&o).contains(&format!(
            "{cfg}:2:1: routing.default: unknown backend 'nosuch'"
        )),
        "{}",
        stderr(&o)
    );

    let o = std::process::Command::new(env!("CARGO_BIN_EXE_nexcage"))
        .args(["--config", "/nonexistent.toml", "list"])
        .output()
        .unwrap();
    assert_code(&o, 1);
    assert!(
        stderr(&o).contains("cannot read config /nonexistent.toml"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn config_show_tells_where_values_come_from() {
    let env = Env::new(&[("testbed", "testbed")], TWO_BACKENDS);
    let o = env.run(&["config", "show"]);
    assert_code(&o, 0);
    let cfg = env.config.display().to_string();
    let out = stdout(&o);
    assert!(
        out.contains(&format!("routing.default = \"testbed\"  # {cfg}:3")),
        "{out}"
    );
    assert!(
        out.contains("runtime.root = ") && out.contains("# flag --root"),
        "{out}"
    );
    assert!(
        out.contains("backends.web = { plugin = \"testbed\""),
        "{out}"
    );
}

#[test]
fn exit_codes_and_streams() {
    let env = Env::new(
        &[("testbed", "testbed")],
        "[routing]\ndefault = \"testbed\"\n",
    );
    // Usage errors exit 2.
    assert_code(&env.run(&["state"]), 2);
    assert_code(&env.run(&["frobnicate"]), 2);
    // Unknown container: runc's words, exit 1, nothing on stdout.
    let o = env.run(&["state", "ghost"]);
    assert_code(&o, 1);
    assert!(stdout(&o).is_empty());
    assert!(
        stderr(&o).contains("container does not exist"),
        "{}",
        stderr(&o)
    );
    // A command the backend lacks names the backend.
    let o = env.run(&["pause", "ghost"]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("backend 'testbed' (plugin 'testbed') does not implement 'pause'"));
    // Invalid ids never reach a backend (or the file system).
    for bad in ["../etc", "a/b", "", "x y"] {
        let o = env.run(&["state", bad]);
        assert_code(&o, 1);
        assert!(
            stderr(&o).contains("invalid container id"),
            "{bad}: {}",
            stderr(&o)
        );
    }
    // Bad signals are refused before routing.
    let o = env.run(&["kill", "x", "SIGNOPE"]);
    assert_code(&o, 1);
    assert!(
        stderr(&o).contains("invalid signal 'SIGNOPE'"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn json_log_carries_each_error() {
    let env = Env::new(
        &[("testbed", "testbed")],
        "[routing]\ndefault = \"testbed\"\n",
    );
    let log = env.dir.path().join("log.json");
    let o = env.run(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format=json",
        "state",
        "ghost",
    ]);
    assert_code(&o, 1);
    let text = std::fs::read_to_string(&log).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error");
    assert!(
        last["msg"]
            .as_str()
            .unwrap()
            .contains("container does not exist"),
        "{last}"
    );
    assert!(last["time"].as_str().is_some());
    assert!(
        stderr(&o).contains(last["msg"].as_str().unwrap()),
        "stderr carries the same message"
    );
}

#[test]
fn corrupt_owner_record_is_reported_not_overwritten() {
    let env = Env::new(
        &[("testbed", "testbed")],
        "[routing]\ndefault = \"testbed\"\n",
    );
    std::fs::create_dir_all(env.root.join("owners")).unwrap();
    std::fs::write(env.root.join("owners/bad.json"), "{oops").unwrap();
    let o = env.run(&["create", "bad", "--bundle", "."]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("is corrupt"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(env.root.join("owners/bad.json")).unwrap(),
        "{oops"
    );
}

#[test]
fn version_is_runc_shaped() {
    let env = Env::new(&[], "");
    let o = env.run(&["--version"]);
    assert_code(&o, 0);
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("nexcage version "), "{out}");
    assert!(lines[1].starts_with("commit: "), "{out}");
    assert!(lines[2].starts_with("spec: 1.0"), "{out}");
    assert_eq!(lines.len(), 3, "{out}");
    let o = env.run(&["version"]);
    assert!(stdout(&o).contains("plugin-api: 1."), "{}", stdout(&o));
}

#[test]
fn exec_arguments_reach_the_backend_intact() {
    let env = Env::new(
        &[("testbed", "testbed")],
        "[routing]\ndefault = \"testbed\"\n",
    );
    assert_code(&env.run(&["create", "e1", "--bundle", "."]), 0);
    // The testbed answers with the argument count as exit code.
    let o = env.run(&["exec", "e1", "ls", "-la", "--", "x"]);
    assert_code(&o, 4);
}

#[test]
fn create_without_a_bundle_or_image_explains_itself() {
    let env = Env::new(
        &[("testbed", "testbed")],
        "[routing]\ndefault = \"testbed\"\n",
    );
    let empty = env.dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let o = env
        .cmd()
        .current_dir(&empty)
        .args(["create", "c1"])
        .output()
        .unwrap();
    assert_code(&o, 1);
    let e = stderr(&o);
    assert!(
        e.contains(
            "is not an OCI bundle: it has no config.json (the default is the current directory)"
        ),
        "{e}"
    );
    assert!(e.contains("--image TEMPLATE"), "{e}");
}

#[test]
fn plugins_shows_the_backends_the_config_routes_to() {
    let env = Env::new(
        &[("testbed", "testbed")],
        &format!("{TWO_BACKENDS}[backends.ghost]\nplugin = \"nowhere\"\n"),
    );
    let o = env.run(&["plugins"]);
    assert_code(&o, 0);
    let out = stdout(&o);
    let section = out
        .split("\nBACKEND")
        .nth(1)
        .unwrap_or_else(|| panic!("{out}"));
    assert!(section.contains("web      testbed"), "{out}");
    assert!(
        section.contains("ghost    nowhere  (plugin not found)"),
        "{out}"
    );
}
