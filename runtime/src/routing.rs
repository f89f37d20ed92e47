//! The routing table: which backend serves a command on a container.
//!
//! Order of precedence: `--backend`, the recorded owner of the container,
//! the first matching rule, the per-command default, the global default.

use std::fmt;

use nexcage_plugin_api::Command;

use crate::config::{Config, Origin};

/// A container-id pattern: a glob (`kube-*`), or a regex after `re:`.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// globset semantics, matched against the whole id.
    Glob {
        /// As written.
        source: String,
        /// Compiled.
        matcher: globset::GlobMatcher,
    },
    /// regex semantics: searches unless anchored, as written.
    Regex {
        /// As written, without `re:`.
        source: String,
        /// Compiled.
        regex: regex::Regex,
    },
}

/// An invalid pattern.
#[derive(Debug, thiserror::Error)]
pub enum PatternError {
    /// The glob does not parse.
    #[error("invalid glob '{pattern}': {reason}")]
    Glob {
        /// As written.
        pattern: String,
        /// Why.
        reason: String,
    },
    /// The regex does not parse.
    #[error("invalid regex '{pattern}': {reason}")]
    Regex {
        /// As written.
        pattern: String,
        /// Why.
        reason: String,
    },
    /// Nothing to match.
    #[error("empty pattern")]
    Empty,
}

impl Pattern {
    /// Parses `re:<regex>` or a glob.
    pub fn parse(s: &str) -> Result<Self, PatternError> {
        if let Some(re) = s.strip_prefix("re:") {
            if re.is_empty() {
                return Err(PatternError::Empty);
            }
            let regex = regex::Regex::new(re).map_err(|e| PatternError::Regex {
                pattern: re.to_owned(),
                reason: e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
            })?;
            return Ok(Pattern::Regex {
                source: re.to_owned(),
                regex,
            });
        }
        if s.is_empty() {
            return Err(PatternError::Empty);
        }
        let glob = globset::GlobBuilder::new(s)
            .literal_separator(false)
            .build()
            .map_err(|e| PatternError::Glob {
                pattern: s.to_owned(),
                reason: e.kind().to_string(),
            })?;
        Ok(Pattern::Glob {
            source: s.to_owned(),
            matcher: glob.compile_matcher(),
        })
    }

    /// Does `id` match?
    pub fn is_match(&self, id: &str) -> bool {
        match self {
            Pattern::Glob { matcher, .. } => matcher.is_match(id),
            Pattern::Regex { regex, .. } => regex.is_match(id),
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Glob { source, .. } => write!(f, "\"{source}\""),
            Pattern::Regex { source, .. } => write!(f, "\"re:{source}\""),
        }
    }
}

/// Why a backend was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// `--backend` on the command line.
    Flag,
    /// The container was created by this backend.
    Owner,
    /// A routing rule matched.
    Rule {
        /// Its 0-based index.
        index: usize,
        /// Its pattern, as written.
        pattern: String,
        /// Where it is written.
        origin: Origin,
    },
    /// The per-command default.
    CommandDefault {
        /// Where it is set.
        origin: Origin,
    },
    /// The global default.
    Default {
        /// Where it is set.
        origin: Origin,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Flag => f.write_str("--backend flag"),
            Reason::Owner => f.write_str("owner recorded at create"),
            Reason::Rule {
                index,
                pattern,
                origin,
            } => write!(f, "rule #{} match {pattern} ({origin})", index + 1),
            Reason::CommandDefault { origin } => write!(f, "routing.commands default ({origin})"),
            Reason::Default { origin } => write!(f, "routing.default ({origin})"),
        }
    }
}

/// A routing decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The backend instance.
    pub backend: String,
    /// Why.
    pub reason: Reason,
}

/// Decides without consulting the state root (the caller passes the
/// recorded owner, if any).
pub fn route(
    cfg: &Config,
    command: Command,
    id: Option<&str>,
    flag: Option<&str>,
    owner: Option<&str>,
) -> Decision {
    if let Some(b) = flag {
        return Decision {
            backend: b.to_owned(),
            reason: Reason::Flag,
        };
    }
    if let Some(b) = owner {
        return Decision {
            backend: b.to_owned(),
            reason: Reason::Owner,
        };
    }
    if let Some(id) = id {
        for rule in &cfg.rules {
            let cmd_ok = rule.commands.as_ref().is_none_or(|c| c.contains(&command));
            if cmd_ok && rule.pattern.is_match(id) {
                return Decision {
                    backend: rule.backend.clone(),
                    reason: Reason::Rule {
                        index: rule.index,
                        pattern: rule.pattern.to_string(),
                        origin: rule.origin.clone(),
                    },
                };
            }
        }
    }
    if let Some(b) = cfg.command_backends.get(&command) {
        return Decision {
            backend: b.value.clone(),
            reason: Reason::CommandDefault {
                origin: b.origin.clone(),
            },
        };
    }
    Decision {
        backend: cfg.default_backend.value.clone(),
        reason: Reason::Default {
            origin: cfg.default_backend.origin.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;
    use proptest::prelude::*;
    use std::path::Path;

    fn cfg(text: &str) -> Config {
        parse(text, Path::new("/c.toml")).unwrap()
    }

    const TABLE: &str = r#"
[routing]
default = "proxmox-lxc"
[routing.commands]
exec = "exec-backend"
[[routing.rules]]
match = "kube-*"
commands = ["create", "run"]
backend = "crun"
[[routing.rules]]
match = "re:^web-[0-9]+$"
backend = "oci"
[[routing.rules]]
match = "*-db"
backend = "db"
"#;

    #[test]
    fn precedence() {
        let c = cfg(TABLE);
        let r = |cmd, id| route(&c, cmd, Some(id), None, None).backend;
        assert_eq!(r(Command::Create, "kube-a"), "crun");
        // The rule is limited to create/run: state falls through.
        assert_eq!(r(Command::State, "kube-a"), "proxmox-lxc");
        assert_eq!(r(Command::Exec, "kube-a"), "exec-backend");
        assert_eq!(r(Command::Start, "web-12"), "oci");
        assert_eq!(r(Command::Start, "web-12x"), "proxmox-lxc");
        // Globs backtrack (upstream's matcher did not).
        assert_eq!(r(Command::Start, "my-app-db"), "db");
        assert_eq!(
            route(&c, Command::Start, Some("web-1"), Some("x"), Some("y")).backend,
            "x"
        );
        assert_eq!(
            route(&c, Command::Start, Some("web-1"), None, Some("y")).reason,
            Reason::Owner
        );
        assert_eq!(
            route(&c, Command::List, None, None, None).backend,
            "proxmox-lxc"
        );
    }

    #[test]
    fn reasons_name_the_rule_and_its_line() {
        let c = cfg(TABLE);
        let d = route(&c, Command::Start, Some("web-7"), None, None);
        assert_eq!(
            d.reason.to_string(),
            "rule #2 match \"re:^web-[0-9]+$\" (/c.toml:10)"
        );
    }

    #[test]
    fn unanchored_regex_searches() {
        let p = Pattern::parse("re:web").unwrap();
        assert!(p.is_match("my-web-1"));
        let p = Pattern::parse("re:^web").unwrap();
        assert!(!p.is_match("my-web-1"));
    }

    #[test]
    fn bad_patterns() {
        assert!(Pattern::parse("re:(").is_err());
        assert!(Pattern::parse("a[").is_err());
        assert!(Pattern::parse("").is_err());
        assert!(Pattern::parse("re:").is_err());
    }

    proptest! {
        // A literal glob matches exactly itself.
        #[test]
        fn literal_glob_matches_only_itself(id in "[a-z0-9][a-z0-9.-]{0,20}", other in "[a-z0-9][a-z0-9.-]{0,20}") {
            let p = Pattern::parse(&id).unwrap();
            prop_assert!(p.is_match(&id));
            prop_assert_eq!(p.is_match(&other), id == other);
        }

        // `prefix*` matches exactly the ids that start with prefix.
        #[test]
        fn prefix_star(prefix in "[a-z0-9-]{1,8}", id in "[a-z0-9-]{0,16}") {
            let p = Pattern::parse(&format!("{prefix}*")).unwrap();
            prop_assert_eq!(p.is_match(&id), id.starts_with(&prefix));
        }

        // `*suffix` matches exactly the ids that end with suffix.
        #[test]
        fn star_suffix(suffix in "[a-z0-9-]{1,8}", id in "[a-z0-9-]{0,16}") {
            let p = Pattern::parse(&format!("*{suffix}")).unwrap();
            prop_assert_eq!(p.is_match(&id), id.ends_with(&suffix));
        }

        // An escaped regex of a literal matches ids containing it.
        #[test]
        fn regex_literal_search(lit in "[a-z0-9.-]{1,8}", id in "[a-z0-9.-]{0,16}") {
            let p = Pattern::parse(&format!("re:{}", regex::escape(&lit))).unwrap();
            prop_assert_eq!(p.is_match(&id), id.contains(&lit));
        }

        // First match wins: the decision is the first rule whose pattern and
        // command filter match, else the command default, else the default.
        #[test]
        fn first_match_wins(id in "[a-z]{1,3}(-[a-z]{1,3})?", rules in proptest::collection::vec(("[a-z]{0,2}", 0usize..3, any::<bool>()), 0..6)) {
            let mut text = String::from("[routing]\ndefault = \"fallback\"\n");
            for (i, (prefix, backend, only_create)) in rules.iter().enumerate() {
                let _ = i;
                text.push_str(&format!(
                    "[[routing.rules]]\nmatch = \"{prefix}*\"\nbackend = \"b{backend}\"\n{}",
                    if *only_create { "commands = [\"create\"]\n" } else { "" }
                ));
            }
            let c = cfg(&text);
            for cmd in [Command::Create, Command::Start] {
                let expected = rules
                    .iter()
                    .find(|(prefix, _, only_create)| id.starts_with(prefix.as_str()) && (!only_create || cmd == Command::Create))
                    .map(|(_, b, _)| format!("b{b}"))
                    .unwrap_or_else(|| "fallback".into());
                prop_assert_eq!(route(&c, cmd, Some(&id), None, None).backend, expected);
            }
        }
    }
}
