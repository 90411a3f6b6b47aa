//! The runtime's use of the berth-cgroups crate: making and limiting the container's cgroup,
//! the cgroups an exec'd process joins, and the per-verb operations.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_cgroups::hierarchy::{Hierarchies, V1Hierarchy};
use berth_cgroups::{CgroupManager, FreezerState, Manager};
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::plan::CgroupPlan;
use crate::state::store::CgroupMount;
use crate::state::State;
use crate::{Error, Result};

/// The manager of a recorded container's cgroup, on the hierarchies recorded with it (the
/// host's, from mountinfo, for a state without them).
pub fn manager(state: &State) -> Result<Manager> {
    let hier = if state.cgroup_mounts.is_empty() {
        Hierarchies::host()?
    } else {
        Arc::new(recorded(&state.cgroup_mounts))
    };
    new_manager_with(hier, &state.cgroups_path, &state.id, state.systemd_cgroup)
}

/// The manager for `cgroups_path` on this host's hierarchies.
fn new_manager(cgroups_path: &str, id: &str, systemd: bool) -> Result<Manager> {
    new_manager_with(Hierarchies::host()?, cgroups_path, id, systemd)
}

/// The manager for `cgroups_path`. A rootless runtime's systemd is the user's instance, also
/// when it runs as root of the user's namespace (rootless podman), where berth-cgroups, which
/// goes by the euid alone, would pick the system's.
fn new_manager_with(
    hier: Arc<Hierarchies>,
    cgroups_path: &str,
    id: &str,
    systemd: bool,
) -> Result<Manager> {
    Ok(if systemd && rootless() {
        Manager::new_systemd_with(
            hier,
            cgroups_path,
            id,
            berth_cgroups::systemd::Instance::User,
        )?
    } else {
        Manager::with_hierarchies(hier, cgroups_path, id, systemd)?
    })
}

/// Hierarchies from a state's record of them.
fn recorded(mounts: &[CgroupMount]) -> Hierarchies {
    let mut v1 = Vec::new();
    let mut unified = None;
    for m in mounts {
        if m.controllers.is_empty() {
            unified = Some(m.mount_point.clone());
        } else {
            v1.push(V1Hierarchy {
                mount_point: m.mount_point.clone(),
                controllers: m.controllers.clone(),
            });
        }
    }
    Hierarchies::recorded(v1, unified)
}

/// Whether the runtime runs rootless (see [`crate::plan::HostFacts::rootless`]).
fn rootless() -> bool {
    crate::plan::HostFacts::probe().rootless()
}

/// Whether the container's cgroup is frozen (or being frozen: it is paused either way).
pub fn is_frozen(state: &State) -> bool {
    manager(state)
        .ok()
        .and_then(|m| m.freezer_state().ok())
        .is_some_and(|s| matches!(s, FreezerState::Frozen | FreezerState::Freezing))
}

/// The cgroup a new container goes into.
pub struct Target {
    pub manager: Manager,
    /// It existed before: a failed create must not remove it (it may hold others' processes).
    pub existed: bool,
    /// It already holds processes (runc warns too).
    pub warning: Option<String>,
}

/// The manager for a new container, after checking that its cgroup can be used: a frozen one
/// would hang the container's start, so it is refused before anything is made.
pub fn check_target(
    id: &str,
    c: &CgroupPlan,
    annotations: &std::collections::HashMap<String, String>,
) -> Result<Target> {
    let m = new_manager(&c.path, id, c.systemd)?.with_annotations(annotations)?;
    let existed = m.exists();
    let busy = m.check_usable()?;
    let warning = (!busy.is_empty()).then(|| {
        format!(
            "container's cgroup is not empty: {} process(es) already in {}",
            busy.len(),
            c.path
        )
    });
    Ok(Target {
        manager: m,
        existed,
        warning,
    })
}

/// How a new process joins the container's cgroup by itself, in the helper, before it is
/// cloned: `tasks` files of the v1 hierarchies to write 0 to (no global lock, so no wait for
/// an RCU grace period as with `cgroup.procs`), and the cgroup2 directory to be born in
/// (`CLONE_INTO_CGROUP`).
#[derive(Default)]
pub struct Placement {
    pub tasks: Vec<OwnedFd>,
    pub into: Option<OwnedFd>,
}

impl Placement {
    /// Whether the process gets into its cgroup this way (else the parent must move it).
    pub fn is_complete(&self) -> bool {
        !self.tasks.is_empty() || self.into.is_some()
    }
}

/// Creates the cgroup and applies the limits; on failure nothing made here is left. Returns
/// how the init joins it.
pub fn prepare(m: &Manager, c: &CgroupPlan) -> Result<Placement> {
    m.create()?;
    let placed = m.apply(&c.resources).map_err(Error::from).and_then(|()| {
        let into = m.open_clone_into_fd()?;
        let mut tasks = Vec::new();
        for dir in m.paths() {
            let t = dir.join("tasks");
            match berth_cgroups::at::open(&t, OFlag::O_WRONLY) {
                Ok(fd) => tasks.push(fd),
                // The cgroup2 directory of a hybrid host has no tasks file: born there.
                Err(nix::errno::Errno::ENOENT) => {}
                Err(e) => return Err(Error::sys("open", &t, e)),
            }
        }
        Ok(Placement { tasks, into })
    });
    if placed.is_err() {
        let _ = m.destroy();
    }
    placed
}

/// Whether a cgroup error is "not allowed" (a rootless caller without a delegated cgroup).
pub fn is_permission(e: &Error) -> bool {
    matches!(
        e.errno(),
        Some(nix::errno::Errno::EACCES | nix::errno::Errno::EPERM | nix::errno::Errno::EROFS)
    )
}

/// Whether any limit is asked for (device rules aside).
pub fn limits_requested(r: &oci_spec::runtime::LinuxResources) -> bool {
    let mut r = r.clone();
    r.set_devices(None);
    r != oci_spec::runtime::LinuxResources::default()
}

/// Writes the container's device rules (alone: the other limits are left as they are).
pub fn apply_devices(m: &Manager, rules: &[oci_spec::runtime::LinuxDeviceCgroup]) -> Result<()> {
    let mut r = oci_spec::runtime::LinuxResources::default();
    r.set_devices(Some(rules.to_vec()));
    Ok(m.apply(&r)?)
}

/// The cgroups an exec'd process joins: every hierarchy the init is in (as runc), as
/// `cgroup.procs` files opened for writing, or on a unified-only host the v2 directory (for
/// `CLONE_INTO_CGROUP`). `sub`: a sub-cgroup of the container's (`exec --cgroup`), per
/// controller (`Some(ctrl)`) or for all.
pub fn for_exec(
    init_pid: i32,
    recorded: &[CgroupMount],
    sub: &[(Option<String>, PathBuf)],
) -> Result<(Vec<OwnedFd>, Option<OwnedFd>)> {
    let own = format!("/proc/{init_pid}/cgroup");
    let text = match std::fs::read_to_string(&own) {
        Ok(t) => t,
        Err(e) => return Err(Error::io("read", own, e)),
    };
    // The hierarchies recorded at create; for a state without them, the host's (parsed from
    // mountinfo as the cgroup manager does: the hierarchies of known controllers and named
    // ones, and the cgroup2 mount at /sys/fs/cgroup or /sys/fs/cgroup/unified).
    let read;
    let mounts = if recorded.is_empty() {
        read = mounts_now()?;
        &read
    } else {
        recorded
    };
    let mut procs = Vec::new();
    let mut dir = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let mount = mounts.iter().find(|m| {
            if ctrls.is_empty() {
                m.controllers.is_empty()
            } else {
                ctrls
                    .split(',')
                    .all(|c| m.controllers.iter().any(|x| x == c))
            }
        });
        let Some(mount) = mount else { continue };
        let mut target = mount.mount_point.join(path.trim_start_matches('/'));
        for (ctrl, rel) in sub {
            let applies = match ctrl {
                None => true,
                Some(c) if ctrls.is_empty() => c.is_empty(),
                Some(c) => ctrls.split(',').any(|x| x == c || x == format!("name={c}")),
            };
            if applies {
                target = target.join(rel);
            }
        }
        if ctrls.is_empty() {
            // The cgroup2 hierarchy (v2, or hybrid's `unified`): born there.
            let writable =
                nix::unistd::access(&target.join("cgroup.procs"), nix::unistd::AccessFlags::W_OK)
                    .is_ok();
            if !writable && rootless() && sub.is_empty() {
                // Rootless, in a cgroup it may not write: stay where the caller is.
                continue;
            }
            let d = nix::fcntl::open(
                &target,
                OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_PATH,
                Mode::empty(),
            )
            .map_err(|e| Error::sys("open", &target, e))?;
            dir = Some(d);
        } else {
            // A v1 hierarchy: its `tasks` file moves the writing thread alone, without the
            // global lock of `cgroup.procs` (the helper is single-threaded).
            let p = target.join("tasks");
            match berth_cgroups::at::open(&p, OFlag::O_WRONLY) {
                Ok(fd) => procs.push(fd),
                // Rootless, in a cgroup it may not write (the init could not either).
                Err(nix::errno::Errno::EACCES | nix::errno::Errno::EPERM)
                    if rootless() && sub.is_empty() => {}
                // A hierarchy the container's cgroup was never made in (or removed).
                Err(nix::errno::Errno::ENOENT) if sub.is_empty() => {}
                Err(e) => return Err(Error::sys("open", &p, e)),
            }
        }
    }
    Ok((procs, dir))
}

/// The host's cgroup hierarchies (read from mountinfo once per process), as a container's
/// state records them.
pub fn mounts_now() -> Result<Vec<CgroupMount>> {
    let h = Hierarchies::host()?;
    let mut out: Vec<CgroupMount> = h
        .v1()
        .iter()
        .map(|v| CgroupMount {
            controllers: v.controllers.clone(),
            mount_point: v.mount_point.clone(),
        })
        .collect();
    if let Some(u) = h.unified() {
        out.push(CgroupMount {
            controllers: Vec::new(),
            mount_point: u.to_path_buf(),
        });
    }
    Ok(out)
}

/// Checks an `exec --cgroup` value (`[controller:]path`): a path below the container's
/// cgroup, never above it.
pub fn parse_sub(value: &str) -> Result<(Option<String>, PathBuf)> {
    let (ctrl, path) = match value.split_once(':') {
        Some((c, p)) => (Some(c.to_string()), p),
        None => (None, value),
    };
    let p = Path::new(path);
    let escapes = p.is_absolute()
        || p.components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)));
    if escapes || path.is_empty() {
        return Err(Error::Invalid {
            what: "--cgroup",
            msg: format!("{path:?} is not a sub cgroup path"),
        });
    }
    Ok((ctrl, p.to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_cgroups_stay_below() {
        assert_eq!(
            parse_sub("cpu:a/b").unwrap(),
            (Some("cpu".into()), PathBuf::from("a/b"))
        );
        assert_eq!(parse_sub("x").unwrap(), (None, PathBuf::from("x")));
        for bad in ["..", "a/../../b", "/abs", "cpu:../x", ""] {
            let e = parse_sub(bad).unwrap_err().to_string();
            assert!(e.contains("is not a sub cgroup path"), "{bad}: {e}");
        }
    }
}
