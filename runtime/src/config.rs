//! The TOML config: where it is found, what it may contain, and where each
//! effective value came from.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::routing::{Pattern, PatternError};
use nexcage_plugin_api::Command;

/// The system-wide config file.
pub const SYSTEM_CONFIG: &str = "/etc/nexcage/config.toml";
/// The environment variable naming a config file.
pub const CONFIG_ENV: &str = "NEXCAGE_CONFIG";
/// The backend used when nothing else decides.
pub const DEFAULT_BACKEND: &str = "proxmox-lxc";
/// The default state root.
pub const DEFAULT_ROOT: &str = "/run/nexcage";

/// Errors while finding, reading or validating the config.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid, with its location.
    #[error("{}:{line}:{column}: {key}{message}", path.display(), key = key_prefix(.key))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The dotted key, when known.
        key: Option<String>,
        /// What is wrong.
        message: String,
    },
}

fn key_prefix(key: &Option<String>) -> String {
    key.as_ref().map(|k| format!("{k}: ")).unwrap_or_default()
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Built into nexcage.
    Default,
    /// A config file, at a line.
    File {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
    },
    /// An environment variable.
    Env(&'static str),
    /// A command-line flag.
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
            Origin::Env(v) => write!(f, "env {v}"),
            Origin::Flag(v) => write!(f, "flag {v}"),
        }
    }
}

/// A value with its origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    /// The value.
    pub value: T,
    /// Where it came from.
    pub origin: Origin,
}

impl<T> Sourced<T> {
    fn default(value: T) -> Self {
        Self {
            value,
            origin: Origin::Default,
        }
    }
}

// ---- raw file shape (serde) ----

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    runtime: RawRuntime,
    #[serde(default)]
    routing: RawRouting,
    #[serde(default)]
    backends: BTreeMap<Spanned<String>, Spanned<toml::Table>>,
    #[serde(default)]
    plugins: RawPlugins,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRuntime {
    root: Option<Spanned<PathBuf>>,
    log_level: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRouting {
    default: Option<Spanned<String>>,
    #[serde(default)]
    commands: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    rules: Vec<Spanned<RawRule>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(rename = "match")]
    pattern: Spanned<String>,
    #[serde(default)]
    commands: Option<Spanned<Vec<String>>>,
    backend: Spanned<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlugins {
    #[serde(default)]
    dirs: Vec<Spanned<PathBuf>>,
    #[serde(default)]
    paths: Vec<Spanned<PathBuf>>,
}

// ---- validated config ----

/// One routing rule, validated.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Position in the file, 0-based.
    pub index: usize,
    /// The id pattern.
    pub pattern: Pattern,
    /// Only these commands, if set.
    pub commands: Option<Vec<Command>>,
    /// The backend it sends to.
    pub backend: String,
    /// Where it is written.
    pub origin: Origin,
}

/// A backend instance: its plugin and its own settings.
#[derive(Debug, Clone)]
pub struct BackendConfig {
    /// The instance name.
    pub name: String,
    /// The plugin that implements it.
    pub plugin: String,
    /// Its settings (without `plugin`), as JSON for the plugin.
    pub settings: serde_json::Value,
    /// Where `[backends.<name>]` is written.
    pub origin: Origin,
    /// Line of each setting key, for plugin-reported errors.
    key_lines: BTreeMap<String, usize>,
}

impl BackendConfig {
    /// An implicit instance: a plugin used under its own name, no settings.
    pub fn implicit(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            plugin: name.to_owned(),
            settings: serde_json::Value::Object(Default::default()),
            origin: Origin::Default,
            key_lines: BTreeMap::new(),
        }
    }

    /// The instance recorded at create time, for a backend the config no
    /// longer declares.
    pub fn recorded(name: &str, plugin: &str, settings: serde_json::Value) -> Self {
        Self {
            name: name.to_owned(),
            plugin: plugin.to_owned(),
            settings,
            origin: Origin::Default,
            key_lines: BTreeMap::new(),
        }
    }

    /// Describes where a plugin-reported config error is, e.g.
    /// `/etc/nexcage/config.toml:12: backends.crun.binary`.
    pub fn locate(&self, key: Option<&str>) -> String {
        let first = key
            .and_then(|k| k.split('.').next())
            .filter(|k| !k.is_empty());
        let dotted = match key.filter(|k| !k.is_empty()) {
            Some(k) => format!("backends.{}.{k}", self.name),
            None => format!("backends.{}", self.name),
        };
        match &self.origin {
            Origin::File { path, line } => {
                let line = first
                    .and_then(|k| self.key_lines.get(k))
                    .copied()
                    .unwrap_or(*line);
                format!("{}:{line}: {dotted}", path.display())
            }
            other => format!("{dotted} ({other})"),
        }
    }
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from, if any.
    pub file: Option<Sourced<PathBuf>>,
    /// The state root.
    pub root: Sourced<PathBuf>,
    /// The log level from the file, if set.
    pub log_level: Option<Sourced<String>>,
    /// The global default backend.
    pub default_backend: Sourced<String>,
    /// Per-command default backends.
    pub command_backends: BTreeMap<Command, Sourced<String>>,
    /// Rules, in file order.
    pub rules: Vec<Rule>,
    /// Declared backend instances.
    pub backends: BTreeMap<String, BackendConfig>,
    /// Plugin files named explicitly.
    pub plugin_paths: Vec<Sourced<PathBuf>>,
    /// Plugin directories from the file.
    pub plugin_dirs: Vec<Sourced<PathBuf>>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            file: None,
            root: Sourced::default(PathBuf::from(DEFAULT_ROOT)),
            log_level: None,
            default_backend: Sourced::default(DEFAULT_BACKEND.to_owned()),
            command_backends: BTreeMap::new(),
            rules: Vec::new(),
            backends: BTreeMap::new(),
            plugin_paths: Vec::new(),
            plugin_dirs: Vec::new(),
        }
    }
}

/// Which file to read, and why.
pub fn locate(flag: Option<&Path>) -> Option<Sourced<PathBuf>> {
    if let Some(p) = flag {
        return Some(Sourced {
            value: p.to_owned(),
            origin: Origin::Flag("--config"),
        });
    }
    if let Some(p) = std::env::var_os(CONFIG_ENV).filter(|v| !v.is_empty()) {
        return Some(Sourced {
            value: PathBuf::from(p),
            origin: Origin::Env(CONFIG_ENV),
        });
    }
    let system = Path::new(SYSTEM_CONFIG);
    system.exists().then(|| Sourced::default(system.to_owned()))
}

/// Loads the config the way the CLI does: `--config`, else
/// `$NEXCAGE_CONFIG`, else the system file, else built-in defaults.
/// A file named by flag or environment must exist.
pub fn load(flag: Option<&Path>) -> Result<Config, ConfigError> {
    match locate(flag) {
        None => Ok(Config::default()),
        Some(file) => {
            let text =
                std::fs::read_to_string(&file.value).map_err(|source| ConfigError::Read {
                    path: file.value.clone(),
                    source,
                })?;
            let mut cfg = parse(&text, &file.value)?;
            cfg.file = Some(file);
            Ok(cfg)
        }
    }
}

struct Source<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Source<'_> {
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }

    fn line(&self, span: &Range<usize>) -> usize {
        self.line_col(span.start).0
    }

    fn origin(&self, span: &Range<usize>) -> Origin {
        Origin::File {
            path: self.path.to_owned(),
            line: self.line(span),
        }
    }

    fn error(
        &self,
        span: &Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        let (line, column) = self.line_col(span.start);
        ConfigError::Invalid {
            path: self.path.to_owned(),
            line,
            column,
            key: Some(key.into()),
            message: message.into(),
        }
    }
}

/// Parses and validates config text; `path` is used in messages.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let src = Source { text, path };
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map_or((1, 1), |s| src.line_col(s.start));
        ConfigError::Invalid {
            path: path.to_owned(),
            line,
            column,
            key: None,
            message: e.message().trim_end().to_owned(),
        }
    })?;

    let mut cfg = Config::default();
    if let Some(root) = raw.runtime.root {
        if !root.get_ref().is_absolute() {
            return Err(src.error(&root.span(), "runtime.root", "must be an absolute path"));
        }
        cfg.root = Sourced {
            origin: src.origin(&root.span()),
            value: root.into_inner(),
        };
    }
    if let Some(level) = raw.runtime.log_level {
        if crate::logging::parse_level(level.get_ref()).is_none() {
            return Err(src.error(
                &level.span(),
                "runtime.log_level",
                format!(
                    "unknown level '{}' (use error, warn, info, debug or trace)",
                    level.get_ref()
                ),
            ));
        }
        cfg.log_level = Some(Sourced {
            origin: src.origin(&level.span()),
            value: level.into_inner(),
        });
    }

    for (name, table) in raw.backends {
        let span = name.span();
        let name = name.into_inner();
        validate_backend_name(&name)
            .map_err(|m| src.error(&span, format!("backends.{name}"), m))?;
        let table_span = table.span();
        let mut table = table.into_inner();
        let plugin = match table.remove("plugin") {
            None => name.clone(),
            Some(toml::Value::String(p)) => {
                validate_backend_name(&p)
                    .map_err(|m| src.error(&table_span, format!("backends.{name}.plugin"), m))?;
                p
            }
            Some(_) => {
                return Err(src.error(
                    &table_span,
                    format!("backends.{name}.plugin"),
                    "must be a string",
                ));
            }
        };
        let key_lines = table
            .keys()
            .filter_map(|k| find_key_line(text, &table_span, k).map(|l| (k.clone(), l)))
            .collect();
        let settings = serde_json::to_value(&table)
            .map_err(|e| src.error(&table_span, format!("backends.{name}"), e.to_string()))?;
        cfg.backends.insert(
            name.clone(),
            BackendConfig {
                name,
                plugin,
                settings,
                origin: src.origin(&span),
                key_lines,
            },
        );
    }

    if let Some(d) = raw.routing.default {
        cfg.default_backend = Sourced {
            origin: src.origin(&d.span()),
            value: d.into_inner(),
        };
    }
    for (cmd, backend) in raw.routing.commands {
        let command: Command = cmd.get_ref().parse().map_err(|_| {
            src.error(
                &cmd.span(),
                format!("routing.commands.{}", cmd.get_ref()),
                format!("unknown command '{}'", cmd.get_ref()),
            )
        })?;
        cfg.command_backends.insert(
            command,
            Sourced {
                origin: src.origin(&backend.span()),
                value: backend.into_inner(),
            },
        );
    }
    for (index, rule) in raw.routing.rules.into_iter().enumerate() {
        let rule_span = rule.span();
        let rule = rule.into_inner();
        let key = format!("routing.rules[{index}]");
        let pattern = Pattern::parse(rule.pattern.get_ref()).map_err(|e: PatternError| {
            src.error(&rule.pattern.span(), format!("{key}.match"), e.to_string())
        })?;
        let commands = match rule.commands {
            None => None,
            Some(list) => {
                let span = list.span();
                let mut out = Vec::new();
                for c in list.into_inner() {
                    out.push(c.parse::<Command>().map_err(|_| {
                        src.error(
                            &span,
                            format!("{key}.commands"),
                            format!("unknown command '{c}'"),
                        )
                    })?);
                }
                if out.is_empty() {
                    return Err(src.error(
                        &span,
                        format!("{key}.commands"),
                        "an empty list matches no command; omit the key to match all",
                    ));
                }
                Some(out)
            }
        };
        cfg.rules.push(Rule {
            index,
            pattern,
            commands,
            backend: rule.backend.get_ref().clone(),
            origin: src.origin(&rule_span),
        });
        // Keep the backend's span for the name check below.
        let _ = rule.backend;
    }

    for d in raw.plugins.dirs {
        cfg.plugin_dirs.push(Sourced {
            origin: src.origin(&d.span()),
            value: d.into_inner(),
        });
    }
    for p in raw.plugins.paths {
        cfg.plugin_paths.push(Sourced {
            origin: src.origin(&p.span()),
            value: p.into_inner(),
        });
    }
    Ok(cfg)
}

/// Checks that every backend named by routing is declared, built in, or
/// has a plugin file of that name (stat only, nothing is loaded).
pub fn check_backend_names(cfg: &Config, known: impl Fn(&str) -> bool) -> Result<(), ConfigError> {
    let check = |name: &str, key: String, origin: &Origin| -> Result<(), ConfigError> {
        if cfg.backends.contains_key(name) || known(name) {
            return Ok(());
        }
        let (path, line) = match origin {
            Origin::File { path, line } => (path.clone(), *line),
            _ => return Ok(()),
        };
        Err(ConfigError::Invalid {
            path,
            line,
            column: 1,
            key: Some(key),
            message: format!(
                "unknown backend '{name}' (declare [backends.{name}] or install {})",
                crate::loader::plugin_file_name(name)
            ),
        })
    };
    check(
        &cfg.default_backend.value,
        "routing.default".into(),
        &cfg.default_backend.origin,
    )?;
    for (cmd, b) in &cfg.command_backends {
        check(&b.value, format!("routing.commands.{cmd}"), &b.origin)?;
    }
    for r in &cfg.rules {
        check(
            &r.backend,
            format!("routing.rules[{}].backend", r.index),
            &r.origin,
        )?;
    }
    Ok(())
}

/// Backend and plugin names: what can appear in a file name.
pub fn validate_backend_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid backend name '{name}' (use lower-case letters, digits, '-' and '_', at most 64)"
        ))
    }
}

fn find_key_line(text: &str, span: &Range<usize>, key: &str) -> Option<usize> {
    // The table's span may cover only its header: scan from there to the
    // next table header.
    let start = span.start.min(text.len());
    let mut offset = start;
    for (i, line) in text[start..].split_inclusive('\n').enumerate() {
        let t = line.trim_start();
        if i > 0 && t.starts_with('[') {
            break;
        }
        let unquoted = t.strip_prefix('"').unwrap_or(t);
        if let Some(rest) = unquoted.strip_prefix(key)
            && rest.trim_start_matches('"').trim_start().starts_with('=')
        {
            return Some(text[..offset].matches('\n').count() + 1);
        }
        offset += line.len();
    }
    None
}

impl Config {
    /// The backend instance named `name`: declared, or implicit.
    pub fn backend(&self, name: &str) -> BackendConfig {
        self.backends
            .get(name)
            .cloned()
            .unwrap_or_else(|| BackendConfig::implicit(name))
    }

    /// Every backend name the config mentions, plus the default.
    pub fn mentioned_backends(&self) -> Vec<String> {
        let mut names: Vec<String> = self.backends.keys().cloned().collect();
        names.push(self.default_backend.value.clone());
        names.extend(self.command_backends.values().map(|b| b.value.clone()));
        names.extend(self.rules.iter().map(|r| r.backend.clone()));
        names.sort();
        names.dedup();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Config, ConfigError> {
        parse(text, Path::new("/etc/nexcage/config.toml"))
    }

    #[test]
    fn full_example_parses() {
        let cfg = p(r#"
[routing]
default = "proxmox-lxc"
[routing.commands]
exec = "proxmox-lxc"
[[routing.rules]]
match = "kube-*"
commands = ["create", "run"]
backend = "crun"
[backends.crun]
plugin = "oci"
binary = "crun"
[plugins]
dirs = ["/opt/nexcage/plugins"]
"#)
        .unwrap();
        assert_eq!(cfg.rules.len(), 1);
        assert_eq!(
            cfg.rules[0].commands,
            Some(vec![Command::Create, Command::Run])
        );
        let crun = cfg.backend("crun");
        assert_eq!(crun.plugin, "oci");
        assert_eq!(crun.settings, serde_json::json!({"binary": "crun"}));
        assert_eq!(
            crun.locate(Some("binary")),
            "/etc/nexcage/config.toml:12: backends.crun.binary"
        );
        assert_eq!(
            cfg.command_backends[&Command::Exec].origin,
            Origin::File {
                path: "/etc/nexcage/config.toml".into(),
                line: 5
            }
        );
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let e = p("[routing]\ndefault = \"x\"\ndefualt = \"y\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/etc/nexcage/config.toml:3:"), "{e}");
        assert!(e.contains("unknown field `defualt`"), "{e}");
    }

    #[test]
    fn bad_regex_is_located() {
        let e = p("[[routing.rules]]\nmatch = \"re:web-(\"\nbackend = \"oci\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/etc/nexcage/config.toml:2:"), "{e}");
        assert!(e.contains("routing.rules[0].match"), "{e}");
    }

    #[test]
    fn unknown_command_in_rule() {
        let e = p("[[routing.rules]]\nmatch = \"*\"\ncommands = [\"creat\"]\nbackend = \"oci\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown command 'creat'"), "{e}");
        assert!(e.contains(":3:"), "{e}");
    }

    #[test]
    fn unknown_backend_in_routing_is_an_error() {
        let cfg = p("[routing]\ndefault = \"nope\"\n").unwrap();
        let e = check_backend_names(&cfg, |n| n == "oci")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":2:"), "{e}");
        assert!(e.contains("unknown backend 'nope'"), "{e}");
        let cfg = p("[routing]\ndefault = \"oci\"\n").unwrap();
        check_backend_names(&cfg, |n| n == "oci").unwrap();
    }

    #[test]
    fn invalid_backend_names_are_rejected() {
        let e = p("[backends.\"Bad/Name\"]\n").unwrap_err().to_string();
        assert!(e.contains("invalid backend name"), "{e}");
    }

    #[test]
    fn syntax_error_has_location() {
        let e = p("[routing\n").unwrap_err().to_string();
        assert!(e.starts_with("/etc/nexcage/config.toml:1:"), "{e}");
    }
}
