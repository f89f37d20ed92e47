//! The loader test matrix: real cdylib fixtures, real `nexcage` binary.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Env, assert_code, stderr, stdout};

const TESTBED: &str = "[routing]\ndefault = \"testbed\"\n";

#[test]
fn good_plugin_is_listed_with_its_metadata() {
    let env = Env::new(&[("testbed", "testbed")], TESTBED);
    let o = env.run(&["plugins", "--format", "json"]);
    assert_code(&o, 0);
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "testbed")
        .unwrap_or_else(|| panic!("testbed not listed: {rows}"));
    assert_eq!(row["version"], "0.1.0");
    assert_eq!(row["api_version"], nexcage_plugin_api::API_VERSION);
    assert!(
        row["source"]
            .as_str()
            .unwrap()
            .ends_with("plugins/libnexcage_testbed.so")
    );
    assert!(
        row["commands"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "state")
    );
}

fn refusal_for(fixture: &str, as_name: &str) -> String {
    let env = Env::new(&[("testbed", "testbed"), (fixture, as_name)], TESTBED);
    let o = env.run(&["plugins"]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("testbed"), "good plugin still listed");
    let err = stderr(&o);
    // Only this test's plugin directory: the build tree (searched by
    // default) may hold other plugins.
    let dir = env.plugins.display().to_string();
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("refused") && l.contains(&dir))
        .collect();
    assert_eq!(lines.len(), 1, "exactly one refusal line:\n{err}");
    let file = format!("libnexcage_{}.so", as_name.replace('-', "_"));
    assert!(lines[0].contains(&file), "names the file: {}", lines[0]);
    lines[0].to_owned()
}

#[test]
fn not_a_plugin_is_refused_in_one_line() {
    let l = refusal_for("not_a_plugin", "bogus");
    assert!(l.contains("not a nexcage plugin"), "{l}");
}

#[test]
fn incompatible_api_version_names_both_versions() {
    let l = refusal_for("api_skew", "skew");
    assert!(l.contains("plugin API 2.0.0"), "{l}");
    assert!(l.contains("needs plugin API 1.x"), "{l}");
}

#[test]
fn layout_mismatch_is_summarised_and_detailed_only_at_debug() {
    let l = refusal_for("layout_mismatch", "mismatch");
    assert!(l.contains("ABI layout mismatch"), "{l}");
    assert!(l.len() < 300, "one short line: {l}");

    let env = Env::new(&[("layout_mismatch", "mismatch")], TESTBED);
    let log = env.dir.path().join("debug.log");
    let o = env.run(&[
        "--log",
        log.to_str().unwrap(),
        "--log-level",
        "debug",
        "plugins",
    ]);
    assert_code(&o, 0);
    let report = std::fs::read_to_string(&log).unwrap();
    assert!(report.contains("abi_stable layout report"), "{report}");
    assert!(report.lines().count() > 10, "the full report is long");
}

#[test]
fn duplicate_names_are_refused() {
    let l = refusal_for("twin", "twin");
    assert!(
        l.contains("plugin name 'testbed' is already provided by"),
        "{l}"
    );
    assert!(l.contains("libnexcage_testbed.so"), "names the first: {l}");
}

#[test]
fn panicking_plugin_call_is_reported_and_host_exits_cleanly() {
    let env = Env::new(
        &[("testbed", "testbed")],
        "[routing]\ndefault = \"tb\"\n[backends.tb]\nplugin = \"testbed\"\npanic_on = \"state\"\n",
    );
    let o = env.run(&["state", "x"]);
    assert_code(&o, 1);
    let e = stderr(&o);
    assert!(
        e.contains("plugin 'testbed' panicked: testbed was told to panic in state"),
        "{e}"
    );
    assert!(
        !e.contains("Aborting"),
        "abi_stable's exit(1) path was not taken: {e}"
    );
    assert_eq!(e.lines().count(), 1, "one clean line: {e}");
}

#[test]
fn panicking_constructor_is_reported() {
    let env = Env::new(
        &[("testbed", "testbed")],
        "[routing]\ndefault = \"tb\"\n[backends.tb]\nplugin = \"testbed\"\npanic_on = \"new\"\n",
    );
    let o = env.run(&["state", "x"]);
    assert_code(&o, 1);
    assert!(
        stderr(&o).contains("panicked: testbed was told to panic in new"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn constructor_rejecting_config_names_file_line_and_key() {
    let env = Env::new(
        &[("testbed", "testbed")],
        "[routing]\ndefault = \"tb\"\n\n[backends.tb]\nplugin = \"testbed\"\nanswer = -1\n",
    );
    let o = env.run(&["state", "x"]);
    assert_code(&o, 1);
    let e = stderr(&o);
    let cfg = env.config.display().to_string();
    assert!(
        e.contains(&format!(
            "{cfg}:6: backends.tb.answer: answer must be positive, got -1"
        )),
        "{e}"
    );

    env.write_config(
        "[routing]\ndefault = \"tb\"\n[backends.tb]\nplugin = \"testbed\"\nanser = 1\n",
    );
    let o = env.run(&["config", "check"]);
    assert_code(&o, 1);
    let e = stderr(&o);
    assert!(
        e.contains(&format!(
            "{cfg}:5: backends.tb.anser: unknown field `anser`"
        )),
        "{e}"
    );
}

#[test]
fn insecure_files_and_directories_are_refused() {
    // World-writable file.
    let env = Env::new(&[("testbed", "testbed")], TESTBED);
    let lib = env.plugins.join("libnexcage_testbed.so");
    std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o666)).unwrap();
    let o = env.run(&["state", "x"]);
    assert_code(&o, 1);
    assert!(
        stderr(&o).contains("is group- or world-writable (mode 666)"),
        "{}",
        stderr(&o)
    );

    // Group-writable directory.
    std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&env.plugins, std::fs::Permissions::from_mode(0o775)).unwrap();
    let o = env.run(&["plugins"]);
    assert!(stderr(&o).contains("directory"), "{}", stderr(&o));
    assert!(stderr(&o).contains("mode 775"), "{}", stderr(&o));

    // Owned by another non-root user.
    std::fs::set_permissions(&env.plugins, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::chown(&lib, Some(65534), Some(65534)).unwrap();
    let o = env.run(&["plugins"]);
    assert!(
        stderr(&o).contains("is owned by uid 65534"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn broken_plugins_the_command_does_not_need_do_not_stop_it() {
    let env = Env::new(
        &[
            ("testbed", "testbed"),
            ("not_a_plugin", "bogus"),
            ("layout_mismatch", "mismatch"),
            ("api_skew", "skew"),
        ],
        TESTBED,
    );
    let o = env.run(&["create", "c1", "--bundle", "."]);
    assert_code(&o, 0);
    let o = env.run(&["state", "c1"]);
    assert_code(&o, 0);
    assert!(
        stderr(&o).is_empty(),
        "no noise about unrelated plugins: {}",
        stderr(&o)
    );
}

#[test]
fn a_routed_command_opens_exactly_one_library() {
    let env = Env::new(
        &[
            ("testbed", "testbed"),
            ("testbed", "other"),
            ("not_a_plugin", "bogus"),
            ("layout_mismatch", "mismatch"),
        ],
        TESTBED,
    );
    let log = env.dir.path().join("trace.log");
    let o = env.run(&["--log", log.to_str().unwrap(), "--debug", "state", "nope"]);
    assert_code(&o, 1);
    let text = std::fs::read_to_string(&log).unwrap();
    let opened: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("opening plugin library"))
        .collect();
    assert_eq!(opened.len(), 1, "{text}");
    assert!(opened[0].contains("libnexcage_testbed.so"), "{}", opened[0]);
}

#[test]
fn missing_plugin_says_where_it_looked() {
    let env = Env::new(&[], "[routing]\ndefault = \"ghost\"\n[backends.ghost]\n");
    let o = env.run(&["state", "x"]);
    assert_code(&o, 1);
    let e = stderr(&o);
    assert!(e.contains("plugin 'ghost' not found"), "{e}");
    assert!(e.contains("libnexcage_ghost.so"), "{e}");
    assert!(e.contains(env.plugins.to_str().unwrap()), "{e}");
}

#[test]
fn plugin_logs_reach_the_hosts_log_file() {
    let env = Env::new(&[("testbed", "testbed")], TESTBED);
    let log = env.dir.path().join("info.log");
    let o = env.run(&[
        "--log",
        log.to_str().unwrap(),
        "--log-level",
        "info",
        "create",
        "logme",
        "--bundle",
        ".",
    ]);
    assert_code(&o, 0);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.lines()
            .any(|l| l.contains("testbed create") && l.contains("id=logme")),
        "plugin event forwarded: {text}"
    );
}

#[test]
fn installed_layout_finds_plugins_next_to_the_binary() {
    // <prefix>/bin/nexcage finds <prefix>/lib/nexcage/plugins with no config.
    let prefix = tempfile::tempdir().unwrap();
    let bin = prefix.path().join("usr/bin");
    let plugins = prefix.path().join("usr/lib/nexcage/plugins");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&plugins).unwrap();
    for d in [
        prefix.path().join("usr"),
        prefix.path().join("usr/lib"),
        prefix.path().join("usr/lib/nexcage"),
        plugins.clone(),
        bin.clone(),
    ] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::copy(env!("CARGO_BIN_EXE_nexcage"), bin.join("nexcage")).unwrap();
    std::fs::copy(
        common::fixture("testbed"),
        plugins.join("libnexcage_testbed.so"),
    )
    .unwrap();
    let o = std::process::Command::new(bin.join("nexcage"))
        .args([
            "--root",
            prefix.path().join("root").to_str().unwrap(),
            "plugins",
            "--format",
            "json",
        ])
        .env_remove("NEXCAGE_PLUGIN_PATH")
        .env("NEXCAGE_CONFIG", "")
        .output()
        .unwrap();
    assert_code(&o, 0);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["name"], "testbed");
    assert_eq!(
        rows[0]["source"],
        plugins.join("libnexcage_testbed.so").to_str().unwrap()
    );
}
