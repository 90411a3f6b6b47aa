//! Pause/resume through v2 `cgroup.freeze`, confirmed by `cgroup.events`.

use std::path::Path;
use std::time::Duration;

use crate::common::{parse_flat_keyed, read_file, read_optional, wait_until, write_file};
use crate::error::{CgroupError, Result};
use crate::FreezerState;

fn frozen(dir: &Path) -> Result<bool> {
    let ev = parse_flat_keyed(&read_file(dir, "cgroup.events")?);
    Ok(ev.get("frozen").copied() == Some(1))
}

fn require(dir: &Path) -> Result<()> {
    if dir.join("cgroup.freeze").exists() {
        Ok(())
    } else {
        Err(CgroupError::unsupported(
            "pause",
            "the kernel has no cgroup.freeze (needs Linux 5.2)",
        ))
    }
}

/// Reads the state: `cgroup.events` says whether the tasks are frozen (by
/// this cgroup's `cgroup.freeze` or an ancestor's), `cgroup.freeze` whether
/// it was asked here. A cgroup that is gone, or a kernel without the v2
/// freezer, is thawed.
pub(crate) fn state(dir: &Path) -> Result<FreezerState> {
    let Some(asked) = read_optional(dir, "cgroup.freeze")? else {
        return Ok(FreezerState::Thawed);
    };
    Ok(match (asked.trim() == "1", frozen(dir)?) {
        (_, true) => FreezerState::Frozen,
        (true, false) => FreezerState::Freezing,
        (false, false) => FreezerState::Thawed,
    })
}

/// Freezes and waits until `cgroup.events` reports frozen.
pub(crate) fn freeze(dir: &Path) -> Result<()> {
    require(dir)?;
    write_file(dir, "cgroup.freeze", "1")?;
    let r = wait_until(Duration::from_secs(10), "frozen 1", dir, || frozen(dir));
    if r.is_err() {
        let _ = write_file(dir, "cgroup.freeze", "0");
    }
    r
}

/// Thaws and waits until `cgroup.events` no longer reports frozen.
pub(crate) fn thaw(dir: &Path) -> Result<()> {
    require(dir)?;
    write_file(dir, "cgroup.freeze", "0")?;
    wait_until(Duration::from_secs(10), "frozen 0", dir, || {
        Ok(!frozen(dir)?)
    })
}
