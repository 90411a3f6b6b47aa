//! Waiting for a foreground container process (`run`, `exec` without `-d`): signals sent to
//! berth are forwarded to it, a pty is proxied, and its exit status becomes berth's.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use berth_runtime::sys;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

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

/// Blocks the forwarded signals so they queue for [`wait`]; call before the container
/// starts. (The library starts the container's processes with no signal blocked.)
pub fn block_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(s);
    }
    let _ = set.thread_block();
    set
}

/// Our terminal in raw mode while a foreground container owns it; restored on drop.
struct RawMode(Option<Termios>);

impl RawMode {
    fn enter() -> RawMode {
        let saved = tcgetattr(std::io::stdin()).ok();
        if let Some(t) = &saved {
            let mut raw = t.clone();
            cfmakeraw(&mut raw);
            let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, &raw);
        }
        RawMode(saved)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, t);
        }
    }
}

/// Writes all of `data` to `fd`, ignoring errors (the reader went away).
fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(0) => return,
            Ok(n) => data = &data[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}

fn copy_size(master: &OwnedFd) {
    if let Some((r, c)) = sys::pty::size(std::io::stdin().as_fd()) {
        sys::pty::set_size(master.as_fd(), r, c);
    }
}

/// Adds `fd` to the poll set when `on`; returns its index there.
fn slot<'a>(fds: &mut Vec<PollFd<'a>>, fd: BorrowedFd<'a>, on: bool) -> Option<usize> {
    on.then(|| {
        fds.push(PollFd::new(fd, PollFlags::POLLIN));
        fds.len() - 1
    })
}

/// Waits for `pid` (a child of ours) to exit and returns its exit code.
pub fn wait(pid: i32, set: SigSet, master: Option<OwnedFd>) -> i32 {
    let sfd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC).ok();
    let pidfd = sys::pidfd::open(pid).ok();
    let _raw = master.as_ref().map(|_| RawMode::enter());
    if let Some(m) = &master {
        copy_size(m);
    }
    let mut buf = [0u8; 8192];
    let mut stdin_open = master.is_some();
    let mut master_open = master.is_some();
    let (stdin, stdout) = (std::io::stdin(), std::io::stdout());
    while let Some(pfd) = &pidfd {
        // Only the fds waited on are polled: poll reports POLLHUP whatever the events asked,
        // so a placeholder entry for a closed stdin pipe would make this loop spin until
        // the process exits.
        let mut fds = Vec::with_capacity(4);
        let sig_at = sfd.as_ref().and_then(|s| slot(&mut fds, s.as_fd(), true));
        let exit_at = slot(&mut fds, pfd.as_fd(), true);
        let in_at = slot(&mut fds, stdin.as_fd(), stdin_open);
        let out_at = match &master {
            Some(m) => slot(&mut fds, m.as_fd(), master_open),
            None => None,
        };
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
            Ok(_) => {}
        }
        let ready = |at: Option<usize>, f: PollFlags| {
            at.and_then(|i| fds[i].revents())
                .is_some_and(|r| r.intersects(f))
        };
        let (sig, exited) = (
            ready(sig_at, PollFlags::POLLIN),
            ready(exit_at, PollFlags::POLLIN),
        );
        let (input, output) = (
            ready(
                in_at,
                PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL,
            ),
            ready(
                out_at,
                PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR,
            ),
        );
        if sig {
            if let Some(Ok(Some(info))) = sfd.as_ref().map(|s| s.read_signal()) {
                match (Signal::try_from(info.ssi_signo as i32), &master) {
                    (Ok(Signal::SIGWINCH), Some(m)) => copy_size(m),
                    (Ok(s), _) => {
                        let _ = kill(Pid::from_raw(pid), s);
                    }
                    _ => {}
                }
            }
        }
        if let (true, Some(m)) = (output, &master) {
            match nix::unistd::read(m, &mut buf) {
                Ok(0) | Err(_) => master_open = false,
                Ok(n) => write_all(stdout.as_fd(), &buf[..n]),
            }
        }
        if input {
            match nix::unistd::read(&stdin, &mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => {
                    if let Some(m) = &master {
                        write_all(m.as_fd(), &buf[..n]);
                    }
                }
            }
        }
        if exited {
            // The process exited; drain what the pty still holds, then stop.
            if let (true, Some(m)) = (master_open, &master) {
                let _ = nix::fcntl::fcntl(
                    m,
                    nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
                );
                while let Ok(n @ 1..) = nix::unistd::read(m, &mut buf) {
                    write_all(stdout.as_fd(), &buf[..n]);
                }
            }
            break;
        }
    }
    match waitpid(Pid::from_raw(pid), None) {
        Ok(st) => berth_runtime::exit_code(st),
        Err(_) => 255,
    }
}
