//! The fd-based mount API: `open_tree`, `mount_setattr`, `move_mount`, `fsopen`/`fsmount`.
//! Mounts are made onto opened fds, never onto paths that could be resolved again.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;

use super::SysResult;

/// `MOUNT_ATTR_*` bits for `mount_setattr(2)`.
pub mod attr {
    pub const RDONLY: u64 = 0x1;
    pub const NOSUID: u64 = 0x2;
    pub const NODEV: u64 = 0x4;
    pub const NOEXEC: u64 = 0x8;
    pub const ATIME_MASK: u64 = 0x70;
    pub const RELATIME: u64 = 0x0;
    pub const NOATIME: u64 = 0x10;
    pub const STRICTATIME: u64 = 0x20;
    pub const NODIRATIME: u64 = 0x80;
    pub const IDMAP: u64 = 0x0010_0000;
    pub const NOSYMFOLLOW: u64 = 0x0020_0000;
}

fn cpath(p: &Path) -> SysResult<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)
}

/// `open_tree(AT_FDCWD, src, OPEN_TREE_CLONE)`: a detached copy of the mount tree at `src`.
pub fn clone_tree(src: &Path, recursive: bool) -> SysResult<OwnedFd> {
    clone_tree_at(None, src, recursive)
}

/// [`clone_tree`] of `src` relative to `dir` (`None`: the working directory).
pub fn clone_tree_at(
    dir: Option<BorrowedFd<'_>>,
    src: &Path,
    recursive: bool,
) -> SysResult<OwnedFd> {
    let c = cpath(src)?;
    let dir = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    let mut flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= libc::AT_RECURSIVE as u32;
    }
    // SAFETY: a valid NUL-terminated path; returns a new fd owned by us.
    super::owned(unsafe { libc::syscall(libc::SYS_open_tree, dir, c.as_ptr(), flags) })
}

/// `open_tree(fd, "", OPEN_TREE_CLONE | AT_RECURSIVE | AT_EMPTY_PATH)`: a detached copy of
/// what `fd` refers to; no path is resolved again, so what was checked is what gets mounted.
pub fn clone_tree_fd(fd: BorrowedFd<'_>) -> SysResult<OwnedFd> {
    let flags = libc::OPEN_TREE_CLONE
        | libc::OPEN_TREE_CLOEXEC
        | libc::AT_RECURSIVE as u32
        | libc::AT_EMPTY_PATH as u32;
    // SAFETY: a valid fd and an empty path; returns a new fd we own.
    super::owned(unsafe { libc::syscall(libc::SYS_open_tree, fd.as_raw_fd(), c"".as_ptr(), flags) })
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

fn setattr(fd: BorrowedFd<'_>, recursive: bool, attr: &MountAttr) -> SysResult<()> {
    let mut flags = libc::AT_EMPTY_PATH;
    if recursive {
        flags |= libc::AT_RECURSIVE;
    }
    // SAFETY: `attr` is a valid mount_attr of the size passed; the empty path is `fd` itself.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE])` setting and clearing attributes.
pub fn set_attrs(fd: BorrowedFd<'_>, recursive: bool, set: u64, clr: u64) -> SysResult<()> {
    setattr(
        fd,
        recursive,
        &MountAttr {
            attr_set: set,
            attr_clr: clr,
            propagation: 0,
            userns_fd: 0,
        },
    )
}

/// `MOUNT_ATTR_IDMAP`: makes the detached mount `fd` show ownership through `userns`.
pub fn set_idmap(fd: BorrowedFd<'_>, recursive: bool, userns: BorrowedFd<'_>) -> SysResult<()> {
    setattr(
        fd,
        recursive,
        &MountAttr {
            attr_set: attr::IDMAP,
            attr_clr: 0,
            propagation: 0,
            userns_fd: userns.as_raw_fd() as u64,
        },
    )
}

/// `move_mount(from, "", to, "", F_EMPTY_PATH | T_EMPTY_PATH)`: attaches a detached mount onto
/// the target fd.
pub fn attach(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> SysResult<()> {
    let flags = libc::MOVE_MOUNT_F_EMPTY_PATH | libc::MOVE_MOUNT_T_EMPTY_PATH;
    // SAFETY: both fds are valid; empty paths refer to the fds themselves.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            c"".as_ptr(),
            to.as_raw_fd(),
            c"".as_ptr(),
            flags,
        )
    };
    if r < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// `fsopen(fstype)` → `fsmount`: a new mount of `fstype` attached nowhere, with `attrs`.
fn fresh(fstype: &std::ffi::CStr, attrs: u64) -> SysResult<OwnedFd> {
    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    // SAFETY: a valid NUL-terminated fs name; returns a new fd we own.
    let ctx =
        super::owned(unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) })?;
    // SAFETY: FSCONFIG_CMD_CREATE takes no key or value.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    if r < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a configured fs context; returns a new mount fd we own.
    super::owned(unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            ctx.as_raw_fd(),
            FSMOUNT_CLOEXEC,
            attrs as libc::c_uint,
        )
    })
}

/// A procfs mount attached nowhere (nosuid, nodev, noexec).
pub fn fresh_procfs() -> SysResult<OwnedFd> {
    fresh(c"proc", attr::NOSUID | attr::NODEV | attr::NOEXEC)
}

/// An empty read-only tmpfs attached nowhere (to mask a directory with).
pub fn fresh_empty_tmpfs() -> SysResult<OwnedFd> {
    fresh(
        c"tmpfs",
        attr::RDONLY | attr::NOSUID | attr::NODEV | attr::NOEXEC,
    )
}
