//! One module per CLI verb: each maps its flags to the library's options and prints.

mod create;
mod events;
mod exec;
mod list;
mod ps;
mod run;
mod spec;
mod update;

use berth_runtime::Runtime;

use crate::cli::{Command, Global};
use crate::logging::Logger;

/// The runtime the global flags describe. Socket activation's `LISTEN_FDS` is read here: the
/// library never reads the caller's environment.
pub fn runtime(g: &Global) -> Runtime {
    let listen = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Runtime::new(&g.root)
        .systemd_cgroup(g.systemd_cgroup)
        .listen_fds(listen)
}

fn warn_all(log: &Logger, warnings: &[String]) {
    for w in warnings {
        log.warn(w);
    }
}

pub fn dispatch(g: Global, cmd: Command, log: &Logger) -> anyhow::Result<i32> {
    let rt = runtime(&g);
    let done = |what: &str, id: &str| log.debug(&format!("{what} {id}: done"));
    match cmd {
        Command::Create(a) => create::run(&rt, a, log),
        Command::Start { id } => {
            log.debug(&format!("start {id}: connecting to the init"));
            warn_all(log, &rt.load_locked(&id)?.start()?);
            done("start", &id);
            Ok(0)
        }
        Command::State { id } => {
            println!("{}", serde_json::to_string_pretty(&rt.load(&id)?.state())?);
            Ok(0)
        }
        Command::Kill { all, id, signal } => {
            rt.load(&id)?
                .kill(berth_runtime::parse_signal(&signal)?, all)?;
            done("kill", &id);
            Ok(0)
        }
        Command::Delete { force, id } => {
            log.debug(&format!("delete {id}: force={force}"));
            warn_all(log, &rt.delete(&id, force)?);
            done("delete", &id);
            Ok(0)
        }
        Command::Run(a) => run::run(&rt, a, log),
        Command::Exec(a) => exec::run(&rt, a, log),
        Command::List { quiet, format } => list::run(&rt, quiet, &format),
        Command::Ps {
            format,
            id,
            ps_args,
        } => ps::run(&rt, &id, &format, &ps_args),
        Command::Pause { id } => Ok(rt.load_locked(&id)?.pause().map(|()| 0)?),
        Command::Resume { id } => Ok(rt.load_locked(&id)?.resume().map(|()| 0)?),
        Command::Update(a) => update::run(&rt, a),
        Command::Events {
            stats,
            interval,
            id,
        } => events::run(&rt, &id, stats, interval),
        Command::Spec { bundle, rootless } => spec::run(&bundle, rootless),
        Command::Features => {
            println!(
                "{}",
                serde_json::to_string_pretty(&berth_runtime::features::document())?
            );
            Ok(0)
        }
        Command::Image(cli) => berth_image::run(cli),
    }
}
