//! A private procfs handle for the writes that must land in procfs and nowhere else:
//! `oom_score_adj`, `linux.sysctl`, the LSM `attr/exec` files.
//!
//! A path under `/proc` can be redirected: the image may ship `/proc` as a symlink
//! (CVE-2019-16884), and a mount raced onto a procfs file can turn a harmless write into one
//! on another procfs file, such as the host's `core_pattern` (the 2025 runc advisories). So
//! writes go through a procfs mount nobody else can see: a fresh one (`fsopen`), or else a
//! non-recursive clone of `/proc` (no overmounts survive it). Paths below it are resolved
//! with no symlinks, no magic links and no mount crossings, and each opened file is checked
//! to be procfs.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::sys::openat2::{
    RESOLVE_BENEATH, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS, RESOLVE_NO_XDEV,
};
use crate::{sys, Error, Result};

/// procfs's root directory always has this inode number.
const PROC_ROOT_INO: u64 = 1;

/// A verified procfs root.
pub struct Proc {
    root: OwnedFd,
}

impl Proc {
    /// A private procfs for this process's pid namespace.
    pub fn open() -> Result<Proc> {
        let root = sys::mount::fresh_procfs()
            .or_else(|_| sys::mount::clone_tree(Path::new("/proc"), false))
            .map_err(|e| Error::sys("open a private procfs", "/proc", e))
            .or_else(|_| {
                // Last resort: the visible /proc. Overmounts below it are still refused by
                // RESOLVE_NO_XDEV when a path is opened.
                nix::fcntl::open(
                    "/proc",
                    OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
                    Mode::empty(),
                )
                .map_err(|e| Error::sys("open", "/proc", e))
            })?;
        let st = nix::sys::stat::fstat(&root).map_err(|e| Error::sys("fstat", "/proc", e))?;
        ensure_procfs(root.as_fd(), Path::new("/proc"))?;
        if st.st_ino != PROC_ROOT_INO {
            return Err(Error::sys("verify procfs root", "/proc", Errno::EXDEV));
        }
        Ok(Proc { root })
    }

    /// `rel` with a leading `self` or `thread-self` replaced by the numeric path they stand
    /// for (they are symlinks, which the resolution below refuses).
    fn resolve(&self, rel: &str) -> Result<PathBuf> {
        let (head, rest) = rel.split_once('/').unwrap_or((rel, ""));
        if head != "self" && head != "thread-self" {
            return Ok(PathBuf::from(rel));
        }
        let target = nix::fcntl::readlinkat(&self.root, head)
            .map_err(|e| Error::sys("readlink", Path::new("/proc").join(head), e))?;
        Ok(PathBuf::from(target).join(rest))
    }

    /// Opens `rel` (relative to the procfs root) for writing.
    pub fn open_write(&self, rel: &str) -> Result<OwnedFd> {
        let shown = Path::new("/proc").join(rel);
        let path = self.resolve(rel)?;
        let fd = sys::openat2::open(
            self.root.as_fd(),
            &path,
            OFlag::O_WRONLY | OFlag::O_NOCTTY,
            0,
            RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS,
        )
        .map_err(|e| Error::sys("open", &shown, e))?;
        ensure_procfs(fd.as_fd(), &shown)?;
        Ok(fd)
    }

    /// Writes `data` to `rel` in one `write`, as procfs files expect.
    pub fn write(&self, rel: &str, data: &[u8]) -> Result<()> {
        let fd = self.open_write(rel)?;
        nix::unistd::write(&fd, data)
            .map_err(|e| Error::sys("write", Path::new("/proc").join(rel), e))?;
        Ok(())
    }
}

/// Fails unless `fd` is on procfs: writes meant for procfs must not land elsewhere.
pub fn ensure_procfs(fd: BorrowedFd<'_>, what: &Path) -> Result<()> {
    let st = nix::sys::statfs::fstatfs(fd).map_err(|e| Error::sys("fstatfs", what, e))?;
    if st.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
        return Err(Error::sys("verify procfs", what, Errno::EXDEV));
    }
    Ok(())
}

/// Writes `data` to the procfs file `path` of the runtime's own `/proc` (`uid_map` of a
/// child, say), checking that the opened file really is procfs.
pub fn write_checked(path: &Path, data: &[u8]) -> Result<()> {
    let fd = nix::fcntl::open(
        path,
        OFlag::O_WRONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )
    .map_err(|e| Error::sys("open", path, e))?;
    ensure_procfs(fd.as_fd(), path)?;
    nix::unistd::write(&fd, data).map_err(|e| Error::sys("write", path, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_reach_procfs_through_numeric_paths() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let p = Proc::open().unwrap();
        let cur = std::fs::read_to_string("/proc/self/oom_score_adj").unwrap();
        p.write("self/oom_score_adj", cur.trim().as_bytes())
            .unwrap();
        assert!(p
            .resolve("self/x")
            .unwrap()
            .starts_with(std::process::id().to_string()));
        // Symlinks below the root are refused.
        assert!(p.open_write("self/cwd/x").is_err());
        // Not procfs: refused.
        assert!(p.open_write("../etc/passwd").is_err());
    }
}
