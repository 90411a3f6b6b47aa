//! Command-line interface, spelled as runc spells it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "berth",
    about = "An OCI container runtime",
    disable_version_flag = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    /// Print the version (runc's format: `berth version X`, `spec: Y`).
    #[arg(short = 'v', long)]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Args, Clone, Debug)]
pub struct Global {
    /// Directory for container state (tmpfs recommended).
    #[arg(long, global = true, default_value = "/run/berth")]
    pub root: PathBuf,
    /// Log file.
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long = "log-format", global = true, default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Debug logging.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use the systemd cgroup driver (not supported yet: a clear error).
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Accepted for runc compatibility; berth has no criu support.
    #[arg(long, global = true, hide = true)]
    pub criu: Option<String>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create a container (its process waits for `start`).
    Create(CreateArgs),
    /// Start a created container.
    Start { id: String },
    /// Print a container's state as JSON.
    State { id: String },
    /// Send a signal to a container's init (or all its processes).
    Kill {
        #[arg(short, long)]
        all: bool,
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a container.
    Delete {
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// Create and start a container.
    Run(RunArgs),
    /// Run a process in a running container.
    Exec(ExecArgs),
    /// List containers.
    List {
        #[arg(short, long)]
        quiet: bool,
        #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
    },
    /// Show the processes of a container.
    Ps {
        #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
        id: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Freeze every process of a container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// Change a container's resource limits.
    Update(UpdateArgs),
    /// Print container events (stats, oom) as JSON lines.
    Events {
        /// Print one stats event and exit.
        #[arg(long)]
        stats: bool,
        /// Interval between stats events (e.g. 5s, 500ms).
        #[arg(long, default_value = "5s")]
        interval: String,
        id: String,
    },
    /// Write a default config.json.
    Spec {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        #[arg(long)]
        rootless: bool,
    },
    /// Print the features this runtime and kernel support, as JSON.
    Features,
    /// Images (pull, store, bundle, commit, push) and containers from them (run, ps, logs, exec).
    Image(crate::commands::image::ImageCli),
}

#[derive(Args, Clone)]
pub struct CreateArgs {
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: i32,
    pub id: String,
}

#[derive(Args, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    #[arg(short, long)]
    pub detach: bool,
    #[arg(long)]
    pub keep: bool,
}

#[derive(Args, Clone)]
pub struct UpdateArgs {
    /// A LinuxResources JSON file, or `-` for stdin.
    #[arg(short, long)]
    pub resources: Option<String>,
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    #[arg(long = "cpu-quota")]
    pub cpu_quota: Option<i64>,
    #[arg(long = "cpu-burst")]
    pub cpu_burst: Option<u64>,
    #[arg(long = "cpu-share")]
    pub cpu_share: Option<u64>,
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    #[arg(long = "cpu-rt-runtime")]
    pub cpu_rt_runtime: Option<i64>,
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Memory limit (bytes, or with a k/m/g suffix; -1 for unlimited).
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    #[arg(long = "l3-cache-schema")]
    pub l3_cache_schema: Option<String>,
    #[arg(long = "mem-bw-schema")]
    pub mem_bw_schema: Option<String>,
    pub id: String,
}

#[derive(Args, Clone)]
pub struct ExecArgs {
    /// A process.json to run instead of ARGS.
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    #[arg(short, long)]
    pub tty: bool,
    #[arg(short, long)]
    pub detach: bool,
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// uid[:gid]
    #[arg(short, long)]
    pub user: Option<String>,
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    #[arg(short, long = "cap")]
    pub cap: Vec<String>,
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: i32,
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    #[arg(long)]
    pub apparmor: Option<String>,
    pub id: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}
