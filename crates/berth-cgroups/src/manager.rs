//! The [`CgroupManager`] trait and the [`Manager`] enum that picks the
//! implementation for this host.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::sys::signal::Signal;
use oci_spec::runtime::LinuxResources;

use crate::error::{CgroupError, Result};
use crate::hierarchy::Hierarchies;
use crate::oom::OomWatcher;
use crate::path::CgroupsPath;
use crate::stats::Stats;
use crate::systemd::{Instance, SystemdManager};
use crate::v1::V1Manager;
use crate::v2::V2Manager;
use crate::FreezerState;

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
    /// id in every process that rebuilds the manager. The host's hierarchies
    /// are read from mountinfo once per process.
    pub fn new(cgroups_path: &str, container_id: &str, systemd: bool) -> Result<Manager> {
        Manager::with_hierarchies(Hierarchies::host()?, cgroups_path, container_id, systemd)
    }

    /// The systemd driver with the `instance` given rather than chosen by
    /// the caller's euid (e.g. the user instance for a rootless runtime
    /// that runs as uid 0 in its own user namespace).
    pub fn new_systemd(
        cgroups_path: &str,
        container_id: &str,
        instance: Instance,
    ) -> Result<Manager> {
        Manager::new_systemd_with(Hierarchies::host()?, cgroups_path, container_id, instance)
    }

    /// [`Manager::new_systemd`] on the hierarchies `hier`.
    pub fn new_systemd_with(
        hier: Arc<Hierarchies>,
        cgroups_path: &str,
        container_id: &str,
        instance: Instance,
    ) -> Result<Manager> {
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
            hier,
        )?))
    }

    /// Like [`Manager::new`] on the hierarchies `hier`, e.g. a fake
    /// cgroupfs in a temp dir in tests.
    pub fn with_hierarchies(
        hier: Arc<Hierarchies>,
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
                hier,
            )?)),
            CgroupsPath::Fs(rel) if hier.mode().is_v1() => {
                Ok(Manager::V1(V1Manager::new(hier, &rel)))
            }
            CgroupsPath::Fs(rel) => {
                let root = hier.unified().unwrap_or(hier.root());
                Ok(Manager::V2(V2Manager::new(root, &rel)))
            }
        }
    }

    /// To call before `create`, so that nothing is started in a cgroup that
    /// cannot hold it. Refuses a target cgroup that exists and is frozen or
    /// freezing, or whose parent is ([`CgroupError::Frozen`]): the init would
    /// hang before its first instruction. Returns the pids already in the
    /// target cgroup (and its sub-cgroups): not an error, but worth a
    /// warning, as runc's "container's cgroup is not empty".
    pub fn check_usable(&self) -> Result<Vec<i32>> {
        match self {
            Manager::V1(m) => m.check_usable(),
            Manager::V2(m) => m.check_usable(),
            Manager::Systemd(m) => m.fs().check_usable(),
        }
    }

    /// Every cgroup directory of the container (one per v1 hierarchy it
    /// joins, plus the cgroup2 one on hybrid hosts; the one on v2), e.g. to
    /// record in the container's state or to check that `delete` left none.
    pub fn paths(&self) -> Vec<PathBuf> {
        match self {
            Manager::V1(m) => m.dirs(),
            Manager::V2(m) => vec![m.dir().to_path_buf()],
            Manager::Systemd(m) => m.fs().paths(),
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

    /// The cgroup2 directory a new process can be born in with clone3's
    /// `CLONE_INTO_CGROUP`: the container's cgroup on v2, its directory in
    /// the cgroup2 hierarchy on a hybrid host; `None` on a legacy host.
    /// Unlike [`Manager::open_cgroup_fd`], on a hybrid host the process still
    /// has to join the v1 hierarchies ([`Manager::join_self`]).
    pub fn open_clone_into_fd(&self) -> Result<Option<OwnedFd>> {
        match self {
            Manager::V2(m) => m.open_dir().map(Some),
            Manager::V1(m) => m.open_unified_dir(),
            Manager::Systemd(_) => Ok(None),
        }
    }

    /// Moves the calling process into every hierarchy of the container's
    /// cgroup. For a new process (the init, an exec'd process) that joins by
    /// itself, while the host's cgroupfs is still visible to it and before
    /// it enters a cgroup or user namespace. It must be single-threaded
    /// (checked, [`CgroupError::MultiThreaded`]): on v1 it writes 0 to each
    /// hierarchy's `tasks` file, which moves the one calling thread without
    /// the kernel's global threadgroup lock, whose RCU grace period makes
    /// any `cgroup.procs` write wait (15 ms at the median on the build
    /// host). `born_in_cgroup2`: the process was cloned into the fd of
    /// [`Manager::open_clone_into_fd`], so the cgroup2 directory is skipped
    /// (on v2 nothing is left to do); else it is joined through
    /// `cgroup.procs`, which takes the lock.
    pub fn join_self(&self, born_in_cgroup2: bool) -> Result<()> {
        crate::common::require_single_threaded()?;
        match self {
            Manager::V1(m) => m.join_self(born_in_cgroup2),
            Manager::V2(_) if born_in_cgroup2 => Ok(()),
            Manager::V2(m) => m.add_task(0),
            Manager::Systemd(m) => m.add_task(0),
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
