//! The mount namespace a restoring CRIU runs in: its own, so that nothing it needs mounted
//! is left in the caller's namespace, whatever becomes of the caller.
//!
//! CRIU restores into a root that must be a mount point whose parent is not overmounted:
//! the container's rootfs is bound (or its overlay mounted) on an empty directory there. It
//! also mounts the cgroup hierarchies it restores cgroups through, by default relative to
//! its working directory. That directory is the client's work directory, reached through
//! `/proc/<client>/fd/<n>`, a mount of the client's namespace, where a mount from CRIU's
//! namespace is refused (`EINVAL`). So the hierarchies are mounted here too, in a "cgroup
//! yard" laid out as CRIU expects one (`--cgroup-yard`): a tmpfs with a directory per
//! hierarchy, named by its controllers (`cpu,cpuacct`), its name (`systemd` for
//! `name=systemd`), or `unified` for cgroup2.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The root CRIU restores into.
#[derive(Debug, Clone)]
pub struct RootMount {
    /// An empty directory.
    pub target: PathBuf,
    /// Bound (recursively) onto `target`, unless `overlay` is given.
    pub source: PathBuf,
    /// overlayfs mount data: an overlay is mounted on `target` instead.
    pub overlay: Option<String>,
}

/// One cgroup hierarchy of a yard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// The directory in the yard.
    pub dir: String,
    /// `cgroup` or `cgroup2`.
    pub fstype: &'static str,
    /// The mount data (the controllers, `none,name=X`).
    pub data: Option<String>,
}

/// A cgroup yard: a tmpfs at `path` with each hierarchy mounted in it.
#[derive(Debug, Clone)]
pub struct CgroupYard {
    /// An empty directory.
    pub path: PathBuf,
    pub hierarchies: Vec<Hierarchy>,
}

impl CgroupYard {
    /// A yard at `path` with the hierarchies the calling process is in (its
    /// `/proc/self/cgroup`).
    pub fn of_self(path: PathBuf) -> Result<CgroupYard> {
        let text = std::fs::read_to_string("/proc/self/cgroup").map_err(|e| Error::Sys {
            op: "read /proc/self/cgroup",
            errno: nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        })?;
        Ok(CgroupYard {
            path,
            hierarchies: hierarchies(&text),
        })
    }
}

/// The hierarchies of a `/proc/<pid>/cgroup` text, named as CRIU names their yard dirs.
pub fn hierarchies(proc_cgroup: &str) -> Vec<Hierarchy> {
    let mut out = Vec::new();
    for line in proc_cgroup.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(ctrls)) = (f.next(), f.next()) else {
            continue;
        };
        let h = if ctrls.is_empty() {
            Hierarchy {
                dir: "unified".into(),
                fstype: "cgroup2",
                data: None,
            }
        } else if let Some(name) = ctrls.strip_prefix("name=") {
            Hierarchy {
                dir: name.into(),
                fstype: "cgroup",
                data: Some(format!("none,name={name}")),
            }
        } else {
            Hierarchy {
                dir: ctrls.into(),
                fstype: "cgroup",
                data: Some(ctrls.into()),
            }
        };
        if !out.contains(&h) {
            out.push(h);
        }
    }
    out
}

fn c(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| Error::Sys {
        op: "a path with a NUL byte",
        errno: nix::errno::Errno::EINVAL,
    })
}

/// One mount(2) call, as C strings.
struct Call {
    source: CString,
    target: CString,
    fstype: Option<CString>,
    flags: libc::c_ulong,
    data: Option<CString>,
    /// `mkdir` the target first.
    mkdir: bool,
}

/// The namespace, prepared before the fork: the calls its child makes.
pub(crate) struct Prepared {
    calls: Vec<Call>,
}

impl Prepared {
    pub(crate) fn new(root: &RootMount, yard: Option<&CgroupYard>) -> Result<Prepared> {
        let mut calls = vec![match &root.overlay {
            Some(data) => Call {
                source: c"overlay".into(),
                target: c(&root.target)?,
                fstype: Some(c"overlay".into()),
                flags: 0,
                data: Some(c(Path::new(data))?),
                mkdir: false,
            },
            None => Call {
                source: c(&root.source)?,
                target: c(&root.target)?,
                fstype: None,
                flags: libc::MS_BIND | libc::MS_REC,
                data: None,
                mkdir: false,
            },
        }];
        if let Some(y) = yard {
            calls.push(Call {
                source: c"criu-yard".into(),
                target: c(&y.path)?,
                fstype: Some(c"tmpfs".into()),
                flags: 0,
                data: Some(c"mode=700".into()),
                mkdir: false,
            });
            for h in &y.hierarchies {
                calls.push(Call {
                    source: c"cgroup".into(),
                    target: c(&y.path.join(&h.dir))?,
                    fstype: Some(CString::new(h.fstype).expect("no NUL")),
                    flags: 0,
                    data: h.data.as_deref().map(|d| c(Path::new(d))).transpose()?,
                    mkdir: true,
                });
            }
        }
        Ok(Prepared { calls })
    }

    /// A new mount namespace, private, with the mounts made. Only raw system calls on data
    /// made before: this runs in the forked child of a possibly multi-threaded caller.
    pub(crate) fn enter(&self) -> std::io::Result<()> {
        let check = |r: libc::c_int| {
            if r < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(())
            }
        };
        let opt = |s: &Option<CString>| s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
        // SAFETY: unshare takes no pointers; mkdir and mount get NUL-terminated strings owned
        // by `self`, or null where the kernel accepts it.
        unsafe {
            check(libc::unshare(libc::CLONE_NEWNS))?;
            check(libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            for m in &self.calls {
                if m.mkdir {
                    check(libc::mkdir(m.target.as_ptr(), 0o700))?;
                }
                check(libc::mount(
                    m.source.as_ptr(),
                    m.target.as_ptr(),
                    opt(&m.fstype),
                    m.flags,
                    opt(&m.data).cast(),
                ))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yard_dirs_are_named_as_criu_names_them() {
        let v1 = "12:pids:/x\n4:cpu,cpuacct:/x\n1:name=systemd:/x\n0::/x\n";
        let h = hierarchies(v1);
        let dirs: Vec<(&str, &str, Option<&str>)> = h
            .iter()
            .map(|h| (h.dir.as_str(), h.fstype, h.data.as_deref()))
            .collect();
        assert_eq!(
            dirs,
            [
                ("pids", "cgroup", Some("pids")),
                ("cpu,cpuacct", "cgroup", Some("cpu,cpuacct")),
                ("systemd", "cgroup", Some("none,name=systemd")),
                ("unified", "cgroup2", None),
            ]
        );
        assert_eq!(hierarchies("0::/berth/c1\n").len(), 1);
    }
}
