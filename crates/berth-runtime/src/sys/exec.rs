//! Replacing the process image: `execveat` of a checked fd, and sealed memfd copies.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;

use super::SysResult;

/// `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`: runs exactly the file behind `fd`. Returns
/// only on failure.
pub fn execveat_fd(fd: BorrowedFd<'_>, args: &[CString], env: &[CString]) -> Errno {
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: argv and envp are NULL-terminated arrays of pointers to live C strings.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Errno::last()
}

/// `memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING [| MFD_EXEC])`. MFD_EXEC is tried
/// first: with `vm.memfd_noexec` set (6.3+) a memfd is otherwise not executable; older
/// kernels do not know the flag.
pub fn memfd_executable(name: &std::ffi::CStr) -> SysResult<OwnedFd> {
    const MFD_EXEC: libc::c_uint = 0x10;
    let create = |flags: libc::c_uint| {
        // SAFETY: a NUL-terminated name and plain flags; returns a new fd or -1.
        super::owned(unsafe { libc::memfd_create(name.as_ptr(), flags) } as libc::c_long)
    };
    let base = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    match create(base | MFD_EXEC) {
        Err(Errno::EINVAL) => create(base),
        r => r,
    }
}
