//! The Rust-side traits a plugin implements.

use crate::error::BackendError;
use crate::types::{
    Command, ContainerState, ContainerSummary, CreateRequest, CreateResponse, DeleteRequest,
    ExecRequest, FeaturesRequest, HostInfo, IdRequest, KillRequest, ListRequest, Request, Response,
    StopRequest, UpdateRequest,
};

/// Shorthand for a backend method's result.
pub type BackendResult<T> = Result<T, BackendError>;

/// A container backend.
///
/// Every method has a default that answers [`ErrorKind::UNSUPPORTED`]
/// (the host turns that into "backend X does not implement Y"), so a
/// backend implements only what it supports and lists those commands in
/// [`Plugin::COMMANDS`].
///
/// Methods run on the host's thread and may block; they must not panic
/// (if one does, the export glue catches it and reports an error).
///
/// ```
/// use nexcage_plugin_api::{Backend, BackendResult, ContainerState, IdRequest, OCI_VERSION};
///
/// struct Echo;
/// impl Backend for Echo {
///     fn state(&self, req: &IdRequest) -> BackendResult<ContainerState> {
///         Ok(ContainerState {
///             oci_version: OCI_VERSION.into(),
///             id: req.id.clone(),
///             status: "stopped".into(),
///             ..Default::default()
///         })
///     }
/// }
/// let s = Echo.state(&IdRequest { id: "a".into() }).unwrap();
/// assert_eq!(s.status, "stopped");
/// ```
///
/// [`ErrorKind::UNSUPPORTED`]: crate::ErrorKind::UNSUPPORTED
pub trait Backend: Send + Sync {
    /// `create`.
    fn create(&self, _req: &CreateRequest) -> BackendResult<CreateResponse> {
        Err(BackendError::unsupported(Command::Create))
    }
    /// `start`.
    fn start(&self, _req: &IdRequest) -> BackendResult<()> {
        Err(BackendError::unsupported(Command::Start))
    }
    /// `stop`.
    fn stop(&self, _req: &StopRequest) -> BackendResult<()> {
        Err(BackendError::unsupported(Command::Stop))
    }
    /// `kill`.
    fn kill(&self, _req: &KillRequest) -> BackendResult<()> {
        Err(BackendError::unsupported(Command::Kill))
    }
    /// `delete`.
    fn delete(&self, _req: &DeleteRequest) -> BackendResult<()> {
        Err(BackendError::unsupported(Command::Delete))
    }
    /// `state`.
    fn state(&self, _req: &IdRequest) -> BackendResult<ContainerState> {
        Err(BackendError::unsupported(Command::State))
    }
    /// `list`.
    fn list(&self, _req: &ListRequest) -> BackendResult<Vec<ContainerSummary>> {
        Err(BackendError::unsupported(Command::List))
    }
    /// `exec`: returns [`Response::Exited`] or, detached, [`Response::Spawned`].
    fn exec(&self, _req: &ExecRequest) -> BackendResult<Response> {
        Err(BackendError::unsupported(Command::Exec))
    }
    /// `run`.
    fn run(&self, _req: &CreateRequest) -> BackendResult<CreateResponse> {
        Err(BackendError::unsupported(Command::Run))
    }
    /// `pause`.
    fn pause(&self, _req: &IdRequest) -> BackendResult<()> {
        Err(BackendError::unsupported(Command::Pause))
    }
    /// `resume`.
    fn resume(&self, _req: &IdRequest) -> BackendResult<()> {
        Err(BackendError::unsupported(Command::Resume))
    }
    /// `ps`: host PIDs of the container's processes.
    fn ps(&self, _req: &IdRequest) -> BackendResult<Vec<i32>> {
        Err(BackendError::unsupported(Command::Ps))
    }
    /// `update`.
    fn update(&self, _req: &UpdateRequest) -> BackendResult<()> {
        Err(BackendError::unsupported(Command::Update))
    }
    /// `features`.
    fn features(&self, _req: &FeaturesRequest) -> BackendResult<serde_json::Value> {
        Err(BackendError::unsupported(Command::Features))
    }
}

/// Routes a [`Request`] to the matching [`Backend`] method.
///
/// The export glue and the host's built-in path both use it, so a plugin
/// behaves the same whether it is loaded from a `.so` or linked in.
pub fn dispatch(backend: &dyn Backend, request: &Request) -> BackendResult<Response> {
    Ok(match request {
        Request::Create(r) => Response::Created(backend.create(r)?),
        Request::Start(r) => {
            backend.start(r)?;
            Response::Done
        }
        Request::Stop(r) => {
            backend.stop(r)?;
            Response::Done
        }
        Request::Kill(r) => {
            backend.kill(r)?;
            Response::Done
        }
        Request::Delete(r) => {
            backend.delete(r)?;
            Response::Done
        }
        Request::State(r) => Response::State(backend.state(r)?),
        Request::List(r) => Response::List(backend.list(r)?),
        Request::Exec(r) => backend.exec(r)?,
        Request::Run(r) => Response::Created(backend.run(r)?),
        Request::Pause(r) => {
            backend.pause(r)?;
            Response::Done
        }
        Request::Resume(r) => {
            backend.resume(r)?;
            Response::Done
        }
        Request::Ps(r) => Response::Pids(backend.ps(r)?),
        Request::Update(r) => {
            backend.update(r)?;
            Response::Done
        }
        Request::Features(r) => Response::Features(backend.features(r)?),
    })
}

/// A plugin: a named [`Backend`] factory.
///
/// Implement it, then export it with [`export_plugin!`](crate::export_plugin).
///
/// ```
/// use nexcage_plugin_api::{Backend, BackendResult, Command, HostInfo, Plugin};
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct Config { greeting: Option<String> }
///
/// struct Hello { greeting: String }
/// impl Backend for Hello {}
/// impl Plugin for Hello {
///     const NAME: &'static str = "hello";
///     const VERSION: &'static str = "0.1.0";
///     const COMMANDS: &'static [Command] = &[];
///     fn new(config: serde_json::Value, _host: &HostInfo) -> BackendResult<Self> {
///         let c: Config = nexcage_plugin_api::parse_config(config)?;
///         Ok(Hello { greeting: c.greeting.unwrap_or_else(|| "hi".into()) })
///     }
/// }
///
/// let h = Hello::new(serde_json::json!({"greeting": "yo"}), &HostInfo::default()).unwrap();
/// assert_eq!(h.greeting, "yo");
/// let e = Hello::new(serde_json::json!({"greting": "yo"}), &HostInfo::default()).err().unwrap();
/// assert_eq!(e.key.as_deref(), Some("greting"));
/// ```
pub trait Plugin: Backend + Sized + 'static {
    /// The plugin name; its library file is `libnexcage_<name>.so` (with
    /// `-` written as `_`).
    const NAME: &'static str;
    /// The plugin's version, usually `env!("CARGO_PKG_VERSION")`.
    const VERSION: &'static str;
    /// The commands this plugin implements.
    const COMMANDS: &'static [Command];
    /// Builds a backend from its `[backends.<name>]` table (without the
    /// `plugin` key), converted to JSON. Reject unknown keys with
    /// [`parse_config`](crate::parse_config) so typos are caught.
    fn new(config: serde_json::Value, host: &HostInfo) -> BackendResult<Self>;
}

/// Deserialises a backend config table, reporting the offending key.
///
/// Use `#[serde(deny_unknown_fields)]` on `T` so typos are errors.
pub fn parse_config<T: serde::de::DeserializeOwned>(config: serde_json::Value) -> BackendResult<T> {
    serde_path_to_error::deserialize(config).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // An unknown field is reported at its parent's path; name the field.
        // serde_path_to_error may or may not include the unknown field in
        // the path, depending on its version; make sure it is there once.
        let path = if path == "." { String::new() } else { path };
        let key = match unknown_field_name(&inner) {
            Some(field) if path.is_empty() => field.to_owned(),
            Some(field) if path == field || path.ends_with(&format!(".{field}")) => path,
            Some(field) => format!("{path}.{field}"),
            None => path,
        };
        BackendError::invalid_config(key, inner)
    })
}

fn unknown_field_name(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}
