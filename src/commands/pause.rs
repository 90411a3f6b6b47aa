//! `berth pause` and `berth resume`.

use berth_runtime::cgroups;
use berth_runtime::container::Container;
use berth_runtime::state::Status;

use crate::cli::Global;

pub fn pause(g: &Global, id: &str) -> anyhow::Result<i32> {
    let c = Container::load_locked(&g.root, id)?;
    match c.status() {
        Status::Running | Status::Created => {}
        Status::Paused => anyhow::bail!("container {id} is already paused"),
        Status::Stopped => anyhow::bail!("container not running"),
    }
    if let Err(e) = cgroups::freeze(&c.state.cgroups_path) {
        // Never leave a half-frozen container behind.
        let _ = cgroups::thaw(&c.state.cgroups_path);
        return Err(e.into());
    }
    Ok(0)
}

pub fn resume(g: &Global, id: &str) -> anyhow::Result<i32> {
    let c = Container::load_locked(&g.root, id)?;
    if c.status() != Status::Paused {
        anyhow::bail!("container {id} is not paused");
    }
    cgroups::thaw(&c.state.cgroups_path)?;
    Ok(0)
}
