//! Pinned network namespaces: a new namespace bind-mounted on a file, as `ip netns add` and
//! podman do, so it outlives the container's processes. CNI ADD configures it before the
//! container starts (the container joins it by path), and DEL can still find the veth and the
//! masquerade rules in it after the container has exited; then it is unpinned.

use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};

use crate::{Error, Result};

/// Creates a network namespace and pins it at `path` (a new empty file).
///
/// The namespace is made by a short-lived thread: `unshare(CLONE_NEWNET)` moves only the
/// calling thread, so the rest of the process stays in its namespace whatever happens, and
/// the bind mount of the thread's `/proc/thread-self/ns/net` lands in the process's (shared)
/// mount namespace.
pub fn pin(path: &Path) -> Result<()> {
    std::fs::File::options()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| Error::io("create", path, e))?;
    let r = std::thread::scope(|s| {
        s.spawn(|| -> Result<()> {
            unshare(CloneFlags::CLONE_NEWNET)
                .map_err(|e| Error::sys("unshare(CLONE_NEWNET) for", path, e))?;
            mount(
                Some("/proc/thread-self/ns/net"),
                path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| Error::sys("bind the network namespace on", path, e))
        })
        .join()
        .unwrap_or_else(|_| Err(Error::Protocol("netns thread panicked".into())))
    });
    if r.is_err() {
        let _ = std::fs::remove_file(path);
    }
    r
}

/// Unpins (the namespace goes when nothing else holds it) and removes the file; a missing
/// pin is not an error.
pub fn unpin(path: &Path) -> Result<()> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(Error::sys("unmount", path, e)),
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}

/// Whether `path` is a pinned network namespace (nsfs mounted on it).
pub fn is_pinned(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .map(|s| s.filesystem_type() == nix::sys::statfs::NSFS_MAGIC)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_and_unpin() {
        if !nix::unistd::geteuid().is_root() {
            assert!(std::env::var_os("CI").is_none(), "pinning needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ns");
        let mine = std::fs::read_link("/proc/self/ns/net").unwrap();
        pin(&p).unwrap();
        assert!(is_pinned(&p));
        assert_eq!(std::fs::read_link("/proc/self/ns/net").unwrap(), mine);
        assert!(pin(&p).is_err(), "a second pin on one path is refused");
        unpin(&p).unwrap();
        assert!(!p.exists());
        unpin(&p).unwrap();
    }
}
