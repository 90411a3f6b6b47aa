//! `mounts` entries of type `cgroup`: with a cgroup namespace the hierarchies are mounted
//! afresh (showing the container's cgroup as their root); without one, the container's own
//! cgroup directories are bound, so the host's tree stays hidden either way.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};

use super::resolve::{self, fd_path};
use crate::plan::{CgroupMountInfo, MountPlan};
use crate::sys::mount::attr;
use crate::{Error, Result};

/// The cgroup hierarchies mounted under `/sys/fs/cgroup`: (mount point, fs type, options).
fn hierarchies() -> Result<Vec<(PathBuf, String, String)>> {
    Ok(crate::mountinfo::read()?
        .into_iter()
        .filter(|m| {
            (m.fstype == "cgroup" || m.fstype == "cgroup2")
                && m.mount_point.starts_with("/sys/fs/cgroup")
                && m.mount_point != Path::new("/sys/fs/cgroup")
        })
        .map(|m| (m.mount_point, m.fstype, m.super_options))
        .collect())
}

fn bind(src: &Path, target: &OwnedFd, ro: bool) -> Result<()> {
    let tree = resolve::clone_tree(src, false)?;
    let set = attr::NOSUID | attr::NODEV | attr::NOEXEC | if ro { attr::RDONLY } else { 0 };
    resolve::set_attrs(tree.as_fd(), false, set, 0, src)?;
    resolve::attach(&tree, target, src)
}

/// Makes the `cgroup` mount `m`.
pub fn mount_cgroup(root: BorrowedFd<'_>, m: &MountPlan, cg: &CgroupMountInfo) -> Result<()> {
    let ro = m.options.flags.contains(MsFlags::MS_RDONLY);
    let base = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let flags = base
        | if ro {
            MsFlags::MS_RDONLY
        } else {
            MsFlags::empty()
        };
    let target = resolve::mkdir_all_in_root(root, &m.destination, false)?;
    if cg.unified {
        if cg.cgroupns {
            mount(
                Some("cgroup2"),
                &fd_path(target.as_fd()),
                Some("cgroup2"),
                flags,
                None::<&str>,
            )
            .map_err(|e| Error::sys("mount cgroup2", &m.destination, e))?;
        } else {
            bind(&Path::new("/sys/fs/cgroup").join(&cg.path), &target, ro)?;
        }
        return Ok(());
    }
    // v1 or hybrid: a tmpfs holding one directory per hierarchy.
    mount(
        Some("tmpfs"),
        &fd_path(target.as_fd()),
        Some("tmpfs"),
        base,
        Some("mode=755"),
    )
    .map_err(|e| Error::sys("mount tmpfs", &m.destination, e))?;
    for (mp, fstype, opts) in hierarchies()? {
        let Ok(sub) = mp.strip_prefix("/sys/fs/cgroup") else {
            continue;
        };
        let dest = m.destination.join(sub);
        let t = resolve::mkdir_all_in_root(root, &dest, false)?;
        if cg.cgroupns {
            let data: Vec<&str> = opts
                .split(',')
                .filter(|o| *o != "rw" && *o != "ro")
                .collect();
            mount(
                Some("cgroup"),
                &fd_path(t.as_fd()),
                Some(fstype.as_str()),
                flags,
                Some(data.join(",").as_str()),
            )
            .map_err(|e| Error::sys("mount cgroup", &dest, e))?;
        } else {
            let src = mp.join(&cg.path);
            if src.exists() {
                bind(&src, &t, ro)?;
            }
        }
    }
    if ro {
        let t = resolve::open_in_root(root, &m.destination, nix::fcntl::OFlag::O_PATH, 0)?;
        resolve::set_attrs(t.as_fd(), false, attr::RDONLY, 0, &m.destination)?;
    }
    Ok(())
}
