//! `berth image …`: the flags of every image and engine verb, mapped onto berth-image (the
//! image store) and berth-engine (containers from images).

mod containers;
mod images;
mod run;

use std::path::PathBuf;

use crate::cli::Global;

#[derive(clap::Args, Debug)]
#[command(
    about = "Images (pull, store, bundle, commit, push) and containers from them (run, ps, logs, exec, stop, rm, volumes)"
)]
pub struct ImageCli {
    /// Image store directory (an OCI image layout; containers and volumes live beside it).
    #[arg(long, default_value = berth_image::store::DEFAULT_STORE)]
    pub store: PathBuf,
    /// Allow plain HTTP to registries that are not on loopback.
    #[arg(long, global = true)]
    pub insecure: bool,
    #[command(subcommand)]
    pub cmd: ImageCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum ImageCommand {
    #[command(flatten)]
    Image(images::ImageVerb),
    /// Run a command in a new container from an image (pulled if missing).
    Run(Box<run::RunArgs>),
    /// List containers.
    Ps(containers::PsArgs),
    /// Print a container's output.
    Logs(containers::LogsArgs),
    /// Stop containers: their stop signal, then SIGKILL after a timeout.
    Stop(containers::StopArgs),
    /// Remove containers.
    Rm(containers::RmArgs),
    /// Run a command in a running container.
    Exec(containers::ExecArgs),
    /// Named volumes.
    Volume {
        #[command(subcommand)]
        cmd: containers::VolumeCommand,
    },
    /// The monitor of one container (started by `image run`).
    #[command(hide = true)]
    Monitor,
}

/// Runs one `berth image` command; returns the process exit code.
pub fn run(g: &Global, cli: ImageCli) -> anyhow::Result<i32> {
    let root = g.state_root();
    let engine = || berth_engine::Engine::new(&cli.store, &root);
    match cli.cmd {
        ImageCommand::Image(v) => images::run(&cli.store, cli.insecure, v),
        ImageCommand::Run(a) => run::run(&engine()?, cli.insecure, *a),
        ImageCommand::Ps(a) => containers::ps(&engine()?, a),
        ImageCommand::Logs(a) => containers::logs(&engine()?, a),
        ImageCommand::Stop(a) => containers::stop(&engine()?, a),
        ImageCommand::Rm(a) => containers::rm(&engine()?, a),
        ImageCommand::Exec(a) => containers::exec(&engine()?, a),
        ImageCommand::Volume { cmd } => containers::volume(&engine()?, cmd),
        ImageCommand::Monitor => containers::monitor(&engine()?),
    }
}
