//! The glue behind [`export_plugin!`](crate::export_plugin): panic
//! containment, JSON transport, and the logging bridge.
//!
//! Not part of the stable surface; the macro is.

use std::any::Any;
use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RBox, RErr, ROk, RResult, RStr, RString};

use crate::abi::{BackendBox, HostContext_Ref, LogLevel, PluginError, RawBackend, RawBackend_TO};
use crate::backend::{Plugin, dispatch};
use crate::error::{BackendError, ErrorKind};
use crate::types::{Command, HostInfo, Request};

pub use abi_stable;
pub use inventory;

/// A backend linked statically into the host, registered with `inventory`.
///
/// The host finds these with `inventory::iter::<BuiltinPlugin>`; the
/// [`export_plugin!`](crate::export_plugin) macro submits one per plugin.
pub struct BuiltinPlugin {
    /// The plugin name.
    pub name: &'static str,
    /// The plugin version.
    pub version: &'static str,
    /// The commands it implements.
    pub commands: &'static [Command],
    /// Builds a backend.
    pub new: BuiltinConstructor,
}

/// The constructor of a built-in backend.
pub type BuiltinConstructor =
    fn(serde_json::Value, &HostInfo) -> Result<Box<dyn crate::Backend>, BackendError>;

inventory::collect!(BuiltinPlugin);

/// Builds a boxed backend of type `P`; used by the built-in registration.
pub fn new_builtin<P: Plugin>(
    config: serde_json::Value,
    host: &HostInfo,
) -> Result<Box<dyn crate::Backend>, BackendError> {
    Ok(Box::new(P::new(config, host)?))
}

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs (once per copy of std) a panic hook that records the panic's
/// message and location instead of printing it, so a caught panic becomes
/// one clean error line. Panics on threads other than the caller's keep
/// being recorded, never printed twice.
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        panic::set_hook(Box::new(|info| {
            let msg = payload_message(info.payload());
            let text = match info.location() {
                Some(l) => format!("{msg} at {}:{}", l.file(), l.line()),
                None => msg,
            };
            tracing::debug!(target: "nexcage::panic", "{text}");
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(text));
        }));
    });
}

fn payload_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_owned()
    }
}

/// Runs `f`, turning a panic into a [`ErrorKind::PANICKED`] error that
/// names `what`.
pub fn catch<T>(
    what: &str,
    f: impl FnOnce() -> Result<T, BackendError>,
) -> Result<T, BackendError> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let detail = LAST_PANIC
                .with(|p| p.borrow_mut().take())
                .unwrap_or_else(|| payload_message(payload.as_ref()));
            Err(BackendError::new(
                ErrorKind::PANICKED,
                format!("{what} panicked: {detail}"),
            ))
        }
    }
}

struct Exported<P>(P);

impl<P: Plugin> RawBackend for Exported<P> {
    fn invoke(&self, request: RStr<'_>) -> RResult<RString, PluginError> {
        let result = catch(&format!("plugin '{}'", P::NAME), || {
            let req: Request = serde_json::from_str(request.as_str()).map_err(|e| {
                BackendError::invalid_argument(format!("cannot decode request: {e}"))
            })?;
            let resp = dispatch(&self.0, &req)?;
            serde_json::to_string(&resp)
                .map_err(|e| BackendError::failed(format!("cannot encode response: {e}")))
        });
        match result {
            Ok(s) => ROk(s.into()),
            Err(e) => RErr(e.into()),
        }
    }
}

/// The `new_backend` entry point for plugin type `P`.
pub fn new_backend<P: Plugin>(
    host: HostContext_Ref,
    config: RStr<'_>,
) -> RResult<BackendBox, PluginError> {
    install_panic_hook();
    let result = catch(&format!("plugin '{}'", P::NAME), || {
        install_log_bridge(host);
        let info: HostInfo = serde_json::from_str(host.info_json().as_str())
            .map_err(|e| BackendError::failed(format!("cannot decode host info: {e}")))?;
        let config: serde_json::Value = serde_json::from_str(config.as_str())
            .map_err(|e| BackendError::invalid_config("", format!("cannot decode config: {e}")))?;
        P::new(config, &info)
    });
    match result {
        Ok(p) => ROk(RawBackend_TO::from_value(Exported(p), TD_Opaque)),
        Err(e) => RErr(e.into()),
    }
}

/// Forwards this library's `tracing` events to the host's log callback.
///
/// A cdylib carries its own copy of `tracing`, with its own global
/// dispatcher; without this bridge the plugin's events would vanish.
fn install_log_bridge(host: HostContext_Ref) {
    use tracing_subscriber::layer::SubscriberExt;

    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let max = match LogLevel::from_u8(host.max_log_level()) {
            LogLevel::Error => tracing::level_filters::LevelFilter::ERROR,
            LogLevel::Warn => tracing::level_filters::LevelFilter::WARN,
            LogLevel::Info => tracing::level_filters::LevelFilter::INFO,
            LogLevel::Debug => tracing::level_filters::LevelFilter::DEBUG,
            LogLevel::Trace => tracing::level_filters::LevelFilter::TRACE,
        };
        let subscriber = tracing_subscriber::registry()
            .with(max)
            .with(HostLayer { log: host.log() });
        // Fails only if this library already set one; then events flow there.
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

struct HostLayer {
    log: extern "C" fn(u8, RStr<'_>, RStr<'_>),
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for HostLayer {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut text = MessageVisitor::default();
        event.record(&mut text);
        let level = LogLevel::from_tracing(*event.metadata().level()) as u8;
        (self.log)(
            level,
            RStr::from_str(event.metadata().target()),
            RStr::from_str(&text.0),
        );
    }
}

/// Renders an event as `message key=value ...`.
#[derive(Default)]
pub struct MessageVisitor(pub String);

impl tracing::field::Visit for MessageVisitor {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        if field.name() == "message" {
            let rendered = format!("{value:?}");
            if self.0.is_empty() {
                self.0 = rendered;
            } else {
                self.0 = format!("{rendered} {}", self.0);
            }
        } else {
            if !self.0.is_empty() {
                self.0.push(' ');
            }
            let _ = write!(self.0, "{}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }
}

/// Keeps a `RBox` import used on every cfg (the trait object needs it).
#[doc(hidden)]
pub type _Boxed = RBox<()>;

/// Exports a [`Plugin`] type: the abi_stable root module for the `.so`
/// build, and an `inventory` registration for the built-in build.
///
/// Every entry point is wrapped in `catch_unwind`, so a panicking plugin
/// returns an error instead of taking the host down, and the plugin's
/// `tracing` events are forwarded to the host.
///
/// The plugin crate must also depend on `abi_stable` (the same version as
/// this crate), because abi_stable's `export_root_module` attribute names
/// its own crate in the code it generates. It must declare a `builtin`
/// cargo feature; when the host links
/// the crate statically it enables that feature, which leaves out the
/// root-module symbol (every plugin exports the same symbol name, so two
/// linked into one binary would clash).
///
/// ```text
/// nexcage_plugin_api::export_plugin!(MyBackend);
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[cfg(not(feature = "builtin"))]
        #[doc(hidden)]
        #[$crate::__private::abi_stable::export_root_module]
        pub fn __nexcage_root_module() -> $crate::abi::PluginModule_Ref {
            use $crate::__private::abi_stable::prefix_type::PrefixTypeTrait;
            extern "C" fn new_backend(
                host: $crate::abi::HostContext_Ref,
                config: $crate::__private::abi_stable::std_types::RStr<'_>,
            ) -> $crate::__private::abi_stable::std_types::RResult<
                $crate::abi::BackendBox,
                $crate::abi::PluginError,
            > {
                $crate::__private::new_backend::<$plugin>(host, config)
            }
            static COMMANDS: ::std::sync::OnceLock<
                ::std::vec::Vec<$crate::__private::abi_stable::std_types::RStr<'static>>,
            > = ::std::sync::OnceLock::new();
            let commands = COMMANDS.get_or_init(|| {
                <$plugin as $crate::Plugin>::COMMANDS
                    .iter()
                    .map(|c| $crate::__private::abi_stable::std_types::RStr::from_str(c.as_str()))
                    .collect()
            });
            $crate::abi::PluginModule {
                name: $crate::__private::abi_stable::std_types::RStr::from_str(
                    <$plugin as $crate::Plugin>::NAME,
                ),
                version: $crate::__private::abi_stable::std_types::RStr::from_str(
                    <$plugin as $crate::Plugin>::VERSION,
                ),
                api_version: $crate::__private::abi_stable::std_types::RStr::from_str(
                    $crate::API_VERSION,
                ),
                commands: $crate::__private::abi_stable::std_types::RSlice::from_slice(commands),
                new_backend,
            }
            .leak_into_prefix()
        }

        $crate::__private::inventory::submit! {
            $crate::__private::BuiltinPlugin {
                name: <$plugin as $crate::Plugin>::NAME,
                version: <$plugin as $crate::Plugin>::VERSION,
                commands: <$plugin as $crate::Plugin>::COMMANDS,
                new: $crate::__private::new_builtin::<$plugin>,
            }
        }

        /// Referenced by a host that links this plugin in, so the linker
        /// keeps the `inventory` registration.
        #[doc(hidden)]
        pub fn __nexcage_builtin_anchor() -> &'static str {
            <$plugin as $crate::Plugin>::NAME
        }
    };
}
