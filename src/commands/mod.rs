//! One module per CLI verb: each maps its flags to the library's options and prints.

mod create;
mod events;
pub mod exec;
mod list;
mod ps;
mod run;
mod update;

use berth_runtime::Runtime;

use crate::cli::{Command, Global, Lazy};
use crate::logging::Logger;

/// The runtime the global flags describe. Socket activation's `LISTEN_FDS` is read here: the
/// library never reads the caller's environment.
pub fn runtime(g: &Global, log: &Logger) -> Runtime {
    let listen = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let rt = Runtime::new(g.state_root())
        .systemd_cgroup(g.systemd_cgroup)
        .criu_binary(g.criu.clone().unwrap_or_else(|| "criu".into()))
        .listen_fds(listen)
        // The command runs one thread: `run` forks the init itself (the library checks).
        .fork_init(true);
    if !log.debugging() {
        return rt;
    }
    let log = log.clone();
    rt.on_debug(move |m| log.debug(m))
}

pub fn dispatch(g: Global, cmd: Command, log: &Logger) -> anyhow::Result<i32> {
    let rt = runtime(&g, log);
    match cmd {
        Command::Create(Lazy(a)) => create::run(&rt, a, log),
        Command::Start { id } => {
            log.warn_all(&rt.load_locked(&id)?.start()?);
            Ok(0)
        }
        Command::State { id } => {
            println!("{}", serde_json::to_string_pretty(&rt.load(&id)?.state())?);
            Ok(0)
        }
        Command::Kill { all, id, signal } => {
            rt.load(&id)?
                .kill(berth_runtime::parse_signal(&signal)?, all)?;
            Ok(0)
        }
        Command::Delete { force, id } => {
            log.warn_all(&rt.delete(&id, force)?);
            Ok(0)
        }
        Command::Run(Lazy(a)) => run::run(&rt, a, log),
        Command::Exec(Lazy(a)) => exec::run(&rt, a, log),
        Command::List { quiet, format } => list::run(&rt, quiet, &format),
        Command::Ps {
            format,
            id,
            ps_args,
        } => ps::run(&rt, &id, &format, &ps_args),
        Command::Pause { id } => Ok(rt.load_locked(&id)?.pause().map(|()| 0)?),
        Command::Resume { id } => Ok(rt.load_locked(&id)?.resume().map(|()| 0)?),
        Command::Update(Lazy(a)) => update::run(&rt, a),
        Command::Events {
            stats,
            interval,
            id,
        } => events::run(&rt, &id, stats, interval),
        Command::Spec { bundle, rootless } => {
            let path = bundle.join("config.json");
            anyhow::ensure!(
                !path.exists(),
                "File {} exists. Remove it first",
                path.display()
            );
            let spec = berth_runtime::plan::spec::default_spec_json(rootless);
            std::fs::write(&path, serde_json::to_string_pretty(&spec)?)?;
            Ok(0)
        }
        Command::Features => {
            println!("{}", serde_json::to_string_pretty(&rt.features())?);
            Ok(0)
        }
        Command::Checkpoint(Lazy(a)) => {
            log.warn_all(&rt.load_locked(&a.id)?.checkpoint(&a.options()?)?);
            Ok(0)
        }
        Command::Restore(Lazy(a)) => a.run(&rt, log),
        Command::Image(Lazy(cli)) => crate::image::run(&g, cli),
    }
}
