//! `linux.resources.cpu.cpus` / `.mems` on the v1 `cpuset` controller.

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::common::{read_file, write_field, write_file};
use crate::error::Result;

/// True if cpus or mems is set.
pub(crate) fn requested(c: &LinuxCpu) -> bool {
    c.cpus().is_some() || c.mems().is_some()
}

/// A new v1 cpuset starts with empty cpus and mems, and no task can join
/// it until both are set. Called for each level `create` made, top-down
/// (`top` is the mount point). The kernel has already copied them if the
/// parent has `cgroup.clone_children` set; else they are copied from the
/// parent here, and a new intermediate level gets `cgroup.clone_children`
/// so that the next container under it costs one read.
pub(crate) fn init_new_level(dir: &Path, top: &Path, leaf: bool) -> Result<()> {
    if !read_file(dir, "cpuset.cpus")?.trim().is_empty() {
        return Ok(());
    }
    let (cpus, mems) = usable_parent_values(dir, top)?;
    write_file(dir, "cpuset.cpus", &cpus)?;
    write_file(dir, "cpuset.mems", &mems)?;
    if !leaf {
        write_file(dir, "cgroup.clone_children", "1")?;
    }
    Ok(())
}

/// The cpus and mems of `dir`'s parent. A parent made by someone else and
/// left empty is filled from its own parent first (as runc does), else no
/// task could join anything below it.
fn usable_parent_values(dir: &Path, top: &Path) -> Result<(String, String)> {
    let Some(parent) = dir.parent() else {
        return Ok((String::new(), String::new()));
    };
    let cpus = read_file(parent, "cpuset.cpus")?.trim().to_string();
    let mems = read_file(parent, "cpuset.mems")?.trim().to_string();
    if (!cpus.is_empty() && !mems.is_empty()) || parent == top || !parent.starts_with(top) {
        return Ok((cpus, mems));
    }
    let (up_cpus, up_mems) = usable_parent_values(parent, top)?;
    let cpus = if cpus.is_empty() { up_cpus } else { cpus };
    let mems = if mems.is_empty() { up_mems } else { mems };
    write_file(parent, "cpuset.cpus", &cpus)?;
    write_file(parent, "cpuset.mems", &mems)?;
    Ok((cpus, mems))
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
