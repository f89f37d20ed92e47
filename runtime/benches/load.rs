//! Loading one plugin library with `nexcage::loader::load_library`.
//!
//! Libraries are never unloaded and glibc caches a `dlopen` of a path that
//! is already loaded, so timing `load_library` in a loop in one process
//! measures the *cached* path only. The honest figure is the first load in
//! a fresh process, so this bench re-executes itself as a child per sample:
//!
//! * `load_library/fresh_process`: the child times its one
//!   `load_library(path)` call with `Instant` and reports it; criterion
//!   adds those up. This is the figure the target (< 1 ms median) is about.
//! * `spawn/baseline` and `spawn/load_one`: wall time of the whole child,
//!   loading nothing vs loading the plugin. Their difference also counts
//!   process teardown with the extra mappings; it is a cross-check.
//! * `load_library/cached_in_process`: repeated calls in this process after
//!   a first load: permission checks, a refcount-bumping `dlopen`, the
//!   abi_stable header check and the (already initialised) root module.
//!   This is what a second load of the same file costs, not a cold load.
//!
//! The plugin is `$NEXCAGE_BENCH_PLUGIN`, else `libnexcage_oci.so` next to
//! the bench's profile directory (build it first:
//! `cargo build --release --workspace`).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::Criterion;

/// Set in the child: the library to load, or empty to load nothing.
const CHILD_ENV: &str = "NEXCAGE_BENCH_LOAD_CHILD";
/// Overrides the plugin file.
const PLUGIN_ENV: &str = "NEXCAGE_BENCH_PLUGIN";

fn plugin_path() -> PathBuf {
    if let Some(p) = std::env::var_os(PLUGIN_ENV) {
        return PathBuf::from(p);
    }
    let name = "libnexcage_oci.so";
    let mut candidates = Vec::new();
    // target/release/deps/load-<hash> → target/release
    if let Ok(exe) = std::env::current_exe()
        && let Some(profile) = exe.parent().and_then(Path::parent)
    {
        candidates.push(profile.join(name));
    }
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    candidates.push(ws.join("target/release").join(name));
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "no plugin library found (tried {candidates:?}); run `cargo build --release --workspace` or set {PLUGIN_ENV}"
            )
        })
}

/// The child: load (or not), print the nanoseconds the call took, exit.
fn child(path: &std::ffi::OsStr) -> ! {
    let nanos = if path.is_empty() {
        0
    } else {
        let t = Instant::now();
        let handle = nexcage::loader::load_library(Path::new(path));
        let took = t.elapsed();
        if let Err(e) = handle {
            eprintln!("load failed: {e}");
            std::process::exit(1);
        }
        took.as_nanos()
    };
    println!("{nanos}");
    std::process::exit(0);
}

/// Runs one child; returns (wall time, the time it reported).
fn run_child(exe: &Path, lib: Option<&Path>) -> (Duration, Duration) {
    let mut cmd = Command::new(exe);
    cmd.env(CHILD_ENV, lib.map(|p| p.as_os_str()).unwrap_or_default())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .stdout(Stdio::piped());
    let t = Instant::now();
    let out = cmd.output().expect("spawn the bench child");
    let wall = t.elapsed();
    assert!(out.status.success(), "bench child failed: {:?}", out.status);
    let nanos: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("child prints nanoseconds");
    (wall, Duration::from_nanos(nanos))
}

fn bench_load(c: &mut Criterion) {
    let lib = plugin_path();
    let exe = std::env::current_exe().expect("current_exe");
    eprintln!("plugin: {}", lib.display());

    let mut g = c.benchmark_group("load_library");
    g.bench_function("fresh_process", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| run_child(&exe, Some(&lib)).1).sum())
    });
    // Loads it once here, so every later call (and every later bench in
    // this process) sees the cached library.
    g.bench_function("cached_in_process", |b| {
        b.iter(|| black_box(nexcage::loader::load_library(black_box(&lib)).expect("load")))
    });
    g.finish();

    let mut g = c.benchmark_group("spawn");
    g.sample_size(50);
    g.bench_function("baseline", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| run_child(&exe, None).0).sum())
    });
    g.bench_function("load_one", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| run_child(&exe, Some(&lib)).0).sum())
    });
    g.finish();
}

fn main() {
    if let Some(p) = std::env::var_os(CHILD_ENV) {
        child(&p);
    }
    let mut c = Criterion::default().configure_from_args();
    bench_load(&mut c);
    c.final_summary();
}
