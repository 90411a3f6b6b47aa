//! cgroup v2: one unified hierarchy; controllers are enabled for children
//! through each parent's `cgroup.subtree_control`.

pub mod cpu;
pub mod cpuset;
pub mod devices;
pub mod freezer;
pub mod hugetlb;
pub mod io;
pub mod memory;
pub mod pids;
pub mod rdma;
pub mod unified;

use std::fs::OpenOptions;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use oci_spec::runtime::LinuxResources;

use crate::common::{
    mkdir_levels, pids_recursive, read_optional, rmdir_tree, wait_until, write_file,
};
use crate::devices::rules_from_spec;
use crate::error::{CgroupError, Result};
use crate::manager::{signal_each, CgroupManager};
use crate::oom::{v2_oom_kills, OomWatcher};
use crate::stats::Stats;
use crate::FreezerState;

/// The cgroupfs v2 manager.
#[derive(Debug, Clone)]
pub struct V2Manager {
    root: PathBuf,
    dir: PathBuf,
    rel: PathBuf,
}

/// Enables every controller `dir` offers in its `cgroup.subtree_control`,
/// so its children get them. One write per controller: one that cannot be
/// enabled (e.g. `cpu` with realtime tasks around) must not block the rest;
/// a setting that needs it then fails in `apply`, naming the field.
fn enable_controllers(dir: &Path) -> Result<()> {
    let Some(available) = read_optional(dir, "cgroup.controllers")? else {
        return Ok(());
    };
    let enabled = read_optional(dir, "cgroup.subtree_control")?.unwrap_or_default();
    for c in controllers_to_enable(&available, &enabled) {
        let _ = write_file(dir, "cgroup.subtree_control", &format!("+{c}"));
    }
    Ok(())
}

/// The controllers listed in `available` but not in `enabled`.
pub(crate) fn controllers_to_enable<'a>(available: &'a str, enabled: &str) -> Vec<&'a str> {
    available
        .split_whitespace()
        .filter(|c| !enabled.split_whitespace().any(|e| e == *c))
        .collect()
}

impl V2Manager {
    /// The container's cgroup `rel` (relative) under the mount `root`.
    pub fn new(root: &Path, rel: &Path) -> V2Manager {
        V2Manager {
            root: root.to_path_buf(),
            dir: root.join(rel),
            rel: rel.to_path_buf(),
        }
    }

    /// The cgroup directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Opens the cgroup directory, e.g. for clone3's `CLONE_INTO_CGROUP`.
    pub fn open_dir(&self) -> Result<OwnedFd> {
        OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(&self.dir)
            .map(OwnedFd::from)
            .map_err(|e| CgroupError::io("open", &self.dir, e))
    }

    /// Controllers available in the cgroup (its parent enabled them).
    pub fn controllers(&self) -> Result<Vec<String>> {
        Ok(read_optional(&self.dir, "cgroup.controllers")?
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect())
    }

    fn require(&self, controllers: &[String], c: &str, field: &str) -> Result<&Path> {
        if controllers.iter().any(|x| x == c) {
            Ok(&self.dir)
        } else {
            Err(CgroupError::unsupported(
                field,
                format!("{c} controller not available in the cgroup"),
            ))
        }
    }

    fn apply_resources(&self, r: &LinuxResources) -> Result<()> {
        let ctl = self.controllers()?;
        if let Some(n) = r.network() {
            if n.class_id().is_some() {
                return Err(CgroupError::unsupported(
                    "linux.resources.network.classID",
                    "net_cls does not exist on cgroup v2",
                ));
            }
            if n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
                return Err(CgroupError::unsupported(
                    "linux.resources.network.priorities",
                    "net_prio does not exist on cgroup v2",
                ));
            }
        }
        if let Some(m) = r.memory().as_ref().filter(|m| memory::requested(m)) {
            memory::apply(self.require(&ctl, "memory", "linux.resources.memory")?, m)?;
        }
        if let Some(c) = r.cpu() {
            if cpu::requested(c) {
                cpu::apply(self.require(&ctl, "cpu", "linux.resources.cpu")?, c)?;
            }
            if cpuset::requested(c) {
                cpuset::apply(self.require(&ctl, "cpuset", "linux.resources.cpu.cpus")?, c)?;
            }
        }
        if let Some(p) = r.pids() {
            pids::apply(self.require(&ctl, "pids", "linux.resources.pids")?, p)?;
        }
        if let Some(b) = r.block_io().as_ref().filter(|b| io::requested(b)) {
            io::apply(self.require(&ctl, "io", "linux.resources.blockIO")?, b)?;
        }
        if let Some(h) = r.hugepage_limits().as_ref().filter(|h| !h.is_empty()) {
            hugetlb::apply(
                self.require(&ctl, "hugetlb", "linux.resources.hugepageLimits")?,
                h,
            )?;
        }
        if let Some(rd) = r.rdma().as_ref().filter(|r| !r.is_empty()) {
            rdma::apply(self.require(&ctl, "rdma", "linux.resources.rdma")?, rd)?;
        }
        if let Some(u) = r.unified().as_ref().filter(|u| !u.is_empty()) {
            unified::apply(&self.dir, u)?;
        }
        // Last: a failure above leaves device access unchanged.
        if let Some(devs) = r.devices() {
            let rules = rules_from_spec(devs)?;
            devices::apply(&self.dir, &rules).map_err(|e| e.in_field("linux.resources.devices"))?;
        }
        Ok(())
    }
}

impl CgroupManager for V2Manager {
    fn create(&self) -> Result<()> {
        enable_controllers(&self.root)?;
        let leaf = self.dir.clone();
        mkdir_levels(&self.root, &self.rel, |level| {
            // Intermediate levels pass controllers down; the leaf holds the
            // processes, and a cgroup with both is refused by the kernel.
            if level != leaf {
                enable_controllers(level)?;
            }
            Ok(())
        })
    }

    fn add_task(&self, pid: i32) -> Result<()> {
        write_file(&self.dir, "cgroup.procs", &pid.to_string())
    }

    fn apply(&self, resources: &LinuxResources) -> Result<()> {
        self.apply_resources(resources)
    }

    fn freeze(&self) -> Result<()> {
        freezer::freeze(&self.dir)
    }

    fn thaw(&self) -> Result<()> {
        freezer::thaw(&self.dir)
    }

    fn freezer_state(&self) -> Result<FreezerState> {
        freezer::state(&self.dir)
    }

    fn pids(&self) -> Result<Vec<i32>> {
        pids_recursive(&self.dir)
    }

    fn stats(&self) -> Result<Stats> {
        let (usage, throttling) = cpu::stats(&self.dir)?;
        let mut s = Stats::default();
        s.cpu.usage = usage;
        s.cpu.throttling = throttling;
        s.memory = memory::stats(&self.dir)?;
        s.pids = pids::stats(&self.dir)?;
        s.blkio = io::stats(&self.dir)?;
        s.hugetlb = hugetlb::stats(&self.dir)?.into_iter().collect();
        Ok(s)
    }

    fn oom_watcher(&self) -> Result<OomWatcher> {
        OomWatcher::v2(&self.dir)
    }

    fn oom_kill_count(&self) -> Result<u64> {
        Ok(v2_oom_kills(&self.dir)?.unwrap_or(0))
    }

    /// SIGKILL uses `cgroup.kill` (Linux 5.14), which cannot race with fork.
    fn kill_all(&self, signal: Signal) -> Result<()> {
        if signal == Signal::SIGKILL && self.dir.join("cgroup.kill").exists() {
            return write_file(&self.dir, "cgroup.kill", "1");
        }
        signal_each(&self.pids()?, signal, &self.dir)
    }

    fn destroy(&self) -> Result<()> {
        if !self.exists() {
            return Ok(());
        }
        if self.freezer_state()? != FreezerState::Thawed {
            self.thaw()?;
        }
        if !self.pids()?.is_empty() {
            self.kill_all(Signal::SIGKILL)?;
            wait_until(Duration::from_secs(5), "an empty cgroup", &self.dir, || {
                Ok(self.pids()?.is_empty())
            })?;
        }
        rmdir_tree(&self.dir)
    }

    fn exists(&self) -> bool {
        self.dir.is_dir()
    }
}

#[cfg(test)]
mod tests;
