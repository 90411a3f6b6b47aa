//! Pause/resume through the v1 `freezer` controller's `freezer.state`.

use std::path::Path;
use std::time::Duration;

use crate::common::{read_optional, wait_until, write_file};
use crate::error::{CgroupError, Result};
use crate::FreezerState;

/// Reads `freezer.state`; a cgroup that is gone is not frozen.
pub(crate) fn state(dir: &Path) -> Result<FreezerState> {
    Ok(state_if_exists(dir)?.unwrap_or(FreezerState::Thawed))
}

/// The kernel's name of a state.
pub(crate) fn name(s: FreezerState) -> &'static str {
    match s {
        FreezerState::Thawed => "THAWED",
        FreezerState::Freezing => "FREEZING",
        FreezerState::Frozen => "FROZEN",
    }
}

/// Reads `freezer.state`, or `None` if `dir` is no cgroup (missing, or a
/// file on the way).
pub(crate) fn state_if_exists(dir: &Path) -> Result<Option<FreezerState>> {
    let s = match read_optional(dir, "freezer.state") {
        Ok(Some(s)) => s,
        Ok(None) => return Ok(None),
        Err(e) if e.errno() == Some(nix::errno::Errno::ENOTDIR) => return Ok(None),
        Err(e) => return Err(e),
    };
    match s.trim() {
        "THAWED" => Ok(Some(FreezerState::Thawed)),
        "FREEZING" => Ok(Some(FreezerState::Freezing)),
        "FROZEN" => Ok(Some(FreezerState::Frozen)),
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
