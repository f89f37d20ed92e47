//! # nexcage-proxmox-lxc
//!
//! A nexcage backend that runs containers as Proxmox VE CTs by driving
//! `pct`, `pveam` and `pvesh` (no shell, a deadline on every call, the
//! tools' own words in every error). Containers have a nexcage name and a
//! VMID; every command accepts either, and CTs made outside nexcage are
//! addressable by VMID or by their hostname.
//!
//! Drive it like the host does:
//!
//! ```no_run
//! use nexcage_plugin_api::{Backend, CreateRequest, HostInfo, IdRequest, Plugin};
//! use nexcage_proxmox_lxc::ProxmoxLxc;
//!
//! let host = HostInfo { state_dir: "/var/lib/nexcage/proxmox-lxc".into(), ..Default::default() };
//! let backend = ProxmoxLxc::new(serde_json::json!({"storage": "local-lvm"}), &host)?;
//! let made = backend.create(&CreateRequest {
//!     id: "web1".into(),
//!     image: Some("debian-12".into()),
//!     ..Default::default()
//! })?;
//! println!("{}", made.summary.unwrap_or_default()); // "web1 105"
//! backend.start(&IdRequest { id: "web1".into() })?;
//! # Ok::<(), nexcage_plugin_api::BackendError>(())
//! ```
//!
//! See `README.md` for the configuration keys and the OCI spec mapping.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nexcage_plugin_api::{
    Backend, BackendError, BackendResult, Command, ContainerState, ContainerSummary, CreateRequest,
    CreateResponse, DeleteRequest, ErrorKind, ExecRequest, HostInfo, IdRequest, KillRequest,
    ListRequest, OCI_VERSION, Plugin, Response, StopRequest,
};

pub mod config;
pub mod oci;
pub mod pack;
pub mod parse;
pub mod store;
pub mod tools;

use config::Config;
use parse::ListRow;
use store::{Record, Store};
use tools::{Tool, Tools};

/// The backend.
#[derive(Debug)]
pub struct ProxmoxLxc {
    cfg: Config,
    tools: Tools,
    store: Store,
}

/// A container resolved from a name or VMID.
#[derive(Debug, Clone)]
struct Target {
    vmid: u32,
    /// The nexcage name, when the map knows the VMID.
    name: Option<String>,
    record: Option<Record>,
}

/// Annotation keys in `state`.
pub const ANN_VMID: &str = "org.proxmox.vmid";
/// The Proxmox status (`running`, `stopped`).
pub const ANN_STATUS: &str = "org.proxmox.status";
/// The Proxmox lock, when locked.
pub const ANN_LOCK: &str = "org.proxmox.lock";
/// The CT's hostname as Proxmox reports it.
pub const ANN_NAME: &str = "org.proxmox.name";
/// The node.
pub const ANN_NODE: &str = "org.proxmox.node";

fn s(x: impl ToString) -> String {
    x.to_string()
}

/// `all digits, ≥ 100` is a VMID.
pub fn as_vmid(id: &str) -> Option<u32> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    id.parse::<u32>()
        .ok()
        .filter(|v| (100..=999_999_999).contains(v))
}

/// Checks a new container name: a DNS label that is not all digits.
pub fn validate_name(name: &str) -> BackendResult<()> {
    if config::is_dns_label(name) && !name.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(BackendError::invalid_argument(format!(
            "invalid container name '{name}': use 1-63 letters, digits and '-', not starting or ending with '-' and not all digits (names double as hostnames; all-digit ids are vmids)"
        )))
    }
}

impl ProxmoxLxc {
    /// The validated configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    fn pct(&self, args: &[String]) -> BackendResult<nexcage_plugin_api::process::Output> {
        self.tools.call(Tool::Pct, args)
    }

    fn resolve(&self, id: &str) -> BackendResult<Target> {
        let db = self.store.load()?;
        if let Some(vmid) = as_vmid(id) {
            let (name, record) = db
                .by_vmid(vmid)
                .map(|(n, r)| (Some(n.clone()), Some(r.clone())))
                .unwrap_or((None, None));
            return Ok(Target { vmid, name, record });
        }
        if id.is_empty() {
            return Err(BackendError::invalid_argument("container id is empty"));
        }
        if id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BackendError::invalid_argument(format!(
                "'{id}' is not a valid vmid (proxmox vmids are 100-999999999)"
            )));
        }
        if let Some(r) = db.containers.get(id) {
            return Ok(Target {
                vmid: r.vmid,
                name: Some(id.to_owned()),
                record: Some(r.clone()),
            });
        }
        // Not ours: a CT made outside nexcage, addressed by its hostname.
        let rows = self.list_rows()?;
        let hits: Vec<&ListRow> = rows.iter().filter(|r| r.name == id).collect();
        match hits.as_slice() {
            [] => Err(BackendError::new(
                ErrorKind::NOT_FOUND,
                format!(
                    "container {id} does not exist (no nexcage container and no proxmox ct on this node has that name)"
                ),
            )),
            [one] => Ok(Target {
                vmid: one.vmid,
                name: None,
                record: None,
            }),
            many => Err(BackendError::invalid_argument(format!(
                "name {id} is ambiguous: cts {} all have that hostname; use the vmid",
                many.iter()
                    .map(|r| r.vmid.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    fn list_rows(&self) -> BackendResult<Vec<ListRow>> {
        let out = self.pct(&[s("list")])?;
        parse::pct_list(&out.stdout)
    }

    fn status(&self, vmid: u32) -> BackendResult<BTreeMap<String, String>> {
        let out = self.pct(&[s("status"), s(vmid), s("--verbose")])?;
        Ok(parse::status_verbose(&out.stdout))
    }

    fn template_dir(&self) -> BackendResult<&Path> {
        self.cfg.template_dir.as_deref().ok_or_else(|| {
            BackendError::invalid_config(
                "template_dir",
                format!(
                    "template_dir is not set: creating from an oci bundle needs the template/cache directory of storage {}",
                    self.cfg.template_storage
                ),
            )
        })
    }

    /// Turns `CreateRequest.image` into a template volume id.
    fn resolve_template(&self, image: &str, pull: bool) -> BackendResult<String> {
        let image = image.trim();
        if image.is_empty() {
            return Err(BackendError::invalid_argument("image is empty"));
        }
        if image.starts_with('/') || image.contains(':') {
            // An absolute path or a volume id: pct checks it.
            return Ok(image.to_owned());
        }
        if image.contains('/') {
            return Err(BackendError::invalid_argument(format!(
                "image '{image}' is neither a volume id (storage:vztmpl/file), a template file name nor a short name like debian-12"
            )));
        }
        let ts = &self.cfg.template_storage;
        let is_file = parse::has_template_ext(image);
        let pick = |volids: &[String]| -> Option<String> {
            if is_file {
                volids
                    .iter()
                    .find(|v| parse::volid_file(v) == image)
                    .cloned()
            } else {
                parse::newest(
                    volids
                        .iter()
                        .map(|v| parse::volid_file(v))
                        .filter(|f| parse::short_name_matches(image, f)),
                )
                .map(|f| format!("{ts}:vztmpl/{f}"))
            }
        };
        let listed = parse::pveam_list(
            &self
                .tools
                .call(Tool::Pveam, &[s("list"), ts.clone()])?
                .stdout,
        );
        if let Some(v) = pick(&listed) {
            return Ok(v);
        }
        let avail =
            parse::pveam_available(&self.tools.call(Tool::Pveam, &[s("available")])?.stdout);
        let matching: Vec<&(String, String)> = avail
            .iter()
            .filter(|(_, f)| {
                if is_file {
                    f == image
                } else {
                    parse::short_name_matches(image, f)
                }
            })
            .collect();
        let Some(best) = parse::newest(matching.iter().map(|(_, f)| f.as_str())) else {
            return Err(BackendError::new(
                ErrorKind::NOT_FOUND,
                format!(
                    "template {image} does not exist on storage {ts} and no template in `pveam available` matches it (refresh the index with `pveam update`)"
                ),
            ));
        };
        if !pull {
            let lines: Vec<String> = matching
                .iter()
                .map(|(sec, f)| format!("{sec} {f}"))
                .collect();
            return Err(BackendError::new(
                ErrorKind::NOT_FOUND,
                format!(
                    "template {image} does not exist on storage {ts}; available to download: {}; get it with `pveam download {ts} {best}` or create with --pull",
                    lines.join(", ")
                ),
            ));
        }
        let dl_args = [s("download"), ts.clone(), best.to_owned()];
        // Downloads are slow; allow ten call timeouts.
        let out = self
            .tools
            .call_with_timeout(Tool::Pveam, &dl_args, self.cfg.timeout * 10)?;
        // pveam download can exit 0 after a failed download: verify.
        let listed = parse::pveam_list(
            &self
                .tools
                .call(Tool::Pveam, &[s("list"), ts.clone()])?
                .stdout,
        );
        let want = format!("{ts}:vztmpl/{best}");
        if listed.contains(&want) {
            Ok(want)
        } else {
            let said = [out.stderr.trim(), out.stdout.trim()]
                .into_iter()
                .filter(|x| !x.is_empty())
                .collect::<Vec<_>>()
                .join("; ");
            Err(BackendError::failed(format!(
                "pveam download {ts} {best} did not put the template on storage {ts}: {}",
                if said.is_empty() {
                    "it printed nothing"
                } else {
                    &said
                }
            )))
        }
    }

    /// Reserves `name` and a VMID in the map. Without a pinned VMID this
    /// asks `pvesh get /cluster/nextid` and skips ids that other in-flight
    /// creates sharing this state directory hold.
    fn reserve(
        &self,
        name: &str,
        pinned: Option<u32>,
        proto: &Record,
        retry: bool,
    ) -> BackendResult<u32> {
        let me = i32::try_from(std::process::id()).unwrap_or(0);
        self.store.update(|db| {
            db.reap_abandoned();
            if let Some(r) = db.containers.get(name)
                && !retry
            {
                return Err(BackendError::new(
                    ErrorKind::ALREADY_EXISTS,
                    if r.in_flight() {
                        format!(
                            "container {name} already exists: it is being created as ct {}",
                            r.vmid
                        )
                    } else {
                        format!(
                            "container {name} already exists (ct {}); delete it first",
                            r.vmid
                        )
                    },
                ));
            }
            let taken = |v: u32, db: &store::Db| {
                db.containers.iter().any(|(n, r)| n != name && r.vmid == v)
            };
            let vmid = match pinned {
                Some(v) => {
                    if let Some((other, _)) = db.by_vmid(v).filter(|(n, _)| n.as_str() != name) {
                        return Err(BackendError::new(
                            ErrorKind::ALREADY_EXISTS,
                            format!("vmid {v} already belongs to container {other}"),
                        ));
                    }
                    v
                }
                None => {
                    let out = self
                        .tools
                        .call(Tool::Pvesh, &[s("get"), s("/cluster/nextid")])?;
                    let mut v = parse::nextid(&out.stdout)?;
                    while taken(v, db) {
                        v = v
                            .checked_add(1)
                            .filter(|v| *v <= 999_999_999)
                            .ok_or_else(|| {
                                BackendError::failed(
                                    "no free vmid left above the one pvesh suggested",
                                )
                            })?;
                    }
                    v
                }
            };
            let mut rec = proto.clone();
            rec.vmid = vmid;
            rec.creating = Some(me);
            db.containers.insert(name.to_owned(), rec);
            Ok(vmid)
        })
    }

    fn do_create(&self, req: &CreateRequest) -> BackendResult<CreateResponse> {
        let name = req.id.as_str();
        validate_name(name)?;
        let mut warnings = request_warnings(req);
        let plan = match (&req.bundle, &req.image) {
            (Some(_), Some(_)) => {
                return Err(BackendError::invalid_argument(
                    "give either an oci bundle or an image (template), not both",
                ));
            }
            (None, None) => {
                return Err(BackendError::invalid_argument(format!(
                    "create {name} needs an image (a template such as debian-12 or local:vztmpl/<file>) or an oci bundle"
                )));
            }
            (Some(b), None) => {
                if !b.is_absolute() {
                    return Err(BackendError::invalid_argument(format!(
                        "bundle path {} must be absolute",
                        b.display()
                    )));
                }
                let bridge = effective_bridge(&self.cfg, req);
                Some(oci::plan(b, bridge.as_deref())?)
            }
            (None, Some(_)) => None,
        };
        // Validate everything before the first call.
        let opts = create_options(&self.cfg, req, plan.as_ref())?;
        let (volid, bundle) = if let (Some(p), Some(b)) = (&plan, &req.bundle) {
            let dir = self.template_dir()?;
            let packed = pack::pack_cached(&p.rootfs, dir)?;
            for sk in &packed.skipped {
                warnings.push(format!(
                    "rootfs entry {sk} (a socket) is not included in the template"
                ));
            }
            warnings.extend(p.warnings.iter().cloned());
            (
                format!("{}:vztmpl/{}", self.cfg.template_storage, packed.file_name),
                Some(b.display().to_string()),
            )
        } else {
            let image = req.image.as_deref().unwrap_or_default();
            (self.resolve_template(image, req.pull)?, None)
        };
        let proto = Record {
            bundle,
            template: Some(volid.clone()),
            created: store::now_rfc3339(),
            annotations: plan
                .as_ref()
                .map(|p| p.annotations.clone())
                .unwrap_or_default(),
            ..Default::default()
        };
        let pinned = req.vmid;
        if let Some(v) = pinned
            && as_vmid(&v.to_string()).is_none()
        {
            return Err(BackendError::invalid_argument(format!(
                "vmid {v} is out of range (100-999999999)"
            )));
        }
        let mut vmid = self.reserve(name, pinned, &proto, false)?;
        let mut attempt = 1;
        loop {
            let mut args = vec![s("create"), s(vmid), volid.clone()];
            args.extend(opts.iter().map(|(k, v)| format!("--{k}={v}")));
            match self.pct(&args) {
                Ok(_) => break,
                Err(e)
                    if e.kind == ErrorKind::ALREADY_EXISTS
                        && pinned.is_none()
                        && attempt < self.cfg.nextid_retries =>
                {
                    tracing::info!(
                        vmid,
                        attempt,
                        "vmid was taken before pct create; retrying with a fresh one"
                    );
                    attempt += 1;
                    match self.reserve(name, None, &proto, true) {
                        Ok(v) => vmid = v,
                        Err(e2) => {
                            let _ = self.store.remove(name, vmid);
                            return Err(e2);
                        }
                    }
                }
                Err(e) => {
                    let _ = self.store.remove(name, vmid);
                    let e = if e.kind == ErrorKind::ALREADY_EXISTS && pinned.is_none() {
                        e.context(format!(
                            "gave up after {attempt} vmids were taken between nextid and create (nextid_retries = {})",
                            self.cfg.nextid_retries
                        ))
                    } else {
                        e
                    };
                    return Err(e.context(format!("creating container {name} as ct {vmid}")));
                }
            }
        }
        self.store.modify(name, |r| r.creating = None)?;
        Ok(CreateResponse {
            id: name.to_owned(),
            summary: req.bundle.is_none().then(|| format!("{name} {vmid}")),
            warnings,
            exit_code: None,
        })
    }

    fn oci_status(proxmox: &str, lock: &str, rec: Option<&Record>) -> &'static str {
        if lock == "create" {
            return "creating";
        }
        if rec.is_some_and(|r| r.paused) {
            return "paused";
        }
        match proxmox {
            "running" => "running",
            _ if rec.is_some_and(|r| !r.started) => "created",
            _ => "stopped",
        }
    }

    fn init_pid(&self, id: &str, t: &Target) -> BackendResult<i32> {
        let st = self.status(t.vmid)?;
        let pid = st
            .get("pid")
            .and_then(|p| p.parse::<i32>().ok())
            .filter(|p| *p > 0);
        match (st.get("status").map(String::as_str), pid) {
            (Some("running"), Some(pid)) => Ok(pid),
            _ => Err(BackendError::container_not_running(id)),
        }
    }
}

/// The bridge a create attaches to: the request's, else the config's;
/// an empty string disables networking.
fn effective_bridge(cfg: &Config, req: &CreateRequest) -> Option<String> {
    match &req.bridge {
        Some(b) if b.is_empty() => None,
        Some(b) => Some(b.clone()),
        None => cfg.bridge.clone(),
    }
}

/// Options container engines pass at create that need the engine shim
/// (docs/design/oci-on-proxmox.md). Refused rather than warned about: an
/// engine that gets exit 0 would wait for a pid file that never comes.
fn refuse_engine_options(req: &CreateRequest) -> BackendResult<()> {
    let refuse = |what: &str| {
        Err(BackendError::new(
            ErrorKind::UNSUPPORTED,
            format!(
                "create {what} is not supported by the proxmox-lxc backend yet: engines need the shim described in docs/design/oci-on-proxmox.md; route engine-created containers to an oci backend"
            ),
        ))
    };
    if req.pid_file.is_some() {
        return refuse("--pid-file");
    }
    if req.console_socket.is_some() {
        return refuse("--console-socket");
    }
    Ok(())
}

/// Request fields this backend cannot honour.
fn request_warnings(req: &CreateRequest) -> Vec<String> {
    let mut w = Vec::new();
    if req.no_pivot {
        w.push("--no-pivot is not applied".into());
    }
    if req.no_new_keyring {
        w.push("--no-new-keyring is not applied".into());
    }
    if req.preserve_fds.is_some_and(|n| n > 0) {
        w.push("--preserve-fds is not applied".into());
    }
    w
}

/// Option keys this backend sets itself, or that would break its model.
const RESERVED_OPTIONS: [&str; 6] = ["start", "vmid", "ostemplate", "restore", "unique", "force"];

/// The `pct create` options (after `<vmid> <template>`) for a request,
/// in order, as `(key, value)`; validated before any call is made.
pub fn create_options(
    cfg: &Config,
    req: &CreateRequest,
    plan: Option<&oci::Plan>,
) -> BackendResult<Vec<(String, String)>> {
    let mut o: Vec<(String, String)> = Vec::new();
    let hostname = req
        .hostname
        .clone()
        .or_else(|| plan.and_then(|p| p.hostname.clone()))
        .unwrap_or_else(|| req.id.clone());
    if !config::is_dns_name(&hostname) {
        return Err(BackendError::invalid_argument(format!(
            "hostname '{hostname}' is not a valid dns name"
        ))
        .with_key("hostname"));
    }
    o.push((s("hostname"), hostname));
    let storage = req.storage.clone().unwrap_or_else(|| cfg.storage.clone());
    if !config::is_storage_id(&storage) {
        return Err(BackendError::invalid_argument(format!(
            "storage '{storage}' is not a valid proxmox storage id"
        ))
        .with_key("storage"));
    }
    let gib = req.rootfs_gib.unwrap_or(cfg.rootfs_gib);
    if gib == 0 {
        return Err(
            BackendError::invalid_argument("rootfs size must be at least 1 gib")
                .with_key("rootfs_gib"),
        );
    }
    o.push((s("rootfs"), format!("{storage}:{gib}")));
    let memory = req
        .memory_mb
        .or_else(|| plan.and_then(|p| p.memory_mb))
        .unwrap_or(cfg.memory_mb);
    config::check_memory("memory", memory).map_err(as_arg)?;
    o.push((s("memory"), s(memory)));
    let swap = req
        .swap_mb
        .or_else(|| plan.and_then(|p| p.swap_mb))
        .unwrap_or(cfg.swap_mb);
    o.push((s("swap"), s(swap)));
    if let Some(c) = req.cores.or(cfg.cores) {
        config::check_cores("cores", c).map_err(as_arg)?;
        o.push((s("cores"), s(c)));
    }
    let bridge = effective_bridge(cfg, req);
    if let Some(b) = &bridge {
        config::check_bridge("bridge", b).map_err(as_arg)?;
    }
    if let (false, Some(b)) = (plan.is_some_and(|p| p.net_from_spec), &bridge) {
        o.push((s("net0"), format!("name=eth0,bridge={b},ip=dhcp")));
    }
    let unpriv = req.unprivileged.unwrap_or(cfg.unprivileged);
    o.push((s("unprivileged"), s(u8::from(unpriv))));
    if let Some(f) = req.features.as_ref().or(cfg.features.as_ref()) {
        config::check_features("features", f).map_err(as_arg)?;
        o.push((s("features"), f.clone()));
    }
    if let Some(b) = req.onboot.or(cfg.onboot) {
        o.push((s("onboot"), s(u8::from(b))));
    }
    let tags = if req.tags.is_empty() {
        &cfg.tags
    } else {
        &req.tags
    };
    for t in tags {
        config::check_tag("tags", t).map_err(as_arg)?;
    }
    if !tags.is_empty() {
        o.push((s("tags"), tags.join(";")));
    }
    if let Some(d) = &req.description {
        if d.len() > 8192 {
            return Err(BackendError::invalid_argument(
                "description may only be 8192 characters long",
            )
            .with_key("description"));
        }
        o.push((s("description"), d.clone()));
    }
    if let Some(p) = plan {
        o.extend(p.options.iter().cloned());
    }
    for (k, v) in &req.options {
        let valid = k.bytes().next().is_some_and(|c| c.is_ascii_lowercase())
            && k.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
        if !valid {
            return Err(BackendError::invalid_argument(format!(
                "option '{k}' is not a pct create option name"
            ))
            .with_key(k.clone()));
        }
        if RESERVED_OPTIONS.contains(&k.as_str()) {
            return Err(BackendError::invalid_argument(format!(
                "option '{k}' cannot be passed through: the proxmox-lxc backend manages it"
            ))
            .with_key(k.clone()));
        }
        if o.iter().any(|(have, _)| have == k) {
            return Err(BackendError::invalid_argument(format!(
                "option '{k}' conflicts with a value nexcage already sets; use the dedicated flag or config key"
            ))
            .with_key(k.clone()));
        }
        o.push((k.clone(), v.clone()));
    }
    Ok(o)
}

fn as_arg(e: BackendError) -> BackendError {
    BackendError {
        kind: ErrorKind::INVALID_ARGUMENT,
        ..e
    }
}

/// All PIDs in the PID namespace whose init is `init`.
fn namespace_pids(init: i32) -> BackendResult<Vec<i32>> {
    let ns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let target = ns(&init.to_string()).ok_or_else(|| {
        BackendError::failed(format!("cannot read the pid namespace of process {init}"))
    })?;
    if ns("self").as_ref() == Some(&target) {
        return Err(BackendError::failed(format!(
            "process {init} shares nexcage's own pid namespace; refusing to signal every process in it"
        )));
    }
    let mut pids: Vec<i32> = std::fs::read_dir("/proc")
        .map_err(|e| BackendError::failed(format!("cannot read /proc: {e}")))?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter(|p| ns(&p.to_string()).as_ref() == Some(&target))
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

/// An exec's process: from `ExecRequest`, optionally an OCI process file.
#[derive(Debug, Default, PartialEq)]
struct ExecProcess {
    args: Vec<String>,
    env: Vec<String>,
    cwd: Option<String>,
    user: Option<(u64, u64)>,
}

fn exec_process(req: &ExecRequest) -> BackendResult<ExecProcess> {
    let mut p = ExecProcess::default();
    if let Some(f) = &req.process_file {
        let text = std::fs::read_to_string(f).map_err(|e| {
            BackendError::invalid_argument(format!("cannot read process file {}: {e}", f.display()))
        })?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            BackendError::invalid_argument(format!(
                "process file {} is not valid json: {e}",
                f.display()
            ))
        })?;
        let strs = |k: &str| -> Vec<String> {
            v.get(k)
                .and_then(|a| a.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        p.args = strs("args");
        p.env = strs("env");
        p.cwd = v.get("cwd").and_then(|c| c.as_str()).map(str::to_owned);
        if let Some(u) = v.get("user") {
            let id = |k: &str| u.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
            p.user = Some((id("uid"), id("gid")));
        }
    }
    if !req.args.is_empty() {
        p.args = req.args.clone();
    }
    p.env.extend(req.env.iter().cloned());
    if let Some(c) = &req.cwd {
        p.cwd = Some(c.clone());
    }
    if let Some(u) = &req.user {
        let (uid, gid) = u.split_once(':').unwrap_or((u.as_str(), "0"));
        let num = |x: &str| {
            x.parse::<u64>().map_err(|_| {
                BackendError::invalid_argument(format!("--user {u}: expected UID[:GID] as numbers"))
            })
        };
        p.user = Some((num(uid)?, num(gid)?));
    }
    Ok(p)
}

/// The `pct exec` argument vector for a process.
fn exec_args(vmid: u32, keep_env: bool, p: &ExecProcess) -> Vec<String> {
    let mut a = vec![
        s("exec"),
        s(vmid),
        format!("--keep-env={}", u8::from(keep_env)),
        s("--"),
    ];
    if let Some(cwd) = p.cwd.as_deref().filter(|c| !c.is_empty() && *c != "/") {
        a.extend([
            s("/bin/sh"),
            s("-c"),
            s("cd -- \"$0\" && exec \"$@\""),
            cwd.to_owned(),
        ]);
    }
    if !p.env.is_empty() {
        a.push(s("env"));
        a.extend(p.env.iter().cloned());
    }
    a.extend(p.args.iter().cloned());
    a
}

impl Backend for ProxmoxLxc {
    fn create(&self, req: &CreateRequest) -> BackendResult<CreateResponse> {
        refuse_engine_options(req)?;
        self.do_create(req)
    }

    /// `create` then `start`. A Proxmox CT always runs in the background
    /// (its init is supervised by the node, not by us), so `run` behaves as
    /// `run --detach` and says so when the caller asked for the foreground.
    fn run(&self, req: &CreateRequest) -> BackendResult<CreateResponse> {
        refuse_engine_options(req)?;
        let mut created = self.do_create(req)?;
        let id = created.id.clone();
        self.start(&IdRequest { id: id.clone() })
            .map_err(|e| e.context(format!("{id} was created but could not be started")))?;
        if !req.detach {
            created.warnings.push(
                "the container runs in the background, as with `run --detach`: use `nexcage exec` to run commands in it"
                    .into(),
            );
        }
        Ok(created)
    }

    fn start(&self, req: &IdRequest) -> BackendResult<()> {
        let t = self.resolve(&req.id)?;
        self.pct(&[s("start"), s(t.vmid)])?;
        if let Some(n) = &t.name {
            self.store.modify(n, |r| {
                r.started = true;
                r.paused = false;
            })?;
        }
        Ok(())
    }

    fn stop(&self, req: &StopRequest) -> BackendResult<()> {
        let t = self.resolve(&req.id)?;
        if !req.force {
            let secs = req.timeout_secs.unwrap_or(self.cfg.shutdown_timeout_secs);
            let args = [s("shutdown"), s(t.vmid), format!("--timeout={secs}")];
            let deadline = self.cfg.timeout + Duration::from_secs(secs);
            match self.tools.call_with_timeout(Tool::Pct, &args, deadline) {
                Ok(_) => {}
                Err(e) if e.message.contains("container did not stop") => {
                    tracing::info!(vmid = t.vmid, "clean shutdown timed out; stopping");
                    self.pct(&[s("stop"), s(t.vmid)])?;
                }
                Err(e) => return Err(e),
            }
        } else {
            self.pct(&[s("stop"), s(t.vmid)])?;
        }
        if let Some(n) = &t.name {
            self.store.modify(n, |r| r.paused = false)?;
        }
        Ok(())
    }

    fn kill(&self, req: &KillRequest) -> BackendResult<()> {
        if !(1..=64).contains(&req.signal) {
            return Err(BackendError::invalid_argument(format!(
                "signal {} is not a valid signal number",
                req.signal
            )));
        }
        let t = self.resolve(&req.id)?;
        let init = match self.init_pid(&req.id, &t) {
            Ok(pid) => pid,
            // OCI: a `created` container can be killed. Its process has not
            // started (pct has nothing to signal), so the signal ends the
            // pending process: the container becomes `stopped`.
            Err(e) if e.kind == ErrorKind::NOT_RUNNING => match (&t.name, &t.record) {
                (Some(name), Some(r)) if !r.started => {
                    self.store.modify(name, |r| r.started = true)?;
                    return Ok(());
                }
                _ => return Err(e),
            },
            Err(e) => return Err(e),
        };
        let pids = if req.all {
            namespace_pids(init)?
        } else {
            vec![init]
        };
        for pid in pids {
            // SAFETY: kill(2) has no memory-safety preconditions.
            let rc = unsafe { libc::kill(pid, req.signal) };
            if rc != 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::ESRCH) {
                    if pid == init && !req.all {
                        return Err(BackendError::container_not_running(&req.id));
                    }
                    continue;
                }
                return Err(BackendError::failed(format!(
                    "cannot send signal {} to process {pid} of ct {}: {e}",
                    req.signal, t.vmid
                )));
            }
        }
        Ok(())
    }

    fn delete(&self, req: &DeleteRequest) -> BackendResult<()> {
        let t = self.resolve(&req.id)?;
        let mut args = vec![s("destroy"), s(t.vmid), s("--purge=1")];
        if req.force {
            args.push(s("--force=1"));
        }
        let result = self.pct(&args);
        if let Some(n) = &t.name {
            match &result {
                Ok(_) => self.store.remove(n, t.vmid)?,
                // The CT is already gone: drop the stale name.
                Err(e) if e.kind == ErrorKind::NOT_FOUND => self.store.remove(n, t.vmid)?,
                Err(_) => {}
            }
        }
        result.map(|_| ()).map_err(|e| {
            if e.kind == ErrorKind::INVALID_STATE {
                e.context("container is running; stop it or delete with --force")
            } else {
                e
            }
        })
    }

    fn state(&self, req: &IdRequest) -> BackendResult<ContainerState> {
        let t = self.resolve(&req.id)?;
        let id = t.name.clone().unwrap_or_else(|| req.id.clone());
        let rec = t.record.as_ref();
        let mut annotations = rec.map(|r| r.annotations.clone()).unwrap_or_default();
        annotations.insert(ANN_VMID.into(), s(t.vmid));
        annotations.insert(ANN_NODE.into(), self.cfg.node.clone());
        if rec.is_some_and(Record::in_flight) {
            return Ok(ContainerState {
                oci_version: OCI_VERSION.into(),
                id,
                status: "creating".into(),
                bundle: rec.and_then(|r| r.bundle.clone()).unwrap_or_default(),
                annotations,
                ..Default::default()
            });
        }
        let st = self.status(t.vmid)?;
        let px = st
            .get("status")
            .cloned()
            .unwrap_or_else(|| "unknown".into());
        let lock = st.get("lock").cloned().unwrap_or_default();
        let status = Self::oci_status(&px, &lock, rec);
        let pid = if px == "running" {
            st.get("pid").and_then(|p| p.parse().ok()).unwrap_or(0)
        } else {
            0
        };
        annotations.insert(ANN_STATUS.into(), px);
        if !lock.is_empty() {
            annotations.insert(ANN_LOCK.into(), lock);
        }
        if let Some(n) = st.get("name") {
            annotations.insert(ANN_NAME.into(), n.clone());
        }
        let mut extra = serde_json::Map::new();
        if let Some(c) = rec.map(|r| r.created.clone()).filter(|c| !c.is_empty()) {
            extra.insert("created".into(), serde_json::Value::String(c));
        }
        Ok(ContainerState {
            oci_version: OCI_VERSION.into(),
            id,
            status: status.into(),
            pid,
            bundle: rec.and_then(|r| r.bundle.clone()).unwrap_or_default(),
            annotations,
            extra,
        })
    }

    fn list(&self, _req: &ListRequest) -> BackendResult<Vec<ContainerSummary>> {
        let rows = self.list_rows()?;
        let db = self.store.load()?;
        // One index instead of a scan of the map per row.
        let by_vmid: std::collections::HashMap<u32, (&String, &store::Record)> = db
            .containers
            .iter()
            .map(|(n, r)| (r.vmid, (n, r)))
            .collect();
        Ok(rows
            .into_iter()
            .map(|row| {
                let mine = by_vmid.get(&row.vmid).copied();
                let rec = mine.map(|(_, r)| r);
                let mut annotations = BTreeMap::new();
                annotations.insert(s("vmid"), s(row.vmid));
                annotations.insert(s("lock"), row.lock.clone());
                annotations.insert(s("name"), row.name.clone());
                annotations.insert(s("status"), row.status.clone());
                ContainerSummary {
                    id: mine.map_or_else(|| s(row.vmid), |(n, _)| n.clone()),
                    status: Self::oci_status(&row.status, &row.lock, rec).into(),
                    pid: 0,
                    bundle: rec.and_then(|r| r.bundle.clone()).unwrap_or_default(),
                    created: rec.map(|r| r.created.clone()).unwrap_or_default(),
                    backend: String::new(),
                    annotations,
                }
            })
            .collect())
    }

    fn exec(&self, req: &ExecRequest) -> BackendResult<Response> {
        let unsupported = |what: &str, why: &str| {
            Err(BackendError::new(
                ErrorKind::UNSUPPORTED,
                format!("exec {what} is not supported by the proxmox-lxc backend: {why}"),
            ))
        };
        if req.detach {
            return unsupported("--detach", "pct exec runs in the foreground");
        }
        if req.pid_file.is_some() {
            return unsupported("--pid-file", "pct exec does not report the process's pid");
        }
        if req.console_socket.is_some() {
            return unsupported("--console-socket", "pct exec uses the caller's terminal");
        }
        if req.preserve_fds.is_some_and(|n| n > 0) {
            return unsupported(
                "--preserve-fds",
                "lxc-attach does not pass extra descriptors",
            );
        }
        if !req.extra_args.is_empty() {
            return unsupported(&req.extra_args.join(" "), "pct exec has no such options");
        }
        let p = exec_process(req)?;
        if p.args.is_empty() {
            return Err(BackendError::invalid_argument(
                "exec needs a command (arguments or a process file with args)",
            ));
        }
        if let Some((uid, gid)) = p.user.filter(|u| *u != (0, 0)) {
            return unsupported(
                &format!("--user {uid}:{gid}"),
                "pct exec always runs as root",
            );
        }
        let t = self.resolve(&req.id)?;
        let code = self
            .tools
            .call_inherit(Tool::Pct, &exec_args(t.vmid, self.cfg.keep_env, &p))?;
        Ok(Response::Exited(code))
    }

    fn pause(&self, req: &IdRequest) -> BackendResult<()> {
        let t = self.resolve(&req.id)?;
        self.pct(&[s("suspend"), s(t.vmid)])?;
        if let Some(n) = &t.name {
            self.store.modify(n, |r| r.paused = true)?;
        }
        Ok(())
    }

    fn resume(&self, req: &IdRequest) -> BackendResult<()> {
        let t = self.resolve(&req.id)?;
        self.pct(&[s("resume"), s(t.vmid)])?;
        if let Some(n) = &t.name {
            self.store.modify(n, |r| r.paused = false)?;
        }
        Ok(())
    }

    fn ps(&self, req: &IdRequest) -> BackendResult<Vec<i32>> {
        let t = self.resolve(&req.id)?;
        let init = self.init_pid(&req.id, &t)?;
        namespace_pids(init)
    }
}

impl Plugin for ProxmoxLxc {
    const NAME: &'static str = "proxmox-lxc";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const COMMANDS: &'static [Command] = &[
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
    ];

    fn new(config: serde_json::Value, host: &HostInfo) -> BackendResult<Self> {
        let cfg = Config::from_json(config)?;
        let state_dir = cfg
            .state_dir
            .clone()
            .unwrap_or_else(|| host.state_dir.clone());
        if state_dir.as_os_str().is_empty() {
            return Err(BackendError::failed(
                "the host gave the proxmox-lxc backend no state directory",
            ));
        }
        let tools = Tools {
            pct: cfg.pct.clone(),
            pveam: cfg.pveam.clone(),
            pvesh: cfg.pvesh.clone(),
            timeout: cfg.timeout,
        };
        Ok(ProxmoxLxc {
            store: Store::new(&state_dir),
            tools,
            cfg,
        })
    }
}

/// The state directory's name map file, for tools and tests.
pub fn name_map_path(state_dir: &Path) -> PathBuf {
    state_dir.join("containers.json")
}

nexcage_plugin_api::export_plugin!(ProxmoxLxc);

#[cfg(test)]
mod engine_option_tests {
    use super::*;

    #[test]
    fn pid_file_and_console_socket_are_refused_not_ignored() {
        let req = CreateRequest {
            pid_file: Some("/run/x.pid".into()),
            ..Default::default()
        };
        let e = refuse_engine_options(&req).unwrap_err();
        assert_eq!(e.kind, ErrorKind::UNSUPPORTED);
        assert!(e.message.contains("--pid-file"), "{e}");
        let req = CreateRequest {
            console_socket: Some("/tmp/s".into()),
            ..Default::default()
        };
        assert!(
            refuse_engine_options(&req)
                .unwrap_err()
                .message
                .contains("--console-socket")
        );
        refuse_engine_options(&CreateRequest::default()).unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg() -> Config {
        Config::from_json(json!({"node": "pve"})).unwrap()
    }

    fn args(o: &[(String, String)]) -> Vec<String> {
        o.iter().map(|(k, v)| format!("--{k}={v}")).collect()
    }

    #[test]
    fn template_create_arguments() {
        let req = CreateRequest {
            id: "web1".into(),
            image: Some("debian-12".into()),
            memory_mb: Some(1024),
            cores: Some(2),
            tags: vec!["a".into(), "b".into()],
            onboot: Some(true),
            features: Some("nesting=1".into()),
            description: Some("hello world".into()),
            ..Default::default()
        };
        let o = create_options(&cfg(), &req, None).unwrap();
        assert_eq!(
            args(&o),
            [
                "--hostname=web1",
                "--rootfs=local-lvm:8",
                "--memory=1024",
                "--swap=512",
                "--cores=2",
                "--net0=name=eth0,bridge=vmbr0,ip=dhcp",
                "--unprivileged=1",
                "--features=nesting=1",
                "--onboot=1",
                "--tags=a;b",
                "--description=hello world",
            ]
        );
    }

    #[test]
    fn empty_bridge_means_no_network_and_privileged_is_explicit() {
        let c = Config::from_json(
            json!({"bridge": "", "unprivileged": false, "rootfs_gib": 2, "storage": "tank"}),
        )
        .unwrap();
        let req = CreateRequest {
            id: "x1".into(),
            ..Default::default()
        };
        let a = args(&create_options(&c, &req, None).unwrap());
        assert!(!a.iter().any(|x| x.starts_with("--net")), "{a:?}");
        assert!(a.contains(&"--unprivileged=0".to_owned()));
        assert!(a.contains(&"--rootfs=tank:2".to_owned()));
    }

    #[test]
    fn options_pass_through_but_cannot_clash() {
        let mut req = CreateRequest {
            id: "x1".into(),
            ..Default::default()
        };
        req.options.insert("nameserver".into(), "1.1.1.1".into());
        let a = args(&create_options(&cfg(), &req, None).unwrap());
        assert!(a.contains(&"--nameserver=1.1.1.1".to_owned()));
        req.options.insert("memory".into(), "64".into());
        assert!(create_options(&cfg(), &req, None).is_err());
        req.options.clear();
        req.options.insert("start".into(), "1".into());
        assert!(create_options(&cfg(), &req, None).is_err());
    }

    #[test]
    fn request_values_are_validated() {
        for req in [
            CreateRequest {
                id: "a".into(),
                memory_mb: Some(8),
                ..Default::default()
            },
            CreateRequest {
                id: "a".into(),
                hostname: Some("bad_host".into()),
                ..Default::default()
            },
            CreateRequest {
                id: "a".into(),
                storage: Some("x".into()),
                ..Default::default()
            },
            CreateRequest {
                id: "a".into(),
                tags: vec!["a b".into()],
                ..Default::default()
            },
            CreateRequest {
                id: "a".into(),
                cores: Some(0),
                ..Default::default()
            },
        ] {
            let e = create_options(&cfg(), &req, None).unwrap_err();
            assert_eq!(e.kind, ErrorKind::INVALID_ARGUMENT, "{e}");
        }
    }

    #[test]
    fn names_and_vmids() {
        assert_eq!(as_vmid("105"), Some(105));
        assert_eq!(as_vmid("99"), None);
        assert_eq!(as_vmid("web"), None);
        assert!(validate_name("web-1").is_ok());
        for bad in ["", "123", "web_1", "-a", "a.b", &"x".repeat(64)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn oci_status_mapping() {
        let fresh = Record::default();
        let started = Record {
            started: true,
            ..Default::default()
        };
        let paused = Record {
            started: true,
            paused: true,
            ..Default::default()
        };
        assert_eq!(
            ProxmoxLxc::oci_status("stopped", "", Some(&fresh)),
            "created"
        );
        assert_eq!(
            ProxmoxLxc::oci_status("stopped", "", Some(&started)),
            "stopped"
        );
        assert_eq!(
            ProxmoxLxc::oci_status("running", "", Some(&fresh)),
            "running"
        );
        assert_eq!(
            ProxmoxLxc::oci_status("running", "", Some(&paused)),
            "paused"
        );
        assert_eq!(ProxmoxLxc::oci_status("stopped", "", None), "stopped");
        assert_eq!(
            ProxmoxLxc::oci_status("stopped", "create", None),
            "creating"
        );
    }

    #[test]
    fn exec_argument_vector() {
        let p = ExecProcess {
            args: vec!["ls".into(), "-la".into()],
            ..Default::default()
        };
        assert_eq!(
            exec_args(105, false, &p),
            ["exec", "105", "--keep-env=0", "--", "ls", "-la"]
        );
        let p = ExecProcess {
            args: vec!["pwd".into()],
            env: vec!["A=1".into()],
            cwd: Some("/tmp".into()),
            user: None,
        };
        assert_eq!(
            exec_args(105, true, &p),
            [
                "exec",
                "105",
                "--keep-env=1",
                "--",
                "/bin/sh",
                "-c",
                "cd -- \"$0\" && exec \"$@\"",
                "/tmp",
                "env",
                "A=1",
                "pwd"
            ]
        );
    }

    #[test]
    fn exec_process_file_and_overrides() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("p.json");
        std::fs::write(
            &f,
            r#"{"args":["sh","-c","true"],"env":["PATH=/bin"],"cwd":"/","user":{"uid":0,"gid":0}}"#,
        )
        .unwrap();
        let req = ExecRequest {
            id: "x".into(),
            process_file: Some(f),
            env: vec!["B=2".into()],
            ..Default::default()
        };
        let p = exec_process(&req).unwrap();
        assert_eq!(p.args, ["sh", "-c", "true"]);
        assert_eq!(p.env, ["PATH=/bin", "B=2"]);
        assert_eq!(p.user, Some((0, 0)));
    }
}
