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

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::{Error, Result};

/// procfs's root directory always has this inode number.
const PROC_ROOT_INO: u64 = 1;

/// A verified procfs root.
pub struct Proc {
    root: OwnedFd,
}

impl Proc {
    /// A private procfs for this process's pid namespace.
    pub fn open() -> Result<Proc> {
        let root = fresh()
            .or_else(|_| crate::fs::open_tree_clone(Path::new("/proc"), false))
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
        crate::fs::ensure_procfs(root.as_raw_fd(), Path::new("/proc"))?;
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
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::sys("encode", &shown, Errno::EINVAL))?;
        // SAFETY: open_how is plain data; all-zero is a valid value.
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        how.flags = (OFlag::O_WRONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY).bits() as u64;
        how.resolve = libc::RESOLVE_BENEATH
            | libc::RESOLVE_NO_XDEV
            | libc::RESOLVE_NO_MAGICLINKS
            | libc::RESOLVE_NO_SYMLINKS;
        let fd = loop {
            // SAFETY: `c` is NUL-terminated and `how` a valid open_how of the size passed;
            // the kernel returns a new fd we own.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_openat2,
                    self.root.as_raw_fd(),
                    c.as_ptr(),
                    &how as *const libc::open_how,
                    std::mem::size_of::<libc::open_how>(),
                )
            };
            if r >= 0 {
                // SAFETY: a fresh fd from the kernel.
                break unsafe { OwnedFd::from_raw_fd(r as RawFd) };
            }
            match Errno::last() {
                Errno::EAGAIN | Errno::EINTR => continue,
                e => return Err(Error::sys("open", &shown, e)),
            }
        };
        crate::fs::ensure_procfs(fd.as_raw_fd(), &shown)?;
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

/// `fsopen("proc")` → `fsmount`: a procfs mount attached nowhere.
fn fresh() -> Result<OwnedFd> {
    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    let what = Path::new("proc");
    // SAFETY: a valid NUL-terminated fs name; returns a new fd we own.
    let r = unsafe { libc::syscall(libc::SYS_fsopen, c"proc".as_ptr(), FSOPEN_CLOEXEC) };
    if r < 0 {
        return Err(Error::sys("fsopen", what, Errno::last()));
    }
    // SAFETY: a fresh fd from the kernel.
    let ctx = unsafe { OwnedFd::from_raw_fd(r as RawFd) };
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
        return Err(Error::sys("fsconfig(create)", what, Errno::last()));
    }
    let attrs =
        crate::mounts::attr::NOSUID | crate::mounts::attr::NODEV | crate::mounts::attr::NOEXEC;
    // SAFETY: a configured fs context; returns a new mount fd we own.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            ctx.as_raw_fd(),
            FSMOUNT_CLOEXEC,
            attrs as libc::c_uint,
        )
    };
    if r < 0 {
        return Err(Error::sys("fsmount", what, Errno::last()));
    }
    // SAFETY: a fresh fd from the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
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
