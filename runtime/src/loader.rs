//! Finding, vetting and loading plugin libraries.
//!
//! Libraries are opened with libloading (`RTLD_NOW | RTLD_LOCAL`), their
//! abi_stable header is checked, and the root module is initialised with
//! `init_root_module`, which checks the plugin-API version and the full
//! type layout. Loaded libraries are never unloaded (abi_stable requires
//! it). `RootModule::load_from_file` is never used: it caches one module
//! per type, so a second plugin would silently come back as the first.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use abi_stable::library::{
    AbiHeaderRef, LibraryError, ROOT_MODULE_LOADER_NAME_WITH_NUL, RootModuleError,
};
use nexcage_plugin_api::abi::PluginModule_Ref;
use nexcage_plugin_api::{BuiltinPlugin, Command};

use crate::config::{Config, Origin, Sourced};

/// The environment variable with extra plugin directories.
pub const PLUGIN_PATH_ENV: &str = "NEXCAGE_PLUGIN_PATH";

/// Why a library was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A security check failed.
    #[error("refused {}: {reason}", path.display())]
    Insecure {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// dlopen failed.
    #[error("refused {}: cannot open library: {reason}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// dlerror text.
        reason: String,
    },
    /// Not an abi_stable library with a nexcage root module.
    #[error("refused {}: not a nexcage plugin (no plugin root module)", path.display())]
    NotAPlugin {
        /// The file.
        path: PathBuf,
    },
    /// Built against another major plugin API.
    #[error("refused {}: built against plugin API {found}, this nexcage needs plugin API {wanted}", path.display())]
    ApiVersion {
        /// The file.
        path: PathBuf,
        /// The plugin's version.
        found: String,
        /// What the host accepts.
        wanted: String,
    },
    /// Type layouts differ.
    #[error("refused {}: ABI layout mismatch with plugin API {api} (rebuild the plugin against nexcage-plugin-api {api}; --log-level debug shows the full report)", path.display())]
    Layout {
        /// The file.
        path: PathBuf,
        /// The host's plugin-API version.
        api: String,
    },
    /// Built with another abi_stable release.
    #[error("refused {}: built with an incompatible abi_stable release", path.display())]
    AbiStable {
        /// The file.
        path: PathBuf,
    },
    /// The root module constructor failed or panicked.
    #[error("refused {}: plugin initialisation failed: {reason}", path.display())]
    Init {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Two plugins claim the same name.
    #[error("refused {}: plugin name '{name}' is already provided by {other}", path.display())]
    Duplicate {
        /// The file.
        path: PathBuf,
        /// The name.
        name: String,
        /// The first claimant.
        other: String,
    },
    /// The file declares another name than the one looked for.
    #[error("refused {}: file is named for plugin '{wanted}' but declares '{found}'", path.display())]
    NameMismatch {
        /// The file.
        path: PathBuf,
        /// From the file name.
        wanted: String,
        /// From the module.
        found: String,
    },
}

/// Where a plugin came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginSource {
    /// Linked into this binary.
    Builtin,
    /// A shared library.
    Library(PathBuf),
}

impl std::fmt::Display for PluginSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PluginSource::Builtin => f.write_str("built-in"),
            PluginSource::Library(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A plugin ready to build backends.
#[derive(Clone)]
pub enum PluginHandle {
    /// Statically linked.
    Builtin(&'static BuiltinPlugin),
    /// Loaded from a library (never unloaded).
    Library {
        /// The root module.
        module: PluginModule_Ref,
        /// The file.
        path: PathBuf,
    },
}

impl std::fmt::Debug for PluginHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PluginHandle({} from {})", self.name(), self.source())
    }
}

impl PluginHandle {
    /// The plugin's name.
    pub fn name(&self) -> String {
        match self {
            PluginHandle::Builtin(b) => b.name.to_owned(),
            PluginHandle::Library { module, .. } => module.name().as_str().to_owned(),
        }
    }
    /// The plugin's version.
    pub fn version(&self) -> String {
        match self {
            PluginHandle::Builtin(b) => b.version.to_owned(),
            PluginHandle::Library { module, .. } => module.version().as_str().to_owned(),
        }
    }
    /// The plugin-API version it was built against.
    pub fn api_version(&self) -> String {
        match self {
            PluginHandle::Builtin(_) => nexcage_plugin_api::API_VERSION.to_owned(),
            PluginHandle::Library { module, .. } => module.api_version().as_str().to_owned(),
        }
    }
    /// The commands it implements (unknown names from newer plugins are
    /// skipped).
    pub fn commands(&self) -> Vec<Command> {
        match self {
            PluginHandle::Builtin(b) => b.commands.to_vec(),
            PluginHandle::Library { module, .. } => module
                .commands()
                .iter()
                .filter_map(|c| c.as_str().parse().ok())
                .collect(),
        }
    }
    /// Where it came from.
    pub fn source(&self) -> PluginSource {
        match self {
            PluginHandle::Builtin(_) => PluginSource::Builtin,
            PluginHandle::Library { path, .. } => PluginSource::Library(path.clone()),
        }
    }
}

/// `libnexcage_<name>.so` for a plugin name (`-` becomes `_`, as cargo
/// does for library names).
pub fn plugin_file_name(name: &str) -> String {
    format!("libnexcage_{}.so", name.replace('-', "_"))
}

/// The plugin name a file is named for, if it follows the convention.
pub fn name_from_file(path: &Path) -> Option<String> {
    let file = path.file_name()?.to_str()?;
    let stem = file.strip_prefix("libnexcage_")?.strip_suffix(".so")?;
    (!stem.is_empty()).then(|| stem.replace('_', "-"))
}

/// Built-in plugins registered through `inventory`.
pub fn builtins() -> Vec<&'static BuiltinPlugin> {
    crate::builtin::anchor();
    let mut v: Vec<_> = inventory::iter::<BuiltinPlugin>.into_iter().collect();
    v.sort_by_key(|b| b.name);
    v
}

/// The install default: `<exe>/../lib/nexcage/plugins`, or the binary's
/// own directory when it runs from a cargo build tree.
pub fn default_plugin_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    // A cargo profile directory holds `.fingerprint` and `deps`.
    if dir.join(".fingerprint").is_dir() && dir.join("deps").is_dir() {
        return Some(dir.to_owned());
    }
    // <prefix>/bin/nexcage → <prefix>/lib/nexcage/plugins
    Some(dir.parent().unwrap_or(dir).join("lib/nexcage/plugins"))
}

/// The search order, with each entry's origin.
#[derive(Debug, Clone, Default)]
pub struct SearchPath {
    /// Files named in the config.
    pub files: Vec<Sourced<PathBuf>>,
    /// Directories, in order.
    pub dirs: Vec<Sourced<PathBuf>>,
}

impl SearchPath {
    /// Config files, then `$NEXCAGE_PLUGIN_PATH`, then config dirs, then
    /// the install default.
    pub fn from_config(cfg: &Config) -> Self {
        let mut dirs = Vec::new();
        if let Some(env) = std::env::var_os(PLUGIN_PATH_ENV) {
            for d in std::env::split_paths(&env).filter(|d| !d.as_os_str().is_empty()) {
                dirs.push(Sourced {
                    value: d,
                    origin: Origin::Env(PLUGIN_PATH_ENV),
                });
            }
        }
        dirs.extend(cfg.plugin_dirs.iter().cloned());
        if let Some(d) = default_plugin_dir() {
            dirs.push(Sourced {
                value: d,
                origin: Origin::Default,
            });
        }
        Self {
            files: cfg.plugin_paths.clone(),
            dirs,
        }
    }

    /// Candidate files for plugin `name`, by file name only (stat, no open).
    pub fn candidates(&self, name: &str) -> Vec<PathBuf> {
        let file = plugin_file_name(name);
        let mut out: Vec<PathBuf> = self
            .files
            .iter()
            .filter(|f| f.value.file_name().and_then(|n| n.to_str()) == Some(file.as_str()))
            .map(|f| f.value.clone())
            .collect();
        out.extend(
            self.dirs
                .iter()
                .map(|d| d.value.join(&file))
                .filter(|p| p.exists()),
        );
        out
    }

    /// Every plugin file in the search path, in order, without duplicates.
    pub fn all_files(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = self.files.iter().map(|f| f.value.clone()).collect();
        for d in &self.dirs {
            let Ok(entries) = std::fs::read_dir(&d.value) else {
                continue;
            };
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| name_from_file(p).is_some())
                .collect();
            found.sort();
            out.extend(found);
        }
        let mut seen = std::collections::HashSet::new();
        out.retain(|p| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
        out
    }

    /// Is there a built-in or a file for plugin `name`? (stat only)
    pub fn provides(&self, name: &str) -> bool {
        builtins().iter().any(|b| b.name == name) || !self.candidates(name).is_empty()
    }
}

/// Refuses files (and their directory) that are group- or world-writable
/// or owned by a user other than root and us, as sudo does for plugins.
pub fn check_permissions(path: &Path) -> Result<(), LoadError> {
    let insecure = |reason: String| LoadError::Insecure {
        path: path.to_owned(),
        reason,
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let file_meta = std::fs::metadata(path).map_err(|e| LoadError::Open {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    if !file_meta.is_file() {
        return Err(insecure("not a regular file".into()));
    }
    let dir = path
        .parent()
        .map(|d| {
            if d.as_os_str().is_empty() {
                Path::new(".")
            } else {
                d
            }
        })
        .unwrap_or(Path::new("/"));
    let dir_meta =
        std::fs::metadata(dir).map_err(|e| insecure(format!("cannot stat its directory: {e}")))?;
    for (what, meta, shown) in [("file", &file_meta, path), ("directory", &dir_meta, dir)] {
        let mode = meta.mode();
        if mode & 0o022 != 0 {
            return Err(insecure(format!(
                "{what} {} is group- or world-writable (mode {:o})",
                shown.display(),
                mode & 0o7777
            )));
        }
        if meta.uid() != 0 && meta.uid() != me {
            return Err(insecure(format!(
                "{what} {} is owned by uid {}, not root or the invoking user",
                shown.display(),
                meta.uid()
            )));
        }
    }
    Ok(())
}

/// Opens and checks one plugin library.
pub fn load_library(path: &Path) -> Result<PluginHandle, LoadError> {
    check_permissions(path)?;
    tracing::debug!(path = %path.display(), "opening plugin library");
    let flags = libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_LOCAL;
    // SAFETY: loading a library runs its initialisers. Plugins are trusted
    // code once they pass the ownership and permission checks above, the
    // same trust model as sudo's plugins.
    let lib = unsafe { libloading::os::unix::Library::open(Some(path), flags) }.map_err(|e| {
        LoadError::Open {
            path: path.to_owned(),
            reason: e.to_string(),
        }
    })?;
    // SAFETY: the symbol, if present, is abi_stable's root-module header
    // static; `AbiHeaderRef` is the pointer-sized handle abi_stable itself
    // reads it through, and `upgrade` validates the header before use.
    let header = unsafe { lib.get::<AbiHeaderRef>(ROOT_MODULE_LOADER_NAME_WITH_NUL.as_bytes()) };
    let header = match header {
        Ok(sym) => *sym,
        Err(_) => {
            return Err(LoadError::NotAPlugin {
                path: path.to_owned(),
            });
        }
    };
    // abi_stable requires libraries to stay loaded for the process lifetime.
    std::mem::forget(lib);
    let lib_header = header.upgrade().map_err(|e| map_library_error(path, e))?;
    let module = lib_header
        .init_root_module::<PluginModule_Ref>()
        .map_err(|e| map_library_error(path, e))?;
    tracing::debug!(
        path = %path.display(),
        name = module.name().as_str(),
        version = module.version().as_str(),
        "loaded plugin"
    );
    Ok(PluginHandle::Library {
        module,
        path: path.to_owned(),
    })
}

fn map_library_error(path: &Path, e: LibraryError) -> LoadError {
    let path = path.to_owned();
    match e {
        LibraryError::IncompatibleVersionNumber {
            expected_version,
            actual_version,
            ..
        } => LoadError::ApiVersion {
            path,
            found: actual_version.to_string(),
            wanted: format!("{}.x (>= {expected_version})", expected_version.major),
        },
        LibraryError::AbiInstability(report) => {
            tracing::debug!(path = %path.display(), "abi_stable layout report:\n{report}");
            LoadError::Layout {
                path,
                api: nexcage_plugin_api::API_VERSION.to_owned(),
            }
        }
        LibraryError::InvalidAbiHeader(_) | LibraryError::InvalidCAbi { .. } => {
            LoadError::AbiStable { path }
        }
        LibraryError::GetSymbolError { .. } => LoadError::NotAPlugin { path },
        LibraryError::RootModule { err, .. } => LoadError::Init {
            path,
            reason: match err {
                RootModuleError::Unwound => "the root module panicked".to_owned(),
                RootModuleError::Returned(e) => e.to_string(),
            },
        },
        other => LoadError::Init {
            path,
            reason: other.to_string(),
        },
    }
}

/// Finds plugin `name`: a built-in first, then the first file named for
/// it. Opens at most the files named for it, so a routed command opens one
/// library.
pub fn find(search: &SearchPath, name: &str) -> Result<Option<PluginHandle>, LoadError> {
    if let Some(b) = builtins().into_iter().find(|b| b.name == name) {
        return Ok(Some(PluginHandle::Builtin(b)));
    }
    let mut first_err = None;
    for path in search.candidates(name) {
        match load_library(&path) {
            Ok(h) if h.name() == name => return Ok(Some(h)),
            Ok(h) => {
                first_err.get_or_insert(LoadError::NameMismatch {
                    path,
                    wanted: name.to_owned(),
                    found: h.name(),
                });
            }
            Err(e) => {
                tracing::warn!("{e}");
                first_err.get_or_insert(e);
            }
        }
    }
    // Explicitly configured files may be named freely: try those last.
    for f in &search.files {
        if name_from_file(&f.value).is_some() {
            continue;
        }
        match load_library(&f.value) {
            Ok(h) if h.name() == name => return Ok(Some(h)),
            Ok(_) => {}
            Err(e) => tracing::warn!("{e}"),
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(None),
    }
}

/// What a full scan found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Usable plugins, built-ins first.
    pub plugins: Vec<PluginHandle>,
    /// Refused libraries.
    pub refused: Vec<LoadError>,
}

/// Loads every built-in and every plugin file in the search path.
/// Refusals are collected, never fatal.
pub fn scan(search: &SearchPath) -> Scan {
    let mut out = Scan {
        plugins: builtins().into_iter().map(PluginHandle::Builtin).collect(),
        refused: Vec::new(),
    };
    for path in search.all_files() {
        match load_library(&path) {
            Ok(h) => {
                let name = h.name();
                if let Some(first) = out.plugins.iter().find(|p| p.name() == name) {
                    out.refused.push(LoadError::Duplicate {
                        path,
                        name,
                        other: first.source().to_string(),
                    });
                } else {
                    out.plugins.push(h);
                }
            }
            Err(e) => out.refused.push(e),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert_eq!(plugin_file_name("proxmox-lxc"), "libnexcage_proxmox_lxc.so");
        assert_eq!(
            name_from_file(Path::new("/x/libnexcage_proxmox_lxc.so")).as_deref(),
            Some("proxmox-lxc")
        );
        assert_eq!(name_from_file(Path::new("/x/libfoo.so")), None);
        assert_eq!(name_from_file(Path::new("/x/libnexcage_.so")), None);
    }
}
