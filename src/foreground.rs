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
        let none = PollFlags::empty();
        let mut fds = [
            sfd.as_ref().map_or(PollFd::new(pfd.as_fd(), none), |s| {
                PollFd::new(s.as_fd(), PollFlags::POLLIN)
            }),
            PollFd::new(pfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(
                stdin.as_fd(),
                if stdin_open { PollFlags::POLLIN } else { none },
            ),
            match (&master, master_open) {
                (Some(m), true) => PollFd::new(m.as_fd(), PollFlags::POLLIN),
                _ => PollFd::new(pfd.as_fd(), none),
            },
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
            Ok(_) => {}
        }
        let ready = |i: usize, f: PollFlags| fds[i].revents().is_some_and(|r| r.intersects(f));
        let (sig, exited) = (
            sfd.is_some() && ready(0, PollFlags::POLLIN),
            ready(1, PollFlags::POLLIN),
        );
        let (input, output) = (
            stdin_open && ready(2, PollFlags::POLLIN | PollFlags::POLLHUP),
            master_open
                && ready(
                    3,
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
