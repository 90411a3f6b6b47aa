//! One entry of `mounts`, made in the init onto an fd opened inside the rootfs.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};

use super::resolve::{self, fd_path};
use crate::plan::{CgroupMountInfo, MountPlan};
use crate::sys::mount::attr;
use crate::{Error, Result};

fn in_mount(m: &MountPlan, e: Error) -> Error {
    Error::Mount {
        index: m.index,
        destination: m.destination.clone(),
        source: Box::new(e),
    }
}

fn clear_attrs(cleared: MsFlags) -> u64 {
    let mut a = 0;
    for (f, at) in [
        (MsFlags::MS_RDONLY, attr::RDONLY),
        (MsFlags::MS_NOSUID, attr::NOSUID),
        (MsFlags::MS_NODEV, attr::NODEV),
        (MsFlags::MS_NOEXEC, attr::NOEXEC),
    ] {
        if cleared.contains(f) {
            a |= at;
        }
    }
    a
}

/// The attributes of a bind mount's tree: (set, clear) non-recursively, then recursively.
/// `defer_ro`: leave read-only for later (submounts still have to be made under it).
pub fn bind_attrs(m: &MountPlan, defer_ro: bool) -> ((u64, u64), (u64, u64)) {
    let o = &m.options;
    let mut set = o.attr_set();
    if defer_ro {
        set &= !attr::RDONLY;
    }
    let mut clr = clear_attrs(o.cleared);
    if set & attr::ATIME_MASK != 0 {
        clr |= attr::ATIME_MASK;
    }
    ((set, clr), (o.rec_attr_set, o.rec_attr_clr))
}

/// Applies [`bind_attrs`] to a detached tree.
pub fn set_bind_attrs(tree: BorrowedFd<'_>, m: &MountPlan, defer_ro: bool) -> Result<()> {
    let ((set, clr), (rset, rclr)) = bind_attrs(m, defer_ro);
    if set != 0 || clr != 0 {
        resolve::set_attrs(tree, false, set, clr, &m.destination)?;
    }
    if rset != 0 || rclr != 0 {
        resolve::set_attrs(tree, true, rset, rclr, &m.destination)?;
    }
    Ok(())
}

/// Whether procfs-like filesystems go here: they must be mounted on an ordinary directory, not
/// through a symlink the image placed (runc refuses those too).
fn is_kernel_fs(typ: &str) -> bool {
    matches!(typ, "proc" | "sysfs" | "cgroup" | "cgroup2")
}

/// Makes mount `m` under `root`. `tree`: the detached tree the parent made for it, if any. A
/// read-only mount with submounts is made read-write; [`finish_read_only`] follows.
pub fn mount_one(
    root: BorrowedFd<'_>,
    m: &MountPlan,
    tree: Option<OwnedFd>,
    cgroup: &CgroupMountInfo,
) -> Result<()> {
    if is_kernel_fs(&m.typ) {
        if let Err(Error::UnsafePath { path, .. }) =
            resolve::open_no_symlinks(root, &m.destination, OFlag::O_PATH)
        {
            return Err(in_mount(
                m,
                Error::UnsafePath {
                    path,
                    msg: "is a symlink: procfs and sysfs must be mounted on an ordinary directory",
                },
            ));
        }
    }
    if m.typ == "cgroup" || m.typ == "cgroup2" {
        return super::cgroupfs::mount_cgroup(root, m, cgroup).map_err(|e| in_mount(m, e));
    }
    mount_entry(root, m, tree, m.ro_after_submounts).map_err(|e| in_mount(m, e))
}

fn mount_entry(
    root: BorrowedFd<'_>,
    m: &MountPlan,
    tree: Option<OwnedFd>,
    defer_ro: bool,
) -> Result<()> {
    let o = &m.options;
    if o.bind {
        let src = m.source.as_deref().unwrap_or(Path::new(""));
        let tree = match tree {
            Some(t) => t,
            None => {
                let t = resolve::clone_tree(src, o.recursive)?;
                set_bind_attrs(t.as_fd(), m, defer_ro)?;
                t
            }
        };
        // A file is bound onto a file, a directory onto a directory.
        let file = nix::sys::stat::fstat(&tree)
            .map(|st| st.st_mode & libc::S_IFMT != libc::S_IFDIR)
            .unwrap_or(false);
        let target = resolve::mkdir_all_in_root(root, &m.destination, file)?;
        resolve::attach(&tree, &target, &m.destination)?;
    } else {
        let target = resolve::mkdir_all_in_root(root, &m.destination, false)?;
        let source = m.source.clone().unwrap_or_else(|| PathBuf::from(&m.typ));
        let data = o.data();
        let mut flags = o.flags & !(MsFlags::MS_REMOUNT);
        if defer_ro {
            flags &= !MsFlags::MS_RDONLY;
        }
        let r = mount(
            Some(&source),
            &fd_path(target.as_fd()),
            Some(m.typ.as_str()),
            flags,
            data.as_deref(),
        );
        match r {
            Ok(()) => {}
            // sysfs cannot be mounted in a user namespace that does not own the network
            // namespace; fall back to a read-only bind of the host's, as runc does.
            Err(Errno::EPERM) if m.typ == "sysfs" => {
                let tree = resolve::clone_tree(Path::new("/sys"), true)?;
                resolve::set_attrs(
                    tree.as_fd(),
                    true,
                    attr::RDONLY | attr::NOSUID | attr::NODEV | attr::NOEXEC,
                    0,
                    &m.destination,
                )?;
                resolve::attach(&tree, &target, &m.destination)?;
            }
            Err(e) => return Err(Error::sys("mount", &m.destination, e)),
        }
        if o.rec_attr_set != 0 || o.rec_attr_clr != 0 {
            let new = resolve::open_in_root(root, &m.destination, OFlag::O_PATH, 0)?;
            resolve::set_attrs(
                new.as_fd(),
                true,
                o.rec_attr_set,
                o.rec_attr_clr,
                &m.destination,
            )?;
        }
    }
    if !o.propagation.is_empty() {
        let new = resolve::open_in_root(root, &m.destination, OFlag::O_PATH, 0)?;
        for p in &o.propagation {
            mount(
                None::<&str>,
                &fd_path(new.as_fd()),
                None::<&str>,
                *p,
                None::<&str>,
            )
            .map_err(|e| Error::sys("set propagation of", &m.destination, e))?;
        }
    }
    Ok(())
}

/// Makes a mount that was made read-write for its submounts read-only, now that they exist.
pub fn finish_read_only(root: BorrowedFd<'_>, m: &MountPlan) -> Result<()> {
    let fd = resolve::open_in_root(root, &m.destination, OFlag::O_PATH, 0)
        .map_err(|e| in_mount(m, e))?;
    resolve::set_attrs(fd.as_fd(), false, attr::RDONLY, 0, &m.destination)
        .map_err(|e| in_mount(m, e))
}
