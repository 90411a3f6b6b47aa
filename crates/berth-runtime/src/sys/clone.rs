//! Process creation with namespace flags: `clone3(2)` (with `CLONE_INTO_CGROUP` when given a
//! cgroup directory), falling back to `clone(2)` on kernels without it.

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::unistd::Pid;

use super::SysResult;

/// `CLONE_INTO_CGROUP` (clone3 only).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// clone_args of clone3(2); a zero stack means "like fork".
#[repr(C)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Which side of a fork-like clone the caller is on.
pub enum Forked {
    Parent(Pid),
    Child,
}

/// A fork-like clone (no shared memory, no new stack) with `flags` (`CLONE_NEW*`,
/// `CLONE_PARENT`), born into the cgroup directory `cgroup` when given.
///
/// The caller must be single-threaded: the child gets a copy of the address space with only
/// the calling thread in it, and goes on running Rust code.
pub fn fork_with(flags: libc::c_int, cgroup: Option<BorrowedFd<'_>>) -> SysResult<Forked> {
    // With CLONE_PARENT the child inherits our exit signal (clone3 wants 0 then); our parent
    // gets SIGCHLD for it, as for us.
    let parent = flags & libc::CLONE_PARENT != 0;
    let args = CloneArgs {
        flags: flags as u32 as u64 | cgroup.map_or(0, |_| CLONE_INTO_CGROUP),
        pidfd: 0,
        child_tid: 0,
        parent_tid: 0,
        exit_signal: if parent { 0 } else { libc::SIGCHLD as u64 },
        stack: 0,
        stack_size: 0,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup: cgroup.map_or(0, |fd| fd.as_raw_fd() as u64),
    };
    // SAFETY: clone3 with a valid clone_args of the size passed and no new stack: it behaves
    // as fork; the documented single-thread contract makes the child's copy consistent.
    let mut r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if r < 0 && Errno::last() == Errno::ENOSYS && cgroup.is_none() {
        // SAFETY: as above, with the older clone(2) call and the same fork-like semantics.
        r = unsafe {
            libc::syscall(
                libc::SYS_clone,
                (flags | libc::SIGCHLD) as libc::c_ulong,
                0usize,
                0usize,
                0usize,
                0usize,
            )
        };
    }
    match r {
        r if r < 0 => Err(Errno::last()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(Pid::from_raw(pid as i32))),
    }
}

/// Ends the calling process at once, without running destructors or atexit handlers (a forked
/// child must not flush or free what its parent owns).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit is always safe to call.
    unsafe { libc::_exit(code) }
}

/// A child in a new user namespace that does nothing until `hold` is closed, then exits:
/// the caller writes its id maps and opens its namespace. Safe from a multi-threaded caller:
/// the child only makes raw system calls.
pub fn userns_holder(hold: BorrowedFd<'_>, release: BorrowedFd<'_>) -> SysResult<Pid> {
    // SAFETY: a fork-like clone; the child only closes a fd, reads one byte and _exits, all
    // async-signal-safe system calls that touch no state shared with other threads.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid == 0 {
        let mut b = [0u8; 1];
        // SAFETY: close our copy of the write end (so the parent's close is our EOF), read
        // into a live one-byte buffer, then _exit.
        unsafe {
            libc::close(release.as_raw_fd());
            libc::read(hold.as_raw_fd(), b.as_mut_ptr().cast(), 1);
            libc::_exit(0)
        }
    }
    if pid < 0 {
        return Err(Errno::last());
    }
    Ok(Pid::from_raw(pid as i32))
}
