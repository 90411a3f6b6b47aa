//! Path resolution inside the container's root and the fd-based mount calls.
//!
//! Every target inside the rootfs is opened with `openat2(RESOLVE_IN_ROOT)`, so a symlink in
//! the image (or one swapped in while we work) resolves inside the rootfs, never out of it.
//! Mounts are then made onto the opened fd, never onto a path that could be re-resolved.
//! Paths where a symlink has no business (device nodes, the console, `/proc`) are opened with
//! `RESOLVE_NO_SYMLINKS` and a symlink there is refused.

use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::sys::openat2::{self, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS};
use crate::{sys, Error, Result};

/// Opens `path` inside the root `root` (`RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`).
pub fn open_in_root(root: BorrowedFd<'_>, path: &Path, flags: OFlag, mode: u32) -> Result<OwnedFd> {
    openat2::open(
        root,
        &relative(path),
        flags,
        mode,
        RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    )
    .map_err(|e| Error::sys("openat2", path, e))
}

/// Opens `path` inside the root, refusing a symlink anywhere along it.
pub fn open_no_symlinks(root: BorrowedFd<'_>, path: &Path, flags: OFlag) -> Result<OwnedFd> {
    openat2::open(
        root,
        &relative(path),
        flags,
        0,
        RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS,
    )
    .map_err(|e| match e {
        Errno::ELOOP => Error::UnsafePath {
            path: path.to_path_buf(),
            msg: "is (or passes through) a symlink, which berth does not follow here",
        },
        e => Error::sys("openat2", path, e),
    })
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
pub fn mkdir_all_in_root(root: BorrowedFd<'_>, path: &Path, file: bool) -> Result<OwnedFd> {
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
        mkdir_all_in_root(root, parent, false)?
    };
    let cname =
        CString::new(name.as_bytes()).map_err(|_| Error::sys("create", path, Errno::EINVAL))?;
    let r = if file {
        nix::fcntl::openat(
            &parent_fd,
            cname.as_c_str(),
            OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        )
        .map(drop)
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
    match open_in_root(root, path, OFlag::O_PATH, 0) {
        // What exists is a symlink whose target is not there: say so, do not create it.
        Err(Error::Sys {
            errno: Errno::ENOENT,
            ..
        }) => match nix::fcntl::readlinkat(&parent_fd, cname.as_c_str()) {
            Ok(target) => Err(Error::DanglingSymlink {
                path: path.to_path_buf(),
                target: target.into(),
            }),
            Err(e) => Err(Error::sys("open", path, e)),
        },
        r => r,
    }
}

/// `/proc/self/fd/N`: the path through which a syscall that only takes paths reaches an fd.
pub fn fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    use std::os::fd::AsRawFd;
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// A detached copy of the mount tree at `src` (`open_tree(OPEN_TREE_CLONE)`).
pub fn clone_tree(src: &Path, recursive: bool) -> Result<OwnedFd> {
    sys::mount::clone_tree(src, recursive).map_err(|e| Error::sys("open_tree", src, e))
}

/// A detached copy of what `fd` refers to; `what` names it in errors.
pub fn clone_tree_fd(fd: BorrowedFd<'_>, what: &Path) -> Result<OwnedFd> {
    sys::mount::clone_tree_fd(fd).map_err(|e| Error::sys("open_tree", what, e))
}

/// Sets and clears mount attributes of the mount `fd`.
pub fn set_attrs(
    fd: BorrowedFd<'_>,
    recursive: bool,
    set: u64,
    clr: u64,
    what: &Path,
) -> Result<()> {
    sys::mount::set_attrs(fd, recursive, set, clr).map_err(|e| Error::sys("mount_setattr", what, e))
}

/// Attaches the detached mount `tree` onto `target`.
pub fn attach(tree: &OwnedFd, target: &OwnedFd, what: &Path) -> Result<()> {
    sys::mount::attach(tree.as_fd(), target.as_fd()).map_err(|e| Error::sys("move_mount", what, e))
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
        let fd =
            mkdir_all_in_root(rootfd.as_fd(), Path::new("/escape/berth-test-x"), false).unwrap();
        drop(fd);
        assert!(root.join("etc/berth-test-x").is_dir());
        assert!(!Path::new("/etc/berth-test-x").exists());
        mkdir_all_in_root(rootfd.as_fd(), Path::new("/up/y"), true).unwrap();
        assert!(root.join("y").is_file());
        // Where symlinks are refused, they are named.
        let e = open_no_symlinks(rootfd.as_fd(), Path::new("/escape"), OFlag::O_PATH)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/escape") && e.contains("symlink"), "{e}");
    }
}
