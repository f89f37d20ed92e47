//! The payloads that cross the boundary as JSON.
//!
//! Adding an optional field (`#[serde(default)]`) to any of these is a
//! compatible change; removing or renaming one is not.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The commands a backend can implement.
///
/// ```
/// use nexcage_plugin_api::Command;
/// assert_eq!("exec".parse::<Command>().unwrap(), Command::Exec);
/// assert_eq!(Command::Pause.to_string(), "pause");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Command {
    /// `create ID`
    Create,
    /// `start ID`
    Start,
    /// `stop ID`
    Stop,
    /// `kill ID SIGNAL`
    Kill,
    /// `delete ID`
    Delete,
    /// `state ID`
    State,
    /// `list`
    List,
    /// `exec ID CMD...`
    Exec,
    /// `run ID`
    Run,
    /// `pause ID`
    Pause,
    /// `resume ID`
    Resume,
    /// `ps ID`
    Ps,
    /// `update ID`
    Update,
    /// `features`
    Features,
}

impl Command {
    /// Every command, in CLI order.
    pub const ALL: [Command; 14] = [
        Command::Create,
        Command::Start,
        Command::Stop,
        Command::Kill,
        Command::Delete,
        Command::State,
        Command::List,
        Command::Exec,
        Command::Run,
        Command::Pause,
        Command::Resume,
        Command::Ps,
        Command::Update,
        Command::Features,
    ];

    /// The command's CLI name.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Create => "create",
            Command::Start => "start",
            Command::Stop => "stop",
            Command::Kill => "kill",
            Command::Delete => "delete",
            Command::State => "state",
            Command::List => "list",
            Command::Exec => "exec",
            Command::Run => "run",
            Command::Pause => "pause",
            Command::Resume => "resume",
            Command::Ps => "ps",
            Command::Update => "update",
            Command::Features => "features",
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Returned when a string names no command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown command '{0}'")]
pub struct UnknownCommand(pub String);

impl FromStr for Command {
    type Err = UnknownCommand;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Command::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownCommand(s.to_owned()))
    }
}

/// What the host tells a backend about itself and this invocation.
///
/// ```
/// use nexcage_plugin_api::HostInfo;
/// // Every field has a default, so a newer host's extra fields and an
/// // older host's missing ones both decode.
/// let h: HostInfo = serde_json::from_str(r#"{"backend":"crun","debug":true}"#).unwrap();
/// assert_eq!(h.backend, "crun");
/// assert!(h.log_file.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostInfo {
    /// The host's version.
    pub host_version: String,
    /// The plugin-API version the host was built with.
    pub api_version: String,
    /// The backend instance name (`[backends.<name>]`), e.g. `crun`.
    pub backend: String,
    /// A directory owned by this backend instance under the state root.
    /// The host creates it; the backend keeps its own records there.
    pub state_dir: PathBuf,
    /// nexcage's state root (`--root`).
    pub root: PathBuf,
    /// `--log FILE`, to pass on to runtimes that take one.
    pub log_file: Option<PathBuf>,
    /// `--log-format` (`text` or `json`).
    pub log_format: Option<String>,
    /// `--systemd-cgroup` was given.
    pub systemd_cgroup: bool,
    /// `--rootless VALUE`, if given.
    pub rootless: Option<String>,
    /// `--debug` was given.
    pub debug: bool,
}

/// One request to a backend; the `command` field names the variant.
///
/// This is the wire format between host and plugin (pinned by this
/// example): a JSON object tagged by `command`.
///
/// ```
/// use nexcage_plugin_api::{KillRequest, Request};
/// let r = Request::Kill(KillRequest { id: "web1".into(), signal: 9, all: false });
/// assert_eq!(
///     serde_json::to_string(&r).unwrap(),
///     r#"{"command":"kill","id":"web1","signal":9,"all":false}"#
/// );
/// // Fields added in later minor versions are optional, so an older
/// // host's request still decodes.
/// let old: Request = serde_json::from_str(r#"{"command":"kill","id":"x"}"#).unwrap();
/// assert_eq!(old.command(), nexcage_plugin_api::Command::Kill);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum Request {
    /// Create a container.
    Create(CreateRequest),
    /// Start a created container.
    Start(IdRequest),
    /// Stop a running container gracefully, then forcibly.
    Stop(StopRequest),
    /// Send a signal to the container's init (or every process).
    Kill(KillRequest),
    /// Delete a container.
    Delete(DeleteRequest),
    /// Report the OCI state.
    State(IdRequest),
    /// List the backend's containers.
    List(ListRequest),
    /// Run a process in a running container.
    Exec(ExecRequest),
    /// Create and start a container in one step.
    Run(CreateRequest),
    /// Freeze a container.
    Pause(IdRequest),
    /// Thaw a paused container.
    Resume(IdRequest),
    /// List the processes of a container.
    Ps(IdRequest),
    /// Update resource limits.
    Update(UpdateRequest),
    /// Report the runtime features (`runc features`).
    Features(FeaturesRequest),
}

impl Request {
    /// The command this request is for.
    pub fn command(&self) -> Command {
        match self {
            Request::Create(_) => Command::Create,
            Request::Start(_) => Command::Start,
            Request::Stop(_) => Command::Stop,
            Request::Kill(_) => Command::Kill,
            Request::Delete(_) => Command::Delete,
            Request::State(_) => Command::State,
            Request::List(_) => Command::List,
            Request::Exec(_) => Command::Exec,
            Request::Run(_) => Command::Run,
            Request::Pause(_) => Command::Pause,
            Request::Resume(_) => Command::Resume,
            Request::Ps(_) => Command::Ps,
            Request::Update(_) => Command::Update,
            Request::Features(_) => Command::Features,
        }
    }
}

/// A request that names one container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdRequest {
    /// The container id (or, for Proxmox, a name or VMID).
    pub id: String,
}

/// `features` takes nothing yet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeaturesRequest {}

/// `list` takes nothing yet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRequest {}

/// `create ID` and `run ID`.
///
/// The OCI fields mirror runc's flags; the rest are the Proxmox-style options
/// of `nexcage create`. A backend that cannot honour a field it was given
/// says so (an error, or a warning in [`CreateResponse::warnings`]) instead
/// of ignoring it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CreateRequest {
    /// The container id or name.
    pub id: String,
    /// The OCI bundle (absolute path), if the container comes from one.
    pub bundle: Option<PathBuf>,
    /// An image or template reference, for backends that build from one.
    pub image: Option<String>,
    /// Fetch the image if it is not present locally.
    pub pull: bool,
    /// `--pid-file`.
    pub pid_file: Option<PathBuf>,
    /// `--console-socket`.
    pub console_socket: Option<PathBuf>,
    /// `--no-pivot`.
    pub no_pivot: bool,
    /// `--no-new-keyring`.
    pub no_new_keyring: bool,
    /// `--preserve-fds`.
    pub preserve_fds: Option<u32>,
    /// `run --detach`.
    pub detach: bool,
    /// `run --keep`.
    pub keep: bool,
    /// A numeric id to pin (Proxmox VMID).
    pub vmid: Option<u32>,
    /// Hostname inside the container.
    pub hostname: Option<String>,
    /// Memory limit in MiB.
    pub memory_mb: Option<u64>,
    /// Swap in MiB.
    pub swap_mb: Option<u64>,
    /// CPU cores.
    pub cores: Option<u32>,
    /// Root disk size in GiB.
    pub rootfs_gib: Option<u32>,
    /// Storage for the root disk.
    pub storage: Option<String>,
    /// Network bridge.
    pub bridge: Option<String>,
    /// Run unprivileged (user namespace).
    pub unprivileged: Option<bool>,
    /// Container features, backend syntax (`nesting=1,keyctl=1`).
    pub features: Option<String>,
    /// Start at boot.
    pub onboot: Option<bool>,
    /// Tags.
    pub tags: Vec<String>,
    /// Free-text description.
    pub description: Option<String>,
    /// Backend-specific `key=value` options (`--opt`).
    pub options: BTreeMap<String, String>,
}

/// What `create` reports back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CreateResponse {
    /// The id the container is known by from now on.
    pub id: String,
    /// A line for the user (printed on stdout), e.g. `web1 105`; empty for
    /// OCI-style creates, whose stdout belongs to the container.
    pub summary: Option<String>,
    /// Parts of the request or spec that could not be honoured.
    pub warnings: Vec<String>,
    /// `run`: the container's exit code when it ran in the foreground.
    pub exit_code: Option<i32>,
}

/// `stop ID`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StopRequest {
    /// The container.
    pub id: String,
    /// Seconds to wait for a clean shutdown before forcing.
    pub timeout_secs: Option<u64>,
    /// Skip the clean shutdown.
    pub force: bool,
}

/// `kill ID SIGNAL`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KillRequest {
    /// The container.
    pub id: String,
    /// The signal number (already parsed from `KILL`, `SIGKILL` or `9`).
    pub signal: i32,
    /// Signal every process of the container, not only init.
    pub all: bool,
}

/// `delete ID`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeleteRequest {
    /// The container.
    pub id: String,
    /// Kill a running container first.
    pub force: bool,
}

/// `exec ID [CMD...]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecRequest {
    /// The container.
    pub id: String,
    /// The command and its arguments (empty when `process_file` is given).
    pub args: Vec<String>,
    /// `--process FILE`: an OCI process spec (JSON).
    pub process_file: Option<PathBuf>,
    /// `--env K=V`.
    pub env: Vec<String>,
    /// `--cwd`.
    pub cwd: Option<String>,
    /// `--user UID[:GID]`.
    pub user: Option<String>,
    /// `--tty`.
    pub tty: bool,
    /// `--detach`.
    pub detach: bool,
    /// `--pid-file`.
    pub pid_file: Option<PathBuf>,
    /// `--console-socket`.
    pub console_socket: Option<PathBuf>,
    /// `--preserve-fds`.
    pub preserve_fds: Option<u32>,
    /// Any other runc exec flags, passed through as given.
    pub extra_args: Vec<String>,
}

/// `update ID --resources FILE`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpdateRequest {
    /// The container.
    pub id: String,
    /// The OCI `LinuxResources` JSON, as read from the file or stdin.
    pub resources_json: String,
}

/// The OCI state of a container (runtime-spec `state`).
///
/// Fields a runtime adds beyond the spec are kept in `extra`:
///
/// ```
/// use nexcage_plugin_api::ContainerState;
/// let runc = r#"{"ociVersion":"1.0.2-dev","id":"c1","pid":42,"status":"running",
///                "bundle":"/b","rootfs":"/b/rootfs","owner":""}"#;
/// let s: ContainerState = serde_json::from_str(runc).unwrap();
/// assert_eq!((s.pid, s.status.as_str()), (42, "running"));
/// assert_eq!(s.extra["rootfs"], "/b/rootfs");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerState {
    /// `ociVersion`.
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    /// `id`.
    pub id: String,
    /// `creating`, `created`, `running`, `paused` or `stopped`.
    pub status: String,
    /// The host PID of the container's init; 0 when it has none.
    #[serde(default)]
    pub pid: i32,
    /// Absolute path of the bundle.
    #[serde(default)]
    pub bundle: String,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Anything else the runtime reports (runc adds `rootfs`, `created`,
    /// `owner`), kept as is.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// One row of `list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerSummary {
    /// The container id or name.
    pub id: String,
    /// The status, as in [`ContainerState::status`].
    pub status: String,
    /// The host PID of init, 0 if none.
    pub pid: i32,
    /// The bundle, if any.
    pub bundle: String,
    /// Creation time (RFC 3339), if known.
    pub created: String,
    /// The backend instance that owns it (filled in by the host).
    pub backend: String,
    /// Backend-specific columns (e.g. `vmid`, `lock`).
    pub annotations: BTreeMap<String, String>,
}

/// The answer to a [`Request`], tagged by `kind` with the payload in
/// `value`.
///
/// ```
/// use nexcage_plugin_api::Response;
/// assert_eq!(serde_json::to_string(&Response::Exited(3)).unwrap(), r#"{"kind":"exited","value":3}"#);
/// assert_eq!(serde_json::to_string(&Response::Done).unwrap(), r#"{"kind":"done"}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "kebab-case")]
pub enum Response {
    /// The command succeeded and has nothing to report.
    Done,
    /// `create`/`run` succeeded.
    Created(CreateResponse),
    /// `state`.
    State(ContainerState),
    /// `list`.
    List(Vec<ContainerSummary>),
    /// `exec` or `run` in the foreground: the process's exit code.
    Exited(i32),
    /// `exec --detach`: the process's host PID.
    Spawned(i32),
    /// `ps`: host PIDs.
    Pids(Vec<i32>),
    /// `features`: the runtime-spec Features structure.
    Features(serde_json::Value),
}

impl Response {
    /// The variant's name, for error messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Response::Done => "done",
            Response::Created(_) => "created",
            Response::State(_) => "state",
            Response::List(_) => "list",
            Response::Exited(_) => "exited",
            Response::Spawned(_) => "spawned",
            Response::Pids(_) => "pids",
            Response::Features(_) => "features",
        }
    }
}

/// The OCI version nexcage reports in states it builds itself.
pub const OCI_VERSION: &str = "1.0.2";
