//! Waiting for a foreground container process (`run`, `exec` without `-d`): signals sent to
//! berth are forwarded to it, a pty is proxied, and its exit status becomes berth's.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use crate::container::exit_code;
use crate::{hooks, tty};

const FORWARDED: [Signal; 8] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGPIPE,
];

/// Blocks the forwarded signals so they queue for [`wait`]; call right after the clone.
pub fn block_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(s);
    }
    let _ = set.thread_block();
    set
}

/// Waits for `pid` (a child of ours) to exit and returns its exit code.
pub fn wait(pid: i32, set: SigSet, master: Option<OwnedFd>) -> i32 {
    let sfd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC).ok();
    let pidfd = hooks::pidfd_open(pid).ok();
    let _raw = master.as_ref().map(|_| tty::RawMode::enter());
    if let Some(m) = &master {
        if let Some((r, c)) = tty::own_size() {
            tty::set_size(m.as_raw_fd(), r, c);
        }
    }
    let mut buf = [0u8; 8192];
    let mut stdin_open = master.is_some();
    let mut master_open = master.is_some();
    loop {
        let mut fds = vec![
            libc::pollfd {
                fd: sfd.as_ref().map_or(-1, |s| s.as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: pidfd.as_ref().map_or(-1, |p| p.as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if stdin_open { 0 } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if master_open {
                    master.as_ref().map_or(-1, |m| m.as_raw_fd())
                } else {
                    -1
                },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        if pidfd.is_none() {
            break;
        }
        // SAFETY: a valid array of pollfds of the given length.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if r < 0 {
            if Errno::last() == Errno::EINTR {
                continue;
            }
            break;
        }
        if fds[0].revents & libc::POLLIN != 0 {
            if let Some(Ok(Some(info))) = sfd.as_ref().map(|s| s.read_signal()) {
                if let Ok(sig) = Signal::try_from(info.ssi_signo as i32) {
                    match (sig, &master) {
                        (Signal::SIGWINCH, Some(m)) => {
                            if let Some((r, c)) = tty::own_size() {
                                tty::set_size(m.as_raw_fd(), r, c);
                            }
                        }
                        _ => {
                            let _ = kill(Pid::from_raw(pid), sig);
                        }
                    }
                }
            }
        }
        if master_open && fds[3].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
            if let Some(m) = &master {
                match nix::unistd::read(m, &mut buf) {
                    Ok(0) | Err(_) => master_open = false,
                    Ok(n) => tty::write_all(1, &buf[..n]),
                }
            }
        }
        if stdin_open && fds[2].revents & (libc::POLLIN | libc::POLLHUP) != 0 {
            match nix::unistd::read(std::io::stdin(), &mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => {
                    if let Some(m) = &master {
                        tty::write_all(m.as_raw_fd(), &buf[..n]);
                    }
                }
            }
        }
        if fds[1].revents & libc::POLLIN != 0 && !master_open {
            break;
        }
        if fds[1].revents & libc::POLLIN != 0 && master_open {
            // The process exited; drain what the pty still holds, then stop.
            if let Some(m) = &master {
                let _ = nix::fcntl::fcntl(
                    m,
                    nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
                );
                while let Ok(n) = nix::unistd::read(m, &mut buf) {
                    if n == 0 {
                        break;
                    }
                    tty::write_all(1, &buf[..n]);
                }
            }
            break;
        }
    }
    match waitpid(Pid::from_raw(pid), None) {
        Ok(st) => exit_code(st),
        Err(_) => 255,
    }
}
