//! One module per CLI verb.

mod create;
mod delete;
mod events;
mod exec;
mod features;
pub mod image;
mod kill;
mod list;
mod pause;
mod ps;
mod run;
mod spec;
mod start;
mod state;
mod update;

use crate::cli::{Command, Global};
use crate::logging::Logger;

pub fn dispatch(g: Global, cmd: Command, log: &Logger) -> anyhow::Result<i32> {
    if g.systemd_cgroup {
        anyhow::bail!(
            "--systemd-cgroup: the systemd cgroup driver is not supported yet; use cgroupfs paths"
        );
    }
    match cmd {
        Command::Create(a) => create::run(&g, a, log),
        Command::Start { id } => start::run(&g, &id, log),
        Command::State { id } => state::run(&g, &id),
        Command::Kill { all, id, signal } => kill::run(&g, &id, &signal, all),
        Command::Delete { force, id } => delete::run(&g, &id, force, log),
        Command::Run(a) => run::run(&g, a, log),
        Command::Exec(a) => exec::run(&g, a, log),
        Command::List { quiet, format } => list::run(&g, quiet, &format),
        Command::Ps {
            format,
            id,
            ps_args,
        } => ps::run(&g, &id, &format, &ps_args),
        Command::Pause { id } => pause::pause(&g, &id),
        Command::Resume { id } => pause::resume(&g, &id),
        Command::Update(a) => update::run(&g, a),
        Command::Events {
            stats,
            interval,
            id,
        } => events::run(&g, &id, stats, &interval),
        Command::Spec { bundle, rootless } => spec::run(&bundle, rootless),
        Command::Features => features::run(),
        Command::Image(cli) => image::run(&g, cli),
    }
}
