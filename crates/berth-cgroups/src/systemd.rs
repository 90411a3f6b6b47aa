//! The systemd cgroup driver (`--systemd-cgroup`, `slice:prefix:name`
//! cgroup paths), compatible with runc's.
//!
//! The container lives in a transient scope `prefix-name.scope` in `slice`,
//! which systemd creates over D-Bus around the container's first process
//! (a scope cannot exist empty) with `Delegate=yes`, so the cgroup below
//! the scope is the container's to manage. Limits systemd understands are
//! given to it as unit properties (so `systemctl show` and a later
//! daemon-reload agree with the container); every limit is then written to
//! the scope's cgroup files by the cgroupfs code, exactly as the cgroupfs
//! driver writes them, which covers what systemd does not know (hugetlb,
//! rdma, swappiness, io.max, ...). Pause, stats, events and pids read and
//! write the scope's cgroup files directly, as runc does.
//!
//! Root uses the system instance (PID 1, on the system bus); anyone else
//! the user's own `systemd --user` (session bus), whose scopes live below
//! `user@UID.service`, the subtree systemd delegates to the user.

pub mod annotations;
mod bus;
pub mod devices;
pub mod error;
pub mod properties;
pub mod unit;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::sys::signal::Signal;
use oci_spec::runtime::LinuxResources;

use crate::error::{CgroupError, Result};
use crate::hierarchy::Hierarchies;
use crate::manager::{CgroupManager, Manager};
use crate::oom::OomWatcher;
use crate::stats::Stats;
use crate::v1::V1Manager;
use crate::v2::V2Manager;
use crate::{CgroupMode, FreezerState};
use annotations::properties_from_annotations;
use bus::Bus;
pub use error::SystemdError;
use properties::{resource_properties, scope_properties, Host, Property};
pub use unit::{Instance, Scope, DEFAULT_PREFIX};

/// The manager for one container's scope. It holds no state beyond its
/// constructor arguments (and, for the user instance, the manager's cgroup
/// once looked up), so any process can rebuild it from the cgroups path.
#[derive(Debug, Clone)]
pub struct SystemdManager {
    path: String,
    scope: Scope,
    instance: Instance,
    /// The host's cgroup hierarchies.
    hier: Arc<Hierarchies>,
    mode: CgroupMode,
    /// The scope's cgroup relative to the mount root.
    rel: PathBuf,
    /// Unit properties from `org.systemd.property.*` annotations.
    extra: Vec<Property>,
}

impl SystemdManager {
    /// The scope for `slice:prefix:name` (`path` is the value as given, for
    /// messages) on the host's cgroup hierarchies `hier`.
    pub fn new(
        path: &str,
        slice: &str,
        prefix: &str,
        name: &str,
        instance: Instance,
        hier: Arc<Hierarchies>,
    ) -> Result<SystemdManager> {
        let mode = hier.mode();
        let scope = Scope::new(path, slice, prefix, name, instance)?;
        let rel = match instance {
            Instance::System => scope.rel(),
            Instance::User => user_manager_cgroup(bus::outer_euid()).join(scope.rel()),
        };
        Ok(SystemdManager {
            path: path.to_string(),
            scope,
            instance,
            hier,
            mode,
            rel,
            extra: Vec::new(),
        })
    }

    /// Adds the unit properties of the spec's `org.systemd.property.<Name>`
    /// annotations (as runc): given to systemd when the scope is created,
    /// after berth's own, so they take precedence.
    pub fn with_annotations(mut self, annotations: &HashMap<String, String>) -> Result<Self> {
        self.extra = properties_from_annotations(annotations)?;
        Ok(self)
    }

    /// The `slice:prefix:name` value.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The scope unit, e.g. `berth-web.scope`.
    pub fn unit(&self) -> &str {
        &self.scope.unit
    }

    /// The scope's unit name, slice and cgroup path.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The systemd instance that manages the scope.
    pub fn instance(&self) -> Instance {
        self.instance
    }

    /// The scope's cgroup relative to the mount root. The user instance's
    /// scopes are below the user manager's own cgroup.
    pub fn rel(&self) -> &Path {
        &self.rel
    }

    /// The cgroupfs manager of the scope's cgroup (no D-Bus involved).
    pub fn fs(&self) -> Manager {
        if self.mode.is_v1() {
            Manager::V1(V1Manager::new(self.hier.clone(), &self.rel))
        } else {
            let root = self.hier.unified().unwrap_or(self.hier.root());
            Manager::V2(V2Manager::new(root, &self.rel))
        }
    }

    /// The user manager must be where logind puts it, where [`Self::rel`]
    /// looks for the scope.
    fn check_user_manager(&self, bus: &Bus) -> Result<()> {
        if self.instance == Instance::System {
            return Ok(());
        }
        let cg = bus.control_group()?;
        if !self.rel.starts_with(cg.trim_start_matches('/')) {
            return Err(SystemdError::BadProperty {
                property: "ControlGroup",
                value: cg,
            }
            .into());
        }
        Ok(())
    }

    fn connect(&self) -> Result<Bus> {
        if self.instance == Instance::User && self.mode.is_v1() {
            return Err(SystemdError::UserInstanceOnV1 {
                unit: self.scope.unit.clone(),
            }
            .into());
        }
        Ok(Bus::connect(self.instance)?)
    }

    fn properties(&self, bus: &Bus, r: &LinuxResources) -> Result<Vec<Property>> {
        let host = Host {
            v1: self.mode.is_v1(),
            version: bus.version()?,
        };
        let mut proc_devices = || std::fs::read_to_string("/proc/devices").unwrap_or_default();
        resource_properties(r, host, &mut proc_devices)
    }

    /// Creates the scope around `pid` (the container's init, not yet
    /// running the container's code) with the limits in `r`, waits until
    /// systemd has started it, then writes every limit to the scope's
    /// cgroup files. On failure nothing is left: the scope is stopped and
    /// reset (which kills `pid`).
    pub fn create_scope(&self, pid: i32, r: &LinuxResources) -> Result<()> {
        let bus = self.connect()?;
        let mut props = scope_properties(&self.scope, pid, self.mode.is_v1());
        props.extend(self.properties(&bus, r)?);
        props.extend(self.extra.iter().cloned());
        self.check_user_manager(&bus)?;
        bus.start_transient(&self.scope.unit, &props)?;
        let fs = self.fs();
        // The controllers systemd does not manage (hugetlb, rdma, misc on
        // v2; freezer, cpuset, net_* on v1) are enabled, or the scope made
        // in their hierarchies, by the cgroupfs code.
        let placed = fs
            .create()
            .and_then(|()| fs.add_task(pid))
            .and_then(|()| fs.apply(r));
        if let Err(e) = placed {
            let _ = self.destroy_with(Ok(bus));
            return Err(e);
        }
        Ok(())
    }

    /// Kills what is left in the scope, stops it (`bus` is systemd, or why
    /// it cannot be reached), makes systemd forget a failed one, and
    /// removes any cgroup directory systemd left behind. The processes are
    /// killed even when systemd cannot be reached.
    fn destroy_with(&self, bus: Result<Bus>) -> Result<()> {
        let fs = self.fs();
        let mut killed = Ok(());
        if fs.exists() {
            // Killed first so that stopping does not wait for a SIGTERM
            // the container ignores (systemd would wait TimeoutStopSec).
            killed = match fs.freezer_state() {
                Ok(FreezerState::Thawed) => Ok(()),
                Ok(_) => fs.thaw(),
                Err(e) => Err(e),
            }
            .and_then(|()| fs.kill_all(Signal::SIGKILL));
        }
        let stopped = bus.and_then(|b| Ok(b.stop(&self.scope.unit)?));
        let removed = fs.destroy();
        killed.and(stopped).and(removed)
    }

    /// `update` on v1: systemd rewrites the devices cgroup from scratch
    /// (deny all, then allow), so the container is frozen meanwhile, or it
    /// could see spurious EPERM (as runc does).
    fn set_properties(&self, bus: &Bus, props: &[Property]) -> Result<()> {
        let devices = props.iter().any(|p| p.name == "DevicePolicy");
        let fs = self.fs();
        let freeze = self.mode.is_v1()
            && devices
            && fs.exists()
            && fs.freezer_state()? == FreezerState::Thawed;
        if freeze {
            fs.freeze()?;
        }
        let r = bus.set_properties(&self.scope.unit, props);
        if freeze {
            fs.thaw()?;
        }
        Ok(r?)
    }
}

/// Where logind starts the user manager of `uid`, relative to the mount
/// root (runc asks the manager for its `ControlGroup`; berth checks that
/// when it creates a scope, so the other operations need no D-Bus).
fn user_manager_cgroup(uid: u32) -> PathBuf {
    PathBuf::from(format!("user.slice/user-{uid}.slice/user@{uid}.service"))
}

/// The version of the systemd `instance` if the driver can use it: for
/// the system instance, systemd is PID 1 (`/run/systemd/system` exists, as
/// sd_booted(3) checks) and answers on the system bus; for the user
/// instance, it answers on the session bus. For `features`.
pub fn probe(instance: Instance) -> Option<u32> {
    if instance == Instance::System && !Path::new("/run/systemd/system").is_dir() {
        return None;
    }
    Bus::connect(instance).ok()?.version().ok()
}

impl CgroupManager for SystemdManager {
    /// A scope cannot exist without a process: use [`CgroupManager::create_with_pid`].
    fn create(&self) -> Result<()> {
        Err(SystemdError::NeedsPid {
            unit: self.scope.unit.clone(),
        }
        .into())
    }

    fn create_with_pid(&self, pid: i32, resources: &LinuxResources) -> Result<()> {
        self.create_scope(pid, resources)
    }

    /// Joins the existing scope's cgroup (e.g. an exec'd process).
    fn add_task(&self, pid: i32) -> Result<()> {
        self.fs().add_task(pid)
    }

    /// `update`: systemd's properties (`SetUnitProperties`, runtime only),
    /// then the cgroup files.
    fn apply(&self, resources: &LinuxResources) -> Result<()> {
        let bus = self.connect()?;
        let props = self.properties(&bus, resources)?;
        if !props.is_empty() {
            self.set_properties(&bus, &props)?;
        }
        self.fs().apply(resources)
    }

    fn freeze(&self) -> Result<()> {
        self.fs().freeze()
    }

    fn thaw(&self) -> Result<()> {
        self.fs().thaw()
    }

    fn freezer_state(&self) -> Result<FreezerState> {
        self.fs().freezer_state()
    }

    fn pids(&self) -> Result<Vec<i32>> {
        self.fs().pids()
    }

    fn stats(&self) -> Result<Stats> {
        self.fs().stats()
    }

    fn oom_watcher(&self) -> Result<OomWatcher> {
        self.fs().oom_watcher()
    }

    fn oom_kill_count(&self) -> Result<u64> {
        self.fs().oom_kill_count()
    }

    fn kill_all(&self, signal: Signal) -> Result<()> {
        self.fs().kill_all(signal)
    }

    /// Works whatever state a crashed or killed `create` left: a running
    /// scope, an empty one, a failed one (its process died before systemd
    /// could move it), or none at all.
    fn destroy(&self) -> Result<()> {
        self.destroy_with(self.connect())
    }

    fn exists(&self) -> bool {
        self.fs().exists()
    }
}

impl From<SystemdError> for CgroupError {
    fn from(e: SystemdError) -> Self {
        CgroupError::Systemd(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manager(path: &str, instance: Instance, mode: CgroupMode, root: &Path) -> SystemdManager {
        let hier = match mode {
            CgroupMode::Unified => Hierarchies::unified_at(root),
            m => Hierarchies::v1_at(root, &[&["memory"], &["pids"]], m == CgroupMode::Hybrid),
        };
        let crate::CgroupsPath::Systemd {
            slice,
            prefix,
            name,
        } = crate::CgroupsPath::parse(path, "c1", true).unwrap()
        else {
            panic!("{path} is not the systemd form")
        };
        SystemdManager::new(path, &slice, &prefix, &name, instance, Arc::new(hier)).unwrap()
    }

    #[test]
    fn scope_paths_need_no_bus() {
        let root = Path::new("/fake/cgroup");
        let m = manager("", Instance::System, CgroupMode::Unified, root);
        assert_eq!(m.unit(), "berth-c1.scope");
        assert_eq!(m.rel(), Path::new("system.slice/berth-c1.scope"));
        let fs = m.fs();
        assert_eq!(fs.version(), "v2");
        assert_eq!(
            fs.unified_dir().unwrap(),
            root.join("system.slice/berth-c1.scope")
        );
        let m = manager(
            "k8s-pod1.slice:cri:c1",
            Instance::System,
            CgroupMode::Hybrid,
            root,
        );
        assert_eq!(m.unit(), "cri-c1.scope");
        assert_eq!(m.rel(), Path::new("k8s.slice/k8s-pod1.slice/cri-c1.scope"));
        assert_eq!(m.fs().version(), "v1");
        let u = manager("", Instance::User, CgroupMode::Unified, root);
        let uid = nix::unistd::geteuid();
        assert_eq!(
            u.rel(),
            PathBuf::from(format!(
                "user.slice/user-{uid}.slice/user@{uid}.service/user.slice/berth-c1.scope"
            ))
        );
    }

    #[test]
    fn create_without_a_pid_is_refused() {
        let m = manager("", Instance::System, CgroupMode::Unified, Path::new("/x"));
        let e = m.create().unwrap_err().to_string();
        assert!(
            e.contains("berth-c1.scope") && e.contains("create_with_pid"),
            "{e}"
        );
    }

    #[test]
    fn user_instance_on_v1_is_refused_before_any_bus() {
        let m = manager("", Instance::User, CgroupMode::Legacy, Path::new("/x"));
        for e in [
            m.destroy().unwrap_err(),
            m.create_with_pid(1, &LinuxResources::default())
                .unwrap_err(),
        ] {
            assert!(e.to_string().contains("cgroup v1"), "{e}");
        }
    }
}
