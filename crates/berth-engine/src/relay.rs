//! Attaching a terminal or pipes to a container's process: our stdin to its stdin, its
//! stdout and stderr to ours (and to its log), signals forwarded, the terminal's size
//! followed. The container never gets our own descriptors: a process that could reach the
//! user's terminal could push input into it (TIOCSTI) after the container is gone.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::logs::{LogWriter, Stream};
use crate::monitor::proto::{self, Msg};
use crate::{Error, Result};

/// The host side of the container's stdio.
#[derive(Default)]
pub struct Ends {
    /// Where our stdin goes (a pipe's write end; for a terminal, the master).
    pub stdin: Option<OwnedFd>,
    /// Its stdout (a pipe's read end, or the pty master).
    pub stdout: Option<OwnedFd>,
    /// Its stderr (a pipe's read end).
    pub stderr: Option<OwnedFd>,
    /// The output comes from a terminal.
    pub tty: bool,
}

/// How the relay learns that the process has exited.
pub enum Exit<'a> {
    /// The monitor reports it on this socket (`image run`).
    Monitor(&'a UnixStream),
    /// It is our child (`image exec`).
    Child(i32),
}

const FORWARDED: [Signal; 6] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// What a polled descriptor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Signal,
    Monitor,
    Stdin,
    Stdout,
    Stderr,
}

/// How long output is still read after the exit (for data already in the pipes).
const DRAIN: Duration = Duration::from_secs(2);

/// Our terminal in raw mode while a container's terminal is attached; restored on drop.
struct Raw(Option<termios::Termios>);

impl Raw {
    fn enter() -> Raw {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(&stdin).ok();
        if let Some(t) = &saved {
            let mut raw = t.clone();
            termios::cfmakeraw(&mut raw);
            let _ = termios::tcsetattr(&stdin, termios::SetArg::TCSANOW, &raw);
        }
        Raw(saved)
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            let _ = termios::tcsetattr(std::io::stdin(), termios::SetArg::TCSANOW, t);
        }
    }
}

/// Copies our terminal's size to the container's.
pub fn copy_window_size(master: BorrowedFd) {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ fills a winsize through a valid pointer; TIOCSWINSZ reads one.
    unsafe {
        if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_row > 0 {
            libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws);
        }
    }
}

fn write_all(fd: BorrowedFd, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) | Err(Errno::EAGAIN) => continue,
            Err(_) => return false,
        }
    }
    true
}

/// Relays until the process has exited and its output is read; returns its exit code.
/// `pid` is the process signals are forwarded to.
pub fn relay(
    mut ends: Ends,
    pid: i32,
    exit: Exit,
    mut log: Option<LogWriter>,
    interactive: bool,
) -> Result<i32> {
    let mut mask = SigSet::empty();
    for s in FORWARDED {
        mask.add(s);
    }
    mask.add(Signal::SIGWINCH);
    mask.add(Signal::SIGCHLD);
    mask.thread_block()
        .map_err(|e| Error::Protocol(format!("block signals: {e}")))?;
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| Error::Protocol(format!("signalfd: {e}")))?;
    let _raw =
        (ends.tty && nix::unistd::isatty(std::io::stdin()).unwrap_or(false)).then(Raw::enter);
    if ends.tty {
        if let Some(m) = &ends.stdout {
            copy_window_size(m.as_fd());
        }
    }
    let mut stdin_open = interactive && ends.stdin.is_some();
    let mut code: Option<i32> = None;
    let mut exited_at: Option<Instant> = None;
    let mut buf = vec![0u8; 64 << 10];
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    loop {
        // Our child may have exited before SIGCHLD was blocked (then no signal comes).
        if let (Exit::Child(child), None) = (&exit, code) {
            match waitpid(Pid::from_raw(*child), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => {}
                Ok(st) => {
                    code = Some(crate::runtime::exit_code(st));
                    exited_at = Some(Instant::now());
                }
                Err(_) => {
                    code = Some(255);
                    exited_at = Some(Instant::now());
                }
            }
        }
        if code.is_some() && ends.stdout.is_none() && ends.stderr.is_none() {
            break;
        }
        if exited_at.is_some_and(|t| t.elapsed() > DRAIN) {
            break;
        }
        let stdin = std::io::stdin();
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        let mut slots = vec![Slot::Signal];
        if let Exit::Monitor(sock) = &exit {
            if code.is_none() {
                fds.push(PollFd::new(sock.as_fd(), PollFlags::POLLIN));
                slots.push(Slot::Monitor);
            }
        }
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            slots.push(Slot::Stdin);
        }
        if let Some(o) = &ends.stdout {
            fds.push(PollFd::new(o.as_fd(), PollFlags::POLLIN));
            slots.push(Slot::Stdout);
        }
        if let Some(e) = &ends.stderr {
            fds.push(PollFd::new(e.as_fd(), PollFlags::POLLIN));
            slots.push(Slot::Stderr);
        }
        let timeout = if exited_at.is_some() {
            PollTimeout::from(100u16)
        } else {
            PollTimeout::NONE
        };
        match poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::Protocol(format!("poll: {e}"))),
        }
        let ready: Vec<(Slot, bool)> = fds
            .iter()
            .zip(&slots)
            .map(|(f, s)| {
                let ev = f.revents().unwrap_or(PollFlags::empty());
                (
                    *s,
                    ev.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR),
                )
            })
            .collect();
        drop(fds);
        for (slot, is_ready) in ready {
            if !is_ready {
                continue;
            }
            match slot {
                Slot::Signal => {
                    while let Ok(Some(info)) = sfd.read_signal() {
                        let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
                            continue;
                        };
                        match sig {
                            Signal::SIGWINCH => {
                                if let (true, Some(m)) = (ends.tty, &ends.stdout) {
                                    copy_window_size(m.as_fd());
                                }
                            }
                            // Reaped at the top of the loop.
                            Signal::SIGCHLD => {}
                            s => {
                                let _ = kill(Pid::from_raw(pid), s);
                            }
                        }
                    }
                }
                Slot::Monitor => {
                    if let Exit::Monitor(sock) = &exit {
                        match proto::recv(sock)? {
                            Some((Msg::Exited { code: c, .. }, _)) => {
                                code = Some(c);
                                exited_at = Some(Instant::now());
                            }
                            Some((m, _)) => {
                                return Err(Error::Protocol(format!("unexpected {m:?}")))
                            }
                            None => {
                                return Err(Error::Monitor(
                                    "the container's monitor exited without reporting the exit"
                                        .into(),
                                ))
                            }
                        }
                    }
                }
                Slot::Stdin => match nix::unistd::read(std::io::stdin(), &mut buf) {
                    Ok(0) | Err(_) => {
                        stdin_open = false;
                        // A pipe is closed so the container sees EOF; a terminal stays.
                        if !ends.tty {
                            ends.stdin = None;
                        }
                    }
                    Ok(n) => {
                        if let Some(w) = &ends.stdin {
                            if !write_all(w.as_fd(), &buf[..n]) {
                                stdin_open = false;
                                ends.stdin = None;
                            }
                        }
                    }
                },
                Slot::Stdout | Slot::Stderr => {
                    let (src, stream) = if slot == Slot::Stdout {
                        (&mut ends.stdout, Stream::Stdout)
                    } else {
                        (&mut ends.stderr, Stream::Stderr)
                    };
                    let Some(fd) = src else { continue };
                    match nix::unistd::read(fd.as_fd(), &mut buf) {
                        // EIO: the terminal's last user is gone.
                        Ok(0) | Err(Errno::EIO) => *src = None,
                        Err(Errno::EINTR) | Err(Errno::EAGAIN) => {}
                        Err(_) => *src = None,
                        Ok(n) => {
                            let out = match stream {
                                Stream::Stdout => stdout.as_fd(),
                                Stream::Stderr => stderr.as_fd(),
                            };
                            write_all(out, &buf[..n]);
                            if let Some(l) = &mut log {
                                l.write(stream, &buf[..n]);
                            }
                        }
                    }
                }
            }
        }
    }
    if let Some(l) = &mut log {
        l.flush();
    }
    let _ = mask.thread_unblock();
    Ok(code.unwrap_or(255))
}
