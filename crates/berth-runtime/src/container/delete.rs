//! `delete`: kills what is left of the container, runs its poststop hooks and removes its
//! cgroup, host mounts (for a container without a mount namespace) and state.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use berth_cgroups::CgroupManager;
use nix::mount::{umount2, MntFlags};

use super::create::Recorded;
use super::{cgroup, Container, Runtime};
use crate::state::oci::hook_state;
use crate::state::{Status, Verb};
use crate::{hooks, sys, Error, Result};

impl Runtime {
    /// `delete [--force] ID`. With `force`, a container that does not exist is not an error
    /// (runc). Returns the warnings of poststop hooks.
    pub fn delete(&self, id: &str, force: bool) -> Result<Vec<String>> {
        match self.load_locked(id) {
            Ok(c) => c.delete(force),
            Err(Error::NotExist(_)) if force => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }
}

impl Container {
    /// Removes a stopped or created (or, with `force`, any) container: kills it, runs the
    /// poststop hooks, removes its cgroup and state. Returns hook warnings. What cannot be
    /// removed (a busy cgroup) is an error, and the container stays listed so that `delete`
    /// can be tried again.
    pub fn delete(&self, force: bool) -> Result<Vec<String>> {
        let status = self.check(if force {
            Verb::ForceDelete
        } else {
            Verb::Delete
        })?;
        let st = &self.state;
        self.rt
            .step(|| format!("delete {}: status {status}", st.id));
        let manager = cgroup::manager(st).ok();
        if status != Status::Stopped {
            if status == Status::Paused {
                if let Some(m) = &manager {
                    let _ = m.thaw();
                }
            }
            let pidfd = self.init_pidfd();
            if let Some(m) = manager.as_ref().filter(|m| m.exists()) {
                let _ = m.kill_all(nix::sys::signal::Signal::SIGKILL);
            }
            if let Some(fd) = &pidfd {
                let _ = sys::pidfd::send_signal(fd.as_fd(), libc::SIGKILL);
                sys::pidfd::wait_exit(fd.as_fd(), 10_000);
            }
        }
        let mut warnings = Vec::new();
        match Recorded::load(&self.dir) {
            Ok(r) => warnings.extend(hooks::run_warn(
                "poststop",
                &r.poststop,
                &hook_state(&self.hook_context(), "stopped", st.pid),
            )),
            Err(e) => warnings.push(format!("poststop hooks not run: {e}")),
        }
        if st.own_cgroup {
            if let Some(m) = &manager {
                m.destroy()?;
            }
        }
        if st.host_mounts && !st.rootfs.as_os_str().is_empty() {
            unmount_under(&st.rootfs)?;
        }
        self.dir.remove()?;
        self.rt
            .step(|| format!("delete {}: cgroup, mounts and state removed", st.id));
        Ok(warnings)
    }
}

/// Detaches every mount at or under `rootfs` (deepest first): what the setup of a container
/// without a mount namespace made in the runtime's namespace.
pub(crate) fn unmount_under(rootfs: &Path) -> Result<()> {
    let mut points: Vec<PathBuf> = crate::mountinfo::read()?
        .into_iter()
        .map(|m| m.mount_point)
        .filter(|p| p.starts_with(rootfs))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in points {
        match umount2(&p, MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
            Err(e) => return Err(Error::sys("unmount", &p, e)),
        }
    }
    Ok(())
}
