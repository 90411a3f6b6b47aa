//! The raw system calls berth needs beyond what `nix` wraps: process creation, the mount API,
//! `openat2`, pidfds, fd passing, ptys, keyrings and process attributes.
//!
//! This is the only module with `unsafe` code. Each function is a thin, typed wrapper that
//! returns the errno; the callers add the operation's context (path, field) to errors.

pub mod attrs;
pub mod clone;
pub mod exec;
pub mod fdpass;
pub mod mount;
pub mod openat2;
pub mod pidfd;
pub mod pty;
pub mod spawn;

use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

/// The result of a raw system call.
pub type SysResult<T> = std::result::Result<T, Errno>;

/// Takes ownership of a fd the kernel just returned (or reports the errno of `-1`).
fn owned(r: libc::c_long) -> SysResult<OwnedFd> {
    if r < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a non-negative return of an fd-creating syscall is a fresh fd nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

/// Borrows a raw fd that the caller keeps open for the duration of the use.
///
/// Only for fds whose lifetime is managed elsewhere (stdio, fds inherited by number).
pub fn borrow(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: callers pass fds that stay open while the borrow is used (documented above).
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// Takes ownership of an fd inherited by number (e.g. from a parent over `exec`).
///
/// The caller must be the only owner of `fd` from now on.
pub fn adopt(fd: RawFd) -> OwnedFd {
    // SAFETY: documented contract: the fd is open and owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// `close_range(first, ~0, flags)` with holes for the fds in `keep`.
pub fn close_from_except(first: RawFd, keep: &[RawFd], cloexec: bool) {
    let flags = if cloexec {
        libc::CLOSE_RANGE_CLOEXEC as libc::c_int
    } else {
        0
    };
    let mut keep: Vec<RawFd> = keep.iter().copied().filter(|fd| *fd >= first).collect();
    keep.sort_unstable();
    let mut from = first as libc::c_uint;
    for k in keep {
        if (k as libc::c_uint) > from {
            // SAFETY: close_range only closes (or flags) fds; the kept ones are out of range.
            unsafe { libc::close_range(from, k as libc::c_uint - 1, flags) };
        }
        from = k as libc::c_uint + 1;
    }
    // SAFETY: as above.
    unsafe { libc::close_range(from, libc::c_uint::MAX, flags) };
}

/// `flock(fd, LOCK_EX [| LOCK_NB])`; `Ok(false)` when non-blocking and somebody holds it.
pub fn flock_exclusive(fd: BorrowedFd<'_>, block: bool) -> SysResult<bool> {
    use std::os::fd::AsRawFd;
    let op = if block {
        libc::LOCK_EX
    } else {
        libc::LOCK_EX | libc::LOCK_NB
    };
    loop {
        // SAFETY: flock on a valid fd; no memory is passed.
        if unsafe { libc::flock(fd.as_raw_fd(), op) } == 0 {
            return Ok(true);
        }
        match Errno::last() {
            Errno::EINTR => continue,
            Errno::EWOULDBLOCK if !block => return Ok(false),
            e => return Err(e),
        }
    }
}

/// `prctl(PR_SET_PDEATHSIG, sig)`: 0 clears it.
pub fn set_parent_death_signal(sig: libc::c_int) -> SysResult<()> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) } != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Set once this process has reset its signals (the helper does it while it waits for its
/// job): a process forked from it later has nothing left to reset.
static SIGNALS_RESET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// [`reset_signals`], remembered for the processes forked afterwards (see
/// [`signals_reset`]). Only for a process that installs no handler from then on.
pub fn reset_signals_for_children() {
    reset_signals();
    SIGNALS_RESET.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Whether [`reset_signals_for_children`] ran in this process (or the one it was forked
/// from): every signal is at its default action and none is blocked.
pub fn signals_reset() -> bool {
    SIGNALS_RESET.load(std::sync::atomic::Ordering::Relaxed)
}

/// Puts every signal back to its default action and unblocks all: what the new program gets
/// (as a Go runtime's exec gives runc's containers). A handler is reset by `execve` anyway;
/// an ignored signal is not, and ours are: Rust ignores SIGPIPE at startup, and glibc's
/// posix_spawn ignores its internal signals (32, 33) in the helper it starts. The raw system
/// call: glibc refuses `sigaction` on its internal signals. Errors (a signal number the kernel
/// does not have) are ignored: there is nothing to reset there.
pub fn reset_signals() {
    // The kernel's `struct sigaction` for rt_sigaction: handler, flags, restorer, mask.
    #[repr(C)]
    struct KernelSigaction {
        handler: libc::c_ulong,
        flags: libc::c_ulong,
        restorer: libc::c_ulong,
        mask: u64,
    }
    let dfl = KernelSigaction {
        handler: libc::SIG_DFL as libc::c_ulong,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: rt_sigaction with a valid kernel sigaction struct of the kernel's sigset
        // size (8 bytes) and no old-action pointer; SIG_DFL needs no restorer.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &dfl as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            )
        };
    }
    let empty: u64 = 0;
    // SAFETY: rt_sigprocmask(SIG_SETMASK) with a valid 8-byte set and no old-set pointer.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &empty as *const u64,
            std::ptr::null_mut::<u64>(),
            8usize,
        )
    };
}

/// Joins a new session keyring named `name` (`KEYCTL_JOIN_SESSION_KEYRING`).
pub fn join_session_keyring(name: &std::ffi::CStr) -> SysResult<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_int = 1;
    // SAFETY: keyctl with a valid NUL-terminated name.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if r < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// `ioctl(NS_GET_NSTYPE)`: the `CLONE_NEW*` type of a namespace fd.
pub fn ns_type(fd: BorrowedFd<'_>) -> SysResult<i32> {
    use std::os::fd::AsRawFd;
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
    // SAFETY: an ioctl without an argument on a valid fd.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE) };
    if r < 0 {
        return Err(Errno::last());
    }
    Ok(r)
}
