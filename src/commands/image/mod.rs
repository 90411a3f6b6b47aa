//! `berth image …`: the flags of every image and engine verb, mapped onto berth-image (the
//! image store) and berth-engine (containers from images).

mod images;

use std::path::PathBuf;

use crate::cli::Global;

#[derive(clap::Args, Debug)]
#[command(about = "Pull, store, bundle, commit and push OCI images")]
pub struct ImageCli {
    /// Image store directory (an OCI image layout).
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
}

/// Runs one `berth image` command; returns the process exit code.
pub fn run(_g: &Global, cli: ImageCli) -> anyhow::Result<i32> {
    match cli.cmd {
        ImageCommand::Image(v) => images::run(&cli.store, cli.insecure, v),
    }
}
