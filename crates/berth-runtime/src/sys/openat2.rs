//! `openat2(2)`: opening paths with the kernel enforcing how they may resolve.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;

use super::SysResult;

pub use libc::{
    RESOLVE_BENEATH, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS, RESOLVE_NO_XDEV,
};

/// `openat2(dir, path, {flags | O_CLOEXEC, mode, resolve})`, retried on EAGAIN/EINTR.
pub fn open(
    dir: BorrowedFd<'_>,
    path: &Path,
    flags: OFlag,
    mode: u32,
    resolve: u64,
) -> SysResult<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    // SAFETY: open_how is plain data; all-zero is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | OFlag::O_CLOEXEC).bits() as u64;
    how.mode = mode as u64;
    how.resolve = resolve;
    loop {
        // SAFETY: `c` is NUL-terminated and `how` a valid open_how of the size passed; the
        // kernel returns a new fd that we own.
        let r = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                c.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        match super::owned(r) {
            Err(Errno::EAGAIN | Errno::EINTR) => continue,
            r => return r,
        }
    }
}
