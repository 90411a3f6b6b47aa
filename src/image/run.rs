//! `berth image run`: docker's and podman's flags, mapped onto berth-engine's `RunOptions`.

use std::path::PathBuf;

use berth_engine::client::{self, Outcome};
use berth_engine::options::RunOptions;
use berth_engine::Engine;
use berth_image::progress::Progress;

#[derive(clap::Args, Debug)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Remove the container (and its anonymous volumes) when it exits.
    #[arg(long)]
    rm: bool,
    /// Run in the background; print the container's id.
    #[arg(short, long)]
    detach: bool,
    /// Keep stdin open (attached to ours).
    #[arg(short, long)]
    interactive: bool,
    /// Give the container a terminal.
    #[arg(short, long)]
    tty: bool,
    /// A name for the container.
    #[arg(long)]
    name: Option<String>,
    /// Set an environment variable (KEY=VALUE, or KEY to take ours).
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Read environment variables from a file.
    #[arg(long = "env-file", value_name = "FILE")]
    env_file: Vec<PathBuf>,
    /// Working directory in the container.
    #[arg(short, long, value_name = "DIR")]
    workdir: Option<String>,
    /// USER[:GROUP], names or numbers, resolved in the image.
    #[arg(short, long)]
    user: Option<String>,
    /// Replace the image's entrypoint ("" clears it).
    #[arg(long)]
    entrypoint: Option<String>,
    /// Mount a host path or a named volume: SRC:DST[:ro], NAME:DST[:ro], or DST.
    #[arg(short, long = "volume", value_name = "SRC:DST[:OPTS]")]
    volume: Vec<String>,
    /// Mount: type=bind|volume|tmpfs,source=…,target=…[,readonly].
    #[arg(long)]
    mount: Vec<String>,
    /// Mount a tmpfs: DST[:size=…,mode=…].
    #[arg(long)]
    tmpfs: Vec<String>,
    /// none, host or bridge (the default).
    #[arg(long, alias = "net")]
    network: Option<String>,
    /// Publish a port: [IP:][HOSTPORT:]PORT[/tcp|udp].
    #[arg(short, long)]
    publish: Vec<String>,
    /// Publish every port the image exposes on a free host port.
    #[arg(short = 'P', long = "publish-all")]
    publish_all: bool,
    /// Memory limit (e.g. 64m).
    #[arg(short, long)]
    memory: Option<String>,
    /// Memory plus swap limit (-1: unlimited swap).
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// CPUs (e.g. 1.5).
    #[arg(long)]
    cpus: Option<String>,
    /// Maximum number of processes (-1: unlimited).
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pids_limit: Option<String>,
    /// Mount the root filesystem read-only.
    #[arg(long = "read-only")]
    read_only: bool,
    /// Add a capability (or ALL).
    #[arg(long = "cap-add")]
    cap_add: Vec<String>,
    /// Drop a capability (or ALL).
    #[arg(long = "cap-drop")]
    cap_drop: Vec<String>,
    /// seccomp=unconfined|PROFILE, no-new-privileges.
    #[arg(long = "security-opt")]
    security_opt: Vec<String>,
    /// The container's host name.
    #[arg(short = 'h', long)]
    hostname: Option<String>,
    /// The signal `stop` sends first (default: the image's, else SIGTERM).
    #[arg(long = "stop-signal")]
    stop_signal: Option<String>,
    /// Seconds `stop` waits before SIGKILL (default 10).
    #[arg(long = "stop-timeout")]
    stop_timeout: Option<u64>,
    /// IMAGE, then the command and its arguments.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "IMAGE [COMMAND] [ARG...]"
    )]
    args: Vec<String>,
}

impl RunArgs {
    fn options(self, insecure: bool) -> RunOptions {
        let mut args = self.args.into_iter();
        RunOptions {
            image: args.next().unwrap_or_default(),
            command: args.collect(),
            entrypoint: self.entrypoint,
            remove: self.rm,
            detach: self.detach,
            interactive: self.interactive,
            tty: self.tty,
            name: self.name,
            env: self.env,
            env_files: self.env_file,
            workdir: self.workdir,
            user: self.user,
            volumes: self.volume,
            mounts: self.mount,
            tmpfs: self.tmpfs,
            network: self.network,
            publish: self.publish,
            publish_all: self.publish_all,
            memory: self.memory,
            memory_swap: self.memory_swap,
            cpus: self.cpus,
            pids_limit: self.pids_limit,
            read_only: self.read_only,
            cap_add: self.cap_add,
            cap_drop: self.cap_drop,
            security_opt: self.security_opt,
            hostname: self.hostname,
            stop_signal: self.stop_signal,
            stop_timeout: self.stop_timeout,
            insecure,
        }
    }
}

/// Runs the container; the exit code is the container's (125 when it could not be started,
/// 126/127 when its command could not be executed or found, as docker).
pub fn run(engine: &Engine, insecure: bool, a: RunArgs) -> anyhow::Result<i32> {
    let o = a.options(insecure);
    match client::run(engine, &o, &Progress::auto()) {
        Ok(Outcome::Detached(id)) => {
            println!("{id}");
            Ok(0)
        }
        Ok(Outcome::Exited(code)) => Ok(code),
        Err(e) => {
            eprintln!("berth: image run: {e}");
            Ok(e.exit_code())
        }
    }
}
