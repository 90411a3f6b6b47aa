//! Bind mounts the parent makes for the init: idmapped ones (`idmap`, `ridmap`, mount
//! `uidMappings`/`gidMappings`), and every bind mount of a container in a user namespace.
//!
//! Setting `MOUNT_ATTR_IDMAP` on a mount of a host filesystem needs CAP_SYS_ADMIN in the
//! host's user namespace, which the init (in its own user namespace) does not have; and a
//! bind source only host root can reach is out of the init's reach once it is in its user
//! namespace (runc opens those sources before, too). So the parent makes each such tree as a
//! detached mount with its attributes set, after it wrote the container's id maps, and hands
//! the fds to the init over a socket, in mount order; the init attaches them where the mount
//! belongs.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::plan::{InitPlan, MountPlan};
use crate::{procfs, sys, Error, Result};

/// A user namespace with `uid_map`/`gid_map`, held by a short-lived child.
fn temporary_userns(uid_map: &str, gid_map: &str) -> Result<OwnedFd> {
    let (r, w) = nix::unistd::pipe().map_err(|e| Error::call("pipe", e))?;
    let pid = sys::clone::userns_holder(r.as_fd(), w.as_fd())
        .map_err(|e| Error::call("clone(CLONE_NEWUSER)", e))?;
    drop(r);
    let result = (|| {
        procfs::write_checked(
            &PathBuf::from(format!("/proc/{pid}/uid_map")),
            uid_map.as_bytes(),
        )?;
        procfs::write_checked(
            &PathBuf::from(format!("/proc/{pid}/gid_map")),
            gid_map.as_bytes(),
        )?;
        open_userns(pid.as_raw())
    })();
    drop(w);
    let _ = nix::sys::wait::waitpid(pid, None);
    result
}

fn open_userns(pid: i32) -> Result<OwnedFd> {
    let p = PathBuf::from(format!("/proc/{pid}/ns/user"));
    nix::fcntl::open(
        &p,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::sys("open", &p, e))
}

fn tree(m: &MountPlan, pid: i32) -> Result<OwnedFd> {
    let src = m.source.as_deref().unwrap_or(Path::new(""));
    let tree = sys::mount::clone_tree(src, m.options.recursive)
        .map_err(|e| Error::sys("open_tree", src, e))?;
    if let Some(maps) = &m.idmap {
        let userns = match maps {
            Some((u, g)) => temporary_userns(u, g)?,
            None => open_userns(pid)?,
        };
        sys::mount::set_idmap(tree.as_fd(), m.options.idmap_recursive, userns.as_fd())
            .map_err(|e| Error::sys("idmap (mount_setattr)", &m.destination, e))?;
    }
    crate::setup::mounts::set_bind_attrs(tree.as_fd(), m, m.ro_after_submounts)?;
    Ok(tree)
}

/// Makes the parent's trees of `plan` for the init `pid` and sends them over `sock`.
pub fn send_trees(plan: &InitPlan, pid: i32, sock: &OwnedFd) -> Result<()> {
    for m in plan.mounts.iter().filter(|m| m.from_parent) {
        let t = tree(m, pid).map_err(|e| Error::Mount {
            index: m.index,
            destination: m.destination.clone(),
            source: Box::new(e),
        })?;
        sys::fdpass::send(sock.as_fd(), b"tree", &[t.as_raw_fd()])
            .map_err(|e| Error::call("send a bind mount to the init", e))?;
    }
    Ok(())
}

/// Receives the next tree (in the init).
pub fn recv_tree(sock: &OwnedFd) -> Result<OwnedFd> {
    let mut buf = [0u8; 16];
    let (_, mut fds) = sys::fdpass::recv(sock.as_fd(), &mut buf, 1)
        .map_err(|e| Error::call("receive a bind mount from the parent", e))?;
    fds.pop()
        .ok_or_else(|| Error::Protocol("bind mount message without its fd".into()))
}

/// Whether the parent makes trees for this init.
pub fn wanted(plan: &InitPlan) -> bool {
    plan.mounts.iter().any(|m| m.from_parent)
}
