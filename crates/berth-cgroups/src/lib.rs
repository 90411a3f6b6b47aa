//! Cgroup management for berth: create a container's cgroup, apply
//! `linux.resources`, move tasks in, pause/resume, report statistics and
//! OOM events, and remove it again.
//!
//! One [`Manager`] dispatches to [`v1::V1Manager`] (legacy and hybrid
//! hosts), [`v2::V2Manager`] (unified hierarchy) or
//! [`systemd::SystemdManager`] (a transient scope made through systemd,
//! whose files it writes with the other two). A manager holds no state
//! beyond its constructor arguments (and the host's [`Hierarchies`], read
//! from `/proc/self/mountinfo` once per process), so `delete`, `pause` or
//! `update` running in another process rebuild the same one from
//! `linux.cgroupsPath` and the container id.
//!
//! Spec fields live in one file per controller and cgroup version:
//! `v1/memory.rs`, `v2/memory.rs`, `v2/devices/program.rs` and so on.
//!
//! ```no_run
//! use berth_cgroups::{CgroupManager, Manager};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let resources = oci_spec::runtime::LinuxResources::default();
//! # let init_pid = 1;
//! // `create`: cgroupsPath from the spec, or "" for /berth/<id>.
//! let cg = Manager::new("/berth/web", "web", false)?;
//! let already_there = cg.check_usable()?; // refuses a frozen cgroup
//! cg.create()?;
//! cg.apply(&resources)?; // always pass the devices list: no list, no filter
//! cg.add_task(init_pid)?;
//! // `delete`, in another process later:
//! Manager::new("/berth/web", "web", false)?.destroy()?;
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod at;
pub mod devices;
pub mod error;
pub mod hierarchy;
pub mod manager;
pub mod oom;
pub mod path;
pub mod stats;
pub mod systemd;
pub mod v1;
pub mod v2;

mod common;
#[cfg(test)]
mod testutil;

pub use error::{CgroupError, Result};
pub use hierarchy::Hierarchies;
pub use manager::{CgroupManager, Manager};
pub use oom::{OomEvent, OomWatcher};
pub use path::{default_cgroups_path, CgroupsPath};
pub use stats::Stats;

/// Where the cgroup filesystems are mounted.
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";

/// How the host mounts cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupMode {
    /// Only v1 hierarchies.
    Legacy,
    /// v1 hierarchies plus a cgroup2 mount at `unified/` (managed as v1).
    Hybrid,
    /// Only the cgroup v2 unified hierarchy.
    Unified,
}

impl CgroupMode {
    /// The name `berth features` reports: `v1`, `hybrid` or `v2`.
    pub fn as_str(self) -> &'static str {
        match self {
            CgroupMode::Legacy => "v1",
            CgroupMode::Hybrid => "hybrid",
            CgroupMode::Unified => "v2",
        }
    }

    /// True when containers are managed through the v1 hierarchies.
    pub fn is_v1(self) -> bool {
        self != CgroupMode::Unified
    }
}

/// The cgroup mode of this host, from the cached [`Hierarchies::host`].
pub fn detect() -> Result<CgroupMode> {
    Ok(Hierarchies::host()?.mode())
}

/// State of a cgroup's freezer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezerState {
    /// Running.
    Thawed,
    /// Asked to freeze, not all tasks frozen yet (v1 `FREEZING`, v2
    /// `cgroup.freeze` 1 while `cgroup.events` says `frozen 0`).
    Freezing,
    /// All tasks frozen.
    Frozen,
}
