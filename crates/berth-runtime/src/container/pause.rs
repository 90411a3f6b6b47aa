//! `pause` and `resume`: freezing and thawing every process of the container.

use berth_cgroups::CgroupManager;

use super::{cgroup, Container};
use crate::state::Verb;
use crate::Result;

impl Container {
    /// Freezes the container's processes; never leaves it half-frozen.
    pub fn pause(&self) -> Result<()> {
        self.check(Verb::Pause)?;
        let m = cgroup::manager(&self.state)?;
        if let Err(e) = m.freeze() {
            let _ = m.thaw();
            return Err(e.into());
        }
        Ok(())
    }

    /// Thaws a paused container.
    pub fn resume(&self) -> Result<()> {
        self.check(Verb::Resume)?;
        Ok(cgroup::manager(&self.state)?.thaw()?)
    }
}
