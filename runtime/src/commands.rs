//! One function per command: argv (parsed) → route → backend → exit code.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use nexcage_plugin_api::{
    Command, ContainerSummary, CreateRequest, DeleteRequest, ErrorKind, ExecRequest,
    FeaturesRequest, HostInfo, IdRequest, KillRequest, ListRequest, Request, Response, StopRequest,
    UpdateRequest,
};

use crate::backends::{self, Instance};
use crate::cli::{self, Cmd, ConfigCmd, GlobalOpts, OutputFormat};
use crate::config::{self, BackendConfig, Config, Origin};
use crate::error::{Error, Result};
use crate::loader::{self, SearchPath};
use crate::routing::{self, Decision};
use crate::signal;
use crate::store::Store;

/// Writes a line to stdout. A closed pipe (`nexcage list | head`) is not an
/// error worth reporting, so write errors are ignored here.
macro_rules! outln {
    ($($t:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}

macro_rules! out {
    ($($t:tt)*) => {{
        let _ = write!(std::io::stdout().lock(), $($t)*);
    }};
}

/// Everything a command needs.
pub struct Ctx {
    /// Global flags.
    pub global: GlobalOpts,
    /// The effective config.
    pub cfg: Config,
    /// Where plugins are looked for.
    pub search: SearchPath,
    /// The state root.
    pub store: Store,
}

impl Ctx {
    /// Builds the context: loads and validates the config. With
    /// `check_names`, every backend the routing table names must exist
    /// (diagnostic commands like `plugins` skip that, so they still work
    /// when it does not).
    pub fn new(global: GlobalOpts, check_names: bool) -> Result<Self> {
        let mut cfg = config::load(global.config.as_deref())?;
        if let Some(root) = &global.root {
            cfg.root = config::Sourced {
                value: absolute(root)?,
                origin: Origin::Flag("--root"),
            };
        }
        let search = SearchPath::from_config(&cfg);
        if check_names {
            config::check_backend_names(&cfg, |n| search.provides(n))?;
        }
        let store = Store::new(&cfg.root.value);
        Ok(Self {
            global,
            cfg,
            search,
            store,
        })
    }

    fn host_info(&self, backend: &str) -> Result<HostInfo> {
        Ok(HostInfo {
            host_version: env!("CARGO_PKG_VERSION").to_owned(),
            api_version: nexcage_plugin_api::API_VERSION.to_owned(),
            backend: backend.to_owned(),
            state_dir: self.store.backend_dir(backend)?,
            root: self.store.root().to_owned(),
            log_file: self.global.log.clone(),
            log_format: self.global.log_format.map(|f| match f {
                cli::LogFormat::Text => "text".to_owned(),
                cli::LogFormat::Json => "json".to_owned(),
            }),
            systemd_cgroup: self.global.systemd_cgroup,
            rootless: self.global.rootless.clone(),
            debug: self.global.debug,
        })
    }

    fn decide(&self, command: Command, id: Option<&str>) -> Result<(Decision, BackendConfig)> {
        let owner = match id {
            Some(id) => self.store.owner(id)?,
            None => None,
        };
        let d = routing::route(
            &self.cfg,
            command,
            id,
            self.global.backend.as_deref(),
            owner.as_ref().map(|o| o.backend.as_str()),
        );
        let current = self.cfg.backend(&d.backend);
        let bc = match owner {
            Some(o)
                if d.reason == routing::Reason::Owner
                    && !self.cfg.backends.contains_key(&o.backend)
                    && !o.plugin.is_empty()
                    && (o.plugin != current.plugin || o.settings != current.settings) =>
            {
                // Expected when an engine's cleanup path calls without the
                // --config it used for create (podman does): not worth a
                // warning on the engine's user-visible stderr.
                tracing::info!(
                    "backend '{}' is not declared in the current config; using the plugin '{}' and settings recorded when the container was created",
                    o.backend,
                    o.plugin
                );
                BackendConfig::recorded(&o.backend, &o.plugin, o.settings)
            }
            _ => current,
        };
        Ok((d, bc))
    }

    fn open(&self, bc: &BackendConfig) -> Result<Instance> {
        backends::open(&self.search, bc.clone(), &self.host_info(&bc.name)?)
    }

    /// Routes and sends a request about one container.
    fn send(&self, id: &str, request: Request) -> Result<(String, Response)> {
        validate_id(id)?;
        let (d, bc) = self.decide(request.command(), Some(id))?;
        tracing::debug!(command = %request.command(), id, backend = %d.backend, reason = %d.reason, "routed");
        let inst = self.open(&bc)?;
        let resp = inst.invoke(&request)?;
        Ok((d.backend, resp))
    }
}

/// Runs a parsed command line; returns the exit status.
pub fn run(ctx: &Ctx, cmd: Cmd) -> Result<i32> {
    match cmd {
        Cmd::Create(a) => create(ctx, a, None),
        Cmd::Run(a) => create(ctx, a.create, Some((a.detach, a.keep))),
        Cmd::Start(a) => simple(ctx, &a.id, Request::Start(IdRequest { id: a.id.clone() })),
        Cmd::Stop(a) => simple(
            ctx,
            &a.id,
            Request::Stop(StopRequest {
                id: a.id.clone(),
                timeout_secs: a.timeout,
                force: a.force,
            }),
        ),
        Cmd::Kill(a) => {
            let sig = a
                .signal
                .as_deref()
                .or(a.signal_opt.as_deref())
                .unwrap_or("TERM");
            let signal = signal::parse(sig).map_err(Error::Invalid)?;
            simple(
                ctx,
                &a.id,
                Request::Kill(KillRequest {
                    id: a.id.clone(),
                    signal,
                    all: a.all,
                }),
            )
        }
        Cmd::Delete(a) => delete(ctx, &a.id, a.force),
        Cmd::State(a) => state(ctx, &a.id),
        Cmd::List(a) => list(ctx, &a),
        Cmd::Exec(a) => exec(ctx, a),
        Cmd::Pause(a) => simple(ctx, &a.id, Request::Pause(IdRequest { id: a.id.clone() })),
        Cmd::Resume(a) => simple(ctx, &a.id, Request::Resume(IdRequest { id: a.id.clone() })),
        Cmd::Ps(a) => ps(ctx, &a),
        Cmd::Update(a) => update(ctx, &a),
        Cmd::Features(_) => features(ctx),
        Cmd::Plugins(a) => plugins(ctx, a.format),
        Cmd::Config(ConfigCmd::Show) => config_show(ctx),
        Cmd::Config(ConfigCmd::Check) => config_check(ctx),
        Cmd::Route(a) => route(ctx, &a.command, &a.id),
        Cmd::Completions(_) | Cmd::Version => Ok(0),
    }
}

/// Container ids: what runc accepts (`[A-Za-z0-9_+.-]+`, not `.`/`..`),
/// at most 1024 bytes, so an id is always a safe file name.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "invalid container id '{}': use letters, digits, '_', '+', '-' and '.'",
            id.escape_debug()
        )))
    }
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).map_err(|source| Error::Io {
        context: "cannot resolve",
        path: p.to_owned(),
        source,
    })
}

fn simple(ctx: &Ctx, id: &str, req: Request) -> Result<i32> {
    ctx.send(id, req)?;
    Ok(0)
}

fn create(ctx: &Ctx, a: cli::CreateArgs, run: Option<(bool, bool)>) -> Result<i32> {
    validate_id(&a.id)?;
    let bundle = match (&a.oci.bundle, &a.pve.image) {
        (Some(b), _) => Some(absolute(b)?),
        (None, None) => Some(std::env::current_dir().map_err(|source| Error::Io {
            context: "cannot read",
            path: PathBuf::from("."),
            source,
        })?),
        (None, Some(_)) => None,
    };
    if let (Some(b), None) = (&bundle, &a.pve.image)
        && !b.join("config.json").is_file()
    {
        let hint = if a.oci.bundle.is_none() {
            " (the default is the current directory)"
        } else {
            ""
        };
        return Err(Error::Invalid(format!(
            "{} is not an OCI bundle: it has no config.json{hint}; give --bundle DIR for an OCI bundle or --image TEMPLATE for a Proxmox template",
            b.display()
        )));
    }
    let mut options = BTreeMap::new();
    for kv in &a.pve.opts {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| Error::Invalid(format!("--opt expects KEY=VALUE, got '{kv}'")))?;
        options.insert(k.to_owned(), v.to_owned());
    }
    let (detach, keep) = run.unwrap_or((false, false));
    let req = CreateRequest {
        id: a.id.clone(),
        bundle,
        image: a.pve.image.clone(),
        pull: a.pve.pull,
        pid_file: a.oci.pid_file.as_deref().map(absolute).transpose()?,
        console_socket: a.oci.console_socket.clone(),
        no_pivot: a.oci.no_pivot,
        no_new_keyring: a.oci.no_new_keyring,
        preserve_fds: a.oci.preserve_fds,
        detach,
        keep,
        vmid: a.pve.vmid,
        hostname: a.pve.hostname.clone(),
        memory_mb: a.pve.memory,
        swap_mb: a.pve.swap,
        cores: a.pve.cores,
        rootfs_gib: a.pve.rootfs_size,
        storage: a.pve.storage.clone(),
        bridge: a.pve.bridge.clone(),
        unprivileged: a.pve.unprivileged,
        features: a.pve.features.clone(),
        onboot: a.pve.onboot,
        tags: a.pve.tags.clone(),
        description: a.pve.description.clone(),
        options,
    };
    let request = if run.is_some() {
        Request::Run(req)
    } else {
        Request::Create(req)
    };
    let (d, bc) = ctx.decide(request.command(), Some(&a.id))?;
    let inst = ctx.open(&bc)?;
    // Record the owner before a foreground `run` starts, so a concurrent
    // `state`/`kill` reaches the right backend while it runs.
    if run.is_some() {
        ctx.store.set_owner(&a.id, &bc)?;
        if !detach {
            signal::shield_foreground();
        }
    }
    let resp = match inst.invoke(&request) {
        Ok(r) => r,
        Err(e) => {
            if run.is_some() {
                ctx.store.remove_owner(&a.id)?;
            }
            return Err(e);
        }
    };
    let Response::Created(created) = resp else {
        return Err(unexpected(&d.backend, &resp));
    };
    for w in &created.warnings {
        tracing::warn!("{}: {w}", d.backend);
    }
    match created.exit_code {
        // A foreground run has finished; runc removes the container unless --keep.
        Some(code) if run.is_some() && !keep => {
            ctx.store.remove_owner(&a.id)?;
            Ok(code)
        }
        Some(code) => Ok(code),
        None => {
            ctx.store.set_owner(&a.id, &bc)?;
            if let Some(s) = &created.summary {
                outln!("{s}");
            }
            Ok(0)
        }
    }
}

fn unexpected(backend: &str, resp: &Response) -> Error {
    Error::Invalid(format!(
        "backend '{backend}' sent an unexpected '{}' response",
        resp.kind_name()
    ))
}

fn delete(ctx: &Ctx, id: &str, force: bool) -> Result<i32> {
    let known = ctx.store.owner(id)?.is_some();
    match ctx.send(
        id,
        Request::Delete(DeleteRequest {
            id: id.to_owned(),
            force,
        }),
    ) {
        Ok(_) => {
            ctx.store.remove_owner(id)?;
            Ok(0)
        }
        Err(e) if e.backend_kind() == Some(ErrorKind::NOT_FOUND) => {
            // The backend no longer knows it: drop our stale record too.
            ctx.store.remove_owner(id)?;
            // runc: `delete --force` of an id it never saw succeeds (podman
            // runs it after every failed create).
            if force && !known {
                tracing::debug!("delete --force: {e}");
                return Ok(0);
            }
            Err(e)
        }
        Err(e) => Err(e),
    }
}

fn state(ctx: &Ctx, id: &str) -> Result<i32> {
    let (backend, resp) = ctx.send(id, Request::State(IdRequest { id: id.to_owned() }))?;
    let Response::State(s) = resp else {
        return Err(unexpected(&backend, &resp));
    };
    print_json(&s)?;
    Ok(0)
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(v).map_err(|e| Error::Invalid(e.to_string()))?;
    outln!("{text}");
    Ok(())
}

fn list(ctx: &Ctx, a: &cli::ListArgs) -> Result<i32> {
    let mut names = match &ctx.global.backend {
        Some(b) => vec![b.clone()],
        None => {
            let mut n = ctx.cfg.mentioned_backends();
            n.extend(ctx.store.all_owners()?.into_iter().map(|o| o.backend));
            n.sort();
            n.dedup();
            n
        }
    };
    names.retain(|n| !n.is_empty());
    let mut rows: Vec<ContainerSummary> = Vec::new();
    let (mut answered, mut failed) = (0, 0);
    for name in &names {
        let inst = match ctx.open(&ctx.cfg.backend(name)) {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!("list: skipping backend '{name}': {e}");
                failed += 1;
                continue;
            }
        };
        if !inst.implements(Command::List) {
            tracing::debug!("list: backend '{name}' does not implement list");
            continue;
        }
        match inst.invoke(&Request::List(ListRequest::default())) {
            Ok(Response::List(mut l)) => {
                answered += 1;
                for r in &mut l {
                    r.backend = name.clone();
                }
                rows.extend(l);
            }
            Ok(other) => {
                failed += 1;
                tracing::warn!("list: {}", unexpected(name, &other));
            }
            Err(e) => {
                failed += 1;
                tracing::warn!("list: {e}");
            }
        }
    }
    rows.sort_by(|x, y| (&x.id, &x.backend).cmp(&(&y.id, &y.backend)));
    if a.quiet {
        for r in &rows {
            outln!("{}", r.id);
        }
    } else if a.format == OutputFormat::Json {
        // Compact, as runc's `list --format json`: it is read by programs,
        // and a few thousand rows should not cost pretty-printing.
        let text = serde_json::to_string(&rows).map_err(|e| Error::Invalid(e.to_string()))?;
        outln!("{text}");
    } else {
        print_table(&rows);
    }
    if answered == 0 && failed > 0 {
        return Err(Error::Invalid(format!(
            "list: none of the {failed} backend(s) answered (see the warnings above)"
        )));
    }
    Ok(0)
}

fn print_table(rows: &[ContainerSummary]) {
    let lines = rows.iter().map(|r| {
        let info = if r.annotations.is_empty() {
            r.bundle.clone()
        } else {
            r.annotations
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let pid = if r.pid > 0 {
            r.pid.to_string()
        } else {
            "-".to_owned()
        };
        vec![r.id.clone(), r.backend.clone(), r.status.clone(), pid, info]
    });
    print_columns(&["ID", "BACKEND", "STATUS", "PID", "INFO"], lines);
}

/// Prints aligned columns (two spaces apart, the last one unpadded).
fn print_columns(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    let mut lines = vec![header.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>()];
    lines.extend(rows);
    let mut widths = vec![0usize; header.len()];
    for l in &lines {
        for (w, c) in widths.iter_mut().zip(l) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = std::io::stdout().lock();
    for l in &lines {
        let mut s = String::new();
        for (i, (w, c)) in widths.iter().zip(l).enumerate() {
            if i + 1 == l.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        let _ = writeln!(out, "{}", s.trim_end());
    }
}

fn exec(ctx: &Ctx, a: cli::ExecArgs) -> Result<i32> {
    if a.command.is_empty() && a.process.is_none() {
        return Err(Error::Invalid(
            "exec needs a command or --process FILE".into(),
        ));
    }
    let mut extra_args = Vec::new();
    for g in &a.additional_gids {
        extra_args.push(format!("--additional-gids={g}"));
    }
    for c in &a.caps {
        extra_args.push(format!("--cap={c}"));
    }
    if a.no_new_privs {
        extra_args.push("--no-new-privs".into());
    }
    if let Some(l) = &a.process_label {
        extra_args.push(format!("--process-label={l}"));
    }
    if let Some(p) = &a.apparmor {
        extra_args.push(format!("--apparmor={p}"));
    }
    if let Some(c) = &a.cgroup {
        extra_args.push(format!("--cgroup={c}"));
    }
    let req = ExecRequest {
        id: a.id.clone(),
        args: a.command,
        process_file: a.process.as_deref().map(absolute).transpose()?,
        env: a.env,
        cwd: a.cwd,
        user: a.user,
        tty: a.tty,
        detach: a.detach,
        pid_file: a.pid_file.as_deref().map(absolute).transpose()?,
        console_socket: a.console_socket,
        preserve_fds: a.preserve_fds,
        extra_args,
    };
    if !req.detach {
        signal::shield_foreground();
    }
    let (backend, resp) = ctx.send(&a.id, Request::Exec(req))?;
    match resp {
        Response::Exited(code) => Ok(code),
        Response::Spawned(_) | Response::Done => Ok(0),
        other => Err(unexpected(&backend, &other)),
    }
}

fn ps(ctx: &Ctx, a: &cli::PsArgs) -> Result<i32> {
    let (backend, resp) = ctx.send(&a.id, Request::Ps(IdRequest { id: a.id.clone() }))?;
    let Response::Pids(pids) = resp else {
        return Err(unexpected(&backend, &resp));
    };
    if a.format == OutputFormat::Json {
        print_json(&pids)?;
    } else {
        outln!("{:>8}  CMD", "PID");
        for p in pids {
            let cmd = std::fs::read(format!("/proc/{p}/cmdline"))
                .map(|b| {
                    b.split(|c| *c == 0)
                        .filter(|s| !s.is_empty())
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            outln!("{p:>8}  {cmd}");
        }
    }
    Ok(0)
}

fn update(ctx: &Ctx, a: &cli::UpdateArgs) -> Result<i32> {
    let mut text = String::new();
    if a.resources == Path::new("-") {
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|source| Error::Io {
                context: "cannot read",
                path: PathBuf::from("stdin"),
                source,
            })?;
    } else {
        text = std::fs::read_to_string(&a.resources).map_err(|source| Error::Io {
            context: "cannot read",
            path: a.resources.clone(),
            source,
        })?;
    }
    serde_json::from_str::<serde_json::Value>(&text).map_err(|e| {
        Error::Invalid(format!(
            "--resources {}: not valid JSON: {e}",
            a.resources.display()
        ))
    })?;
    simple(
        ctx,
        &a.id,
        Request::Update(UpdateRequest {
            id: a.id.clone(),
            resources_json: text,
        }),
    )
}

fn features(ctx: &Ctx) -> Result<i32> {
    let (d, bc) = ctx.decide(Command::Features, None)?;
    let inst = ctx.open(&bc)?;
    let resp = inst.invoke(&Request::Features(FeaturesRequest::default()))?;
    let Response::Features(f) = resp else {
        return Err(unexpected(&d.backend, &resp));
    };
    print_json(&f)?;
    Ok(0)
}

#[derive(serde::Serialize)]
struct PluginRow {
    name: String,
    version: String,
    api_version: String,
    source: String,
    commands: Vec<String>,
}

fn plugins(ctx: &Ctx, format: OutputFormat) -> Result<i32> {
    let scan = loader::scan(&ctx.search);
    let rows: Vec<PluginRow> = scan
        .plugins
        .iter()
        .map(|p| PluginRow {
            name: p.name(),
            version: p.version(),
            api_version: p.api_version(),
            source: p.source().to_string(),
            commands: p.commands().iter().map(|c| c.to_string()).collect(),
        })
        .collect();
    for r in &scan.refused {
        eprintln!("nexcage: {r}");
    }
    if format == OutputFormat::Json {
        print_json(&rows)?;
        return Ok(0);
    }
    print_columns(
        &["NAME", "VERSION", "API", "SOURCE", "COMMANDS"],
        rows.iter().map(|r| {
            vec![
                r.name.clone(),
                r.version.clone(),
                r.api_version.clone(),
                r.source.clone(),
                r.commands.join(","),
            ]
        }),
    );
    // The backend instances the config routes to, and whether their plugin
    // is here: what a routed command will find.
    let backends = ctx.cfg.mentioned_backends();
    if !backends.is_empty() {
        outln!();
        print_columns(
            &["BACKEND", "PLUGIN"],
            backends.into_iter().map(|name| {
                let plugin = ctx.cfg.backend(&name).plugin;
                let found = rows.iter().any(|r| r.name == plugin);
                let note = if found { "" } else { "  (plugin not found)" };
                vec![name, format!("{plugin}{note}")]
            }),
        );
    }
    Ok(0)
}

fn config_show(ctx: &Ctx) -> Result<i32> {
    let c = &ctx.cfg;
    let mut out = String::new();
    let mut line = |k: &str, v: String, o: &Origin| {
        out.push_str(&format!("{k} = {v}  # {o}\n"));
    };
    match &c.file {
        Some(f) => line(
            "config_file",
            quote(&f.value.display().to_string()),
            &f.origin,
        ),
        None => line("config_file", "none".into(), &Origin::Default),
    }
    line(
        "runtime.root",
        quote(&c.root.value.display().to_string()),
        &c.root.origin,
    );
    if let Some(l) = &c.log_level {
        line("runtime.log_level", quote(&l.value), &l.origin);
    }
    line(
        "routing.default",
        quote(&c.default_backend.value),
        &c.default_backend.origin,
    );
    for (cmd, b) in &c.command_backends {
        line(
            &format!("routing.commands.{cmd}"),
            quote(&b.value),
            &b.origin,
        );
    }
    for r in &c.rules {
        let cmds = r
            .commands
            .as_ref()
            .map(|cs| {
                format!(
                    ", commands = [{}]",
                    cs.iter()
                        .map(|c| quote(c.as_str()))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .unwrap_or_default();
        line(
            &format!("routing.rules[{}]", r.index),
            format!(
                "{{ match = {}{cmds}, backend = {} }}",
                r.pattern,
                quote(&r.backend)
            ),
            &r.origin,
        );
    }
    for b in c.backends.values() {
        line(
            &format!("backends.{}", b.name),
            format!(
                "{{ plugin = {}, settings = {} }}",
                quote(&b.plugin),
                b.settings
            ),
            &b.origin,
        );
    }
    for f in &ctx.search.files {
        line(
            "plugins.paths[]",
            quote(&f.value.display().to_string()),
            &f.origin,
        );
    }
    for d in &ctx.search.dirs {
        line(
            "plugins.search_dir[]",
            quote(&d.value.display().to_string()),
            &d.origin,
        );
    }
    out!("{out}");
    Ok(0)
}

fn quote(s: &str) -> String {
    format!("{s:?}")
}

fn config_check(ctx: &Ctx) -> Result<i32> {
    // Loading and name checks already passed in Ctx::new; now let every
    // declared backend's plugin validate its own table.
    let mut errors = 0;
    for name in ctx.cfg.backends.keys() {
        match backends::find_plugin(&ctx.cfg, &ctx.search, name)
            .and_then(|(bc, p)| backends::build(&bc, p, &ctx.host_info(name)?))
        {
            Ok(_) => outln!("backend {name}: ok"),
            Err(e) => {
                errors += 1;
                eprintln!("nexcage: {e}");
            }
        }
    }
    match &ctx.cfg.file {
        Some(f) => outln!("config {}: ok", f.value.display()),
        None => outln!("no config file; built-in defaults"),
    }
    if errors > 0 {
        return Err(Error::Invalid(format!(
            "{errors} backend(s) have invalid settings"
        )));
    }
    Ok(0)
}

fn route(ctx: &Ctx, command: &str, id: &str) -> Result<i32> {
    let command: Command = command
        .parse()
        .map_err(|e: nexcage_plugin_api::UnknownCommand| Error::Invalid(e.to_string()))?;
    validate_id(id)?;
    let (d, bc) = ctx.decide(command, Some(id))?;
    let plugin = bc.plugin;
    outln!("backend: {}", d.backend);
    outln!("plugin:  {plugin}");
    outln!("reason:  {}", d.reason);
    Ok(0)
}
