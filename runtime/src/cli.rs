//! The command line: runc-compatible where runc has the command, plus the
//! Proxmox-style options of `create` and nexcage's own commands.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// nexcage: run containers on Proxmox VE (pct) or any runc-compatible
/// runtime, chosen per container by a routing table.
#[derive(Debug, Parser)]
// args_override_self: a repeated flag takes its last value, as runc's flag
// parsing does, instead of being a usage error.
#[command(
    name = "nexcage",
    disable_version_flag = true,
    max_term_width = 100,
    args_override_self = true
)]
pub struct Cli {
    /// Global options.
    #[command(flatten)]
    pub global: GlobalOpts,
    /// The command (required unless --version).
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

/// Options accepted before (or after) any command.
#[derive(Debug, Args, Clone, Default)]
pub struct GlobalOpts {
    /// Config file (else $NEXCAGE_CONFIG, else /etc/nexcage/config.toml)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// State root (default /run/nexcage)
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Write logs to FILE instead of stderr
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Log format
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Log level: error, warn, info, debug, trace
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Debug logging (same as --log-level debug)
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use systemd cgroups (passed to OCI runtimes)
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Rootless mode (passed to OCI runtimes)
    #[arg(long, global = true, value_name = "VALUE", num_args = 0..=1, default_missing_value = "true", require_equals = false)]
    pub rootless: Option<String>,
    /// CRIU binary (accepted for runc compatibility; unused)
    #[arg(long, global = true, value_name = "PATH")]
    pub criu: Option<PathBuf>,
    /// Use this backend, whatever the routing table says
    #[arg(long, global = true, value_name = "NAME")]
    pub backend: Option<String>,
    /// Print version information
    #[arg(short = 'v', long = "version")]
    pub version: bool,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line: {"level","msg","time"}.
    Json,
}

/// Table or JSON output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    /// Aligned columns.
    #[default]
    Table,
    /// JSON.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Create a container (from an OCI bundle, or a Proxmox template)
    Create(CreateArgs),
    /// Start a created container
    Start(IdArg),
    /// Stop a container: clean shutdown, then force after a timeout
    Stop(StopArgs),
    /// Send a signal to a container's init
    Kill(KillArgs),
    /// Delete a container
    Delete(DeleteArgs),
    /// Print a container's OCI state as JSON
    State(IdArg),
    /// List containers of every backend
    #[command(visible_alias = "ls")]
    List(ListArgs),
    /// Run a process in a running container
    Exec(ExecArgs),
    /// Create and start a container
    Run(RunArgs),
    /// Freeze a container
    Pause(IdArg),
    /// Thaw a paused container
    Resume(IdArg),
    /// List a container's processes
    Ps(PsArgs),
    /// Update a container's resource limits
    Update(UpdateArgs),
    /// Print the runtime's features as JSON
    Features(FeaturesArgs),
    /// List backend plugins: built-in and found on disk
    Plugins(PluginsArgs),
    /// Show or check the configuration
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Print which backend serves a command on a container, and why
    Route(RouteArgs),
    /// Print shell completions
    Completions(CompletionsArgs),
    /// Print version information
    Version,
}

/// A single container id.
#[derive(Debug, Args)]
pub struct IdArg {
    /// Container id (for Proxmox: name or VMID)
    pub id: String,
}

/// `create`.
#[derive(Debug, Args, Clone, Default)]
pub struct CreateArgs {
    /// Container id (for Proxmox: the container's name)
    pub id: String,
    #[command(flatten)]
    pub oci: OciCreateOpts,
    #[command(flatten)]
    pub pve: ProxmoxOpts,
}

/// runc's create/run options.
#[derive(Debug, Args, Clone, Default)]
pub struct OciCreateOpts {
    /// OCI bundle directory (default: the current directory, unless --image)
    #[arg(short = 'b', long, value_name = "DIR")]
    pub bundle: Option<PathBuf>,
    /// Write the container's init PID to FILE
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket to send the pty master to
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Do not use pivot_root
    #[arg(long)]
    pub no_pivot: bool,
    /// Do not create a new session keyring
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass N extra file descriptors (3..3+N-1)
    #[arg(long, value_name = "N")]
    pub preserve_fds: Option<u32>,
}

/// Options for template-based backends (Proxmox).
#[derive(Debug, Args, Clone, Default)]
pub struct ProxmoxOpts {
    /// Template or image: volume id, file name, or short name (debian-12)
    #[arg(long, value_name = "IMAGE", help_heading = "Proxmox options")]
    pub image: Option<String>,
    /// Download the template if it is not present
    #[arg(long, help_heading = "Proxmox options")]
    pub pull: bool,
    /// Use this VMID instead of the next free one
    #[arg(long, value_name = "N", help_heading = "Proxmox options")]
    pub vmid: Option<u32>,
    /// Hostname (default: the name)
    #[arg(long, help_heading = "Proxmox options")]
    pub hostname: Option<String>,
    /// Memory in MiB
    #[arg(long, value_name = "MIB", help_heading = "Proxmox options")]
    pub memory: Option<u64>,
    /// Swap in MiB
    #[arg(long, value_name = "MIB", help_heading = "Proxmox options")]
    pub swap: Option<u64>,
    /// CPU cores
    #[arg(long, help_heading = "Proxmox options")]
    pub cores: Option<u32>,
    /// Root disk size in GiB
    #[arg(long, value_name = "GIB", help_heading = "Proxmox options")]
    pub rootfs_size: Option<u32>,
    /// Storage for the root disk
    #[arg(long, help_heading = "Proxmox options")]
    pub storage: Option<String>,
    /// Network bridge
    #[arg(long, help_heading = "Proxmox options")]
    pub bridge: Option<String>,
    /// Unprivileged container (true/false)
    #[arg(long, value_name = "BOOL", help_heading = "Proxmox options")]
    pub unprivileged: Option<bool>,
    /// Features, e.g. nesting=1,keyctl=1
    #[arg(long, help_heading = "Proxmox options")]
    pub features: Option<String>,
    /// Start at boot (true/false)
    #[arg(long, value_name = "BOOL", help_heading = "Proxmox options")]
    pub onboot: Option<bool>,
    /// Tag (repeat or comma-separate)
    #[arg(long = "tag", value_delimiter = ',', help_heading = "Proxmox options")]
    pub tags: Vec<String>,
    /// Description
    #[arg(long, help_heading = "Proxmox options")]
    pub description: Option<String>,
    /// Backend-specific option KEY=VALUE (repeatable)
    #[arg(
        long = "opt",
        value_name = "KEY=VALUE",
        help_heading = "Proxmox options"
    )]
    pub opts: Vec<String>,
}

/// `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// Detach from the container's process
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep the container after it exits
    #[arg(long)]
    pub keep: bool,
}

/// `stop`.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Container id
    pub id: String,
    /// Seconds to wait for a clean shutdown
    #[arg(short, long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Skip the clean shutdown
    #[arg(short, long)]
    pub force: bool,
}

/// `kill`.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// Container id
    pub id: String,
    /// Signal: name (KILL, SIGKILL) or number (9); default TERM
    pub signal: Option<String>,
    /// Signal (alternative to the positional form)
    #[arg(
        short = 's',
        long = "signal",
        value_name = "SIGNAL",
        conflicts_with = "signal"
    )]
    pub signal_opt: Option<String>,
    /// Signal every process in the container
    #[arg(short, long)]
    pub all: bool,
}

/// `delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Container id
    pub id: String,
    /// Kill a running container first
    #[arg(short, long)]
    pub force: bool,
}

/// `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Output format
    #[arg(short, long, value_enum, default_value_t)]
    pub format: OutputFormat,
    /// Print ids only
    #[arg(short, long)]
    pub quiet: bool,
}

/// `exec`.
#[derive(Debug, Args)]
#[command(trailing_var_arg = true)]
pub struct ExecArgs {
    /// Container id
    pub id: String,
    /// Command and arguments
    #[arg(allow_hyphen_values = true)]
    pub command: Vec<String>,
    /// OCI process spec (JSON) instead of a command
    #[arg(short, long, value_name = "FILE")]
    pub process: Option<PathBuf>,
    /// Do not wait for the process
    #[arg(short, long)]
    pub detach: bool,
    /// Write the process PID to FILE
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Allocate a pseudo-terminal
    #[arg(short, long)]
    pub tty: bool,
    /// Unix socket to send the pty master to
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Environment variable KEY=VALUE (repeatable)
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Working directory
    #[arg(long)]
    pub cwd: Option<String>,
    /// User as UID or UID:GID
    #[arg(short, long)]
    pub user: Option<String>,
    /// Pass N extra file descriptors
    #[arg(long, value_name = "N")]
    pub preserve_fds: Option<u32>,
    /// Additional group (passed to OCI runtimes)
    #[arg(short = 'g', long = "additional-gids", value_name = "GID")]
    pub additional_gids: Vec<String>,
    /// Capability to add (passed to OCI runtimes)
    #[arg(short = 'c', long = "cap", value_name = "CAP")]
    pub caps: Vec<String>,
    /// Set no_new_privileges (passed to OCI runtimes)
    #[arg(long)]
    pub no_new_privs: bool,
    /// Process label (passed to OCI runtimes)
    #[arg(long, value_name = "LABEL")]
    pub process_label: Option<String>,
    /// AppArmor profile (passed to OCI runtimes)
    #[arg(long, value_name = "PROFILE")]
    pub apparmor: Option<String>,
    /// Cgroup to join (passed to OCI runtimes)
    #[arg(long, value_name = "PATH")]
    pub cgroup: Option<String>,
}

/// `ps`.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Container id
    pub id: String,
    /// Output format
    #[arg(short, long, value_enum, default_value_t)]
    pub format: OutputFormat,
    /// Options for ps(1) (accepted for runc compatibility; the table shows PID and command)
    #[arg(allow_hyphen_values = true, trailing_var_arg = true)]
    pub ps_args: Vec<String>,
}

/// `update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Container id
    pub id: String,
    /// OCI LinuxResources JSON file, or - for stdin
    #[arg(short, long, value_name = "FILE")]
    pub resources: PathBuf,
}

/// `features`.
#[derive(Debug, Args)]
pub struct FeaturesArgs {}

/// `plugins`.
#[derive(Debug, Args)]
pub struct PluginsArgs {
    /// Output format
    #[arg(short, long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

/// `config`.
#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Print the effective config and where each value came from
    Show,
    /// Validate the config (and each backend's settings); exit 1 if invalid
    Check,
}

/// `route`.
#[derive(Debug, Args)]
pub struct RouteArgs {
    /// The command, e.g. create
    pub command: String,
    /// The container id
    pub id: String,
}

/// `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// Shell
    pub shell: clap_complete::Shell,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("nexcage").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn runc_argv_forms() {
        // containerd
        let c = parse(&[
            "--root",
            "/run/containerd/runc/default",
            "--log",
            "/b/log.json",
            "--log-format",
            "json",
            "create",
            "--bundle",
            "/b",
            "--pid-file",
            "/b/init.pid",
            "ctr1",
        ]);
        assert_eq!(c.global.log_format, Some(LogFormat::Json));
        let Some(Cmd::Create(a)) = c.command else {
            panic!()
        };
        assert_eq!(a.id, "ctr1");
        // podman: `=` forms; options after the id
        let c = parse(&[
            "--log-format=json",
            "--log=/x/oci-log",
            "create",
            "id1",
            "--bundle",
            "/u",
        ]);
        assert_eq!(
            c.global.log.as_deref(),
            Some(std::path::Path::new("/x/oci-log"))
        );
        let Some(Cmd::Create(a)) = c.command else {
            panic!()
        };
        assert_eq!(a.oci.bundle.as_deref(), Some(std::path::Path::new("/u")));
        // kill with numeric and named positional signals
        let Some(Cmd::Kill(k)) = parse(&["kill", "c", "9"]).command else {
            panic!()
        };
        assert_eq!(k.signal.as_deref(), Some("9"));
        let Some(Cmd::Kill(k)) = parse(&["kill", "--all", "c", "SIGKILL"]).command else {
            panic!()
        };
        assert!(k.all);
        // exec with hyphenated command args
        let Some(Cmd::Exec(e)) =
            parse(&["exec", "--detach", "--pid-file", "/p", "c", "ls", "-la"]).command
        else {
            panic!()
        };
        assert_eq!(e.command, ["ls", "-la"]);
        // global flags also work after the command
        let c = parse(&["state", "x", "--root", "/r"]);
        assert_eq!(c.global.root.as_deref(), Some(std::path::Path::new("/r")));
        let c = parse(&[
            "--rootless=false",
            "--systemd-cgroup",
            "delete",
            "--force",
            "x",
        ]);
        assert_eq!(c.global.rootless.as_deref(), Some("false"));
        assert!(c.global.systemd_cgroup);
        // repeatable options still accumulate
        let Some(Cmd::Exec(e)) = parse(&["exec", "--env", "A=1", "-e", "B=2", "c", "env"]).command
        else {
            panic!()
        };
        assert_eq!(e.env, ["A=1", "B=2"]);
        let Some(Cmd::Create(a)) = parse(&["create", "x", "--tag", "a", "--tag", "b,c"]).command
        else {
            panic!()
        };
        assert_eq!(a.pve.tags, ["a", "b", "c"]);
        // a repeated flag: the last one wins
        let c = parse(&["--root", "/a", "--root=/b", "state", "x"]);
        assert_eq!(c.global.root.as_deref(), Some(std::path::Path::new("/b")));
        let c = parse(&["update", "--resources=-", "x"]);
        let Some(Cmd::Update(u)) = c.command else {
            panic!()
        };
        assert_eq!(u.resources, std::path::Path::new("-"));
    }

    #[test]
    fn missing_id_is_a_usage_error() {
        let e = Cli::try_parse_from(["nexcage", "state"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
    }
}
