//! Pause/resume through the v1 `freezer` controller's `freezer.state`.

use std::path::Path;
use std::time::Duration;

use crate::common::{read_optional, wait_until, write_file};
use crate::error::{CgroupError, Result};
use crate::FreezerState;

/// Reads `freezer.state`; a cgroup that is gone is not frozen.
pub(crate) fn state(dir: &Path) -> Result<FreezerState> {
    let Some(s) = read_optional(dir, "freezer.state")? else {
        return Ok(FreezerState::Thawed);
    };
    match s.trim() {
        "THAWED" => Ok(FreezerState::Thawed),
        "FREEZING" => Ok(FreezerState::Freezing),
        "FROZEN" => Ok(FreezerState::Frozen),
        other => Err(CgroupError::Parse {
            path: dir.join("freezer.state"),
            reason: format!("unknown state `{other}`"),
        }),
    }
}

/// Freezes and waits until every task is frozen. FREEZING can stall when a
/// task is busy in the kernel, so FROZEN is written again while waiting.
pub(crate) fn freeze(dir: &Path) -> Result<()> {
    write_file(dir, "freezer.state", "FROZEN")?;
    let r = wait_until(Duration::from_secs(10), "FROZEN", dir, || {
        if state(dir)? == FreezerState::Frozen {
            return Ok(true);
        }
        write_file(dir, "freezer.state", "FROZEN")?;
        Ok(false)
    });
    if r.is_err() {
        // Do not leave the container half frozen.
        let _ = write_file(dir, "freezer.state", "THAWED");
    }
    r
}

/// Thaws and waits until THAWED.
pub(crate) fn thaw(dir: &Path) -> Result<()> {
    write_file(dir, "freezer.state", "THAWED")?;
    wait_until(Duration::from_secs(10), "THAWED", dir, || {
        Ok(state(dir)? == FreezerState::Thawed)
    })
}
