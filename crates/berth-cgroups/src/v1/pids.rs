//! `linux.resources.pids` on the v1 `pids` controller.

use std::path::Path;

use oci_spec::runtime::LinuxPids;

use crate::common::{read_u64_optional, write_field};
use crate::error::Result;
use crate::stats::PidsStats;

/// The `pids.max` value for a spec limit: a positive number, else `max`.
fn max_value(limit: i64) -> String {
    if limit > 0 {
        limit.to_string()
    } else {
        "max".to_string()
    }
}

/// Writes `pids.max` in the cgroup `dir` (same file name on v1 and v2).
pub(crate) fn apply(dir: &Path, p: &LinuxPids) -> Result<()> {
    write_field(
        dir,
        "pids.max",
        &max_value(p.limit()),
        "linux.resources.pids.limit",
    )
}

/// Reads current tasks and the limit (0 when unlimited).
pub(crate) fn stats(dir: &Path) -> Result<PidsStats> {
    let limit = read_u64_optional(dir, "pids.max")?.unwrap_or(0);
    Ok(PidsStats {
        current: read_u64_optional(dir, "pids.current")?.unwrap_or(0),
        limit: if limit == u64::MAX { 0 } else { limit },
    })
}
