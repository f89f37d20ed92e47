//! Failure kinds of the double and how each one is printed.
//!
//! The contract distinguishes three shapes of error output:
//! * the `400 ...` blocks of the CLI handler (parameter errors, argument
//!   count, option parse errors), each ending in the short usage line;
//! * plain `die` messages of synchronous code and pre-fork checks;
//! * task errors, whose newlines are replaced by spaces.
//!
//! All of them go to stderr and exit with status 255.

use std::fmt;

/// One `name: message` entry of a `400 Parameter verification failed.` block.
///
/// Messages produced by a format validator end in `\n`; the block printer
/// adds another newline, which yields the blank line the contract requires.
pub type ParamError = (String, String);

#[derive(Debug)]
pub enum Failure {
    /// `400 Parameter verification failed.` + entries + optional usage line.
    Param {
        errors: Vec<ParamError>,
        usage: Option<String>,
    },
    /// `400 <msg>` + usage line (argument count, option parse errors).
    Bad { msg: String, usage: Option<String> },
    /// A plain die: message printed as is (a newline is added).
    Die(String),
    /// A failed worker task: newlines become spaces.
    Task(String),
    /// Output already printed; just exit with this status.
    Exit(i32),
}

impl Failure {
    pub fn die(msg: impl Into<String>) -> Self {
        Failure::Die(msg.into())
    }

    pub fn param(name: &str, msg: &str, usage: Option<&str>) -> Self {
        Failure::Param {
            errors: vec![(name.to_string(), msg.to_string())],
            usage: usage.map(str::to_string),
        }
    }

    /// The text that goes to stderr.
    pub fn render(&self) -> String {
        match self {
            Failure::Param { errors, usage } => {
                let mut s = String::from("400 Parameter verification failed.\n");
                for (k, m) in errors {
                    s.push_str(k);
                    s.push_str(": ");
                    s.push_str(m);
                    s.push('\n');
                }
                if let Some(u) = usage {
                    s.push_str(u);
                    s.push('\n');
                }
                s
            }
            Failure::Bad { msg, usage } => {
                let mut s = format!("400 {msg}\n");
                if let Some(u) = usage {
                    s.push_str(u);
                    s.push('\n');
                }
                s
            }
            Failure::Die(m) => {
                if m.ends_with('\n') {
                    m.clone()
                } else {
                    format!("{m}\n")
                }
            }
            Failure::Task(m) => format!("{}\n", m.trim_end_matches('\n').replace('\n', " ")),
            Failure::Exit(_) => String::new(),
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Failure::Exit(c) => *c,
            _ => 255,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl std::error::Error for Failure {}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Die(format!("pct double: i/o error: {e}"))
    }
}

pub type Result<T> = std::result::Result<T, Failure>;
