//! Process fds: waiting for an exit without reaping, signalling without pid reuse races, and
//! copying another process's fd.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;

use super::SysResult;

/// `pidfd_open(pid, 0)`: an fd that becomes readable when `pid` exits.
pub fn open(pid: i32) -> SysResult<OwnedFd> {
    // SAFETY: plain syscall with integer arguments; returns a new fd we own.
    super::owned(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })
}

/// Waits until the process behind `pidfd` exits, up to `timeout_ms` (-1: forever). Returns
/// false on timeout.
pub fn wait_exit(pidfd: BorrowedFd<'_>, timeout_ms: i32) -> bool {
    poll_in(pidfd, timeout_ms)
}

/// Waits until `fd` is readable (or hung up), up to `timeout_ms` (-1: forever). False on
/// timeout.
pub fn poll_in(fd: BorrowedFd<'_>, timeout_ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        if r > 0 {
            return true;
        }
        if r == 0 {
            return false;
        }
        if Errno::last() != Errno::EINTR {
            return true;
        }
    }
}

/// `pidfd_send_signal(pidfd, sig)`.
pub fn send_signal(pidfd: BorrowedFd<'_>, sig: i32) -> SysResult<()> {
    // SAFETY: plain syscall with integer arguments and a null siginfo.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// `pidfd_getfd(pidfd, fd)`: a copy of another process's fd (needs ptrace access to it).
pub fn getfd(pidfd: BorrowedFd<'_>, fd: i32) -> SysResult<OwnedFd> {
    // SAFETY: plain syscall with integer arguments; returns a new fd we own.
    super::owned(unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) })
}
