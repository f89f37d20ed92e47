//! Built-in backends (`--features builtin-all`): the same plugin crates,
//! linked into the binary and registered through `inventory`.
//!
//! Run with a separate target directory, since the feature changes how the
//! plugin crates are built: `CARGO_TARGET_DIR=target/builtin cargo test -p
//! nexcage --features builtin-all --test builtin` (scripts/test.sh does).

#![cfg(feature = "builtin-all")]

use std::process::Command;

#[test]
fn inventory_holds_every_enabled_builtin() {
    let names: Vec<&str> = nexcage::loader::builtins().iter().map(|b| b.name).collect();
    assert_eq!(names, nexcage::builtin::ENABLED);
    assert_eq!(names, ["oci", "proxmox-lxc"]);
}

#[test]
fn plugins_lists_them_as_built_in_and_they_serve_commands() {
    let root = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_nexcage"))
        .args([
            "--root",
            root.path().to_str().unwrap(),
            "plugins",
            "--format",
            "json",
        ])
        .env("NEXCAGE_CONFIG", empty.path().join("none.toml"))
        .output()
        .unwrap();
    // A named config file must exist: the error proves the flag path is used.
    assert_eq!(o.status.code(), Some(1));
    let cfg = empty.path().join("c.toml");
    std::fs::write(
        &cfg,
        "[routing]\ndefault = \"oci\"\n[backends.oci]\nbinary = \"/nonexistent/runc\"\n",
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_nexcage"))
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "--root",
            root.path().to_str().unwrap(),
        ])
        .args(["plugins", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    for name in ["oci", "proxmox-lxc"] {
        let row = rows.iter().find(|r| r["name"] == name).unwrap();
        assert_eq!(row["source"], "built-in", "{row}");
    }
    // The built-in oci backend really runs: it reports its missing binary.
    let o = Command::new(env!("CARGO_BIN_EXE_nexcage"))
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "--root",
            root.path().to_str().unwrap(),
        ])
        .args(["state", "x"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("/nonexistent/runc"), "{err}");
}
