//! The [`CgroupManager`] trait and the [`Manager`] enum that picks the
//! implementation for this host.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::sys::signal::Signal;
use oci_spec::runtime::LinuxResources;

use crate::error::{CgroupError, Result};
use crate::oom::OomWatcher;
use crate::path::CgroupsPath;
use crate::stats::Stats;
use crate::systemd::{Instance, SystemdManager};
use crate::v1::V1Manager;
use crate::v2::V2Manager;
use crate::{detect_at, CgroupMode, FreezerState, DEFAULT_ROOT};

/// What every cgroup driver can do for one container.
pub trait CgroupManager {
    /// Creates the cgroup (and missing parents) and prepares it for tasks.
    fn create(&self) -> Result<()>;
    /// Creates the cgroup with `pid` in it and `resources` applied: the
    /// only way for the systemd driver, whose scope cannot exist without a
    /// process; create, apply and add_task in turn for the others.
    fn create_with_pid(&self, pid: i32, resources: &LinuxResources) -> Result<()> {
        self.create()?;
        self.apply(resources)?;
        self.add_task(pid)
    }
    /// Moves the process `pid` (all its threads) into the cgroup.
    fn add_task(&self, pid: i32) -> Result<()>;
    /// Applies `linux.resources`; used by create and by `update`. A field
    /// this host cannot honour is an error naming the field.
    fn apply(&self, resources: &LinuxResources) -> Result<()>;
    /// Freezes every task and returns once they are frozen.
    fn freeze(&self) -> Result<()>;
    /// Thaws every task.
    fn thaw(&self) -> Result<()>;
    /// Reads the freezer state.
    fn freezer_state(&self) -> Result<FreezerState>;
    /// Pids of the processes in the cgroup and its sub-cgroups.
    fn pids(&self) -> Result<Vec<i32>>;
    /// Resource usage, in runc's `events --stats` shape.
    fn stats(&self) -> Result<Stats>;
    /// Starts watching for OOM kills, for `events`.
    fn oom_watcher(&self) -> Result<OomWatcher>;
    /// How many tasks the OOM killer has killed in the cgroup.
    fn oom_kill_count(&self) -> Result<u64>;
    /// Sends `signal` to every process in the cgroup.
    fn kill_all(&self, signal: Signal) -> Result<()>;
    /// Kills what is left (thawing first if frozen) and removes the cgroup,
    /// sub-cgroups first. Succeeds if it is already gone.
    fn destroy(&self) -> Result<()>;
    /// True if the cgroup directory exists.
    fn exists(&self) -> bool;
}

/// The cgroup manager for one container, for whichever driver applies.
#[derive(Debug, Clone)]
pub enum Manager {
    /// cgroupfs on v1 (legacy or hybrid) hierarchies.
    V1(V1Manager),
    /// cgroupfs on the v2 unified hierarchy.
    V2(V2Manager),
    /// A transient scope created through systemd.
    Systemd(SystemdManager),
}

impl Manager {
    /// Builds the manager for `linux.cgroupsPath` on this host. `systemd`
    /// selects the systemd driver (`--systemd-cgroup`), with the system
    /// instance for root and the user instance for anyone else. An empty
    /// path is `/berth/<id>`, or `:berth:<id>` (the scope `berth-<id>.scope`
    /// in `system.slice` or `user.slice`) with systemd: pass the container
    /// id in every process that rebuilds the manager.
    pub fn new(cgroups_path: &str, container_id: &str, systemd: bool) -> Result<Manager> {
        let root = Path::new(DEFAULT_ROOT);
        Manager::with_root(detect_at(root)?, root, cgroups_path, container_id, systemd)
    }

    /// The systemd driver with the `instance` given rather than chosen by
    /// the caller's euid (e.g. the user instance for a rootless runtime
    /// that runs as uid 0 in its own user namespace).
    pub fn new_systemd(
        cgroups_path: &str,
        container_id: &str,
        instance: Instance,
    ) -> Result<Manager> {
        let root = Path::new(DEFAULT_ROOT);
        let CgroupsPath::Systemd {
            slice,
            prefix,
            name,
        } = CgroupsPath::parse(cgroups_path, container_id, true)?
        else {
            unreachable!("parse with systemd gives the systemd form")
        };
        Ok(Manager::Systemd(SystemdManager::new(
            cgroups_path,
            &slice,
            &prefix,
            &name,
            instance,
            detect_at(root)?,
            root,
        )?))
    }

    /// Like [`Manager::new`] with the mode and the cgroupfs mount root
    /// given, e.g. a temp dir in tests.
    pub fn with_root(
        mode: CgroupMode,
        root: &Path,
        cgroups_path: &str,
        container_id: &str,
        systemd: bool,
    ) -> Result<Manager> {
        match CgroupsPath::parse(cgroups_path, container_id, systemd)? {
            CgroupsPath::Systemd {
                slice,
                prefix,
                name,
            } => Ok(Manager::Systemd(SystemdManager::new(
                cgroups_path,
                &slice,
                &prefix,
                &name,
                Instance::for_caller(),
                mode,
                root,
            )?)),
            CgroupsPath::Fs(rel) if mode.is_v1() => Ok(Manager::V1(V1Manager::new(root, &rel))),
            CgroupsPath::Fs(rel) => Ok(Manager::V2(V2Manager::new(root, &rel))),
        }
    }

    /// With the systemd driver, adds the unit properties of the spec's
    /// `org.systemd.property.<Name>` annotations to the scope made by
    /// [`CgroupManager::create_with_pid`]; the cgroupfs drivers ignore them
    /// (as runc does).
    pub fn with_annotations(
        self,
        annotations: &std::collections::HashMap<String, String>,
    ) -> Result<Manager> {
        match self {
            Manager::Systemd(m) => Ok(Manager::Systemd(m.with_annotations(annotations)?)),
            other => Ok(other),
        }
    }

    /// `v1`, `v2` or `systemd`.
    pub fn version(&self) -> &'static str {
        match self {
            Manager::V1(_) => "v1",
            Manager::V2(_) => "v2",
            Manager::Systemd(_) => "systemd",
        }
    }

    /// True for the systemd driver: the cgroup is made around the init
    /// with [`CgroupManager::create_with_pid`] after it is cloned, never
    /// before (no `CLONE_INTO_CGROUP` for the init).
    pub fn needs_pid_to_create(&self) -> bool {
        matches!(self, Manager::Systemd(_))
    }

    /// The v2 cgroup directory, for `CLONE_INTO_CGROUP`; `None` on v1.
    pub fn unified_dir(&self) -> Option<PathBuf> {
        match self {
            Manager::V2(m) => Some(m.dir().to_path_buf()),
            Manager::Systemd(m) => m.fs().unified_dir(),
            Manager::V1(_) => None,
        }
    }

    /// Opens the v2 cgroup directory (`O_DIRECTORY|O_CLOEXEC`) for clone3's
    /// `CLONE_INTO_CGROUP`. An error on v1.
    pub fn open_cgroup_fd(&self) -> Result<OwnedFd> {
        match self {
            Manager::V2(m) => m.open_dir(),
            Manager::V1(_) => Err(CgroupError::WrongVersion {
                op: "CLONE_INTO_CGROUP",
                version: "v1",
            }),
            // The scope's directory, once it exists (e.g. for exec).
            Manager::Systemd(m) => m.fs().open_cgroup_fd(),
        }
    }

    fn inner(&self) -> &dyn CgroupManager {
        match self {
            Manager::V1(m) => m,
            Manager::V2(m) => m,
            Manager::Systemd(m) => m,
        }
    }
}

impl CgroupManager for Manager {
    fn create(&self) -> Result<()> {
        self.inner().create()
    }
    fn create_with_pid(&self, pid: i32, resources: &LinuxResources) -> Result<()> {
        self.inner().create_with_pid(pid, resources)
    }
    fn add_task(&self, pid: i32) -> Result<()> {
        self.inner().add_task(pid)
    }
    fn apply(&self, resources: &LinuxResources) -> Result<()> {
        self.inner().apply(resources)
    }
    fn freeze(&self) -> Result<()> {
        self.inner().freeze()
    }
    fn thaw(&self) -> Result<()> {
        self.inner().thaw()
    }
    fn freezer_state(&self) -> Result<FreezerState> {
        self.inner().freezer_state()
    }
    fn pids(&self) -> Result<Vec<i32>> {
        self.inner().pids()
    }
    fn stats(&self) -> Result<Stats> {
        self.inner().stats()
    }
    fn oom_watcher(&self) -> Result<OomWatcher> {
        self.inner().oom_watcher()
    }
    fn oom_kill_count(&self) -> Result<u64> {
        self.inner().oom_kill_count()
    }
    fn kill_all(&self, signal: Signal) -> Result<()> {
        self.inner().kill_all(signal)
    }
    fn destroy(&self) -> Result<()> {
        self.inner().destroy()
    }
    fn exists(&self) -> bool {
        self.inner().exists()
    }
}

/// Sends `signal` to each pid; a process that exited meanwhile is fine.
pub(crate) fn signal_each(pids: &[i32], signal: Signal, dir: &Path) -> Result<()> {
    for &pid in pids {
        match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
            Err(e) => return Err(CgroupError::sys("kill", dir, e)),
        }
    }
    Ok(())
}
