//! `berth`: an OCI container runtime, flag-compatible with runc.

mod cli;
mod commands;
mod logging;

use clap::Parser;

/// Whether the verb puts a process into a container (`create`, `run`, `exec`), found by a
/// scan of argv: the full parse is not cheap, and it would run again after the re-exec.
fn enters_container() -> bool {
    use std::os::unix::ffi::OsStrExt;
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        match a.as_bytes() {
            b"--root" | b"--log" | b"--log-format" | b"--criu" => {
                args.next();
            }
            a if a.starts_with(b"-") => {}
            verb => return matches!(verb, b"create" | b"run" | b"exec"),
        }
    }
    false
}

/// CVE-2019-5736: processes that enter a container must not run from a writable binary.
fn protect() {
    if let Err(e) = berth_runtime::exe_guard::protect_self() {
        eprintln!("berth: {e}");
        std::process::exit(1);
    }
}

fn main() {
    let scanned = enters_container();
    if scanned {
        protect();
    }
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
    // Should the scan have missed the verb, the parse does not.
    if !scanned
        && matches!(
            command,
            cli::Command::Create(_) | cli::Command::Run(_) | cli::Command::Exec(_)
        )
    {
        protect();
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
