//! Terminals: the container's pty, handing its master to a console socket, and proxying it
//! for a foreground `run -t`/`exec -t`.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};

use crate::{Error, Result};

/// Connects to the console socket given with `--console-socket`.
pub fn connect(path: &Path) -> Result<OwnedFd> {
    let s = UnixStream::connect(path).map_err(|e| Error::io("connect console socket", path, e))?;
    Ok(OwnedFd::from(s))
}

/// A new pty in the current mount namespace's `/dev/ptmx`: the master and the slave's path.
pub fn open_pty() -> Result<(OwnedFd, OwnedFd, PathBuf)> {
    let ptmx = Path::new("/dev/ptmx");
    let master = nix::fcntl::open(
        ptmx,
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::sys("open", ptmx, e))?;
    let mut unlock: libc::c_int = 0;
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCSPTLCK takes a pointer to int and TIOCGPTN a pointer to unsigned int; both
    // point to live locals.
    unsafe {
        if libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &mut unlock) != 0 {
            return Err(Error::sys("unlock pty", ptmx, Errno::last()));
        }
        if libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) != 0 {
            return Err(Error::sys("pty number", ptmx, Errno::last()));
        }
    }
    // TIOCGPTPEER opens the slave through the master, so it is the right devpts instance.
    // SAFETY: ioctl with integer flags; returns a new fd we own.
    let slave = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if slave < 0 {
        return Err(Error::sys("open pty slave", ptmx, Errno::last()));
    }
    // SAFETY: fresh fd from the kernel.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    Ok((master, slave, PathBuf::from(format!("/dev/pts/{n}"))))
}

/// Sets the window size of a terminal.
pub fn set_size(fd: RawFd, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize from a valid pointer.
    unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
}

/// Sends `fd` over the unix socket `sock` with SCM_RIGHTS (as containerd and conmon expect).
pub fn send_fd(sock: RawFd, fd: RawFd, name: &str) -> Result<()> {
    let fds = [fd];
    let iov = [IoSlice::new(name.as_bytes())];
    sendmsg::<()>(
        sock,
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(|e| Error::call("send the console over the console socket", e))?;
    Ok(())
}

/// Makes `slave` the controlling terminal and stdio of the calling process.
pub fn make_controlling(slave: RawFd) -> Result<()> {
    nix::unistd::setsid().map_err(|e| Error::call("setsid", e))?;
    // SAFETY: TIOCSCTTY with an integer argument.
    if unsafe { libc::ioctl(slave, libc::TIOCSCTTY, 0) } != 0 {
        return Err(Error::call("ioctl(TIOCSCTTY)", Errno::last()));
    }
    for target in 0..3 {
        // SAFETY: dup2 of valid fds.
        if unsafe { libc::dup2(slave, target) } < 0 {
            return Err(Error::call("dup2 the console", Errno::last()));
        }
    }
    Ok(())
}

/// Receives one fd sent with SCM_RIGHTS.
pub fn recv_fd(sock: RawFd) -> Result<OwnedFd> {
    recv_fd_for(sock, "receive the console")
}

/// Receives one fd sent with [`send_fd`]; `what` names the operation in errors.
pub fn recv_fd_for(sock: RawFd, what: &'static str) -> Result<OwnedFd> {
    let mut buf = [0u8; 256];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let msg = loop {
        match nix::sys::socket::recvmsg::<()>(
            sock,
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(Errno::EINTR) => continue,
            r => break r.map_err(|e| Error::call(what, e))?,
        }
    };
    for c in msg.cmsgs().map_err(|e| Error::call(what, e))? {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel installed this fd for us.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err(Error::Other(format!("{what}: no fd in the message")))
}

/// Puts our terminal in raw mode while a foreground container owns it; restored on drop.
pub struct RawMode {
    saved: Option<nix::sys::termios::Termios>,
}

impl RawMode {
    pub fn enter() -> RawMode {
        let stdin = std::io::stdin();
        let saved = nix::sys::termios::tcgetattr(&stdin).ok();
        if let Some(t) = &saved {
            let mut raw = t.clone();
            nix::sys::termios::cfmakeraw(&mut raw);
            let _ = nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &raw);
        }
        RawMode { saved }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                t,
            );
        }
    }
}

/// Our own terminal's size, if stdin is a terminal.
pub fn own_size() -> Option<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize to a valid pointer.
    (unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) } == 0 && ws.ws_row > 0)
        .then_some((ws.ws_row, ws.ws_col))
}

/// Writes all of `data` to `fd`, ignoring errors (the reader went away).
pub fn write_all(fd: RawFd, mut data: &[u8]) {
    while !data.is_empty() {
        // SAFETY: valid buffer of the given length.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n <= 0 {
            if n < 0 && Errno::last() == Errno::EINTR {
                continue;
            }
            return;
        }
        data = &data[n as usize..];
    }
}
