//! Processes, timing, statistics, hyperfine, clean-up and machine facts.

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Errors are messages: every failure is reported, none is recovered from.
pub type Res<T> = Result<T, String>;

/// Formats an error with context.
#[macro_export]
macro_rules! err {
    ($($t:tt)*) => { Err(format!($($t)*)) };
}

// ---- interruption ----

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// SIGINT/SIGTERM/SIGHUP set a flag instead of killing us, so the
/// measurement loops stop and every clean-up guard still runs.
pub fn install_signal_flag() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe.
        unsafe {
            libc::signal(sig, on_signal as *const () as libc::sighandler_t);
        }
    }
}

/// Fails once a signal arrived.
pub fn check_interrupted() -> Res<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        return err!("interrupted");
    }
    Ok(())
}

// ---- clean-up ----

type Action = Box<dyn FnOnce() -> Res<()>>;

/// Clean-up actions, run in reverse order when dropped (also on error
/// returns and panics).
#[derive(Default)]
pub struct Cleanup {
    actions: Vec<(String, Action)>,
}

impl Cleanup {
    /// Registers an action.
    pub fn push(&mut self, what: impl Into<String>, f: impl FnOnce() -> Res<()> + 'static) {
        self.actions.push((what.into(), Box::new(f)));
    }

    /// Registers removal of a directory (unmounting anything under it).
    pub fn remove_dir(&mut self, dir: &Path) {
        let d = dir.to_owned();
        self.push(format!("remove {}", dir.display()), move || remove_tree(&d));
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        while let Some((what, f)) = self.actions.pop() {
            if let Err(e) = f() {
                eprintln!("nexcage-bench: clean-up '{what}' failed: {e}");
            }
        }
    }
}

/// A fresh private directory under the system temp dir (removed by the
/// caller's [`Cleanup`]).
pub fn temp_dir(cleanup: &mut Cleanup, tag: &str) -> Res<PathBuf> {
    let dir = tempfile::Builder::new()
        .prefix(&format!("nexcage-bench-{tag}-"))
        .tempdir()
        .map_err(|e| format!("cannot create a temp dir: {e}"))?
        .keep();
    cleanup.remove_dir(&dir);
    Ok(dir)
}

/// Unmounts whatever is mounted under `dir` (deepest first), then removes it.
pub fn remove_tree(dir: &Path) -> Res<()> {
    if let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") {
        let mut under: Vec<PathBuf> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(1))
            .map(|m| PathBuf::from(m.replace("\\040", " ")))
            .filter(|m| m.starts_with(dir))
            .collect();
        under.sort_by_key(|m| std::cmp::Reverse(m.as_os_str().len()));
        for m in under {
            let c = std::ffi::CString::new(m.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
            // SAFETY: a valid NUL-terminated path; MNT_DETACH cannot hang.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => err!("cannot remove {}: {e}", dir.display()),
    }
}

// ---- processes ----

/// `prog args…` for messages.
pub fn show(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs a command to completion with stdin closed; fails on a non-zero
/// exit, with its stderr. Returns stdout.
pub fn run(cmd: &mut Command) -> Res<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", show(cmd)))?;
    if !out.status.success() {
        return err!(
            "{} failed ({}): {}{}",
            show(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs a command with all stdio on /dev/null and returns its wall time.
/// A non-zero exit fails.
pub fn time_quiet(cmd: &mut Command) -> Res<Duration> {
    check_interrupted()?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let t = Instant::now();
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {}: {e}", show(cmd)))?;
    let took = t.elapsed();
    if !out.status.success() {
        return err!(
            "{} failed ({}): {}",
            show(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(took)
}

/// Finds an executable on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Like [`which`], failing with a hint.
pub fn need(name: &str, hint: &str) -> Res<PathBuf> {
    which(name).ok_or_else(|| format!("'{name}' not found on PATH ({hint})"))
}

// ---- statistics ----

/// Durations of one measured command.
#[derive(Debug, Clone, Default)]
pub struct Samples(pub Vec<Duration>);

impl Samples {
    fn sorted(&self) -> Vec<Duration> {
        let mut v = self.0.clone();
        v.sort();
        v
    }
    /// The median (mean of the middle two for an even count).
    pub fn median(&self) -> Duration {
        let v = self.sorted();
        match v.len() {
            0 => Duration::ZERO,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2,
        }
    }
    /// The smallest.
    pub fn min(&self) -> Duration {
        self.0.iter().min().copied().unwrap_or_default()
    }
    /// The number of runs.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// `a / b` of two durations.
pub fn ratio(a: Duration, b: Duration) -> f64 {
    if b.is_zero() {
        f64::NAN
    } else {
        a.as_secs_f64() / b.as_secs_f64()
    }
}

/// A duration for the table: µs below 1 ms, ms below 10 s, else s.
pub fn fmt_dur(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1e-3 {
        format!("{:.0} µs", s * 1e6)
    } else if s < 10.0 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

/// `a − b` with its sign, e.g. `+1.20 ms` or `−300 µs`.
pub fn fmt_diff(a: Duration, b: Duration) -> String {
    if a >= b {
        format!("+{}", fmt_dur(a - b))
    } else {
        format!("−{}", fmt_dur(b - a))
    }
}

/// Times `a` and `b` alternately (`ab`, `ba`, `ab`, …) so drift on a noisy
/// machine hits both alike; `warmup` unrecorded pairs first.
pub fn alternate(
    mut a: impl FnMut() -> Command,
    mut b: impl FnMut() -> Command,
    warmup: usize,
    runs: usize,
) -> Res<(Samples, Samples)> {
    for _ in 0..warmup {
        time_quiet(&mut a())?;
        time_quiet(&mut b())?;
    }
    let (mut sa, mut sb) = (Samples::default(), Samples::default());
    for i in 0..runs {
        if i % 2 == 0 {
            sa.0.push(time_quiet(&mut a())?);
            sb.0.push(time_quiet(&mut b())?);
        } else {
            sb.0.push(time_quiet(&mut b())?);
            sa.0.push(time_quiet(&mut a())?);
        }
    }
    Ok((sa, sb))
}

// ---- hyperfine ----

/// Quotes one argument for hyperfine's `--shell=none` splitting (POSIX
/// shell-words rules, but no shell ever runs).
fn quote(a: &OsStr) -> String {
    let s = a.to_string_lossy();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        return s.into_owned();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// One command for hyperfine: a name and an argument vector.
pub struct Bench {
    /// Shown in hyperfine's output.
    pub name: String,
    /// Program and arguments.
    pub argv: Vec<OsString>,
}

impl Bench {
    /// From a program and its arguments.
    pub fn new<I, S>(name: &str, program: impl AsRef<OsStr>, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut argv = vec![program.as_ref().to_owned()];
        argv.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        Self {
            name: name.to_owned(),
            argv,
        }
    }
}

/// Runs the commands in one hyperfine invocation (`--shell=none`, so no
/// shell start-up is subtracted or added) and returns each one's times.
pub fn hyperfine(
    benches: &[Bench],
    warmup: u32,
    runs: u32,
    env: &[(&str, &OsStr)],
    scratch: &Path,
) -> Res<Vec<Samples>> {
    check_interrupted()?;
    let hf = need("hyperfine", "apt-get install -y hyperfine")?;
    let json = scratch.join("hyperfine.json");
    let mut cmd = Command::new(hf);
    cmd.arg("--shell=none")
        .arg("--style=basic")
        .arg(format!("--warmup={warmup}"))
        .arg(format!("--runs={runs}"))
        .arg("--export-json")
        .arg(&json);
    for b in benches {
        let line = b
            .argv
            .iter()
            .map(|a| quote(a))
            .collect::<Vec<_>>()
            .join(" ");
        cmd.arg("--command-name").arg(&b.name).arg(line);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    eprintln!("+ {}", show(&cmd));
    let status = cmd
        .stdin(Stdio::null())
        .stdout(std::io::stderr())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| format!("cannot run hyperfine: {e}"))?;
    check_interrupted()?;
    if !status.success() {
        return err!("hyperfine failed ({status})");
    }
    let text = std::fs::read_to_string(&json).map_err(|e| format!("hyperfine json: {e}"))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("hyperfine json: {e}"))?;
    let results = v["results"]
        .as_array()
        .ok_or("hyperfine json has no results")?;
    results
        .iter()
        .map(|r| {
            let times = r["times"].as_array().ok_or("hyperfine json has no times")?;
            Ok(Samples(
                times
                    .iter()
                    .filter_map(|t| t.as_f64())
                    .map(Duration::from_secs_f64)
                    .collect(),
            ))
        })
        .collect()
}

// ---- machine ----

/// Date (UTC), nproc, CPU model, kernel and tool versions, as markdown.
pub fn machine_report(tools: &[(&str, &[&str])]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "- date: {} (UTC)", utc_now());
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let _ = writeln!(s, "- nproc: {nproc}");
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let _ = writeln!(s, "- CPU: {cpu}");
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into());
    let _ = writeln!(s, "- kernel: {kernel}");
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_owned())
        })
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or_else(|| "unknown".into(), |kb| format!("{} MiB", kb / 1024));
    let _ = writeln!(s, "- memory: {mem}");
    let mut versions = Vec::new();
    for (tool, args) in tools {
        let v = which(tool)
            .and_then(|p| {
                Command::new(p)
                    .args(*args)
                    .stdin(Stdio::null())
                    .output()
                    .ok()
            })
            .map(|o| {
                let text = String::from_utf8_lossy(&o.stdout).into_owned();
                text.lines().next().unwrap_or("").trim().to_owned()
            })
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "not found".into());
        versions.push(format!("{tool}: {v}"));
    }
    let _ = writeln!(s, "- tools: {}", versions.join("; "));
    s
}

/// `YYYY-MM-DD HH:MM` in UTC, from the system clock.
pub fn utc_now() -> String {
    // RFC 3339 is `YYYY-MM-DDTHH:MM:SSZ`; keep the minutes.
    let t = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    t.get(..16).map_or(t.clone(), |m| m.replace('T', " "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_even() {
        let ms = |v: &[u64]| Samples(v.iter().map(|&m| Duration::from_millis(m)).collect());
        assert_eq!(ms(&[3, 1, 2]).median(), Duration::from_millis(2));
        assert_eq!(ms(&[4, 1, 2, 3]).median(), Duration::from_micros(2500));
        assert_eq!(ms(&[]).median(), Duration::ZERO);
    }

    #[test]
    fn quoting() {
        assert_eq!(quote(OsStr::new("/a/b.toml")), "/a/b.toml");
        assert_eq!(quote(OsStr::new("a b")), "'a b'");
        assert_eq!(quote(OsStr::new("it's")), "'it'\\''s'");
        assert_eq!(quote(OsStr::new("")), "''");
    }
}
