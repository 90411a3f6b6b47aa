//! `berth`: an OCI container runtime, flag-compatible with runc.

mod cli;
mod commands;
mod foreground;
mod image;
mod logging;

use clap::Parser;

fn main() {
    // The runtime's helper process is this binary, re-executed from a read-only view of it.
    berth_runtime::init_entry();
    // `exec` starts the runtime's helper first, so that its exec overlaps ours.
    commands::exec::prestart();
    let cli = cli::Cli::parse();
    if !matches!(cli.command, Some(cli::Command::Exec(_))) {
        commands::exec::abandon();
    }
    let log = logging::Logger::new(&cli.global);
    if cli.version {
        println!("berth version {}", env!("CARGO_PKG_VERSION"));
        println!("spec: {}", oci_spec::runtime::VERSION);
        return;
    }
    let Some(command) = cli.command else {
        eprintln!("berth: no command given (see berth --help)");
        std::process::exit(2);
    };
    let code = match commands::dispatch(cli.global.clone(), command, &log) {
        Ok(code) => code,
        Err(e) => {
            log.error(&render(&e));
            1
        }
    };
    std::process::exit(code);
}

/// An error and its causes on one line, each cause only once: berth's errors already name
/// their cause in their own message.
pub fn render(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}
