//! nexcage, the host: config, routing, plugin loading and the commands.
//!
//! The binary (`src/main.rs`) is a thin shell over [`commands::run`].
//! See `docs/architecture.md` for the data path of a command.

pub mod backends;
pub mod builtin;
pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod loader;
pub mod logging;
pub mod routing;
pub mod signal;
pub mod store;

pub use error::{Error, Result};

/// The OCI runtime-spec version nexcage implements.
pub const SPEC_VERSION: &str = "1.0.2-dev";

/// `--version`, in runc's three-line form (clients such as go-runc parse
/// it).
pub fn version_text() -> String {
    format!(
        "nexcage version {}\ncommit: {}\nspec: {SPEC_VERSION}\n",
        env!("CARGO_PKG_VERSION"),
        option_env!("NEXCAGE_COMMIT").unwrap_or("unknown"),
    )
}

/// `nexcage version`: the three lines, plus the plugin-API version.
pub fn long_version_text() -> String {
    format!(
        "{}plugin-api: {}\n",
        version_text(),
        nexcage_plugin_api::API_VERSION
    )
}
