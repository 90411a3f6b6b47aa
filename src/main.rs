//! `berth`: an OCI container runtime, flag-compatible with runc.
//!
//! The C `main` is berth's own (`no_main`): the Rust runtime's start-up would first find the
//! main thread's stack guard (a read of `/proc/self/maps`) and install stack-overflow
//! handlers, on every call of a short-lived command and again in the runtime's helper
//! process. [`start`] keeps what berth relies on: standard fds that are open, and SIGPIPE
//! ignored (a write to a closed pipe is an error, not death).

#![cfg_attr(not(test), no_main)]

mod cli;
mod commands;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod early;
mod foreground;
mod image;
mod logging;

use clap::Parser;

#[cfg(not(test))]
#[no_mangle]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    start();
    run();
    // `run` ends the process itself; std::process::exit flushes stdout.
    std::process::exit(0)
}

/// What the Rust runtime's start-up did that berth relies on: fds 0, 1 and 2 open (a closed
/// one gets /dev/null, so that no file berth opens lands there and receives its output), and
/// SIGPIPE ignored.
#[cfg(not(test))]
fn start() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: poll on three valid pollfd structs; open of a constant NUL-terminated path;
    // signal with a constant disposition.
    unsafe {
        while libc::poll(fds.as_mut_ptr(), 3, 0) == -1 {
            if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                // No poll: open and check each one (what std falls back to).
                for p in fds.iter_mut() {
                    p.revents = if libc::fcntl(p.fd, libc::F_GETFD) == -1 {
                        libc::POLLNVAL
                    } else {
                        0
                    };
                }
                break;
            }
        }
        for p in fds {
            if p.revents & libc::POLLNVAL != 0
                && libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) == -1
            {
                libc::abort();
            }
        }
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

#[cfg_attr(test, allow(dead_code))]
fn run() {
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
