//! The types that cross the shared-library boundary.
//!
//! Everything here is `#[derive(StableAbi)]`: abi_stable checks their layout
//! recursively when the host loads a plugin, so a plugin built against an
//! incompatible revision of this module is refused instead of misbehaving.
//!
//! Plugin authors never touch these types directly: [`export_plugin!`]
//! generates the glue. They are public so that the host and the tests can
//! name them.
//!
//! [`export_plugin!`]: crate::export_plugin

// abi_stable's derive macros generate items that trip these lints on recent
// compilers; the generated code is not ours to rename.
#![allow(non_local_definitions, non_camel_case_types, missing_docs)]

use abi_stable::{
    StableAbi, declare_root_module_statics,
    library::RootModule,
    package_version_strings, sabi_trait,
    sabi_types::VersionStrings,
    std_types::{RBox, RResult, RSlice, RStr, RString},
};

use crate::error::ErrorKind;

/// The root module every nexcage plugin library exports.
///
/// Fields up to `new_backend` are present in every 1.x plugin. Later minor
/// versions of the plugin API may only *append* fields; the host reads them
/// through accessors that return `Option`, so an older plugin still loads.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModule_Ref)))]
#[sabi(missing_field(option))]
pub struct PluginModule {
    /// The plugin's name, e.g. `oci`. Its file is `libnexcage_<name>.so`.
    pub name: RStr<'static>,
    /// The plugin's own version (its crate version).
    pub version: RStr<'static>,
    /// The version of `nexcage-plugin-api` the plugin was built against.
    pub api_version: RStr<'static>,
    /// The commands the plugin implements, as their CLI names.
    pub commands: RSlice<'static, RStr<'static>>,
    /// Builds a backend instance from its config table (JSON) and the host
    /// context.
    #[sabi(last_prefix_field)]
    pub new_backend:
        extern "C" fn(host: HostContext_Ref, config: RStr<'_>) -> RResult<BackendBox, PluginError>,
}

impl RootModule for PluginModule_Ref {
    declare_root_module_statics! {PluginModule_Ref}
    const BASE_NAME: &'static str = "nexcage_plugin";
    const NAME: &'static str = "nexcage plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// What the host hands to every backend it builds.
///
/// A prefix type, so later plugin-API versions can append fields.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = HostContext_Ref)))]
#[sabi(missing_field(option))]
pub struct HostContext {
    /// [`HostInfo`](crate::HostInfo) serialised as JSON.
    pub info_json: RStr<'static>,
    /// The most verbose level the host will record (see [`LogLevel`]).
    pub max_log_level: u8,
    /// Receives the plugin's log records: level, target, rendered message.
    #[sabi(last_prefix_field)]
    pub log: extern "C" fn(level: u8, target: RStr<'_>, message: RStr<'_>),
}

/// Log levels as they cross the boundary, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum LogLevel {
    /// `tracing::Level::ERROR`
    Error = 1,
    /// `tracing::Level::WARN`
    Warn = 2,
    /// `tracing::Level::INFO`
    Info = 3,
    /// `tracing::Level::DEBUG`
    Debug = 4,
    /// `tracing::Level::TRACE`
    Trace = 5,
}

impl LogLevel {
    /// Decodes a level byte; unknown values are treated as `Trace`.
    pub fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Error,
            2 => Self::Warn,
            3 => Self::Info,
            4 => Self::Debug,
            _ => Self::Trace,
        }
    }

    /// Converts from a `tracing` level.
    pub fn from_tracing(level: tracing::Level) -> Self {
        match level {
            tracing::Level::ERROR => Self::Error,
            tracing::Level::WARN => Self::Warn,
            tracing::Level::INFO => Self::Info,
            tracing::Level::DEBUG => Self::Debug,
            tracing::Level::TRACE => Self::Trace,
        }
    }
}

/// An error as it crosses the boundary: a stable kind and a message.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct PluginError {
    /// What went wrong, as a stable code (see [`ErrorKind`]).
    pub kind: ErrorKind,
    /// Human-readable, lower-case message with context.
    pub message: RString,
    /// The config key or option the error is about, or empty.
    pub key: RString,
}

/// The backend object a plugin hands to the host.
///
/// One method: a JSON-encoded [`Request`](crate::Request) in, a JSON-encoded
/// [`Response`](crate::Response) out. New commands therefore need no ABI
/// change.
#[sabi_trait]
pub trait RawBackend: Send + Sync {
    /// Runs one request.
    #[sabi(last_prefix_field)]
    fn invoke(&self, request: RStr<'_>) -> RResult<RString, PluginError>;
}

/// The boxed, ABI-stable backend trait object.
pub type BackendBox = RawBackend_TO<'static, RBox<()>>;
