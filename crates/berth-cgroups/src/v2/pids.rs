//! `linux.resources.pids` on the v2 `pids` controller.

use std::path::Path;

use oci_spec::runtime::LinuxPids;

use crate::common::{read_u64_optional, write_field};
use crate::error::Result;
use crate::stats::PidsStats;

/// Writes `pids.max` (a positive limit, else `max`).
pub(crate) fn apply(dir: &Path, p: &LinuxPids) -> Result<()> {
    let v = if p.limit() > 0 {
        p.limit().to_string()
    } else {
        "max".to_string()
    };
    write_field(dir, "pids.max", &v, "linux.resources.pids.limit")
}

/// Reads current tasks and the limit (0 when unlimited).
pub(crate) fn stats(dir: &Path) -> Result<PidsStats> {
    let limit = read_u64_optional(dir, "pids.max")?.unwrap_or(0);
    Ok(PidsStats {
        current: read_u64_optional(dir, "pids.current")?.unwrap_or(0),
        limit: if limit == u64::MAX { 0 } else { limit },
    })
}
