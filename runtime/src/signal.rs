//! Signal names and numbers as runc accepts them: `KILL`, `SIGKILL`, `9`.

const SIGNALS: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("POLL", libc::SIGPOLL),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// The highest real-time signal on Linux.
const SIGRTMAX: i32 = 64;

/// Parses a signal; the error text is shown to the user.
pub fn parse(s: &str) -> Result<i32, String> {
    let bad = || {
        format!("invalid signal '{s}' (use a name like TERM or SIGKILL, or a number 1-{SIGRTMAX})")
    };
    if let Ok(n) = s.parse::<i32>() {
        return if (1..=SIGRTMAX).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        };
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some((_, n)) = SIGNALS.iter().find(|(k, _)| *k == name) {
        return Ok(*n);
    }
    // RTMIN+N / RTMAX-N
    let rtmin = libc::SIGRTMIN();
    if let Some(off) = name
        .strip_prefix("RTMIN+")
        .and_then(|o| o.parse::<i32>().ok())
    {
        return Some(rtmin + off).filter(|n| *n <= SIGRTMAX).ok_or_else(bad);
    }
    if let Some(off) = name
        .strip_prefix("RTMAX-")
        .and_then(|o| o.parse::<i32>().ok())
    {
        return Some(SIGRTMAX - off).filter(|n| *n >= rtmin).ok_or_else(bad);
    }
    match name {
        "RTMIN" => Ok(rtmin),
        "RTMAX" => Ok(SIGRTMAX),
        _ => Err(bad()),
    }
}

extern "C" fn ignore_signal(_: libc::c_int) {}

/// While a foreground `exec`/`run` owns the terminal, Ctrl-C and friends
/// reach the whole process group: the workload decides what they mean, and
/// nexcage must outlive it to report its exit code. A no-op handler (not
/// SIG_IGN) is used because handlers reset to the default on exec, so the
/// workload still receives them normally.
pub fn shield_foreground() {
    for sig in [libc::SIGINT, libc::SIGQUIT, libc::SIGHUP, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction with a valid extern "C" handler and an
        // empty mask is a well-formed argument; the handler does nothing,
        // so it is async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = ignore_signal as extern "C" fn(libc::c_int) as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse("KILL"), Ok(9));
        assert_eq!(parse("SIGKILL"), Ok(9));
        assert_eq!(parse("sigterm"), Ok(15));
        assert_eq!(parse("9"), Ok(9));
        assert_eq!(parse("15"), Ok(15));
        assert_eq!(parse("USR1"), Ok(libc::SIGUSR1));
        assert!(parse("0").is_err());
        assert!(parse("65").is_err());
        assert!(parse("SIGNOPE").is_err());
        assert!(parse("").is_err());
        assert_eq!(parse("RTMAX"), Ok(64));
    }
}
