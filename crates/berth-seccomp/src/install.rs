//! Loading a compiled filter into the calling thread.

use std::os::fd::{FromRawFd, OwnedFd};

use nix::errno::Errno;

use crate::{Error, Filter};

/// Installs `filter` on the calling thread (all threads with
/// `SECCOMP_FILTER_FLAG_TSYNC`) with `seccomp(SECCOMP_SET_MODE_FILTER)`.
///
/// The caller must have set `no_new_privs` (`prctl(PR_SET_NO_NEW_PRIVS)`) or
/// hold `CAP_SYS_ADMIN`; otherwise the kernel answers `EACCES`. Call it as
/// late as possible, just before `execve`, since every later syscall of the
/// runtime is filtered too.
///
/// Returns the notify listener fd when the filter has an `SCMP_ACT_NOTIFY`
/// rule ([`Filter::uses_notify`]), `None` otherwise. This function does not
/// allocate, so it is safe to call in a child after `fork`.
pub fn install(filter: &Filter) -> Result<Option<OwnedFd>, Error> {
    let prog = filter.program();
    let fprog = libc::sock_fprog {
        len: prog.len() as libc::c_ushort,
        filter: prog.as_ptr().cast_mut(),
    };
    // SAFETY: `fprog` points at `prog`, which outlives the call; the kernel
    // copies the program and only reads through the pointer.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            filter.flags(),
            &fprog as *const libc::sock_fprog,
        )
    };
    if rc < 0 {
        return Err(Error::Install {
            flags: filter.flags(),
            errno: Errno::last(),
        });
    }
    if filter.uses_notify() {
        // SAFETY: with NEW_LISTENER the kernel returns a new fd that nothing
        // else owns.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(rc as libc::c_int) }))
    } else {
        Ok(None)
    }
}
