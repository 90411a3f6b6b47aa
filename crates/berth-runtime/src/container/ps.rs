//! `ps`: the container's processes.

use berth_cgroups::CgroupManager;

use super::{cgroup, Container};
use crate::state::Status;
use crate::Result;

impl Container {
    /// The pids (on the host) of the container's processes: its cgroup's, or the init alone
    /// when it has no cgroup of its own. None once it stopped.
    pub fn pids(&self) -> Result<Vec<i32>> {
        if self.status() == Status::Stopped {
            return Ok(Vec::new());
        }
        let m = cgroup::manager(&self.state)?;
        if m.exists() {
            return Ok(m.pids()?);
        }
        Ok(vec![self.state.pid])
    }
}
