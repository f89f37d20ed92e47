//! `nexcage-bench`: end-to-end measurements of nexcage, each against a
//! baseline measured in the same run, printed as a markdown table.
//!
//! Every figure is a ratio against its baseline (plus absolute medians):
//! the machines are noisy, so absolute numbers are only context. Nothing
//! runs through a shell: every process gets an argument vector (hyperfine
//! gets `--shell=none`).
//!
//! ```text
//! cargo build --release --workspace && target/release/nexcage-bench [--only load,plugins,state,podman,list,pack]
//! ```

mod items;
mod rootfs;
mod util;

use std::path::PathBuf;
use std::process::ExitCode;

use util::{Res, check_interrupted, install_signal_flag, machine_report};

/// Every item, in the order they run.
const ALL: &[&str] = &["load", "plugins", "state", "podman", "list", "pack"];

/// Options shared by the items.
pub struct Opts {
    /// Where `nexcage`, the plugins, the pct double and the helper are.
    pub bin_dir: PathBuf,
    /// Runs per side for the fast process benches (load helper).
    pub load_runs: usize,
    /// hyperfine runs per command for plugins/state/list.
    pub hf_runs: u32,
    /// podman runs per side.
    pub podman_runs: usize,
    /// Containers in the pct double.
    pub list_count: u32,
    /// Size of the generated tree in MB (10^6 bytes).
    pub pack_mb: u64,
    /// Pack/tar runs per side.
    pub pack_runs: usize,
}

impl Opts {
    /// A file in the build directory, which must exist.
    pub fn bin(&self, name: &str) -> Res<PathBuf> {
        let p = self.bin_dir.join(name);
        if p.exists() {
            Ok(p)
        } else {
            err!(
                "{} not found (run `cargo build --release --workspace`, or pass --bin-dir)",
                p.display()
            )
        }
    }
}

/// One line of the results table.
pub struct Row {
    /// The item (`load`, `state`, …).
    pub item: &'static str,
    /// What is measured.
    pub figure: String,
    /// Runs per side.
    pub runs: String,
    /// The baseline and its median.
    pub baseline: String,
    /// nexcage's median.
    pub subject: String,
    /// The figure the target is about.
    pub result: String,
    /// The target.
    pub target: String,
    /// None: no target (context only).
    pub pass: Option<bool>,
}

impl Row {
    fn verdict(&self) -> &'static str {
        match self.pass {
            Some(true) => "pass",
            Some(false) => "**miss**",
            None => "—",
        }
    }
}

fn usage() -> &'static str {
    "usage: nexcage-bench [--only ITEMS] [--bin-dir DIR] [--quick]\n\
     \n\
     ITEMS is a comma-separated subset of: load,plugins,state,podman,list,pack\n\
     --bin-dir DIR   where nexcage, the plugins and the pct double are (default: this binary's directory)\n\
     --quick         fewer runs and a 50 MB tree (a smoke test, not for BENCHMARKS.md)\n\
     \n\
     Needs root, runc, podman, lxc, busybox-static, hyperfine and GNU tar.\n"
}

fn parse_args() -> Res<(Vec<&'static str>, Opts)> {
    let mut only: Vec<&'static str> = ALL.to_vec();
    let mut bin_dir = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("target/release"));
    let mut quick = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (a.clone(), None),
        };
        let mut value = |name: &str| -> Res<String> {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "--only" => {
                let v = value("--only")?;
                only = Vec::new();
                for w in v.split(',').map(str::trim).filter(|w| !w.is_empty()) {
                    let Some(known) = ALL.iter().find(|k| **k == w) else {
                        return err!("unknown item '{w}' (known: {})", ALL.join(","));
                    };
                    if !only.contains(known) {
                        only.push(known);
                    }
                }
                // Run in the canonical order whatever the flag's order.
                only.sort_by_key(|i| ALL.iter().position(|k| k == i));
            }
            "--bin-dir" => bin_dir = PathBuf::from(value("--bin-dir")?),
            "--quick" => quick = true,
            "-h" | "--help" => {
                print!("{}", usage());
                std::process::exit(0);
            }
            other => return err!("unknown argument '{other}'\n{}", usage()),
        }
    }
    let opts = if quick {
        Opts {
            bin_dir,
            load_runs: 40,
            hf_runs: 30,
            podman_runs: 3,
            list_count: 200,
            pack_mb: 50,
            pack_runs: 2,
        }
    } else {
        Opts {
            bin_dir,
            load_runs: 200,
            hf_runs: 200,
            podman_runs: 12,
            list_count: 2000,
            pack_mb: 200,
            pack_runs: 5,
        }
    };
    Ok((only, opts))
}

fn print_table(rows: &[Row]) {
    println!(
        "| item | figure | runs | baseline (median) | nexcage (median) | result | target | verdict |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.item,
            r.figure,
            r.runs,
            r.baseline,
            r.subject,
            r.result,
            r.target,
            r.verdict()
        );
    }
}

fn main() -> ExitCode {
    let (only, opts) = match parse_args() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("nexcage-bench: {e}");
            return ExitCode::from(2);
        }
    };
    install_signal_flag();
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("nexcage-bench: warning: not root; state, podman and list need root");
    }
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for item in &only {
        if check_interrupted().is_err() {
            failures.push(format!("{item}: not run (interrupted)"));
            continue;
        }
        eprintln!("\n=== {item} ===");
        let r = match *item {
            "load" => items::load(&opts),
            "plugins" => items::plugins(&opts),
            "state" => items::state(&opts),
            "podman" => items::podman(&opts),
            "list" => items::list(&opts),
            "pack" => items::pack(&opts),
            _ => unreachable!("checked in parse_args"),
        };
        match r {
            Ok(mut r) => rows.append(&mut r),
            Err(e) => {
                eprintln!("nexcage-bench: {item}: {e}");
                failures.push(format!("{item}: {e}"));
            }
        }
    }
    println!();
    print!(
        "{}",
        machine_report(&[
            ("runc", &["--version"]),
            ("podman", &["--version"]),
            ("hyperfine", &["--version"]),
            ("lxc-start", &["--version"]),
            ("tar", &["--version"]),
        ])
    );
    println!();
    print_table(&rows);
    for f in &failures {
        println!("\nnot measured: {f}");
    }
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
