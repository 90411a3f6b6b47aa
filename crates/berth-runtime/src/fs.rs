//! Path resolution inside the container's root and the fd-based mount calls.
//!
//! Every target inside the rootfs is opened with `openat2(RESOLVE_IN_ROOT)`, so a symlink in
//! the image (or one swapped in while we work) resolves inside the rootfs, never out of it.
//! Mounts are then made onto the opened fd, never onto a path that could be re-resolved.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::{Error, Result};

fn cstr(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::sys("encode", path, Errno::EINVAL))
}

/// `openat2(dirfd, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`.
pub fn open_in_root(root: RawFd, path: &Path, flags: OFlag, mode: u32) -> Result<OwnedFd> {
    let rel = relative(path);
    let c = cstr(&rel)?;
    // SAFETY: open_how is plain data; all-zero is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | OFlag::O_CLOEXEC).bits() as u64;
    how.mode = mode as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    loop {
        // SAFETY: `c` is a valid NUL-terminated string and `how` a valid open_how of the size
        // passed; the kernel returns a new fd we take ownership of.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                root,
                c.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if fd >= 0 {
            // SAFETY: a fresh fd from the kernel, owned by nobody else.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
        }
        match Errno::last() {
            Errno::EAGAIN | Errno::EINTR => continue,
            e => return Err(Error::sys("openat2", path, e)),
        }
    }
}

/// `path` without its leading `/`, `.` components removed (`..` is left to RESOLVE_IN_ROOT).
pub fn relative(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Creates `path` (and its parents) inside the root if missing: a directory, or an empty file
/// when `file` is set. Returns an `O_PATH` fd of the result.
pub fn mkdir_all_in_root(root: RawFd, path: &Path, file: bool) -> Result<OwnedFd> {
    match open_in_root(root, path, OFlag::O_PATH, 0) {
        Ok(fd) => return Ok(fd),
        Err(Error::Sys {
            errno: Errno::ENOENT,
            ..
        }) => {}
        Err(e) => return Err(e),
    }
    let rel = relative(path);
    let parent = rel.parent().unwrap_or(Path::new("."));
    let name = rel
        .file_name()
        .ok_or_else(|| Error::sys("create", path, Errno::EINVAL))?;
    let parent_fd = if parent.as_os_str().is_empty() {
        open_in_root(root, Path::new("."), OFlag::O_PATH | OFlag::O_DIRECTORY, 0)?
    } else {
        let p = mkdir_all_in_root(root, parent, false)?;
        // Re-open as a directory we can create in (O_PATH works for *at calls too).
        p
    };
    let cname =
        CString::new(name.as_bytes()).map_err(|_| Error::sys("create", path, Errno::EINVAL))?;
    let r = if file {
        // SAFETY: valid dirfd and NUL-terminated name; the returned fd is closed right away.
        let fd = unsafe {
            libc::openat(
                parent_fd.as_raw_fd(),
                cname.as_ptr(),
                libc::O_CREAT | libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                0o644,
            )
        };
        if fd >= 0 {
            // SAFETY: fd was just returned by openat and is not used elsewhere.
            unsafe { libc::close(fd) };
            Ok(())
        } else {
            Err(Errno::last())
        }
    } else {
        nix::sys::stat::mkdirat(
            &parent_fd,
            cname.as_c_str(),
            Mode::from_bits_truncate(0o755),
        )
    };
    match r {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(Error::sys(if file { "create" } else { "mkdir" }, path, e)),
    }
    open_in_root(root, path, OFlag::O_PATH, 0)
}

/// `/proc/self/fd/N`: the path through which a syscall that only takes paths reaches an fd.
pub fn fd_path(fd: RawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{fd}"))
}

/// `open_tree(2)` with `OPEN_TREE_CLONE`: a detached copy of the mount tree at `src`.
pub fn open_tree_clone(src: &Path, recursive: bool) -> Result<OwnedFd> {
    let c = cstr(src)?;
    let mut flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= libc::AT_RECURSIVE as u32;
    }
    // SAFETY: valid NUL-terminated path; returns a new fd owned by us.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags) };
    if fd < 0 {
        return Err(Error::sys("open_tree", src, Errno::last()));
    }
    // SAFETY: fresh fd from the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `open_tree(2)` with `OPEN_TREE_CLONE` of what `fd` refers to (recursively): no path is
/// resolved again, so what was checked is what gets mounted.
pub fn open_tree_clone_fd(fd: RawFd, what: &Path) -> Result<OwnedFd> {
    let flags = libc::OPEN_TREE_CLONE
        | libc::OPEN_TREE_CLOEXEC
        | libc::AT_RECURSIVE as u32
        | libc::AT_EMPTY_PATH as u32;
    // SAFETY: valid fd and empty path; returns a new fd we own.
    let r = unsafe { libc::syscall(libc::SYS_open_tree, fd, c"".as_ptr(), flags) };
    if r < 0 {
        return Err(Error::sys("open_tree", what, Errno::last()));
    }
    // SAFETY: fresh fd from the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

/// `mount_setattr(2)` on a mount fd.
pub fn mount_setattr(fd: RawFd, recursive: bool, set: u64, clr: u64, what: &Path) -> Result<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clr,
        propagation: 0,
        userns_fd: 0,
    };
    let mut flags = libc::AT_EMPTY_PATH;
    if recursive {
        flags |= libc::AT_RECURSIVE;
    }
    // SAFETY: `attr` is a valid mount_attr of the size passed; the empty path refers to `fd`.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        return Err(Error::sys("mount_setattr", what, Errno::last()));
    }
    Ok(())
}

/// `MOUNT_ATTR_IDMAP`: makes the detached mount `fd` show ownership through `userns`.
pub fn mount_setattr_idmap(fd: RawFd, recursive: bool, userns: RawFd, what: &Path) -> Result<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns as u64,
    };
    let mut flags = libc::AT_EMPTY_PATH;
    if recursive {
        flags |= libc::AT_RECURSIVE;
    }
    // SAFETY: `attr` is a valid mount_attr of the size passed; the empty path refers to `fd`.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        return Err(Error::sys("idmap (mount_setattr)", what, Errno::last()));
    }
    Ok(())
}

/// `move_mount(2)` of a detached mount fd onto the target fd.
pub fn move_mount(from: RawFd, to: RawFd, what: &Path) -> Result<()> {
    let flags = libc::MOVE_MOUNT_F_EMPTY_PATH | libc::MOVE_MOUNT_T_EMPTY_PATH;
    // SAFETY: both fds are valid; empty paths refer to the fds themselves.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from,
            c"".as_ptr(),
            to,
            c"".as_ptr(),
            flags,
        )
    };
    if r < 0 {
        return Err(Error::sys("move_mount", what, Errno::last()));
    }
    Ok(())
}

/// Fails unless `fd` is on procfs: writes meant for procfs must not land elsewhere.
pub fn ensure_procfs(fd: RawFd, what: &Path) -> Result<()> {
    let st =
        nix::sys::statfs::fstatfs(unsafe_borrow(fd)).map_err(|e| Error::sys("fstatfs", what, e))?;
    if st.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
        return Err(Error::sys("verify procfs", what, Errno::EXDEV));
    }
    Ok(())
}

fn unsafe_borrow(fd: RawFd) -> std::os::fd::BorrowedFd<'static> {
    // SAFETY: callers pass an fd that stays open for the duration of the call that uses it.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
}

/// Writes `data` to the procfs file `path`, checking the opened file really is procfs.
pub fn write_proc(path: &Path, data: &[u8]) -> Result<()> {
    let fd = nix::fcntl::open(
        path,
        OFlag::O_WRONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )
    .map_err(|e| Error::sys("open", path, e))?;
    ensure_procfs(fd.as_raw_fd(), path)?;
    nix::unistd::write(&fd, data).map_err(|e| Error::sys("write", path, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_strips_root_and_dots() {
        assert_eq!(relative(Path::new("/a/./b")), PathBuf::from("a/b"));
        assert_eq!(relative(Path::new("/")), PathBuf::from("."));
        assert_eq!(relative(Path::new("/a/../b")), PathBuf::from("a/../b"));
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("escape")).unwrap();
        std::os::unix::fs::symlink("../../../../", root.join("up")).unwrap();
        let rootfd =
            nix::fcntl::open(root, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
        // `/escape/x` must be created as `<root>/etc/x`, not the host's /etc/x.
        let fd = mkdir_all_in_root(rootfd.as_raw_fd(), Path::new("/escape/berth-test-x"), false)
            .unwrap();
        drop(fd);
        assert!(root.join("etc/berth-test-x").is_dir());
        assert!(!Path::new("/etc/berth-test-x").exists());
        mkdir_all_in_root(rootfd.as_raw_fd(), Path::new("/up/y"), true).unwrap();
        assert!(root.join("y").is_file());
    }
}
