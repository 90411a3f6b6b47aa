//! After `pivot_root`: `linux.maskedPaths`, `linux.readonlyPaths`, `root.readonly` and
//! `linux.sysctl`, all inside the container's new root.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;

use super::resolve;
use crate::sys::mount::attr;
use crate::{Error, Result};

fn root_fd() -> Result<OwnedFd> {
    nix::fcntl::open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::sys("open", "/", e))
}

/// Calls `f` with an `O_PATH` fd of each of `paths` that exists, opened inside `/` without
/// following a last-component symlink.
fn for_each_existing(
    paths: &[PathBuf],
    mut f: impl FnMut(&Path, OwnedFd) -> Result<()>,
) -> Result<()> {
    if paths.is_empty() {
        return Ok(());
    }
    let root = root_fd()?;
    for p in paths {
        match resolve::open_in_root(root.as_fd(), p, OFlag::O_PATH | OFlag::O_NOFOLLOW, 0) {
            Ok(fd) => f(p, fd)?,
            Err(Error::Sys {
                errno: Errno::ENOENT,
                ..
            }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `linux.maskedPaths`: directories get an empty read-only tmpfs, files `/dev/null`.
pub fn mask(paths: &[PathBuf]) -> Result<()> {
    let mut null = None;
    for_each_existing(paths, |p, fd| {
        let st = nix::sys::stat::fstat(&fd).map_err(|e| Error::sys("stat", p, e))?;
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            // A new mount made by fd: nothing here goes through the container's /proc, which
            // a mount entry may have replaced.
            let tmpfs = crate::sys::mount::fresh_empty_tmpfs()
                .map_err(|e| Error::sys("mask (tmpfs)", p, e))?;
            resolve::attach(&tmpfs, &fd, p)?;
        } else {
            let dev = match &null {
                Some(n) => n,
                None => null.insert(dev_null(&root_fd()?)?),
            };
            let tree = resolve::clone_tree_fd(dev.as_fd(), Path::new("/dev/null"))?;
            resolve::attach(&tree, &fd, p)?;
        }
        Ok(())
    })
    .map_err(|e| e.in_field("linux.maskedPaths"))
}

/// The container's `/dev/null`, verified to be the null device. If the image made it a
/// symlink or a bind of some procfs file, masking with it would expose that file instead
/// (CVE-2025-31133).
pub fn dev_null(root: &OwnedFd) -> Result<OwnedFd> {
    let path = Path::new("/dev/null");
    let fd = resolve::open_in_root(root.as_fd(), path, OFlag::O_PATH | OFlag::O_NOFOLLOW, 0)?;
    let st = nix::sys::stat::fstat(&fd).map_err(|e| Error::sys("stat", path, e))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != libc::makedev(1, 3) {
        return Err(Error::UnsafePath {
            path: path.to_path_buf(),
            msg: "is not the null device; it cannot mask anything",
        });
    }
    Ok(fd)
}

/// `linux.readonlyPaths`: a read-only bind of the path onto itself.
pub fn read_only(paths: &[PathBuf]) -> Result<()> {
    for_each_existing(paths, |p, fd| {
        let tree = resolve::clone_tree_fd(fd.as_fd(), p)?;
        resolve::set_attrs(
            tree.as_fd(),
            true,
            attr::RDONLY | attr::NOSUID | attr::NODEV | attr::NOEXEC,
            0,
            p,
        )?;
        resolve::attach(&tree, &fd, p)
    })
    .map_err(|e| e.in_field("linux.readonlyPaths"))
}

/// `root.readonly`: the root mount becomes read-only (its submounts keep their own flags).
pub fn read_only_root() -> Result<()> {
    let root = root_fd()?;
    resolve::set_attrs(root.as_fd(), false, attr::RDONLY, 0, Path::new("/"))
        .map_err(|e| e.in_field("root.readonly"))
}

/// `linux.sysctl`, written through a private procfs (the container's namespaces decide
/// which instance of a namespaced sysctl is written).
pub fn sysctl(entries: &[(String, String)], proc: &crate::procfs::Proc) -> Result<()> {
    for (k, v) in entries {
        let path = format!("sys/{}", k.replace('.', "/"));
        proc.write(&path, v.as_bytes())
            .map_err(|e| e.in_field(format!("linux.sysctl.{k}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_with_null(make: impl FnOnce(&Path)) -> (tempfile::TempDir, OwnedFd) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("dev")).unwrap();
        make(&dir.path().join("dev/null"));
        let fd = nix::fcntl::open(
            dir.path(),
            OFlag::O_PATH | OFlag::O_DIRECTORY,
            nix::sys::stat::Mode::empty(),
        )
        .unwrap();
        (dir, fd)
    }

    #[test]
    fn only_the_null_device_masks() {
        // A symlink to a procfs file (CVE-2025-31133), even one to the real /dev/null.
        for target in ["/proc/sys/kernel/core_pattern", "/dev/null"] {
            let (_d, root) = root_with_null(|p| std::os::unix::fs::symlink(target, p).unwrap());
            assert!(dev_null(&root).is_err(), "symlink to {target}");
        }
        let (_d, root) = root_with_null(|p| std::fs::write(p, "").unwrap());
        let err = dev_null(&root).unwrap_err().to_string();
        assert!(err.contains("/dev/null"), "{err}");
        // The real device (mknod needs root; the suite runs as root).
        if nix::unistd::geteuid().is_root() {
            let (_d, root) = root_with_null(|p| {
                nix::sys::stat::mknod(
                    p,
                    nix::sys::stat::SFlag::S_IFCHR,
                    nix::sys::stat::Mode::from_bits_truncate(0o666),
                    nix::sys::stat::makedev(1, 3),
                )
                .unwrap()
            });
            assert!(dev_null(&root).is_ok());
        }
    }
}
