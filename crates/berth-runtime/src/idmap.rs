//! Idmapped bind mounts (`idmap`, `ridmap`, mount `uidMappings`/`gidMappings`).
//!
//! Setting `MOUNT_ATTR_IDMAP` on a mount of a host filesystem needs CAP_SYS_ADMIN in the
//! host's user namespace, which the init (in its own user namespace) does not have. So the
//! parent makes each idmapped tree as a detached mount, after it wrote the container's id
//! maps, and hands the fds to the init over a socket, in mount order; the init attaches them
//! where the mount belongs.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::plan::Plan;
use crate::{fs, tty, Error, Result};

/// A user namespace with `uid_map`/`gid_map`, held by a short-lived child.
fn temporary_userns(uid_map: &str, gid_map: &str) -> Result<OwnedFd> {
    let (r, w) = nix::unistd::pipe().map_err(|e| Error::call("pipe", e))?;
    // SAFETY: a fork-like clone of this single-threaded process; the child only blocks on
    // read(2) and _exits, both async-signal-safe.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid == 0 {
        let mut b = [0u8; 1];
        // SAFETY: close our copy of the write end (so the parent's close is our EOF), read
        // into a live one-byte buffer, then _exit.
        unsafe {
            libc::close(w.as_raw_fd());
            libc::read(r.as_raw_fd(), b.as_mut_ptr().cast(), 1);
            libc::_exit(0)
        }
    }
    if pid < 0 {
        return Err(Error::call("clone(CLONE_NEWUSER)", Errno::last()));
    }
    drop(r);
    let pid = pid as i32;
    let result = (|| {
        fs::write_proc(
            &PathBuf::from(format!("/proc/{pid}/uid_map")),
            uid_map.as_bytes(),
        )?;
        fs::write_proc(
            &PathBuf::from(format!("/proc/{pid}/gid_map")),
            gid_map.as_bytes(),
        )?;
        let p = PathBuf::from(format!("/proc/{pid}/ns/user"));
        nix::fcntl::open(
            &p,
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| Error::sys("open", &p, e))
    })();
    drop(w);
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    result
}

/// Makes the idmapped trees of `plan` for the init `pid` and sends them over `sock`.
pub fn send_trees(plan: &Plan, pid: i32, sock: RawFd) -> Result<()> {
    for m in &plan.mounts {
        let Some(maps) = &m.idmap else { continue };
        let field = |e: Error| {
            Error::Other(format!(
                "mounts[{}] ({}): {e}",
                m.index,
                m.destination.display()
            ))
        };
        let userns = match maps {
            Some((u, g)) => temporary_userns(u, g).map_err(field)?,
            None => {
                let p = PathBuf::from(format!("/proc/{pid}/ns/user"));
                nix::fcntl::open(
                    &p,
                    nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::empty(),
                )
                .map_err(|e| field(Error::sys("open", &p, e)))?
            }
        };
        let src = m.source.as_deref().unwrap_or(Path::new(""));
        let tree = fs::open_tree_clone(src, m.options.recursive).map_err(field)?;
        fs::mount_setattr_idmap(
            tree.as_raw_fd(),
            m.options.idmap_recursive,
            userns.as_raw_fd(),
            &m.destination,
        )
        .map_err(field)?;
        tty::send_fd(sock, tree.as_raw_fd(), "idmap")?;
    }
    Ok(())
}

/// Receives the next idmapped tree (in the init).
pub fn recv_tree(sock: RawFd) -> Result<OwnedFd> {
    tty::recv_fd(sock)
}

/// Whether the plan has idmapped mounts.
pub fn wanted(plan: &Plan) -> bool {
    plan.mounts.iter().any(|m| m.idmap.is_some())
}
