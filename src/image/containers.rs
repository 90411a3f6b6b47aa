//! The container verbs after `run`: ps, logs, stop, rm, exec, volume, and the hidden monitor.

use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use berth_engine::exec::ExecOptions;
use berth_engine::logs::LogsOptions;
use berth_engine::{ports, Engine};

#[derive(clap::Args, Debug)]
pub struct PsArgs {
    /// Show every container, not only running ones.
    #[arg(short, long)]
    all: bool,
    /// Only the ids.
    #[arg(short, long)]
    quiet: bool,
    #[arg(long, value_parser = ["table", "json"], default_value = "table")]
    format: String,
}

pub fn ps(engine: &Engine, a: PsArgs) -> anyhow::Result<i32> {
    let rows = berth_engine::ps::list(engine, a.all)?;
    if a.quiet {
        for r in rows {
            println!("{}", &r.record.id[..12]);
        }
    } else if a.format == "json" {
        let v: Vec<_> = rows.iter().map(|r| r.json()).collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "{:<12}  {:<30}  {:<20}  {:<22}  {:<28}  {:<24}  NAMES",
            "CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS"
        );
        let now = berth_engine::record::now_unix();
        for row in rows {
            let r = &row.record;
            let mut cmd = format!("\"{}\"", r.command.join(" "));
            if cmd.len() > 20 {
                cmd = format!("{}…\"", &cmd[..cmd.floor_char_boundary(18)]);
            }
            println!(
                "{:<12}  {:<30}  {:<20}  {:<22}  {:<28}  {:<24}  {}",
                &r.id[..12],
                r.image,
                cmd,
                format!(
                    "{} ago",
                    berth_engine::ps::human_duration(now - r.created_unix)
                ),
                row.status,
                ports::display(&r.network.ports),
                r.name
            );
        }
    }
    Ok(0)
}

#[derive(clap::Args, Debug)]
pub struct LogsArgs {
    /// Keep printing until the container exits.
    #[arg(short, long)]
    follow: bool,
    /// Show each line's time.
    #[arg(short, long)]
    timestamps: bool,
    /// Only the last N lines.
    #[arg(short = 'n', long)]
    tail: Option<usize>,
    container: String,
}

pub fn logs(engine: &Engine, a: LogsArgs) -> anyhow::Result<i32> {
    let o = LogsOptions {
        follow: a.follow,
        timestamps: a.timestamps,
        tail: a.tail,
    };
    berth_engine::logs::print(
        engine,
        &a.container,
        &o,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    )?;
    Ok(0)
}

#[derive(clap::Args, Debug)]
pub struct StopArgs {
    /// Seconds to wait after the stop signal before SIGKILL.
    #[arg(short, long)]
    time: Option<u64>,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn stop(engine: &Engine, a: StopArgs) -> anyhow::Result<i32> {
    for c in &a.containers {
        berth_engine::stop::stop(engine, c, a.time)?;
        println!("{c}");
    }
    Ok(0)
}

#[derive(clap::Args, Debug)]
pub struct RmArgs {
    /// Kill and remove a running container.
    #[arg(short, long)]
    force: bool,
    /// Remove its anonymous volumes too.
    #[arg(short, long)]
    volumes: bool,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn rm(engine: &Engine, a: RmArgs) -> anyhow::Result<i32> {
    for c in &a.containers {
        berth_engine::stop::remove(engine, c, a.force, a.volumes)?;
        println!("{c}");
    }
    Ok(0)
}

#[derive(clap::Args, Debug)]
pub struct ExecArgs {
    /// Run in the background.
    #[arg(short, long)]
    detach: bool,
    /// Keep stdin open.
    #[arg(short, long)]
    interactive: bool,
    /// Give the process a terminal.
    #[arg(short, long)]
    tty: bool,
    /// Set an environment variable (KEY=VALUE, or KEY to take ours).
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// USER[:GROUP], resolved in the container.
    #[arg(short, long)]
    user: Option<String>,
    /// Working directory.
    #[arg(short, long)]
    workdir: Option<String>,
    container: String,
    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

pub fn exec(engine: &Engine, a: ExecArgs) -> anyhow::Result<i32> {
    let o = ExecOptions {
        args: a.command,
        tty: a.tty,
        interactive: a.interactive,
        detach: a.detach,
        env: a.env,
        user: a.user,
        workdir: a.workdir,
    };
    Ok(berth_engine::exec::exec(engine, &a.container, &o)?)
}

#[derive(clap::Subcommand, Debug)]
pub enum VolumeCommand {
    /// Create a named volume (a random name without NAME).
    Create { name: Option<String> },
    /// List volumes.
    Ls {
        #[arg(short, long)]
        quiet: bool,
    },
    /// Remove volumes no container uses.
    Rm {
        /// No error for a missing volume.
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        names: Vec<String>,
    },
}

pub fn volume(engine: &Engine, cmd: VolumeCommand) -> anyhow::Result<i32> {
    match cmd {
        VolumeCommand::Create { name } => {
            let name = name.unwrap_or_else(|| berth_engine::record::random_hex(32));
            println!("{}", engine.volume_create(&name, false)?.name);
        }
        VolumeCommand::Ls { quiet } => {
            let vols = engine.volume_list()?;
            if !quiet {
                println!("{:<64}  {:<10}  CREATED", "VOLUME NAME", "KIND");
            }
            for v in vols {
                if quiet {
                    println!("{}", v.name);
                } else {
                    let kind = if v.anonymous { "anonymous" } else { "named" };
                    println!("{:<64}  {:<10}  {}", v.name, kind, v.created);
                }
            }
        }
        VolumeCommand::Rm { force, names } => {
            for n in names {
                engine.volume_remove(&n, force)?;
                println!("{n}");
            }
        }
    }
    Ok(0)
}

/// `image monitor`: started by `image run` with its socket on fd 3.
pub fn monitor(engine: &Engine) -> anyhow::Result<i32> {
    // SAFETY: `image run` put its socket on fd 3 for us (see berth_engine::client); nothing
    // else in this process owns fd 3.
    let fd = unsafe { OwnedFd::from_raw_fd(3) };
    // Not for the CNI plugins it runs.
    nix::fcntl::fcntl(
        &fd,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )?;
    Ok(berth_engine::monitor::run(engine, UnixStream::from(fd)))
}
