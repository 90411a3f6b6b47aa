//! Entering the container's root: `pivot_root` (the old root detached), `--no-pivot`'s move
//! and chroot (with everything outside the rootfs detached first), or, without a mount
//! namespace of its own, a plain chroot.

use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::{Error, Result};

/// Makes the rootfs the process's `/` and detaches the old root.
pub fn pivot(rootfs: &Path, no_pivot: bool) -> Result<()> {
    nix::unistd::chdir(rootfs).map_err(|e| Error::sys("chdir", rootfs, e))?;
    if no_pivot {
        detach_outside(rootfs)?;
        mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
            .map_err(|e| Error::sys("move mount", rootfs, e))?;
        nix::unistd::chroot(".").map_err(|e| Error::sys("chroot", rootfs, e))?;
    } else {
        nix::unistd::pivot_root(".", ".").map_err(|e| Error::sys("pivot_root", rootfs, e))?;
        // The old root now sits on top of the new one; make sure its unmount does not
        // propagate anywhere, then detach it.
        mount(
            None::<&str>,
            ".",
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| Error::sys("set propagation of", "old root", e))?;
        umount2(".", MntFlags::MNT_DETACH).map_err(|e| Error::sys("unmount", "old root", e))?;
    }
    nix::unistd::chdir("/").map_err(|e| Error::sys("chdir", "/", e))
}

/// Without `pivot_root`, the runtime's mounts stay in the container's mount namespace under
/// the moved root. Detach every one that is neither the rootfs (or below it) nor above it, so
/// none of them (a fully visible procfs, say) is reachable or lets the container mount a new
/// one (runc does the same).
fn detach_outside(rootfs: &Path) -> Result<()> {
    let mut points: Vec<PathBuf> = crate::mountinfo::read()?
        .into_iter()
        .map(|m| m.mount_point)
        .filter(|p| !p.starts_with(rootfs) && !rootfs.starts_with(p))
        .collect();
    // Deepest first.
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    points.dedup();
    for p in points {
        match umount2(&p, MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
            Err(e) => return Err(Error::sys("detach (--no-pivot)", &p, e)),
        }
    }
    Ok(())
}

/// Enters the rootfs with `chroot` (no mount namespace of the container's own).
pub fn chroot(rootfs: &Path) -> Result<()> {
    nix::unistd::chroot(rootfs).map_err(|e| Error::sys("chroot", rootfs, e))?;
    nix::unistd::chdir("/").map_err(|e| Error::sys("chdir", "/", e))
}

/// `linux.rootfsPropagation` values that can only be applied once `/` is the new root.
pub fn root_propagation_after(p: MsFlags) -> Result<()> {
    if p.intersects(MsFlags::MS_SHARED | MsFlags::MS_UNBINDABLE) {
        mount(None::<&str>, "/", None::<&str>, p, None::<&str>).map_err(|e| {
            Error::sys("set rootfsPropagation of", "/", e).in_field("linux.rootfsPropagation")
        })?;
    }
    Ok(())
}
