//! The host's errors. Every one maps to exit status 1; usage errors (exit
//! 2) are clap's.

use std::path::PathBuf;

use nexcage_plugin_api::state::StateError;
use nexcage_plugin_api::{BackendError, Command, ErrorKind};

use crate::config::ConfigError;
use crate::loader::LoadError;

/// Anything that makes a command fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config is unreadable or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A plugin library was refused.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// No plugin provides the backend.
    #[error(
        "backend '{backend}': plugin '{plugin}' not found (looked for {file} as a built-in and in: {searched})"
    )]
    PluginNotFound {
        /// The backend instance.
        backend: String,
        /// Its plugin.
        plugin: String,
        /// The file name looked for.
        file: String,
        /// The directories searched.
        searched: String,
    },
    /// The backend does not implement the command.
    #[error("backend '{backend}' (plugin '{plugin}') does not implement '{command}'")]
    Unsupported {
        /// The backend instance.
        backend: String,
        /// Its plugin.
        plugin: String,
        /// The command.
        command: Command,
    },
    /// The plugin rejected its config table.
    #[error("{location}: {message}")]
    BackendConfig {
        /// File, line and key.
        location: String,
        /// The plugin's message.
        message: String,
    },
    /// The backend reported an error.
    #[error("{backend}: {source}")]
    Backend {
        /// The backend instance.
        backend: String,
        /// The error.
        #[source]
        source: BackendError,
    },
    /// The state root failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// A bad argument (container id, signal, file).
    #[error("{0}")]
    Invalid(String),
    /// An I/O error with context.
    #[error("{context} {}: {source}", path.display())]
    Io {
        /// What was being done.
        context: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The backend error kind, if this came from a backend.
    pub fn backend_kind(&self) -> Option<ErrorKind> {
        match self {
            Error::Backend { source, .. } => Some(source.kind),
            _ => None,
        }
    }
}

/// Shorthand.
pub type Result<T, E = Error> = std::result::Result<T, E>;
