//! Shared CLI-handler mechanics: subcommand resolution, the usage block and
//! the process entry wrapper used by all three tools.

use crate::error::{Failure, Result};
use crate::getopt;
use crate::node::{self, Node};
use std::io::Write;

/// A tool's command table: `(name, short usage)`; aliases are not expanded.
pub struct Table {
    pub tool: &'static str,
    pub commands: Vec<(&'static str, String)>,
    pub aliases: &'static [&'static str],
}

impl Table {
    /// A table of `names`, each with the usage line of its spec.
    pub fn of(
        tool: &'static str,
        names: &[&'static str],
        spec: impl Fn(&str) -> crate::getopt::Spec,
    ) -> Self {
        let mut commands: Vec<(&'static str, String)> =
            names.iter().map(|c| (*c, spec(c).usage())).collect();
        commands.sort();
        Table {
            tool,
            commands,
            aliases: &[],
        }
    }

    /// `print_usage_short` body.
    pub fn usage_block(&self) -> String {
        let mut s = format!("USAGE: {} <COMMAND> [ARGS] [OPTIONS]\n", self.tool);
        for (name, usage) in &self.commands {
            if self.aliases.contains(name) {
                continue;
            }
            s.push_str("       ");
            s.push_str(usage);
            s.push('\n');
        }
        s
    }

    fn abort(&self, msg: &str) -> Failure {
        eprint!("ERROR: {msg}\n{}", self.usage_block());
        Failure::Exit(255)
    }

    /// Resolves `args[0]` to a full command name.
    pub fn resolve(&self, args: &[String]) -> Result<&'static str> {
        let Some(cmd) = args.first() else {
            return Err(self.abort("no command specified"));
        };
        let names: Vec<&'static str> = self.commands.iter().map(|(n, _)| *n).collect();
        getopt::expand_command(&names, self.aliases, cmd)
            .ok_or_else(|| self.abort(&format!("unknown command '{} {cmd}'", self.tool)))
    }

    pub fn usage_of(&self, cmd: &str) -> Option<&str> {
        self.commands
            .iter()
            .find(|(n, _)| *n == cmd)
            .map(|(_, u)| u.as_str())
    }

    /// `<tool> help [cmd]`.
    pub fn help(&self, args: &[String]) -> Result<i32> {
        match args.first() {
            None => {
                print!("{}", self.usage_block());
                Ok(0)
            }
            Some(c) => {
                let names: Vec<&'static str> = self.commands.iter().map(|(n, _)| *n).collect();
                let full = getopt::expand_command(&names, self.aliases, c)
                    .ok_or_else(|| Failure::die(format!("no such command '{c}'")))?;
                let u = self.usage_of(full).unwrap_or(full);
                println!("USAGE: {u}");
                Ok(0)
            }
        }
    }
}

/// Common entry: node from env, call log, root check, PATH reset, then
/// `body`. Returns the process exit status.
pub fn main_wrapper(tool: &'static str, body: impl FnOnce(&Node, &[String]) -> Result<i32>) -> i32 {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let res = (|| {
        let node = Node::from_env()?;
        let mut line = vec![tool.to_string()];
        line.extend(argv.iter().cloned());
        node::log_call(&node.root, &line);
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err(Failure::die("please run as root"));
        }
        // SAFETY: single-threaded at this point; nothing else reads the env.
        unsafe {
            std::env::set_var("PATH", "/sbin:/bin:/usr/sbin:/usr/bin");
        }
        body(&node, &argv)
    })();
    let _ = std::io::stdout().flush();
    match res {
        Ok(code) => code,
        Err(f) => {
            eprint!("{}", f.render());
            f.exit_code()
        }
    }
}
