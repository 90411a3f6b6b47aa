//! The runtime's use of the berth-cgroups crate: placing the init, the device rules every
//! container gets, and the per-command operations (freeze, kill, pids, destroy).

use berth_cgroups::{CgroupManager, FreezerState, Manager};
use nix::sys::signal::Signal;
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};

use crate::plan::Plan;
use crate::state::State;
use crate::{Error, Result};

fn cg_err(e: berth_cgroups::CgroupError) -> Error {
    Error::Other(e.to_string())
}

/// The cgroup manager of a container's cgroups path.
pub fn manager(path: &str, id: &str) -> Result<Manager> {
    Manager::new(path, id, false).map_err(cg_err)
}

fn allow(typ: LinuxDeviceType, major: Option<i64>, minor: Option<i64>) -> LinuxDeviceCgroup {
    let mut d = LinuxDeviceCgroup::default();
    d.set_allow(true);
    d.set_typ(Some(typ));
    d.set_major(major);
    d.set_minor(minor);
    d.set_access(Some("rwm".into()));
    d
}

/// The device rules: the spec's own, then what every container needs (runc's defaults:
/// null, zero, full, random, urandom, tty, console, ptmx and the pts devices), then the
/// devices of `linux.devices`.
pub fn device_rules(plan: &Plan) -> Vec<LinuxDeviceCgroup> {
    let mut rules: Vec<LinuxDeviceCgroup> = plan
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.devices().clone())
        .unwrap_or_default();
    use LinuxDeviceType::C;
    for (maj, min) in [
        (1, Some(3)),
        (1, Some(5)),
        (1, Some(7)),
        (1, Some(8)),
        (1, Some(9)),
        (5, Some(0)),
        (5, Some(1)),
        (5, Some(2)),
        (136, None),
    ] {
        rules.push(allow(C, Some(maj), min));
    }
    for d in &plan.devices {
        let typ = match d.kind {
            nix::sys::stat::SFlag::S_IFBLK => LinuxDeviceType::B,
            nix::sys::stat::SFlag::S_IFIFO => continue,
            _ => C,
        };
        rules.push(allow(typ, Some(d.major as i64), Some(d.minor as i64)));
    }
    rules
}

/// Drops the values runc treats as "not set" (dockerd sends `blockIO.weight: 0`,
/// `cpu.shares: 0`, `memory.reservation: 0`, ... in every config): writing them would fail
/// or set the minimum instead of leaving the default.
pub fn normalize(r: &mut LinuxResources) {
    if let Some(m) = r.memory_mut() {
        if m.limit() == Some(0) {
            m.set_limit(None);
        }
        if m.reservation() == Some(0) {
            m.set_reservation(None);
        }
        if m.swap() == Some(0) {
            m.set_swap(None);
        }
        if m.kernel() == Some(0) {
            m.set_kernel(None);
        }
        if m.kernel_tcp() == Some(0) {
            m.set_kernel_tcp(None);
        }
    }
    if let Some(c) = r.cpu_mut() {
        if c.shares() == Some(0) {
            c.set_shares(None);
        }
        if c.quota() == Some(0) {
            c.set_quota(None);
        }
        if c.period() == Some(0) {
            c.set_period(None);
        }
        if c.realtime_runtime() == Some(0) {
            c.set_realtime_runtime(None);
        }
        if c.realtime_period() == Some(0) {
            c.set_realtime_period(None);
        }
        if c.cpus().as_deref() == Some("") {
            c.set_cpus(None);
        }
        if c.mems().as_deref() == Some("") {
            c.set_mems(None);
        }
    }
    if r.pids().as_ref().is_some_and(|p| p.limit() == 0) {
        r.set_pids(None);
    }
    if let Some(b) = r.block_io_mut() {
        if b.weight() == Some(0) {
            b.set_weight(None);
        }
        if b.leaf_weight() == Some(0) {
            b.set_leaf_weight(None);
        }
    }
}

/// `update`: applies new limits to a running container's cgroup.
pub fn update(path: &str, id: &str, mut resources: LinuxResources) -> Result<()> {
    normalize(&mut resources);
    manager(path, id)?.apply(&resources).map_err(cg_err)
}

/// The container's cgroup, made and limited before the init exists.
pub struct Prepared {
    manager: Manager,
    /// On cgroup v2, the cgroup directory for `clone3(CLONE_INTO_CGROUP)`: the init is born
    /// inside its cgroup, with no window in which it runs unlimited.
    pub into: Option<std::os::fd::OwnedFd>,
}

/// Creates the container's cgroup and applies `linux.resources`. On failure nothing is left.
pub fn prepare(plan: &Plan) -> Result<Prepared> {
    let m = manager(&plan.cgroups_path, &plan.id)?;
    m.create().map_err(cg_err)?;
    let mut resources: LinuxResources = plan
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    resources.set_devices(Some(device_rules(plan)));
    normalize(&mut resources);
    if let Err(e) = m.apply(&resources) {
        let _ = m.destroy();
        return Err(cg_err(e));
    }
    let into = m.open_cgroup_fd().ok();
    Ok(Prepared { manager: m, into })
}

impl Prepared {
    /// Moves the init into the cgroup, unless it was cloned into it.
    pub fn add(&self, pid: i32) -> Result<()> {
        if self.into.is_some() {
            return Ok(());
        }
        self.manager.add_task(pid).map_err(cg_err)
    }
}

/// Whether the host runs the unified (v2-only) hierarchy.
pub fn unified() -> bool {
    matches!(
        berth_cgroups::detect(),
        Ok(berth_cgroups::CgroupMode::Unified)
    )
}

/// Removes the container's cgroup, killing what is left in it.
pub fn destroy(path: &str) -> Result<()> {
    manager(path, "")?.destroy().map_err(cg_err)
}

/// Whether the container's cgroup is frozen.
pub fn is_frozen(path: &str) -> bool {
    manager(path, "")
        .and_then(|m| m.freezer_state().map_err(cg_err))
        .map(|s| s == FreezerState::Frozen)
        .unwrap_or(false)
}

/// Freezes the container's cgroup.
pub fn freeze(path: &str) -> Result<()> {
    manager(path, "")?.freeze().map_err(cg_err)
}

/// Thaws the container's cgroup.
pub fn thaw(path: &str) -> Result<()> {
    manager(path, "")?.thaw().map_err(cg_err)
}

/// Signals every process in the container's cgroup.
pub fn kill_all(path: &str, sig: Signal) -> Result<()> {
    let m = manager(path, "")?;
    if !m.exists() {
        return Ok(());
    }
    m.kill_all(sig).map_err(cg_err)
}

/// Moves the calling process into the container's cgroup (for `exec`).
pub fn enter(path: &str) -> Result<()> {
    let m = manager(path, "")?;
    if !m.exists() {
        return Ok(());
    }
    m.add_task(0).map_err(cg_err)
}

/// The container's processes (host pids).
pub fn pids(state: &State) -> Result<Vec<i32>> {
    if !crate::state::init_alive(state) {
        return Ok(Vec::new());
    }
    let m = manager(&state.cgroups_path, &state.id)?;
    if m.exists() {
        return m.pids().map_err(cg_err);
    }
    Ok(vec![state.pid])
}

/// The `linux.cgroup` part of `features`.
pub fn features() -> serde_json::Value {
    let mode = berth_cgroups::detect().ok();
    let v2 = matches!(mode, Some(berth_cgroups::CgroupMode::Unified));
    serde_json::json!({
        "v1": !v2,
        "v2": v2,
        "mode": mode.map(|m| m.as_str()),
        "systemd": false,
        "systemdUser": false,
        "rdma": std::path::Path::new("/sys/fs/cgroup/rdma").exists() || v2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerd_zeros_mean_unset() {
        let mut r: LinuxResources = serde_json::from_str(
            r#"{"memory":{"limit":134217728,"reservation":0,"swap":0,"kernel":0},
                "cpu":{"shares":0,"quota":50000,"period":0,"cpus":""},
                "pids":{"limit":0},"blockIO":{"weight":0}}"#,
        )
        .unwrap();
        normalize(&mut r);
        let m = r.memory().as_ref().unwrap();
        assert_eq!(
            (m.limit(), m.reservation(), m.swap(), m.kernel()),
            (Some(134217728), None, None, None)
        );
        let c = r.cpu().as_ref().unwrap();
        assert_eq!(
            (c.shares(), c.quota(), c.period(), c.cpus().clone()),
            (None, Some(50000), None, None)
        );
        assert!(r.pids().is_none());
        assert_eq!(r.block_io().as_ref().unwrap().weight(), None);
    }
}
