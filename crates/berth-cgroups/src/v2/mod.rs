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

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::sys::signal::Signal;
use oci_spec::runtime::LinuxResources;

use crate::common::{
    mkdir_p, parse_flat_keyed, pids_recursive, read_optional, rmdir_if_idle, rmdir_made,
    rmdir_tree, wait_until, write_file,
};
use crate::devices::rules_from_spec;
use crate::error::{CgroupError, Result};
use crate::manager::{signal_each, CgroupManager};
use crate::oom::{v2_oom_kills, OomWatcher};
use crate::stats::Stats;
use crate::FreezerState;

/// The cgroupfs v2 manager.
#[derive(Debug)]
pub struct V2Manager {
    root: PathBuf,
    dir: PathBuf,
    rel: PathBuf,
    /// Set when `create` made the leaf in this process: no device program
    /// can be attached to it yet, so the first `apply` skips the query.
    fresh: AtomicBool,
}

impl Clone for V2Manager {
    fn clone(&self) -> Self {
        V2Manager {
            root: self.root.clone(),
            dir: self.dir.clone(),
            rel: self.rel.clone(),
            fresh: AtomicBool::new(self.fresh.load(Ordering::Relaxed)),
        }
    }
}

/// Enables every controller `dir` offers for its children, and returns the
/// ones enabled. Reads the level (it was made by someone else, or is the
/// root); see [`enable_these`].
fn enable_controllers(dir: &Path) -> Result<Vec<String>> {
    let Some(available) = read_optional(dir, "cgroup.controllers")? else {
        return Ok(Vec::new());
    };
    let enabled = read_optional(dir, "cgroup.subtree_control")?.unwrap_or_default();
    let missing = controllers_to_enable(&available, &enabled);
    let mut now: Vec<String> = enabled.split_whitespace().map(str::to_string).collect();
    now.extend(enable_these(dir, &missing));
    Ok(now)
}

/// Writes `+c` for each of `controllers` to `dir`'s `cgroup.subtree_control`
/// and returns the ones that took. One write for all of them; if the kernel
/// refuses that (e.g. `cpu` with realtime tasks around), one write each, so
/// one controller cannot block the rest: a setting that needs it then fails
/// in `apply`, naming the field.
fn enable_these<S: AsRef<str>>(dir: &Path, controllers: &[S]) -> Vec<String> {
    let all: Vec<String> = controllers.iter().map(|c| c.as_ref().to_string()).collect();
    if all.is_empty() {
        return all;
    }
    let line = all
        .iter()
        .map(|c| format!("+{c}"))
        .collect::<Vec<_>>()
        .join(" ");
    if write_file(dir, "cgroup.subtree_control", &line).is_ok() {
        return all;
    }
    all.into_iter()
        .filter(|c| write_file(dir, "cgroup.subtree_control", &format!("+{c}")).is_ok())
        .collect()
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
            fresh: AtomicBool::new(false),
        }
    }

    /// The cgroup directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Opens the cgroup directory, e.g. for clone3's `CLONE_INTO_CGROUP`.
    pub fn open_dir(&self) -> Result<OwnedFd> {
        crate::common::open_dir(&self.dir)
    }

    /// Controllers available in the cgroup (its parent enabled them).
    pub fn controllers(&self) -> Result<Vec<String>> {
        Ok(read_optional(&self.dir, "cgroup.controllers")?
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect())
    }

    /// The cgroup directory if controller `c` is available in it. A level
    /// above that did not pass `c` down (`create` trusts existing parents)
    /// gets it enabled now, from the root down.
    fn require(&self, controllers: &mut Vec<String>, c: &str, field: &str) -> Result<&Path> {
        if controllers.iter().any(|x| x == c) {
            return Ok(&self.dir);
        }
        let mut level = self.root.clone();
        let mut ok = true;
        for comp in self.rel.components() {
            ok = ok && enable_these(&level, &[c]).len() == 1;
            level.push(comp);
        }
        if ok {
            controllers.push(c.to_string());
            Ok(&self.dir)
        } else {
            Err(CgroupError::unsupported(
                field,
                format!("{c} controller not available in the cgroup"),
            ))
        }
    }

    /// Makes the directories, appending what it made to `made`. Levels
    /// made here pass every controller down. The parent of the topmost new
    /// level is read and set up when it is the root or when levels above the
    /// leaf are new; an existing parent of a new leaf is trusted (it was set
    /// up when it was made) and [`Self::require`] fixes it if a field needs
    /// a controller it lacks.
    fn create_in(&self, made: &mut Vec<PathBuf>) -> Result<()> {
        mkdir_p(&self.root, &self.dir, made)?;
        let leaf_new = made.last() == Some(&self.dir);
        self.fresh.store(leaf_new, Ordering::Relaxed);
        // A new cgroup under a frozen one is frozen too, and so would be the
        // init: refuse rather than hang (also without `check_usable`).
        let events = read_optional(&self.dir, "cgroup.events")?.unwrap_or_default();
        let state = if parse_flat_keyed(&events).get("frozen") == Some(&1) {
            Some("FROZEN")
        } else if !leaf_new
            && read_optional(&self.dir, "cgroup.freeze")?.is_some_and(|f| f.trim() == "1")
        {
            Some("FREEZING")
        } else {
            None
        };
        if let Some(state) = state {
            return Err(CgroupError::Frozen {
                path: self.dir.clone(),
                state,
            });
        }
        let Some(parent) = made.first().and_then(|top| top.parent()) else {
            return Ok(());
        };
        let new_parents = &made[..made.len() - usize::from(leaf_new)];
        if parent != self.root && new_parents.is_empty() {
            return Ok(());
        }
        let mut enabled = enable_controllers(parent)?;
        // The leaf holds the processes, and a cgroup with both is refused by
        // the kernel: it passes nothing down.
        for level in new_parents {
            enabled = enable_these(level, &enabled);
        }
        Ok(())
    }

    /// Before `create`: refuses a target cgroup that is frozen or freezing
    /// (or whose parent is), and returns the processes already in it.
    pub fn check_usable(&self) -> Result<Vec<i32>> {
        let mut level = self.dir.as_path();
        while level != self.root && level.starts_with(&self.root) {
            let events = match read_optional(level, "cgroup.events") {
                Ok(ev) => ev,
                Err(e) if e.errno() == Some(nix::errno::Errno::ENOTDIR) => None,
                Err(e) => return Err(e),
            };
            if let Some(ev) = events {
                let frozen = parse_flat_keyed(&ev).get("frozen") == Some(&1);
                let state = if frozen {
                    Some("FROZEN")
                } else if level == self.dir
                    && read_optional(level, "cgroup.freeze")?.is_some_and(|f| f.trim() == "1")
                {
                    Some("FREEZING")
                } else {
                    None
                };
                if let Some(state) = state {
                    return Err(CgroupError::Frozen {
                        path: level.to_path_buf(),
                        state,
                    });
                }
                return if level == self.dir {
                    pids_recursive(&self.dir)
                } else {
                    Ok(Vec::new())
                };
            }
            level = level.parent().unwrap_or(&self.root);
        }
        Ok(Vec::new())
    }

    fn apply_resources(&self, r: &LinuxResources) -> Result<()> {
        let mut ctl = self.controllers()?;
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
            memory::apply(
                self.require(&mut ctl, "memory", "linux.resources.memory")?,
                m,
            )?;
        }
        if let Some(c) = r.cpu() {
            if cpu::requested(c) {
                cpu::apply(self.require(&mut ctl, "cpu", "linux.resources.cpu")?, c)?;
            }
            if cpuset::requested(c) {
                cpuset::apply(
                    self.require(&mut ctl, "cpuset", "linux.resources.cpu.cpus")?,
                    c,
                )?;
            }
        }
        if let Some(p) = r.pids() {
            pids::apply(self.require(&mut ctl, "pids", "linux.resources.pids")?, p)?;
        }
        if let Some(b) = r.block_io().as_ref().filter(|b| io::requested(b)) {
            io::apply(self.require(&mut ctl, "io", "linux.resources.blockIO")?, b)?;
        }
        if let Some(h) = r.hugepage_limits().as_ref().filter(|h| !h.is_empty()) {
            hugetlb::apply(
                self.require(&mut ctl, "hugetlb", "linux.resources.hugepageLimits")?,
                h,
            )?;
        }
        if let Some(rd) = r.rdma().as_ref().filter(|r| !r.is_empty()) {
            rdma::apply(self.require(&mut ctl, "rdma", "linux.resources.rdma")?, rd)?;
        }
        if let Some(u) = r.unified().as_ref().filter(|u| !u.is_empty()) {
            unified::apply(&self.dir, u)?;
        }
        // Last: a failure above leaves device access unchanged.
        if let Some(devs) = r.devices() {
            let rules = rules_from_spec(devs)?;
            let fresh = self.fresh.swap(false, Ordering::Relaxed);
            devices::apply(&self.dir, &rules, !fresh)
                .map_err(|e| e.in_field("linux.resources.devices"))?;
        }
        Ok(())
    }
}

impl CgroupManager for V2Manager {
    /// Makes the cgroup and its missing parents; on failure removes what it
    /// made.
    fn create(&self) -> Result<()> {
        let mut made = Vec::new();
        let r = self.create_in(&mut made);
        if r.is_err() {
            rmdir_made(&made);
        }
        r
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

    /// One rmdir when the tasks are gone (the usual `delete` after the init
    /// exited); else thaw, kill, wait, and remove.
    fn destroy(&self) -> Result<()> {
        if rmdir_if_idle(&self.dir)? {
            return Ok(());
        }
        // Frozen tasks still die of SIGKILL on v2, and `cgroup.kill` reaches
        // them: thawing first is only for a container that stays around.
        if read_optional(&self.dir, "cgroup.freeze")?.is_some_and(|f| f.trim() == "1") {
            write_file(&self.dir, "cgroup.freeze", "0")?;
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
