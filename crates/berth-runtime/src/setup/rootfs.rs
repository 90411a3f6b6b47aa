//! The container's root filesystem before `pivot_root`: propagation, the overlay root, the
//! rootfs bind, every entry of `mounts`, and the device nodes. Runs in the init, inside the
//! container's mount namespace (or, without one, under the rootfs in the runtime's: see
//! [`crate::plan::InitPlan::mount_ns`]).

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};

use super::{devices, mounts, resolve};
use crate::plan::InitPlan;
use crate::{Error, Result};

/// Prepares the rootfs; returns an `O_PATH` fd of it. `trees`: where the parent's detached
/// bind mounts arrive; `mknod`: device nodes may be made (no user namespace); `console`: the
/// process has a terminal (its `/dev/console` mount point is made before `/dev` may turn
/// read-only).
pub fn prepare(
    p: &InitPlan,
    trees: Option<&OwnedFd>,
    mknod: bool,
    console: bool,
) -> Result<OwnedFd> {
    if p.mount_ns {
        // Nothing we mount may propagate back to the host: the whole namespace becomes a
        // slave (or private, if asked). `shared` and `unbindable` are applied to the new root
        // after pivot_root, which refuses a shared parent, and an unbindable rootfs cannot be
        // bound.
        let initial = if p.root_propagation.contains(MsFlags::MS_PRIVATE) {
            MsFlags::MS_PRIVATE | MsFlags::MS_REC
        } else {
            MsFlags::MS_SLAVE | MsFlags::MS_REC
        };
        mount(None::<&str>, "/", None::<&str>, initial, None::<&str>)
            .map_err(|e| Error::sys("set propagation of", "/", e))?;
    }
    if let Some(data) = &p.overlay {
        mount(
            Some("overlay"),
            &p.rootfs,
            Some("overlay"),
            MsFlags::empty(),
            Some(data.as_str()),
        )
        .map_err(|e| Error::sys("mount overlay on", &p.rootfs, e))?;
    }
    // The rootfs must be a mount point for pivot_root; without a mount namespace it is the
    // one mount under which everything else is made (and what `delete` removes).
    mount(
        Some(&p.rootfs),
        &p.rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| Error::sys("bind mount rootfs", &p.rootfs, e))?;
    let root = nix::fcntl::open(
        &p.rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::sys("open", &p.rootfs, e))?;
    for m in &p.mounts {
        let tree = match (m.from_parent, trees) {
            (true, Some(sock)) => Some(crate::spawn::trees::recv_tree(sock)?),
            _ => None,
        };
        mounts::mount_one(root.as_fd(), m, tree, &p.cgroup)?;
    }
    if p.setup_dev {
        let own = p.own_dev && mknod;
        for d in &p.devices {
            devices::create(root.as_fd(), d, own)
                .map_err(|e| e.in_field(format!("linux.devices ({})", d.path.display())))?;
        }
        if p.own_dev {
            let has_pts = p
                .mounts
                .iter()
                .any(|m| m.destination == Path::new("/dev/pts"));
            devices::create_symlinks(root.as_fd(), has_pts)?;
        }
    }
    if console {
        console_mount_point(&root)?;
    }
    for m in p.mounts.iter().filter(|m| m.ro_after_submounts) {
        mounts::finish_read_only(root.as_fd(), m)?;
    }
    Ok(root)
}

/// Makes `/dev/console` (an empty file, to bind the pty onto) if missing; a symlink there is
/// refused (the console would be bound over its target).
fn console_mount_point(root: &OwnedFd) -> Result<()> {
    let path = Path::new("/dev/console");
    match resolve::open_no_symlinks(root.as_fd(), path, OFlag::O_PATH) {
        Ok(_) => Ok(()),
        Err(Error::Sys {
            errno: nix::errno::Errno::ENOENT,
            ..
        }) => resolve::mkdir_all_in_root(root.as_fd(), path, true).map(drop),
        Err(e) => Err(e),
    }
}
