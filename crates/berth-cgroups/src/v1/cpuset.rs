//! `linux.resources.cpu.cpus` / `.mems` on the v1 `cpuset` controller.

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::common::{read_file, write_field, write_file};
use crate::error::Result;

/// True if cpus or mems is set.
pub(crate) fn requested(c: &LinuxCpu) -> bool {
    c.cpus().is_some() || c.mems().is_some()
}

/// A new v1 cpuset starts with empty cpus and mems, and a task cannot join
/// it until both are set: copy them from the parent when empty.
pub(crate) fn inherit_from_parent(dir: &Path) -> Result<()> {
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    for file in ["cpuset.cpus", "cpuset.mems"] {
        if read_file(dir, file)?.trim().is_empty() {
            let v = read_file(parent, file)?;
            write_file(dir, file, v.trim())?;
        }
    }
    Ok(())
}

/// Writes cpus and mems into the cgroup `dir`.
pub(crate) fn apply(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(cpus) = c.cpus() {
        write_field(dir, "cpuset.cpus", cpus, "linux.resources.cpu.cpus")?;
    }
    if let Some(mems) = c.mems() {
        write_field(dir, "cpuset.mems", mems, "linux.resources.cpu.mems")?;
    }
    Ok(())
}
