//! cgroup v1 (legacy and hybrid hosts): a hierarchy per controller or per
//! group of co-mounted controllers (`cpu,cpuacct`), found in mountinfo
//! ([`Hierarchies`]); the container gets the same relative path in each,
//! in systemd's named hierarchy, and on hybrid hosts in the cgroup2 one.

pub mod blkio;
pub mod cpu;
pub mod cpuacct;
pub mod cpuset;
pub mod devices;
pub mod freezer;
pub mod hugetlb;
pub mod memory;
pub mod net_cls;
pub mod net_prio;
pub mod pids;
pub mod rdma;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use oci_spec::runtime::LinuxResources;

use crate::common::{
    mkdir_p, pids_recursive, rmdir_if_idle, rmdir_made, rmdir_tree, wait_until, write_file,
};
use crate::devices::rules_from_spec;
use crate::error::{CgroupError, Result};
use crate::hierarchy::Hierarchies;
use crate::manager::{signal_each, CgroupManager};
use crate::oom::OomWatcher;
use crate::stats::Stats;
use crate::FreezerState;

/// A v1 controller (one hierarchy each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controller {
    /// `cpu`: shares, CFS and RT bandwidth.
    Cpu,
    /// `cpuacct`: CPU usage accounting.
    Cpuacct,
    /// `cpuset`: CPUs and memory nodes.
    Cpuset,
    /// `memory`.
    Memory,
    /// `devices`: device access allowlist.
    Devices,
    /// `freezer`: pause/resume.
    Freezer,
    /// `pids`: task count limit.
    Pids,
    /// `blkio`: block I/O weight and throttling.
    Blkio,
    /// `hugetlb`: huge page limits.
    Hugetlb,
    /// `net_cls`: packet class id.
    NetCls,
    /// `net_prio`: per-interface priority.
    NetPrio,
    /// `rdma`: RDMA resources.
    Rdma,
}

impl Controller {
    /// Every controller berth manages.
    pub const ALL: [Controller; 12] = [
        Controller::Cpu,
        Controller::Cpuacct,
        Controller::Cpuset,
        Controller::Memory,
        Controller::Devices,
        Controller::Freezer,
        Controller::Pids,
        Controller::Blkio,
        Controller::Hugetlb,
        Controller::NetCls,
        Controller::NetPrio,
        Controller::Rdma,
    ];

    /// The hierarchy's directory name under the mount root.
    pub fn name(self) -> &'static str {
        match self {
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Cpuset => "cpuset",
            Controller::Memory => "memory",
            Controller::Devices => "devices",
            Controller::Freezer => "freezer",
            Controller::Pids => "pids",
            Controller::Blkio => "blkio",
            Controller::Hugetlb => "hugetlb",
            Controller::NetCls => "net_cls",
            Controller::NetPrio => "net_prio",
            Controller::Rdma => "rdma",
        }
    }
}

/// The cgroupfs v1 manager.
#[derive(Debug, Clone)]
pub struct V1Manager {
    hier: Arc<Hierarchies>,
    rel: PathBuf,
}

impl V1Manager {
    /// The container's cgroup `rel` (relative to each mount point) on the
    /// host `hier`.
    pub fn new(hier: Arc<Hierarchies>, rel: &Path) -> V1Manager {
        V1Manager {
            hier,
            rel: rel.to_path_buf(),
        }
    }

    /// True if the controller's hierarchy is mounted (per mountinfo).
    pub fn is_mounted(&self, c: Controller) -> bool {
        self.hier.v1_mount(c.name()).is_some()
    }

    /// The container's directory in controller `c`'s hierarchy, if mounted.
    /// Co-mounted controllers (`cpu,cpuacct`) share one.
    pub fn dir(&self, c: Controller) -> Option<PathBuf> {
        self.hier.v1_mount(c.name()).map(|m| m.join(&self.rel))
    }

    /// Every directory of the container's cgroup: one per v1 hierarchy
    /// holding a controller, one in systemd's named hierarchy, and on a
    /// hybrid host one in the cgroup2 hierarchy. runc and crun place their
    /// init in all of these, and `exec` joins them all.
    pub fn dirs(&self) -> Vec<PathBuf> {
        self.hier
            .v1()
            .iter()
            .filter(|h| h.joined())
            .map(|h| h.mount_point.join(&self.rel))
            .chain(self.hier.unified().map(|u| u.join(&self.rel)))
            .collect()
    }

    /// Makes the directories, appending what it made to `made`.
    fn create_in(&self, made: &mut Vec<PathBuf>) -> Result<()> {
        let mut any = false;
        for h in self.hier.v1().iter().filter(|h| h.joined()) {
            any = true;
            let dir = h.mount_point.join(&self.rel);
            let first_new = made.len();
            mkdir_p(&h.mount_point, &dir, made)?;
            if h.has(Controller::Cpuset.name()) {
                for level in &made[first_new..] {
                    cpuset::init_new_level(level, &h.mount_point, *level == dir)?;
                }
            }
        }
        if !any {
            return Err(CgroupError::NoHierarchy {
                root: self.hier.root().to_path_buf(),
            });
        }
        if let Some(u) = self.hier.unified() {
            // As runc: the init is placed here too, with no controller enabled.
            mkdir_p(u, &u.join(&self.rel), made)?;
        }
        // A new cgroup under a frozen one is frozen too, and so would be the
        // init: refuse rather than hang (also without `check_usable`).
        if let Some(fz) = self.hier.v1_mount(Controller::Freezer.name()) {
            let leaf = fz.join(&self.rel);
            match freezer::state_if_exists(&leaf)? {
                Some(state) if state != FreezerState::Thawed => {
                    return Err(CgroupError::Frozen {
                        path: leaf,
                        state: freezer::name(state),
                    })
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The container's directory in the cgroup2 hierarchy of a hybrid host,
    /// opened for clone3's `CLONE_INTO_CGROUP`; `None` on a legacy host.
    pub fn open_unified_dir(&self) -> Result<Option<std::os::fd::OwnedFd>> {
        let Some(u) = self.hier.unified() else {
            return Ok(None);
        };
        crate::common::open_dir(&u.join(&self.rel)).map(Some)
    }

    /// See [`crate::Manager::join_self`] (which checks that the caller is
    /// single-threaded).
    pub fn join_self(&self, born_in_cgroup2: bool) -> Result<()> {
        for h in self.hier.v1().iter().filter(|h| h.joined()) {
            write_file(&h.mount_point.join(&self.rel), "tasks", "0")?;
        }
        match self.hier.unified() {
            Some(u) if !born_in_cgroup2 => write_file(&u.join(&self.rel), "cgroup.procs", "0"),
            _ => Ok(()),
        }
    }

    /// Before `create`: refuses a target cgroup that is frozen or freezing
    /// (or whose parent is), and returns the processes already in it.
    pub fn check_usable(&self) -> Result<Vec<i32>> {
        let mut leaf_exists = None;
        if let Some(mount) = self.hier.v1_mount(Controller::Freezer.name()) {
            let leaf = mount.join(&self.rel);
            let mut level = leaf.as_path();
            loop {
                if let Some(state) = freezer::state_if_exists(level)? {
                    leaf_exists = Some(level == leaf);
                    if state != FreezerState::Thawed {
                        return Err(CgroupError::Frozen {
                            path: level.to_path_buf(),
                            state: freezer::name(state),
                        });
                    }
                    break;
                }
                match level.parent() {
                    Some(p) if level != mount => level = p,
                    _ => break,
                }
            }
        }
        let task_dir = self.task_dir()?;
        if leaf_exists.unwrap_or_else(|| crate::at::is_dir(&task_dir)) {
            pids_recursive(&task_dir)
        } else {
            Ok(Vec::new())
        }
    }

    /// The container's directory for `field`, or an error naming it.
    fn require(&self, c: Controller, field: &str) -> Result<PathBuf> {
        self.dir(c).ok_or_else(|| {
            CgroupError::unsupported(field, format!("{} controller not mounted", c.name()))
        })
    }

    /// The hierarchy used to list tasks.
    fn task_dir(&self) -> Result<PathBuf> {
        [
            Controller::Pids,
            Controller::Freezer,
            Controller::Memory,
            Controller::Cpu,
            Controller::Devices,
        ]
        .into_iter()
        .find_map(|c| self.dir(c))
        .ok_or_else(|| CgroupError::unsupported("cgroups", "no v1 controller is mounted"))
    }

    fn apply_resources(&self, r: &LinuxResources) -> Result<()> {
        if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
            return Err(CgroupError::unsupported(
                "linux.resources.unified",
                "needs cgroup v2, but this host uses cgroup v1",
            ));
        }
        if let Some(devs) = r.devices() {
            let rules = rules_from_spec(devs)?;
            devices::apply(
                &self.require(Controller::Devices, "linux.resources.devices")?,
                &rules,
            )?;
        }
        if let Some(m) = r.memory().as_ref().filter(|m| memory::requested(m)) {
            memory::apply(
                &self.require(Controller::Memory, "linux.resources.memory")?,
                m,
            )?;
        }
        if let Some(c) = r.cpu() {
            if cpu::requested(c) {
                cpu::apply(&self.require(Controller::Cpu, "linux.resources.cpu")?, c)?;
            }
            if cpuset::requested(c) {
                cpuset::apply(
                    &self.require(Controller::Cpuset, "linux.resources.cpu.cpus")?,
                    c,
                )?;
            }
        }
        if let Some(p) = r.pids() {
            pids::apply(&self.require(Controller::Pids, "linux.resources.pids")?, p)?;
        }
        if let Some(b) = r.block_io().as_ref().filter(|b| blkio::requested(b)) {
            blkio::apply(
                &self.require(Controller::Blkio, "linux.resources.blockIO")?,
                b,
            )?;
        }
        if let Some(h) = r.hugepage_limits().as_ref().filter(|h| !h.is_empty()) {
            hugetlb::apply(
                &self.require(Controller::Hugetlb, "linux.resources.hugepageLimits")?,
                h,
            )?;
        }
        if let Some(n) = r.network() {
            if let Some(id) = n.class_id() {
                net_cls::apply(
                    &self.require(Controller::NetCls, "linux.resources.network.classID")?,
                    id,
                )?;
            }
            if let Some(p) = n.priorities().as_ref().filter(|p| !p.is_empty()) {
                let dir =
                    self.require(Controller::NetPrio, "linux.resources.network.priorities")?;
                net_prio::apply(&dir, p)?;
            }
        }
        if let Some(rd) = r.rdma().as_ref().filter(|r| !r.is_empty()) {
            rdma::apply(&self.require(Controller::Rdma, "linux.resources.rdma")?, rd)?;
        }
        Ok(())
    }
}

impl CgroupManager for V1Manager {
    /// Makes the path in every hierarchy; refuses a frozen result; on
    /// failure removes what it made.
    fn create(&self) -> Result<()> {
        let mut made = Vec::new();
        let r = self.create_in(&mut made);
        if r.is_err() {
            rmdir_made(&made);
        }
        r
    }

    fn add_task(&self, pid: i32) -> Result<()> {
        let pid = pid.to_string();
        for dir in self.dirs() {
            write_file(&dir, "cgroup.procs", &pid)?;
        }
        Ok(())
    }

    fn apply(&self, resources: &LinuxResources) -> Result<()> {
        self.apply_resources(resources)
    }

    fn freeze(&self) -> Result<()> {
        freezer::freeze(&self.require(Controller::Freezer, "pause")?)
    }

    fn thaw(&self) -> Result<()> {
        freezer::thaw(&self.require(Controller::Freezer, "resume")?)
    }

    fn freezer_state(&self) -> Result<FreezerState> {
        match self.dir(Controller::Freezer) {
            Some(dir) => freezer::state(&dir),
            None => Ok(FreezerState::Thawed),
        }
    }

    fn pids(&self) -> Result<Vec<i32>> {
        pids_recursive(&self.task_dir()?)
    }

    fn stats(&self) -> Result<Stats> {
        let mut s = Stats::default();
        if let Some(d) = self.dir(Controller::Cpuacct) {
            s.cpu.usage = cpuacct::usage(&d)?;
        }
        if let Some(d) = self.dir(Controller::Cpu) {
            s.cpu.throttling = cpu::throttling(&d)?;
        }
        if let Some(d) = self.dir(Controller::Memory) {
            s.memory = memory::stats(&d)?;
        }
        if let Some(d) = self.dir(Controller::Pids) {
            s.pids = pids::stats(&d)?;
        }
        if let Some(d) = self.dir(Controller::Blkio) {
            s.blkio = blkio::stats(&d)?;
        }
        if let Some(d) = self.dir(Controller::Hugetlb) {
            s.hugetlb = hugetlb::stats(&d)?.into_iter().collect();
        }
        Ok(s)
    }

    fn oom_watcher(&self) -> Result<OomWatcher> {
        OomWatcher::v1(&self.require(Controller::Memory, "events")?)
    }

    fn oom_kill_count(&self) -> Result<u64> {
        memory::oom_kill_count(&self.require(Controller::Memory, "events")?)
    }

    /// Freezes first (when the freezer is mounted) so no task can fork
    /// away from the signal, then thaws so the signal is delivered.
    fn kill_all(&self, signal: Signal) -> Result<()> {
        let dir = self.task_dir()?;
        let frozen = self.dir(Controller::Freezer).is_some() && self.freeze().is_ok();
        let r = self.pids().and_then(|p| signal_each(&p, signal, &dir));
        if frozen {
            self.thaw()?;
        }
        r
    }

    /// One rmdir per hierarchy when the tasks are gone (the usual `delete`
    /// after the init exited); else thaw, kill, wait, and remove.
    fn destroy(&self) -> Result<()> {
        let dir = self.task_dir()?;
        if rmdir_if_idle(&dir)? {
            for d in self.dirs() {
                rmdir_tree(&d)?;
            }
            return Ok(());
        }
        if self.freezer_state()? != FreezerState::Thawed {
            self.thaw()?;
        }
        if !self.pids()?.is_empty() {
            self.kill_all(Signal::SIGKILL)?;
            wait_until(Duration::from_secs(5), "an empty cgroup", &dir, || {
                Ok(self.pids()?.is_empty())
            })?;
        }
        for dir in self.dirs() {
            rmdir_tree(&dir)?;
        }
        Ok(())
    }

    fn exists(&self) -> bool {
        self.dirs().iter().any(|d| crate::at::is_dir(d))
    }
}

#[cfg(test)]
mod tests;
