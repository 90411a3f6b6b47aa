//! The container's root filesystem: mounts in order, devices, `pivot_root`, then masked and
//! read-only paths. All of it runs in the init, inside the container's mount namespace.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::fs::{self, fd_path};
use crate::mounts::attr;
use crate::plan::{MountPlan, Plan};
use crate::{devices, Error, Result};

fn mount_err(m: &MountPlan, op: &'static str, e: Error) -> Error {
    match e {
        Error::Sys { errno, path, .. } => Error::Other(format!(
            "mounts[{}] ({}): {op} `{}`: {errno}",
            m.index,
            m.destination.display(),
            path.display()
        )),
        other => Error::Other(format!(
            "mounts[{}] ({}): {other}",
            m.index,
            m.destination.display()
        )),
    }
}

/// Everything before `pivot_root`: propagation, the overlay root, the rootfs bind, every
/// entry of `mounts`, and the device nodes. Returns an `O_PATH` fd of the rootfs.
pub fn prepare(plan: &Plan, idmap: Option<RawFd>) -> Result<OwnedFd> {
    // Nothing we mount may propagate back to the host: the whole namespace becomes a slave
    // (or private, if asked). `shared` and `unbindable` are applied to the new root after
    // pivot_root, which refuses a shared parent, and an unbindable rootfs cannot be bound.
    let initial = if plan.root_propagation.contains(MsFlags::MS_PRIVATE) {
        MsFlags::MS_PRIVATE | MsFlags::MS_REC
    } else {
        MsFlags::MS_SLAVE | MsFlags::MS_REC
    };
    mount(None::<&str>, "/", None::<&str>, initial, None::<&str>)
        .map_err(|e| Error::sys("set propagation of", "/", e))?;
    if let Some(data) = &plan.overlay {
        mount(
            Some("overlay"),
            &plan.rootfs,
            Some("overlay"),
            MsFlags::empty(),
            Some(data.as_str()),
        )
        .map_err(|e| Error::sys("mount overlay on", &plan.rootfs, e))?;
    }
    // The rootfs must be a mount point for pivot_root.
    mount(
        Some(&plan.rootfs),
        &plan.rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| Error::sys("bind mount rootfs", &plan.rootfs, e))?;
    let root = nix::fcntl::open(
        &plan.rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::sys("open", &plan.rootfs, e))?;
    let userns = plan.ns.new_user
        || !plan.ns.join.is_empty() && plan.ns.join[0].0 == nix::sched::CloneFlags::CLONE_NEWUSER;
    for m in &plan.mounts {
        mount_one(root.as_raw_fd(), m, plan, idmap)?;
    }
    if plan.setup_dev {
        for d in &plan.devices {
            devices::create(root.as_raw_fd(), d, userns)?;
        }
        let has_pts = plan
            .mounts
            .iter()
            .any(|m| m.destination == Path::new("/dev/pts"));
        devices::create_symlinks(root.as_raw_fd(), has_pts)?;
    }
    Ok(root)
}

fn is_dir(path: &Path) -> bool {
    std::fs::metadata(path).map(|m| m.is_dir()).unwrap_or(true)
}

fn mount_one(root: RawFd, m: &MountPlan, plan: &Plan, idmap: Option<RawFd>) -> Result<()> {
    let o = &m.options;
    if m.typ == "cgroup" || m.typ == "cgroup2" {
        return mount_cgroup(root, m, plan);
    }
    let file = o.bind && m.source.as_deref().is_some_and(|s| !is_dir(s));
    let target =
        fs::mkdir_all_in_root(root, &m.destination, file).map_err(|e| mount_err(m, "create", e))?;
    if o.bind {
        let src = m.source.as_deref().unwrap_or(Path::new(""));
        // An idmapped tree was made by the parent (see crate::idmap); others are cloned here.
        let tree = match (m.idmap.is_some(), idmap) {
            (true, Some(sock)) => crate::idmap::recv_tree(sock)
                .map_err(|e| mount_err(m, "receive idmapped tree", e))?,
            _ => fs::open_tree_clone(src, o.recursive).map_err(|e| mount_err(m, "bind", e))?,
        };
        let set = o.attr_set();
        let mut clr = clear_attrs(o.cleared);
        if set & attr::ATIME_MASK != 0 {
            clr |= attr::ATIME_MASK;
        }
        if set != 0 || clr != 0 {
            fs::mount_setattr(tree.as_raw_fd(), false, set, clr, &m.destination)
                .map_err(|e| mount_err(m, "set attributes", e))?;
        }
        if o.rec_attr_set != 0 || o.rec_attr_clr != 0 {
            fs::mount_setattr(
                tree.as_raw_fd(),
                true,
                o.rec_attr_set,
                o.rec_attr_clr,
                &m.destination,
            )
            .map_err(|e| mount_err(m, "set recursive attributes", e))?;
        }
        fs::move_mount(tree.as_raw_fd(), target.as_raw_fd(), &m.destination)
            .map_err(|e| mount_err(m, "attach", e))?;
    } else {
        let source = m.source.clone().unwrap_or_else(|| PathBuf::from(&m.typ));
        let data = o.data();
        let flags = o.flags & !(MsFlags::MS_REMOUNT);
        let r = mount(
            Some(&source),
            &fd_path(target.as_raw_fd()),
            Some(m.typ.as_str()),
            flags,
            data.as_deref(),
        );
        match r {
            Ok(()) => {}
            // sysfs cannot be mounted in a user namespace that does not own the network
            // namespace; fall back to a read-only bind of the host's, as runc does.
            Err(Errno::EPERM) if m.typ == "sysfs" => {
                let tree = fs::open_tree_clone(Path::new("/sys"), true)
                    .map_err(|e| mount_err(m, "bind", e))?;
                fs::mount_setattr(
                    tree.as_raw_fd(),
                    true,
                    attr::RDONLY | attr::NOSUID | attr::NODEV | attr::NOEXEC,
                    0,
                    &m.destination,
                )
                .map_err(|e| mount_err(m, "set attributes", e))?;
                fs::move_mount(tree.as_raw_fd(), target.as_raw_fd(), &m.destination)
                    .map_err(|e| mount_err(m, "attach", e))?;
            }
            Err(e) => {
                return Err(mount_err(
                    m,
                    "mount",
                    Error::sys("mount", &m.destination, e),
                ))
            }
        }
        if o.rec_attr_set != 0 || o.rec_attr_clr != 0 {
            let new = fs::open_in_root(root, &m.destination, OFlag::O_PATH, 0)?;
            fs::mount_setattr(
                new.as_raw_fd(),
                true,
                o.rec_attr_set,
                o.rec_attr_clr,
                &m.destination,
            )
            .map_err(|e| mount_err(m, "set recursive attributes", e))?;
        }
    }
    if !o.propagation.is_empty() {
        let new = fs::open_in_root(root, &m.destination, OFlag::O_PATH, 0)?;
        for p in &o.propagation {
            mount(
                None::<&str>,
                &fd_path(new.as_raw_fd()),
                None::<&str>,
                *p,
                None::<&str>,
            )
            .map_err(|e| mount_err(m, "set propagation", Error::sys("mount", &m.destination, e)))?;
        }
    }
    Ok(())
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

/// The cgroup hierarchies mounted on the host: (mount point, fs type, super options).
fn host_cgroup_mounts() -> Vec<(PathBuf, String, String)> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in info.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let mut post = post.split_whitespace();
        let (Some(fstype), Some(_src), Some(opts)) = (post.next(), post.next(), post.next()) else {
            continue;
        };
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        let Some(mp) = pre.split_whitespace().nth(4) else {
            continue;
        };
        out.push((PathBuf::from(mp), fstype.to_string(), opts.to_string()));
    }
    out
}

/// `type: cgroup`: with a cgroup namespace, the hierarchies are mounted afresh (showing the
/// container's cgroup as their root); without one, the container's own cgroup directories
/// are bind-mounted, so the host's tree stays hidden either way.
fn mount_cgroup(root: RawFd, m: &MountPlan, plan: &Plan) -> Result<()> {
    let ro = m.options.flags.contains(MsFlags::MS_RDONLY);
    let base = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let target = fs::mkdir_all_in_root(root, &m.destination, false)
        .map_err(|e| mount_err(m, "create", e))?;
    let host = host_cgroup_mounts();
    let cgroupns = plan.ns.has(nix::sched::CloneFlags::CLONE_NEWCGROUP);
    let pure_v2 =
        host.len() == 1 && host[0].1 == "cgroup2" && host[0].0 == Path::new("/sys/fs/cgroup");
    let rel = plan.cgroups_path.trim_start_matches('/');
    if pure_v2 {
        if cgroupns {
            let flags = base
                | if ro {
                    MsFlags::MS_RDONLY
                } else {
                    MsFlags::empty()
                };
            mount(
                Some("cgroup2"),
                &fd_path(target.as_raw_fd()),
                Some("cgroup2"),
                flags,
                None::<&str>,
            )
            .map_err(|e| mount_err(m, "mount", Error::sys("mount cgroup2", &m.destination, e)))?;
        } else {
            bind_ro(
                &Path::new("/sys/fs/cgroup").join(rel),
                target.as_raw_fd(),
                ro,
                m,
            )?;
        }
        return Ok(());
    }
    // v1 or hybrid: a tmpfs holding one directory per hierarchy.
    mount(
        Some("tmpfs"),
        &fd_path(target.as_raw_fd()),
        Some("tmpfs"),
        base,
        Some("mode=755"),
    )
    .map_err(|e| mount_err(m, "mount", Error::sys("mount tmpfs", &m.destination, e)))?;
    for (mp, fstype, opts) in host {
        let Ok(sub) = mp.strip_prefix("/sys/fs/cgroup") else {
            continue;
        };
        if sub.as_os_str().is_empty() {
            continue;
        }
        let dest = m.destination.join(sub);
        let t = fs::mkdir_all_in_root(root, &dest, false).map_err(|e| mount_err(m, "create", e))?;
        if cgroupns {
            let data: Vec<&str> = opts
                .split(',')
                .filter(|o| *o != "rw" && *o != "ro")
                .collect();
            let flags = base
                | if ro {
                    MsFlags::MS_RDONLY
                } else {
                    MsFlags::empty()
                };
            mount(
                Some("cgroup"),
                &fd_path(t.as_raw_fd()),
                Some(fstype.as_str()),
                flags,
                Some(data.join(",").as_str()),
            )
            .map_err(|e| mount_err(m, "mount", Error::sys("mount cgroup", &dest, e)))?;
        } else {
            let src = mp.join(rel);
            if src.exists() {
                bind_ro(&src, t.as_raw_fd(), ro, m)?;
            }
        }
    }
    if ro {
        let t = fs::open_in_root(root, &m.destination, OFlag::O_PATH, 0)?;
        fs::mount_setattr(t.as_raw_fd(), false, attr::RDONLY, 0, &m.destination)
            .map_err(|e| mount_err(m, "set attributes", e))?;
    }
    Ok(())
}

fn bind_ro(src: &Path, target: RawFd, ro: bool, m: &MountPlan) -> Result<()> {
    let tree = fs::open_tree_clone(src, false).map_err(|e| mount_err(m, "bind", e))?;
    let set = attr::NOSUID | attr::NODEV | attr::NOEXEC | if ro { attr::RDONLY } else { 0 };
    fs::mount_setattr(tree.as_raw_fd(), false, set, 0, src)
        .map_err(|e| mount_err(m, "set attributes", e))?;
    fs::move_mount(tree.as_raw_fd(), target, src).map_err(|e| mount_err(m, "attach", e))
}

/// Makes the rootfs the process's `/` and detaches the old root.
pub fn pivot(rootfs: &Path, no_pivot: bool) -> Result<()> {
    nix::unistd::chdir(rootfs).map_err(|e| Error::sys("chdir", rootfs, e))?;
    if no_pivot {
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

fn root_fd() -> Result<OwnedFd> {
    nix::fcntl::open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::sys("open", "/", e))
}

/// `linux.rootfsPropagation` values that can only be applied once `/` is the new root.
pub fn root_propagation_after_pivot(p: MsFlags) -> Result<()> {
    if p.intersects(MsFlags::MS_SHARED | MsFlags::MS_UNBINDABLE) {
        mount(None::<&str>, "/", None::<&str>, p, None::<&str>)
            .map_err(|e| Error::sys("set rootfsPropagation of", "/", e))?;
    }
    Ok(())
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
        match fs::open_in_root(root.as_raw_fd(), p, OFlag::O_PATH | OFlag::O_NOFOLLOW, 0) {
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
pub fn mask_paths(paths: &[PathBuf]) -> Result<()> {
    let mut null = None;
    for_each_existing(paths, |p, fd| {
        let st = nix::sys::stat::fstat(&fd).map_err(|e| Error::sys("stat", p, e))?;
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            mount(
                Some("tmpfs"),
                &fd_path(fd.as_raw_fd()),
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                None::<&str>,
            )
            .map_err(|e| Error::sys("mask", p, e))?;
        } else {
            let dev = match &null {
                Some(n) => n,
                None => null.insert(dev_null(root_fd()?.as_raw_fd())?),
            };
            let tree = fs::open_tree_clone_fd(dev.as_raw_fd(), Path::new("/dev/null"))?;
            fs::move_mount(tree.as_raw_fd(), fd.as_raw_fd(), p)?;
        }
        Ok(())
    })
}

/// The container's `/dev/null`, verified to be the null device. If the image made it a
/// symlink or a bind of some procfs file, masking with it would expose that file instead
/// (CVE-2025-31133).
fn dev_null(root: RawFd) -> Result<OwnedFd> {
    let path = Path::new("/dev/null");
    let fd = fs::open_in_root(root, path, OFlag::O_PATH | OFlag::O_NOFOLLOW, 0)?;
    let st = nix::sys::stat::fstat(&fd).map_err(|e| Error::sys("stat", path, e))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != libc::makedev(1, 3) {
        return Err(Error::sys(
            "mask with (not the null device)",
            path,
            Errno::EPERM,
        ));
    }
    Ok(fd)
}

/// `linux.readonlyPaths`: a read-only bind of the path onto itself.
pub fn readonly_paths(paths: &[PathBuf]) -> Result<()> {
    for_each_existing(paths, |p, fd| {
        let tree = fs::open_tree_clone_fd(fd.as_raw_fd(), p)?;
        fs::mount_setattr(
            tree.as_raw_fd(),
            true,
            attr::RDONLY | attr::NOSUID | attr::NODEV | attr::NOEXEC,
            0,
            p,
        )?;
        fs::move_mount(tree.as_raw_fd(), fd.as_raw_fd(), p)
    })
}

/// `root.readonly`: the root mount becomes read-only (its submounts keep their own flags).
pub fn readonly_root() -> Result<()> {
    let root = root_fd()?;
    fs::mount_setattr(root.as_raw_fd(), false, attr::RDONLY, 0, Path::new("/"))
}

/// `linux.sysctl`, written through a private procfs (the container's namespaces decide
/// which instance of a namespaced sysctl is written).
pub fn sysctl(entries: &[(String, String)], proc: &crate::procfs::Proc) -> Result<()> {
    for (k, v) in entries {
        let path = format!("sys/{}", k.replace('.', "/"));
        proc.write(&path, v.as_bytes())
            .map_err(|e| Error::Other(format!("linux.sysctl.{k}: {e}")))?;
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
            assert!(dev_null(root.as_raw_fd()).is_err(), "symlink to {target}");
        }
        let (_d, root) = root_with_null(|p| std::fs::write(p, "").unwrap());
        let err = dev_null(root.as_raw_fd()).unwrap_err().to_string();
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
            assert!(dev_null(root.as_raw_fd()).is_ok());
        }
    }
}
