//! Fault-injection knobs for tests. Not part of the pct contract.
//!
//! * `PVE_DOUBLE_HANG=<tool>:<subcommand>[,...]` (or a bare `<subcommand>`)
//!   makes that subcommand sleep for an hour before doing anything.
//! * `PVE_DOUBLE_FAIL=<tool>:<subcommand>=<message>` (several entries may be
//!   separated by newlines) makes it print `<message>` on stderr and exit 255
//!   without touching any state.
//! * `PVE_DOUBLE_TAKE_NEXT=1` makes `pvesh get /cluster/nextid` create a
//!   config for the id it hands out, as if another client had raced in.

use crate::error::{Failure, Result};
use std::time::Duration;

pub const HANG_ENV: &str = "PVE_DOUBLE_HANG";
pub const FAIL_ENV: &str = "PVE_DOUBLE_FAIL";
pub const TAKE_NEXT_ENV: &str = "PVE_DOUBLE_TAKE_NEXT";

/// How long a hung subcommand sleeps.
pub const HANG_FOR: Duration = Duration::from_secs(3600);

fn matches(entry: &str, tool: &str, sub: &str) -> bool {
    let entry = entry.trim();
    match entry.split_once(':') {
        Some((t, s)) => t == tool && s == sub,
        None => entry == sub,
    }
}

/// Whether `PVE_DOUBLE_HANG` selects `tool sub`.
pub fn hang_requested(tool: &str, sub: &str) -> bool {
    std::env::var(HANG_ENV)
        .map(|v| v.split(',').any(|e| matches(e, tool, sub)))
        .unwrap_or(false)
}

/// The message `PVE_DOUBLE_FAIL` sets for `tool sub`, if any.
pub fn fail_message(tool: &str, sub: &str) -> Option<String> {
    let v = std::env::var(FAIL_ENV).ok()?;
    v.lines().find_map(|line| {
        let (sel, msg) = line.split_once('=')?;
        matches(sel, tool, sub).then(|| msg.to_string())
    })
}

/// Applies the HANG and FAIL knobs for one invocation.
pub fn apply(tool: &str, sub: &str) -> Result<()> {
    if hang_requested(tool, sub) {
        std::thread::sleep(HANG_FOR);
    }
    if let Some(msg) = fail_message(tool, sub) {
        return Err(Failure::Die(msg));
    }
    Ok(())
}

pub fn take_next() -> bool {
    std::env::var(TAKE_NEXT_ENV)
        .map(|v| crate::getopt::parse_boolean(&v) == Some(true))
        .unwrap_or(false)
}
