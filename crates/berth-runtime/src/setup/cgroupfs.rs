//! `mounts` entries of type `cgroup`: with a cgroup namespace the hierarchies are mounted
//! afresh (showing the container's cgroup as their root); without one, the container's own
//! cgroup directories are bound, so the host's tree stays hidden either way.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::Mode;

use super::resolve::{self, fd_path};
use crate::plan::{CgroupMountInfo, MountPlan};
use crate::sys::mount::attr;
use crate::{Error, Result};

/// The cgroup hierarchies mounted under `/sys/fs/cgroup`: (mount point, fs type, options).
/// A forked init has the mountinfo lines the runtime read for its cgroup manager (its copy
/// of the runtime's mount namespace has the same cgroup mounts); an init cloned by the
/// helper reads them in its own namespace.
fn hierarchies() -> Result<Vec<(PathBuf, String, String)>> {
    let text = berth_cgroups::hierarchy::host_cgroup_mounts()?;
    Ok(crate::mountinfo::parse(&text)
        .into_iter()
        .filter(|m| {
            (m.fstype == "cgroup" || m.fstype == "cgroup2")
                && m.mount_point.starts_with("/sys/fs/cgroup")
                && m.mount_point != Path::new("/sys/fs/cgroup")
        })
        .map(|m| (m.mount_point, m.fstype, m.super_options))
        .collect())
}

/// Binds the host's cgroup directory `src` at `target`. `cgroups`: the cgroup root of this
/// mount namespace, from which `src` is resolved without walking sysfs (see
/// `berth_cgroups::at`).
fn bind(
    cgroups: Option<&berth_cgroups::at::Root>,
    src: &Path,
    target: &OwnedFd,
    ro: bool,
) -> Result<()> {
    let tree = match cgroups.and_then(|r| r.split(src)) {
        Some((dir, rel)) => crate::sys::mount::clone_tree_at(Some(dir), rel, false),
        None => crate::sys::mount::clone_tree(src, false),
    }
    .map_err(|e| Error::sys("open_tree", src, e))?;
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
            bind(
                None,
                &Path::new("/sys/fs/cgroup").join(&cg.path),
                &target,
                ro,
            )?;
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
    // The tmpfs's root, found once: the directories for the hierarchies are made in it by
    // name, not by walking the destination (through the container's sysfs) again for each.
    let tmpfs = resolve::open_in_root(root, &m.destination, OFlag::O_PATH | OFlag::O_DIRECTORY, 0)?;
    let cgroups = (!cg.cgroupns).then(berth_cgroups::at::Root::open).flatten();
    for (mp, fstype, opts) in hierarchies()? {
        let Ok(sub) = mp.strip_prefix("/sys/fs/cgroup") else {
            continue;
        };
        let dest = m.destination.join(sub);
        let t = match sub.components().collect::<Vec<_>>()[..] {
            [Component::Normal(name)] => dir_in(tmpfs.as_fd(), name, &dest)?,
            _ => resolve::mkdir_all_in_root(root, &dest, false)?,
        };
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
            match bind(cgroups.as_ref(), &src, &t, ro) {
                // A hierarchy the container's cgroup is not in (or one it cannot see): left
                // empty. Asked only on failure, so a start costs no stat per hierarchy.
                Err(_) if !src.exists() => {}
                r => r?,
            }
        }
    }
    if ro {
        resolve::set_attrs(tmpfs.as_fd(), false, attr::RDONLY, 0, &m.destination)?;
    }
    Ok(())
}

/// Makes the directory `name` in the tmpfs `dir` (new, and seen by nobody else yet) and
/// opens it; `dest` names it in errors.
fn dir_in(dir: BorrowedFd<'_>, name: &OsStr, dest: &Path) -> Result<OwnedFd> {
    match nix::sys::stat::mkdirat(dir, name, Mode::from_bits_truncate(0o755)) {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
        Err(e) => return Err(Error::sys("mkdir", dest, e)),
    }
    nix::fcntl::openat(
        dir,
        name,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::sys("open", dest, e))
}
