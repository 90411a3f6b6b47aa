//! Command-line interface, spelled as runc spells it.

use std::path::PathBuf;

use clap::{ArgMatches, Args, Command as ClapCommand, FromArgMatches, Parser, Subcommand};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

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
    /// Directory for container state (tmpfs recommended). Default: /run/berth, or
    /// $XDG_RUNTIME_DIR/berth when rootless (a user other than root, or root of a user
    /// namespace a user made).
    #[arg(long, global = true)]
    pub root: Option<PathBuf>,
    /// Log file.
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long = "log-format", global = true, default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Debug logging.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use the systemd cgroup driver.
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// The criu binary of `checkpoint` and `restore` (default: criu in PATH).
    #[arg(long, global = true)]
    pub criu: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create a container (its process waits for `start`).
    Create(Lazy<CreateArgs>),
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
    Run(Lazy<RunArgs>),
    /// Run a process in a running container.
    Exec(Lazy<ExecArgs>),
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
    Update(Lazy<UpdateArgs>),
    /// Print container events (stats, oom) as JSON lines.
    Events {
        /// Print one stats event and exit.
        #[arg(long)]
        stats: bool,
        /// Interval between stats events (e.g. 5s, 500ms).
        #[arg(long, default_value = "5s", value_parser = parse_duration)]
        interval: std::time::Duration,
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
    /// Checkpoint a running container with CRIU.
    // A flag given twice is given (podman 4.3 repeats --leave-running; runc takes it).
    #[command(args_override_self = true)]
    Checkpoint(Lazy<CheckpointArgs>),
    /// Restore a container from a checkpoint.
    #[command(args_override_self = true)]
    Restore(Lazy<RestoreArgs>),
    /// Images (pull, store, bundle, commit, push) and containers from them (run, ps, logs, exec).
    Image(Lazy<crate::image::ImageCli>),
}

/// A subcommand's arguments, added to the command line's definition only when that subcommand
/// is the one given (clap's `Command::defer`). Every call of berth used to build the arguments
/// of every verb, the image verbs' included: most of its parsing time and heap.
#[derive(Clone, Debug)]
pub struct Lazy<T>(pub T);

impl<T: Args> Args for Lazy<T> {
    fn augment_args(cmd: ClapCommand) -> ClapCommand {
        cmd.defer(keeping_about::<T>)
    }
    fn augment_args_for_update(cmd: ClapCommand) -> ClapCommand {
        cmd.defer(keeping_about::<T>)
    }
    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }
}

/// `T`'s arguments, keeping the subcommand's own help text: clap sets it from the enum
/// variant's doc before the deferred arguments are added, and `T`'s own doc (a struct
/// flattened in, say) would replace it.
fn keeping_about<T: Args>(cmd: ClapCommand) -> ClapCommand {
    let (about, long) = (cmd.get_about().cloned(), cmd.get_long_about().cloned());
    let cmd = T::augment_args(cmd);
    let cmd = match about {
        Some(a) => cmd.about(a),
        None => cmd,
    };
    match long {
        Some(l) => cmd.long_about(l),
        None => cmd.long_about(None::<&'static str>),
    }
}

impl<T: FromArgMatches> FromArgMatches for Lazy<T> {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(m).map(Lazy)
    }
    fn from_arg_matches_mut(m: &mut ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches_mut(m).map(Lazy)
    }
    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(m)
    }
    fn update_from_arg_matches_mut(&mut self, m: &mut ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches_mut(m)
    }
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
    /// CPU quota per period in microseconds; -1 for unlimited.
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    #[arg(long = "cpu-burst")]
    pub cpu_burst: Option<u64>,
    #[arg(long = "cpu-share")]
    pub cpu_share: Option<u64>,
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Memory limit (bytes, or with a k/m/g suffix; -1 for unlimited).
    #[arg(long, allow_hyphen_values = true, value_parser = parse_bytes)]
    pub memory: Option<i64>,
    #[arg(long = "memory-reservation", allow_hyphen_values = true, value_parser = parse_bytes)]
    pub memory_reservation: Option<i64>,
    #[arg(long = "memory-swap", allow_hyphen_values = true, value_parser = parse_bytes)]
    pub memory_swap: Option<i64>,
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    #[arg(long = "l3-cache-schema")]
    pub l3_cache_schema: Option<String>,
    #[arg(long = "mem-bw-schema")]
    pub mem_bw_schema: Option<String>,
    pub id: String,
}

impl Global {
    /// The state root: `--root`, or the default for the calling user (as runc's).
    pub fn state_root(&self) -> PathBuf {
        if let Some(r) = &self.root {
            return r.clone();
        }
        // Rootless includes root of a user's user namespace: rootless podman runs the
        // runtime so, and /run is not the user's to write.
        match std::env::var_os("XDG_RUNTIME_DIR") {
            Some(d) if berth_runtime::plan::HostFacts::probe().rootless() && !d.is_empty() => {
                PathBuf::from(d).join("berth")
            }
            _ => PathBuf::from("/run/berth"),
        }
    }
}

impl UpdateArgs {
    /// The limits the flags ask for.
    pub fn resources_from_flags(&self) -> anyhow::Result<LinuxResources> {
        let a = self;
        anyhow::ensure!(
            a.l3_cache_schema.is_none() && a.mem_bw_schema.is_none(),
            "--l3-cache-schema/--mem-bw-schema: Intel RDT is not supported"
        );
        let mut r = LinuxResources::default();
        if a.memory.is_some() || a.memory_reservation.is_some() || a.memory_swap.is_some() {
            let mut m = LinuxMemory::default();
            m.set_limit(a.memory);
            m.set_reservation(a.memory_reservation);
            m.set_swap(a.memory_swap);
            r.set_memory(Some(m));
        }
        let mut c = LinuxCpu::default();
        c.set_period(a.cpu_period);
        c.set_quota(a.cpu_quota);
        c.set_burst(a.cpu_burst);
        c.set_shares(a.cpu_share);
        c.set_realtime_period(a.cpu_rt_period);
        c.set_realtime_runtime(a.cpu_rt_runtime);
        c.set_cpus(a.cpuset_cpus.clone());
        c.set_mems(a.cpuset_mems.clone());
        if c != LinuxCpu::default() {
            r.set_cpu(Some(c));
        }
        if let Some(n) = a.pids_limit {
            let mut p = LinuxPids::default();
            p.set_limit(n);
            r.set_pids(Some(p));
        }
        if let Some(w) = a.blkio_weight {
            let mut b = LinuxBlockIo::default();
            b.set_weight(Some(w));
            r.set_block_io(Some(b));
        }
        Ok(r)
    }
}

/// The flags `checkpoint` and `restore` share (runc's).
#[derive(Args, Clone, Debug)]
pub struct CriuArgs {
    /// Path for the CRIU image files (default: ./checkpoint).
    #[arg(long = "image-path")]
    pub image_path: Option<PathBuf>,
    /// Path for CRIU's log and work files (default: the image path).
    #[arg(long = "work-path")]
    pub work_path: Option<PathBuf>,
    /// Allow open TCP connections.
    #[arg(long = "tcp-established")]
    pub tcp_established: bool,
    /// Allow external unix sockets.
    #[arg(long = "ext-unix-sk")]
    pub ext_unix_sk: bool,
    /// Allow shell jobs.
    #[arg(long = "shell-job")]
    pub shell_job: bool,
    /// Handle file locks.
    #[arg(long = "file-locks")]
    pub file_locks: bool,
    /// Use userfaultfd to restore memory pages lazily.
    #[arg(long = "lazy-pages")]
    pub lazy_pages: bool,
    /// soft (default), full, strict or ignore.
    #[arg(long = "manage-cgroups-mode")]
    pub manage_cgroups_mode: Option<String>,
    /// A namespace to recreate without its contents (network; repeatable).
    #[arg(long = "empty-ns")]
    pub empty_ns: Vec<String>,
    /// Deduplicate memory images.
    #[arg(long = "auto-dedup")]
    pub auto_dedup: bool,
}

#[derive(Args, Clone, Debug)]
pub struct CheckpointArgs {
    #[command(flatten)]
    pub criu: CriuArgs,
    /// The previous pre-dump, relative to the image path.
    #[arg(long = "parent-path")]
    pub parent_path: Option<PathBuf>,
    /// Leave the container running after the checkpoint.
    #[arg(long = "leave-running")]
    pub leave_running: bool,
    /// With --lazy-pages: an fd CRIU writes \0 to once the pages can be served.
    #[arg(long = "status-fd", default_value_t = -1, allow_hyphen_values = true)]
    pub status_fd: i32,
    /// ADDRESS:PORT of a CRIU page server.
    #[arg(long = "page-server")]
    pub page_server: Option<String>,
    /// Dump memory only; the container keeps running.
    #[arg(long = "pre-dump")]
    pub pre_dump: bool,
    pub id: String,
}

#[derive(Args, Clone, Debug)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub criu: CriuArgs,
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    #[arg(short, long)]
    pub detach: bool,
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Accepted for runc compatibility: berth uses no subreaper.
    #[arg(long = "no-subreaper")]
    pub no_subreaper: bool,
    /// Accepted for runc compatibility: CRIU rebuilds the mount namespace as it was.
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// TYPE:NAME of the LSM profile for the restored processes.
    #[arg(long = "lsm-profile")]
    pub lsm_profile: Option<String>,
    /// The LSM mount context for the restored mounts.
    #[arg(long = "lsm-mount-context")]
    pub lsm_mount_context: Option<String>,
    pub id: String,
}

impl CriuArgs {
    fn image_path(&self) -> anyhow::Result<PathBuf> {
        Ok(match &self.image_path {
            Some(p) => p.clone(),
            None => std::env::current_dir()?.join("checkpoint"),
        })
    }

    fn cgroups_mode(&self) -> anyhow::Result<Option<berth_runtime::CgroupsMode>> {
        let m = self.manage_cgroups_mode.as_deref();
        Ok(m.map(berth_runtime::CgroupsMode::parse).transpose()?)
    }

    fn empty_ns(&self) -> anyhow::Result<u32> {
        let mut flags = 0;
        for ns in &self.empty_ns {
            flags |= berth_runtime::container::checkpoint::empty_ns_flag(ns)?;
        }
        Ok(flags)
    }
}

impl CheckpointArgs {
    /// The library's options for these flags.
    pub fn options(&self) -> anyhow::Result<berth_runtime::CheckpointOptions> {
        let c = &self.criu;
        let page_server = match &self.page_server {
            None => None,
            Some(v) => {
                let port = v.rsplit_once(':').and_then(|(a, p)| {
                    Some((a.trim_matches(['[', ']']).to_string(), p.parse().ok()?))
                });
                let bad = |(a, p): &(String, i32)| a.is_empty() || *p <= 0;
                match port {
                    Some(ap) if !bad(&ap) => Some(ap),
                    _ => anyhow::bail!("--page-server {v:?}: use ADDRESS:PORT"),
                }
            }
        };
        Ok(berth_runtime::CheckpointOptions {
            image_path: c.image_path()?,
            work_path: c.work_path.clone(),
            parent_path: self.parent_path.clone(),
            leave_running: self.leave_running,
            tcp_established: c.tcp_established,
            ext_unix_sk: c.ext_unix_sk,
            shell_job: c.shell_job,
            file_locks: c.file_locks,
            pre_dump: self.pre_dump,
            lazy_pages: c.lazy_pages,
            status_fd: (self.status_fd >= 0).then_some(self.status_fd),
            page_server,
            auto_dedup: c.auto_dedup,
            manage_cgroups_mode: c.cgroups_mode()?,
            empty_ns: c.empty_ns()?,
        })
    }
}

impl RestoreArgs {
    /// The library's options for these flags; a terminal's master comes back to us unless
    /// detached (then it goes to --console-socket).
    pub fn options(&self) -> anyhow::Result<berth_runtime::RestoreOptions> {
        let c = &self.criu;
        Ok(berth_runtime::RestoreOptions {
            id: self.id.clone(),
            bundle: self.bundle.clone(),
            image_path: c.image_path()?,
            work_path: c.work_path.clone(),
            console: match (&self.console_socket, self.detach) {
                (Some(p), _) => berth_runtime::Console::Socket(p.clone()),
                (None, true) => berth_runtime::Console::None,
                (None, false) => berth_runtime::Console::Return,
            },
            pid_file: self.pid_file.clone(),
            tcp_established: c.tcp_established,
            ext_unix_sk: c.ext_unix_sk,
            shell_job: c.shell_job,
            file_locks: c.file_locks,
            auto_dedup: c.auto_dedup,
            lazy_pages: c.lazy_pages,
            manage_cgroups_mode: c.cgroups_mode()?,
            empty_ns: c.empty_ns()?,
            lsm_profile: self.lsm_profile.clone(),
            lsm_mount_context: self.lsm_mount_context.clone(),
            stdio: Default::default(),
        })
    }

    /// Restores; in the foreground (no --detach) waits for the restored init as `run` does,
    /// forwarding signals and the terminal, then deletes the container.
    pub fn run(
        &self,
        rt: &berth_runtime::Runtime,
        log: &crate::logging::Logger,
    ) -> anyhow::Result<i32> {
        let sigs = (!self.detach).then(crate::foreground::block_signals);
        let r = rt.restore(self.options()?)?;
        log.warn_all(&r.warnings);
        let Some(sigs) = sigs else { return Ok(0) };
        let code = crate::foreground::wait(r.pid, sigs, r.master);
        log.warn_all(&r.container.delete(true)?);
        Ok(code)
    }
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
    #[arg(short, long, value_parser = parse_user)]
    pub user: Option<(u32, u32)>,
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
    /// Exec into a paused container too.
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    /// Run in a sub-cgroup of the container's: `[controller:]path` (repeatable).
    #[arg(long = "cgroup")]
    pub cgroup: Vec<String>,
    pub id: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// Parses a size: `512m`, `1g`, `4096`, `-1` (unlimited).
pub fn parse_bytes(s: &str) -> Result<i64, String> {
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let t = t.trim_end_matches('b');
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num.parse().map_err(|_| format!("invalid size {s:?}"))?;
    Ok((n * mult as f64) as i64)
}

/// Parses `uid[:gid]` (gid 0 when not given).
pub fn parse_user(s: &str) -> Result<(u32, u32), String> {
    let (uid, gid) = s.split_once(':').unwrap_or((s, "0"));
    let n = |v: &str| {
        v.parse::<u32>()
            .map_err(|_| format!("{s:?}: expected uid[:gid]"))
    };
    Ok((n(uid)?, n(gid)?))
}

/// Parses a duration: `5s`, `500ms`, `1m`, `2` (seconds).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let i = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (num, unit) = s.split_at(i);
    let n: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("invalid unit in {s:?}")),
    };
    if secs <= 0.0 {
        return Err("must be positive".into());
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("512m").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("4096").unwrap(), 4096);
        assert_eq!(parse_bytes("-1").unwrap(), -1);
        assert_eq!(parse_bytes("10kb").unwrap(), 10240);
        assert!(parse_bytes("lots").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("fast").is_err());
    }

    #[test]
    fn minus_one_means_unlimited_everywhere_runc_takes_it() {
        use clap::Parser;
        let c = Cli::try_parse_from([
            "berth",
            "update",
            "--memory",
            "-1",
            "--cpu-quota",
            "-1",
            "--pids-limit",
            "-1",
            "--memory-swap",
            "-1",
            "c1",
        ])
        .unwrap();
        let Some(Command::Update(Lazy(u))) = c.command else {
            panic!("not update")
        };
        assert_eq!(
            (u.memory, u.cpu_quota, u.pids_limit, u.memory_swap),
            (Some(-1), Some(-1), Some(-1), Some(-1))
        );
    }

    #[test]
    fn deferred_subcommands_parse_as_eager_ones() {
        use clap::{CommandFactory, Parser};
        // Builds every deferred subcommand too, and checks the whole definition.
        Cli::command().debug_assert();
        // Global flags after the subcommand reach it; the deferred args are all there.
        let c = Cli::try_parse_from([
            "berth",
            "run",
            "--root",
            "/r",
            "-d",
            "-b",
            "/b",
            "--preserve-fds",
            "2",
            "c1",
        ])
        .unwrap();
        assert_eq!(c.global.root.as_deref(), Some(std::path::Path::new("/r")));
        let Some(Command::Run(Lazy(r))) = c.command else {
            panic!("not run")
        };
        assert!(r.detach);
        assert_eq!(
            (
                r.create.bundle.to_str(),
                r.create.preserve_fds,
                r.create.id.as_str()
            ),
            (Some("/b"), 2, "c1")
        );
        let c = Cli::try_parse_from(["berth", "image", "--store", "/s", "ls"]).unwrap();
        let Some(Command::Image(Lazy(i))) = c.command else {
            panic!("not image")
        };
        assert_eq!(i.store.to_str(), Some("/s"));
        // Each subcommand's help says what `berth --help` says of it.
        let mut top = Cli::command();
        for sc in top.get_subcommands_mut() {
            let listed = sc.get_about().map(|a| a.to_string());
            sc.build();
            assert_eq!(
                sc.get_about().map(|a| a.to_string()),
                listed,
                "{}",
                sc.get_name()
            );
        }
        // A flag of another subcommand is still refused.
        assert!(
            Cli::try_parse_from(["berth", "exec", "--detach-keys", "x", "c1", "true"]).is_err()
        );
        assert!(Cli::try_parse_from(["berth", "start", "--bundle", "/b", "c1"]).is_err());
    }
}
