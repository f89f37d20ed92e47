//! Backend instances: a plugin plus its config, ready to take requests.

use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::std_types::{RResult, RStr};
use nexcage_plugin_api::abi::{BackendBox, HostContext, HostContext_Ref, LogLevel};
use nexcage_plugin_api::{Backend, BackendError, Command, ErrorKind, HostInfo, Request, Response};

use crate::config::{BackendConfig, Config};

use crate::error::{Error, Result};
use crate::loader::{self, PluginHandle, SearchPath};

enum Inner {
    Builtin(Box<dyn Backend>),
    Library(BackendBox),
}

/// A constructed backend.
pub struct Instance {
    /// The instance name.
    pub name: String,
    /// The plugin behind it.
    pub plugin: PluginHandle,
    inner: Inner,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Instance({} via {:?})", self.name, self.plugin)
    }
}

/// Finds the plugin for backend `name` without building it.
pub fn find_plugin(
    cfg: &Config,
    search: &SearchPath,
    name: &str,
) -> Result<(BackendConfig, PluginHandle)> {
    find_plugin_for(search, cfg.backend(name))
}

/// Finds the plugin for an already resolved backend instance.
pub fn find_plugin_for(
    search: &SearchPath,
    bc: BackendConfig,
) -> Result<(BackendConfig, PluginHandle)> {
    let name = bc.name.clone();
    match loader::find(search, &bc.plugin)? {
        Some(p) => Ok((bc, p)),
        None => Err(Error::PluginNotFound {
            backend: name,
            plugin: bc.plugin.clone(),
            file: loader::plugin_file_name(&bc.plugin),
            searched: search
                .dirs
                .iter()
                .map(|d| d.value.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Builds backend `bc` from `plugin`.
pub fn build(bc: &BackendConfig, plugin: PluginHandle, host: &HostInfo) -> Result<Instance> {
    let config_error = |e: BackendError| match e.kind {
        ErrorKind::INVALID_CONFIG => Error::BackendConfig {
            location: bc.locate(e.key.as_deref()),
            message: e.message,
        },
        _ => Error::Backend {
            backend: bc.name.clone(),
            source: e,
        },
    };
    let inner = match &plugin {
        PluginHandle::Builtin(b) => {
            let settings = bc.settings.clone();
            let built =
                nexcage_plugin_api::__private::catch(&format!("plugin '{}'", b.name), || {
                    (b.new)(settings, host)
                });
            Inner::Builtin(built.map_err(config_error)?)
        }
        PluginHandle::Library { module, .. } => {
            let info = serde_json::to_string(host).map_err(|e| Error::Invalid(e.to_string()))?;
            let settings = bc.settings.to_string();
            let ctx = host_context(info);
            match (module.new_backend())(ctx, RStr::from_str(&settings)) {
                RResult::ROk(b) => Inner::Library(b),
                RResult::RErr(e) => return Err(config_error(e.into())),
            }
        }
    };
    Ok(Instance {
        name: bc.name.clone(),
        plugin,
        inner,
    })
}

/// Finds, loads and builds backend instance `bc`.
pub fn open(search: &SearchPath, bc: BackendConfig, host: &HostInfo) -> Result<Instance> {
    let (bc, plugin) = find_plugin_for(search, bc)?;
    build(&bc, plugin, host)
}

impl Instance {
    /// Does the plugin implement `command`?
    pub fn implements(&self, command: Command) -> bool {
        self.plugin.commands().contains(&command)
    }

    /// Sends one request.
    pub fn invoke(&self, request: &Request) -> Result<Response> {
        let command = request.command();
        let unsupported = || Error::Unsupported {
            backend: self.name.clone(),
            plugin: self.plugin.name(),
            command,
        };
        if !self.implements(command) {
            return Err(unsupported());
        }
        let result = match &self.inner {
            Inner::Builtin(b) => nexcage_plugin_api::__private::catch(
                &format!("plugin '{}'", self.plugin.name()),
                || nexcage_plugin_api::dispatch(b.as_ref(), request),
            ),
            Inner::Library(b) => invoke_library(b, request),
        };
        match result {
            Ok(r) => Ok(r),
            Err(e)
                if e.kind == ErrorKind::UNSUPPORTED && e.message.ends_with("is not supported") =>
            {
                Err(unsupported())
            }
            Err(e) => Err(Error::Backend {
                backend: self.name.clone(),
                source: e,
            }),
        }
    }
}

fn invoke_library(
    b: &BackendBox,
    request: &Request,
) -> std::result::Result<Response, BackendError> {
    let json = serde_json::to_string(request)
        .map_err(|e| BackendError::failed(format!("cannot encode request: {e}")))?;
    match b.invoke(RStr::from_str(&json)) {
        RResult::ROk(s) => serde_json::from_str(s.as_str())
            .map_err(|e| BackendError::failed(format!("plugin sent an undecodable response: {e}"))),
        RResult::RErr(e) => Err(e.into()),
    }
}

fn host_context(info_json: String) -> HostContext_Ref {
    let max = match tracing::level_filters::LevelFilter::current().into_level() {
        None => 0,
        Some(l) => LogLevel::from_tracing(l) as u8,
    };
    HostContext {
        // Leaked on purpose: the context lives as long as the plugin, which
        // is never unloaded.
        info_json: RStr::from_str(Box::leak(info_json.into_boxed_str())),
        max_log_level: max,
        log: host_log,
    }
    .leak_into_prefix()
}

extern "C" fn host_log(level: u8, target: RStr<'_>, message: RStr<'_>) {
    // Never let a panic unwind into the plugin's frames.
    let _ = std::panic::catch_unwind(|| {
        let (t, m) = (target.as_str(), message.as_str());
        match LogLevel::from_u8(level) {
            LogLevel::Error => tracing::error!(target: "plugin", "{t}: {m}"),
            LogLevel::Warn => tracing::warn!(target: "plugin", "{t}: {m}"),
            LogLevel::Info => tracing::info!(target: "plugin", "{t}: {m}"),
            LogLevel::Debug => tracing::debug!(target: "plugin", "{t}: {m}"),
            LogLevel::Trace => tracing::trace!(target: "plugin", "{t}: {m}"),
        }
    });
}
