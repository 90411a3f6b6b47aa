//! Cgroup management for berth: create a container's cgroup, apply
//! `linux.resources`, move tasks in, pause/resume, report statistics and
//! OOM events, and remove it again.
//!
//! One [`Manager`] dispatches to [`v1::V1Manager`] (legacy and hybrid
//! hosts), [`v2::V2Manager`] (unified hierarchy) or
//! [`systemd::SystemdManager`] (a transient scope made through systemd,
//! whose files it writes with the other two). A manager holds no state
//! beyond its constructor arguments, so `delete`, `pause` or `update`
//! running in another process rebuild the same one from `linux.cgroupsPath`
//! and the container id.
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
//! cg.create()?;
//! cg.apply(&resources)?; // always pass the devices list: no list, no filter
//! cg.add_task(init_pid)?;
//! // `delete`, in another process later:
//! Manager::new("/berth/web", "web", false)?.destroy()?;
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod devices;
pub mod error;
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

use std::path::Path;

use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};

pub use error::{CgroupError, Result};
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

/// Detects the cgroup mode of this host from `/sys/fs/cgroup`.
pub fn detect() -> Result<CgroupMode> {
    detect_at(Path::new(DEFAULT_ROOT))
}

/// Detects the cgroup mode of the cgroup mount root `root`.
pub fn detect_at(root: &Path) -> Result<CgroupMode> {
    let is_cgroup2 = |p: &Path| -> Result<bool> {
        let st = statfs(p).map_err(|e| CgroupError::sys("statfs", p, e))?;
        Ok(st.filesystem_type() == CGROUP2_SUPER_MAGIC)
    };
    if is_cgroup2(root)? {
        return Ok(CgroupMode::Unified);
    }
    let unified = root.join("unified");
    if unified.is_dir() && is_cgroup2(&unified)? {
        Ok(CgroupMode::Hybrid)
    } else {
        Ok(CgroupMode::Legacy)
    }
}

/// State of a cgroup's freezer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezerState {
    /// Running.
    Thawed,
    /// Being frozen (v1 only).
    Freezing,
    /// All tasks frozen.
    Frozen,
}
