//! The container's root filesystem from containerd's snapshotter: the `rootfs` mounts of the
//! create request, mounted on `<bundle>/rootfs` (by the helper, before the container is
//! created) and unmounted when the container is deleted.

use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{umount2, MntFlags, MsFlags};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One mount of containerd's `CreateTaskRequest.rootfs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootfsMount {
    pub typ: String,
    pub source: String,
    pub options: Vec<String>,
}

/// Mounts each of `mounts` on `target`, in order; on failure unmounts what it mounted.
pub fn mount_all(mounts: &[RootfsMount], target: &Path) -> Result<()> {
    for (i, m) in mounts.iter().enumerate() {
        if let Err(e) = mount_one(m, target) {
            for _ in 0..i {
                let _ = umount2(target, MntFlags::MNT_DETACH);
            }
            return Err(e);
        }
    }
    Ok(())
}

fn page_size() -> usize {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .unwrap_or(4096) as usize
}

/// Whether the mount's data only fits a page with lowerdirs relative to a `chdir` (which a
/// multi-threaded process must not do: the helper mounts it).
pub fn needs_chdir(m: &RootfsMount) -> bool {
    m.typ == "overlay" && m.options.iter().map(|o| o.len() + 1).sum::<usize>() >= page_size() - 512
}

fn mount_one(m: &RootfsMount, target: &Path) -> Result<()> {
    let o = crate::runtime::mount_options(&m.options);
    let mut flags = o.flags;
    if o.bind {
        flags |= MsFlags::MS_BIND;
        if o.recursive {
            flags |= MsFlags::MS_REC;
        }
    }
    let mut data = o.data();
    // The mount data is limited to one page; many image layers overflow it. Relative lowerdirs
    // from their common parent are shorter (the helper is single-threaded: chdir is safe).
    let page = page_size();
    if m.typ == "overlay" && data.as_ref().is_some_and(|d| d.len() >= page - 512) {
        if let Some((dir, compact)) = data.as_deref().and_then(compact_lowerdirs) {
            std::env::set_current_dir(&dir)
                .map_err(|e| Error::io("chdir to the common lowerdir", &dir, e))?;
            data = Some(compact);
        }
    }
    let typ = (!m.typ.is_empty() && !o.bind).then_some(m.typ.as_str());
    nix::mount::mount(Some(m.source.as_str()), target, typ, flags, data.as_deref())
        .map_err(|e| Error::invalid(format!("rootfs mount {} {}", m.typ, m.source), e.desc()))?;
    if o.bind && flags.contains(MsFlags::MS_RDONLY) {
        nix::mount::mount::<str, Path, str, str>(
            None,
            target,
            None,
            flags | MsFlags::MS_REMOUNT,
            None,
        )
        .map_err(|e| Error::sys("remount the rootfs read-only", e))?;
    }
    for p in o.propagation {
        nix::mount::mount::<str, Path, str, str>(None, target, None, p, None)
            .map_err(|e| Error::sys("set the rootfs propagation", e))?;
    }
    Ok(())
}

/// Rewrites `lowerdir=` paths relative to their longest common parent directory.
fn compact_lowerdirs(data: &str) -> Option<(PathBuf, String)> {
    let opts: Vec<&str> = data.split(',').collect();
    let lower = opts.iter().find_map(|o| o.strip_prefix("lowerdir="))?;
    let dirs: Vec<&Path> = lower.split(':').map(Path::new).collect();
    let mut common: PathBuf = dirs.first()?.parent()?.to_path_buf();
    while !dirs.iter().all(|d| d.starts_with(&common)) {
        common = common.parent()?.to_path_buf();
    }
    if common.as_os_str().len() <= 1 {
        return None;
    }
    let rel: Vec<String> = dirs
        .iter()
        .map(|d| d.strip_prefix(&common).map(|r| r.display().to_string()))
        .collect::<std::result::Result<_, _>>()
        .ok()?;
    let out: Vec<String> = opts
        .iter()
        .map(|o| {
            if o.starts_with("lowerdir=") {
                format!("lowerdir={}", rel.join(":"))
            } else {
                o.to_string()
            }
        })
        .collect();
    Some((common, out.join(",")))
}

/// Unmounts everything mounted on `target` (stacked mounts too). Not mounted is fine.
pub fn unmount(target: &Path) -> Result<()> {
    for _ in 0..32 {
        match umount2(target, MntFlags::empty()) {
            Ok(()) => continue,
            Err(Errno::EINVAL) | Err(Errno::ENOENT) => return Ok(()),
            Err(Errno::EBUSY) => {
                umount2(target, MntFlags::MNT_DETACH)
                    .map_err(|e| Error::sys("unmount the rootfs (detach)", e))?;
            }
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("unmount the rootfs", e)),
        }
    }
    Err(Error::FailedPrecondition(format!(
        "unmount `{}`: still mounted after 32 unmounts",
        target.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowerdirs_become_relative_to_their_parent() {
        let data = "index=off,workdir=/s/snapshots/9/work,upperdir=/s/snapshots/9/fs,\
                    lowerdir=/s/snapshots/3/fs:/s/snapshots/2/fs:/s/snapshots/1/fs";
        let (dir, out) = compact_lowerdirs(data).unwrap();
        assert_eq!(dir, Path::new("/s/snapshots"));
        assert_eq!(
            out,
            "index=off,workdir=/s/snapshots/9/work,upperdir=/s/snapshots/9/fs,\
             lowerdir=3/fs:2/fs:1/fs"
        );
    }

    #[test]
    fn no_common_parent_means_no_compaction() {
        assert!(compact_lowerdirs("lowerdir=/a/fs:/b/fs").is_none());
        assert!(compact_lowerdirs("upperdir=/a").is_none());
    }

    #[test]
    fn unmounting_a_plain_directory_is_fine() {
        let d = tempfile::tempdir().unwrap();
        unmount(d.path()).unwrap();
    }
}
