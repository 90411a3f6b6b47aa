//! `berth`: an OCI container runtime, flag-compatible with runc.

mod cli;
mod commands;
mod logging;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
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
    // CVE-2019-5736: processes that enter a container must not run from a writable binary.
    if matches!(
        command,
        cli::Command::Create(_) | cli::Command::Run(_) | cli::Command::Exec(_)
    ) {
        if let Err(e) = berth_runtime::exe_guard::protect_self() {
            log.error(&e.to_string());
            std::process::exit(1);
        }
    }
    let code = match commands::dispatch(cli.global.clone(), command, &log) {
        Ok(code) => code,
        Err(e) => {
            log.error(&format!("{e:#}"));
            1
        }
    };
    std::process::exit(code);
}
