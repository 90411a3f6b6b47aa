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
