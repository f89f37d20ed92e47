//! A small re-implementation of the parts of Perl's `Getopt::Long` that
//! PVE's `JSONSchema::get_options` relies on (contract §1.2):
//! `prefix_pattern=(--|-)`, `permute`, `auto_abbrev`, `ignore_case`,
//! `--` as terminator, booleans with an optional value, and the
//! positional / `extra-args` handling that follows it.

use crate::error::{Failure, Result};
use std::collections::BTreeMap;

/// How an option takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `name:s` — optional value, converted with `parse_boolean`.
    Bool,
    /// `name=s` — mandatory value, last one wins.
    Str,
    /// `name=s@` — mandatory value, may repeat; values joined with `,`.
    List,
}

/// Command description used for parsing and for the short usage line.
#[derive(Debug, Clone)]
pub struct Spec {
    /// e.g. `pct create`
    pub prefix: String,
    /// ordered positional parameter names (without `extra-args`)
    pub positional: Vec<&'static str>,
    /// whether the last positional is `extra-args`
    pub extra_args: bool,
    /// the non-positional options
    pub options: Vec<(String, Kind)>,
    /// suffix appended to the usage line (pvesh's `[FORMAT_OPTIONS]`)
    pub usage_suffix: &'static str,
}

impl Spec {
    pub fn new(prefix: &str, positional: &[&'static str], options: Vec<(String, Kind)>) -> Spec {
        Spec {
            prefix: prefix.to_string(),
            positional: positional.to_vec(),
            extra_args: false,
            options,
            usage_suffix: "",
        }
    }

    pub fn with_extra_args(mut self) -> Spec {
        self.extra_args = true;
        self
    }

    /// `getopt_usage(..., 'short')`.
    pub fn usage(&self) -> String {
        let mut s = self.prefix.clone();
        for p in &self.positional {
            s.push_str(&format!(" <{p}>"));
        }
        if self.extra_args {
            s.push_str(" [<extra-args>]");
        }
        if !self.options.is_empty() {
            s.push_str(" [OPTIONS]");
        }
        s.push_str(self.usage_suffix);
        s
    }

    fn bad(&self, msg: &str) -> Failure {
        Failure::Bad {
            msg: msg.to_string(),
            usage: Some(self.usage()),
        }
    }

    /// All names Getopt knows: options plus the positional names (PVE does
    /// not exclude those from the option list).
    fn known(&self) -> Vec<(String, Kind)> {
        let mut v = self.options.clone();
        for p in &self.positional {
            v.push((p.to_string(), Kind::Str));
        }
        v
    }

    fn resolve(&self, name: &str) -> std::result::Result<(String, Kind), String> {
        let known = self.known();
        let lname = name.to_ascii_lowercase();
        if let Some(k) = known.iter().find(|(n, _)| n.to_ascii_lowercase() == lname) {
            return Ok(k.clone());
        }
        let hits: Vec<&(String, Kind)> = known
            .iter()
            .filter(|(n, _)| n.to_ascii_lowercase().starts_with(&lname))
            .collect();
        match hits.len() {
            1 => Ok(hits[0].clone()),
            0 => Err(format!("Unknown option: {name}")),
            _ => {
                let names: Vec<&str> = hits.iter().map(|(n, _)| n.as_str()).collect();
                Err(format!("Option {name} is ambiguous ({})", names.join(", ")))
            }
        }
    }

    /// Parses `args` (everything after the subcommand).
    /// Parses `args`, then checks every option against the tool's schema
    /// (`types` maps an option to its type); failures give the 400 block
    /// with this command's usage line.
    pub fn parse_checked(
        &self,
        args: &[String],
        types: &dyn Fn(&str) -> Option<crate::schema::Ty>,
    ) -> Result<Parsed> {
        let p = self.parse(args)?;
        let errors = crate::schema::validate(&p.opts, types);
        if !errors.is_empty() {
            return Err(Failure::Param {
                errors,
                usage: Some(self.usage()),
            });
        }
        Ok(p)
    }

    pub fn parse(&self, args: &[String]) -> Result<Parsed> {
        let mut raw: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut kinds: BTreeMap<String, Kind> = BTreeMap::new();
        let mut rest: Vec<String> = Vec::new();
        let mut errors = 0;
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            i += 1;
            if a == "--" {
                rest.extend(args[i..].iter().cloned());
                break;
            }
            let body = if let Some(b) = a.strip_prefix("--") {
                b
            } else if let Some(b) = a.strip_prefix('-') {
                b
            } else {
                rest.push(a.clone());
                continue;
            };
            if body.is_empty() {
                // a lone "-" is an argument
                rest.push(a.clone());
                continue;
            }
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let (canon, kind) = match self.resolve(name) {
                Ok(k) => k,
                Err(msg) => {
                    eprintln!("{msg}");
                    errors += 1;
                    continue;
                }
            };
            let value = match kind {
                Kind::Bool => match inline {
                    Some(v) => v,
                    None => {
                        let looks_like_option = |s: &str| {
                            s == "--"
                                || (s.starts_with("--") && s.len() > 2)
                                || (s.starts_with('-') && s.len() > 1)
                        };
                        if i < args.len() && !looks_like_option(&args[i]) {
                            i += 1;
                            args[i - 1].clone()
                        } else {
                            String::new()
                        }
                    }
                },
                Kind::Str | Kind::List => match inline {
                    Some(v) if v.is_empty() => {
                        eprintln!("Option {canon} requires an argument");
                        errors += 1;
                        continue;
                    }
                    Some(v) => v,
                    None => {
                        if i < args.len() {
                            i += 1;
                            args[i - 1].clone()
                        } else {
                            eprintln!("Option {canon} requires an argument");
                            errors += 1;
                            continue;
                        }
                    }
                },
            };
            kinds.insert(canon.clone(), kind);
            let slot = raw.entry(canon).or_default();
            if kind == Kind::List {
                slot.push(value);
            } else {
                *slot = vec![value];
            }
        }
        if errors > 0 {
            return Err(self.bad("unable to parse option"));
        }

        let mut opts: BTreeMap<String, String> =
            raw.into_iter().map(|(k, v)| (k, v.join(","))).collect();

        // positionals
        let mut extra = Vec::new();
        if !rest.is_empty() {
            let mut it = rest.into_iter();
            for p in &self.positional {
                match it.next() {
                    Some(v) => {
                        opts.insert(p.to_string(), v);
                    }
                    None => return Err(self.bad("not enough arguments")),
                }
            }
            if self.extra_args {
                extra = it.collect();
            } else if it.next().is_some() {
                return Err(self.bad("too many arguments"));
            }
        } else {
            for p in &self.positional {
                if !opts.contains_key(*p) {
                    return Err(self.bad("not enough arguments"));
                }
            }
        }

        // booleans
        for (k, kind) in &kinds {
            if *kind != Kind::Bool {
                continue;
            }
            if let Some(v) = opts.get_mut(k) {
                if v.is_empty() {
                    *v = "1".to_string();
                } else {
                    match parse_boolean(v) {
                        Some(b) => *v = if b { "1" } else { "0" }.to_string(),
                        None => return Err(self.bad("unable to parse boolean option")),
                    }
                }
            }
        }

        Ok(Parsed { opts, extra })
    }
}

/// `PVE::JSONSchema::parse_boolean`.
pub fn parse_boolean(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "on" | "yes" | "true" => Some(true),
        "0" | "off" | "no" | "false" => Some(false),
        _ => None,
    }
}

/// Result of option parsing: every option and positional by name, plus the
/// `extra-args` words.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub opts: BTreeMap<String, String>,
    pub extra: Vec<String>,
}

impl Parsed {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.opts.get(k).map(String::as_str)
    }
    pub fn flag(&self, k: &str) -> bool {
        self.get(k) == Some("1")
    }
}

/// `$expand_command_name`: exact name wins, else a unique prefix among the
/// non-alias commands.
pub fn expand_command<'a>(commands: &[&'a str], aliases: &[&str], cmd: &str) -> Option<&'a str> {
    if let Some(c) = commands.iter().find(|c| **c == cmd) {
        return Some(c);
    }
    let hits: Vec<&&str> = commands
        .iter()
        .filter(|c| c.starts_with(cmd) && !aliases.contains(c))
        .collect();
    if hits.len() == 1 { Some(hits[0]) } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn spec() -> Spec {
        Spec::new(
            "pct destroy",
            &["vmid"],
            vec![
                ("force".into(), Kind::Bool),
                ("purge".into(), Kind::Bool),
                ("memory".into(), Kind::Str),
            ],
        )
    }

    #[test]
    fn forms() {
        let p = spec()
            .parse(&s(&["100", "--force", "-purge=no", "--mem", "5"]))
            .unwrap();
        assert_eq!(p.get("vmid"), Some("100"));
        assert_eq!(p.get("force"), Some("1"));
        assert_eq!(p.get("purge"), Some("0"));
        assert_eq!(p.get("memory"), Some("5"));
        let p = spec().parse(&s(&["--force", "100"]));
        assert!(matches!(p, Err(Failure::Bad { .. })));
        let p = spec().parse(&s(&["--force", "--", "100"])).unwrap();
        assert_eq!(p.get("force"), Some("1"));
        assert_eq!(p.get("vmid"), Some("100"));
    }

    #[test]
    fn expand() {
        let cmds = [
            "start",
            "status",
            "stop",
            "config",
            "move-volume",
            "move_volume",
            "mount",
        ];
        assert_eq!(
            expand_command(&cmds, &["move_volume"], "conf"),
            Some("config")
        );
        assert_eq!(expand_command(&cmds, &["move_volume"], "sta"), None);
        assert_eq!(expand_command(&cmds, &["move_volume"], "sto"), Some("stop"));
        assert_eq!(
            expand_command(&cmds, &["move_volume"], "move_volume"),
            Some("move_volume")
        );
    }
}
