//! `linux.resources.cpu.cpus` / `.mems` on the v2 `cpuset` controller.

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::common::write_field;
use crate::error::Result;

/// True if cpus or mems is set.
pub(crate) fn requested(c: &LinuxCpu) -> bool {
    c.cpus().is_some() || c.mems().is_some()
}

/// Writes `cpuset.cpus` and `cpuset.mems`.
pub(crate) fn apply(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(cpus) = c.cpus() {
        write_field(dir, "cpuset.cpus", cpus, "linux.resources.cpu.cpus")?;
    }
    if let Some(mems) = c.mems() {
        write_field(dir, "cpuset.mems", mems, "linux.resources.cpu.mems")?;
    }
    Ok(())
}
