//! The systemd cgroup driver (`--systemd-cgroup`, `slice:prefix:name`
//! paths). Not implemented: every operation says so.

use oci_spec::runtime::LinuxResources;

use crate::error::{CgroupError, Result};
use crate::manager::CgroupManager;
use crate::oom::OomWatcher;
use crate::stats::Stats;
use crate::FreezerState;

/// Placeholder for a manager that would ask systemd over D-Bus to create a
/// transient scope.
#[derive(Debug, Clone)]
pub struct SystemdManager {
    path: String,
}

impl SystemdManager {
    /// Remembers the `slice:prefix:name` value for the error message.
    pub fn new(path: &str) -> Self {
        SystemdManager {
            path: path.to_string(),
        }
    }

    /// The `slice:prefix:name` value.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn err<T>(&self) -> Result<T> {
        Err(CgroupError::SystemdUnsupported {
            path: self.path.clone(),
        })
    }
}

impl CgroupManager for SystemdManager {
    fn create(&self) -> Result<()> {
        self.err()
    }
    fn add_task(&self, _pid: i32) -> Result<()> {
        self.err()
    }
    fn apply(&self, _resources: &LinuxResources) -> Result<()> {
        self.err()
    }
    fn freeze(&self) -> Result<()> {
        self.err()
    }
    fn thaw(&self) -> Result<()> {
        self.err()
    }
    fn freezer_state(&self) -> Result<FreezerState> {
        self.err()
    }
    fn pids(&self) -> Result<Vec<i32>> {
        self.err()
    }
    fn stats(&self) -> Result<Stats> {
        self.err()
    }
    fn oom_watcher(&self) -> Result<OomWatcher> {
        self.err()
    }
    fn oom_kill_count(&self) -> Result<u64> {
        self.err()
    }
    fn kill_all(&self, _signal: nix::sys::signal::Signal) -> Result<()> {
        self.err()
    }
    fn destroy(&self) -> Result<()> {
        self.err()
    }
    fn exists(&self) -> bool {
        false
    }
}
