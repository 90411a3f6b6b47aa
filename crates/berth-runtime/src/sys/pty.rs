//! Pseudo-terminals: a new pty from `/dev/ptmx`, window sizes, the controlling terminal.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use nix::errno::Errno;
use nix::fcntl::OFlag;

use super::SysResult;

/// A new pty from the `ptmx` of the current mount namespace: the master, the slave (opened
/// through the master with `TIOCGPTPEER`, so it is that devpts instance's), and its path.
pub fn open() -> SysResult<(OwnedFd, OwnedFd, PathBuf)> {
    let master = nix::fcntl::open(
        "/dev/ptmx",
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    let mut unlock: libc::c_int = 0;
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCSPTLCK takes a pointer to int and TIOCGPTN a pointer to unsigned int; both
    // point to live locals.
    unsafe {
        if libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &mut unlock) != 0 {
            return Err(Errno::last());
        }
        if libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) != 0 {
            return Err(Errno::last());
        }
    }
    // SAFETY: ioctl with integer flags; returns a new fd we own.
    let slave = super::owned(unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    } as libc::c_long)?;
    Ok((master, slave, PathBuf::from(format!("/dev/pts/{n}"))))
}

/// Sets a terminal's window size (`TIOCSWINSZ`).
pub fn set_size(fd: BorrowedFd<'_>, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize from a valid pointer.
    unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
}

/// A terminal's window size (`TIOCGWINSZ`), if it is a terminal with a size.
pub fn size(fd: BorrowedFd<'_>) -> Option<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize to a valid pointer.
    (unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) } == 0 && ws.ws_row > 0)
        .then_some((ws.ws_row, ws.ws_col))
}

/// Makes `slave` the controlling terminal (`TIOCSCTTY`) of the calling session leader.
pub fn set_controlling(slave: BorrowedFd<'_>) -> SysResult<()> {
    // SAFETY: TIOCSCTTY with an integer argument.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } != 0 {
        return Err(Errno::last());
    }
    Ok(())
}
