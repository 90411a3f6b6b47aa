//! Containers and the verbs on them: one file per verb, each a method of [`Runtime`] or
//! [`Container`]. The status rules live in [`crate::state::status`]; the command line only
//! maps flags to the options here and prints.

mod cgroup;
pub mod checkpoint;
pub mod create;
mod criu;
pub mod delete;
pub mod events;
pub mod exec;
pub mod kill;
pub mod pause;
pub mod ps;
pub mod restore;
pub mod run;
pub mod start;
pub mod update;

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::plan::HostFacts;
use crate::state::{store, ContainerDir, OciState, State, Status, StoredStatus, Verb};
use crate::{sys, Error, Result};

pub use checkpoint::{CgroupsMode, CheckpointOptions};
pub use create::{Console, CreateOptions, Created};
pub use events::{Event, Events};
pub use exec::{ExecOptions, Execed, Overrides};
pub use restore::{RestoreOptions, Restored};
pub use run::Started;

/// A receiver of debug messages.
type Sink = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

/// Where the steps of the verbs are reported (`--debug`).
#[derive(Clone, Default)]
struct DebugSink(Option<Sink>);

impl std::fmt::Debug for DebugSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "on" } else { "off" })
    }
}

/// The runtime: a state root and how containers under it are made.
#[derive(Debug, Clone)]
pub struct Runtime {
    root: PathBuf,
    systemd_cgroup: bool,
    init_binary: Option<PathBuf>,
    /// `run` may fork the init from the caller (see [`Runtime::fork_init`]).
    fork_init: bool,
    /// The criu binary of `checkpoint` and `restore` (default: `criu` in `PATH`).
    criu: Option<PathBuf>,
    host: HostFacts,
    debug: DebugSink,
}

impl Runtime {
    /// The runtime whose state lives under `root` (runc: `--root`).
    pub fn new(root: impl Into<PathBuf>) -> Runtime {
        Runtime {
            root: root.into(),
            systemd_cgroup: false,
            init_binary: None,
            fork_init: false,
            criu: None,
            host: HostFacts::probe(),
            debug: DebugSink::default(),
        }
    }

    /// Reports each step of the verbs to `sink` (`--debug`).
    pub fn on_debug(mut self, sink: impl Fn(&str) + Send + Sync + 'static) -> Runtime {
        self.debug = DebugSink(Some(std::sync::Arc::new(sink)));
        self
    }

    /// Reports a step, if anyone listens (the message is only made then).
    pub(crate) fn step(&self, msg: impl FnOnce() -> String) {
        if let Some(f) = &self.debug.0 {
            f(&msg());
        }
    }

    /// Use the systemd cgroup driver for new containers (`--systemd-cgroup`).
    pub fn systemd_cgroup(mut self, on: bool) -> Runtime {
        self.systemd_cgroup = on;
        self
    }

    /// The binary the runtime's helper process runs from (default: the running executable,
    /// which must then call [`crate::init_entry`] first thing in `main`).
    pub fn init_binary(mut self, path: impl Into<PathBuf>) -> Runtime {
        self.init_binary = Some(path.into());
        self
    }

    /// Lets `run` fork the container's init from the calling process itself, without the
    /// helper's exec of the runtime binary, when that is safe: the caller runs a single
    /// thread at that moment (checked), no other binary was set with [`Runtime::init_binary`],
    /// and the container gets a new pid namespace and joins no namespace (nothing else in the
    /// container can see the init before it execs the container's program; it is
    /// non-dumpable until then). Otherwise, and always for `create` (another process may
    /// join a created container before `start`), the init comes from the helper, exec'd from a
    /// read-only view of the binary. The `berth` command turns this on.
    pub fn fork_init(mut self, on: bool) -> Runtime {
        self.fork_init = on;
        self
    }

    /// The criu binary `checkpoint` and `restore` run (runc's `--criu`).
    pub fn criu_binary(mut self, path: impl Into<PathBuf>) -> Runtime {
        self.criu = Some(path.into());
        self
    }

    /// The features document (runtime-spec features.md) of this host, checkpoint judged by
    /// this runtime's criu binary.
    pub fn features(&self) -> serde_json::Value {
        crate::features::document_with_criu(&criu::binary(self))
    }

    /// Socket activation: the caller's fds 3.. under `LISTEN_FDS` go to new containers.
    pub fn listen_fds(mut self, n: i32) -> Runtime {
        self.host.listen_fds = n.max(0);
        self
    }

    /// The state root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The host facts plans are made with.
    pub fn host(&self) -> &HostFacts {
        &self.host
    }

    /// Loads container `id`.
    pub fn load(&self, id: &str) -> Result<Container> {
        let dir = ContainerDir::open(&self.root, id)?;
        let state = dir.load()?;
        Ok(Container {
            dir,
            state,
            rt: self.clone(),
        })
    }

    /// Loads container `id` and locks it against other mutating commands.
    pub fn load_locked(&self, id: &str) -> Result<Container> {
        let mut dir = ContainerDir::open(&self.root, id)?;
        dir.lock()?;
        let state = dir.load()?;
        Ok(Container {
            dir,
            state,
            rt: self.clone(),
        })
    }

    /// Every container under the root, in id order (one that vanishes meanwhile is skipped).
    pub fn list(&self) -> Result<Vec<Container>> {
        Ok(store::list(&self.root)?
            .iter()
            .filter_map(|id| self.load(id).ok())
            .collect())
    }
}

/// A container under a runtime's root.
#[derive(Debug)]
pub struct Container {
    dir: ContainerDir,
    state: State,
    rt: Runtime,
}

impl Container {
    pub fn id(&self) -> &str {
        &self.state.id
    }

    /// The init's pid (on the host), if it has one.
    pub fn pid(&self) -> Option<i32> {
        (self.state.pid > 0).then_some(self.state.pid)
    }

    pub fn bundle(&self) -> &Path {
        &self.state.bundle
    }

    /// What berth recorded.
    pub fn recorded(&self) -> &State {
        &self.state
    }

    /// The current status, from the record, the init's liveness, the start socket and the
    /// freezer.
    pub fn status(&self) -> Status {
        let alive = store::init_alive(&self.state);
        if self.state.status == StoredStatus::Creating {
            return if alive {
                Status::Creating
            } else {
                Status::Stopped
            };
        }
        if !alive {
            return Status::Stopped;
        }
        if self.dir.start_socket().exists() {
            return Status::Created;
        }
        if cgroup::is_frozen(&self.state) {
            return Status::Paused;
        }
        Status::Running
    }

    /// Fails with [`Error::WrongState`] unless the container's status allows `verb`.
    pub fn check(&self, verb: Verb) -> Result<Status> {
        let status = self.status();
        if status.allows(verb) {
            Ok(status)
        } else {
            Err(Error::WrongState {
                verb,
                id: self.state.id.clone(),
                status,
            })
        }
    }

    /// The `state` document (runtime-spec "State"); pid is 0 once stopped.
    pub fn state(&self) -> OciState {
        let status = self.status();
        OciState {
            oci_version: self.state.oci_version.clone(),
            id: self.state.id.clone(),
            pid: if status == Status::Stopped {
                0
            } else {
                self.state.pid
            },
            status: status.as_str().to_string(),
            bundle: self.state.bundle.clone(),
            rootfs: self.state.rootfs.clone(),
            created: self.state.created.clone(),
            annotations: self.state.annotations.clone(),
            owner: self.state.owner.clone(),
        }
    }

    /// A pidfd of the init, if it is still the recorded process.
    fn init_pidfd(&self) -> Option<OwnedFd> {
        let fd = sys::pidfd::open(self.state.pid).ok()?;
        // Opened first, checked second: a pid recycled after the check cannot be the fd's.
        store::init_alive(&self.state).then_some(fd)
    }

    /// Signals the init through its pidfd; `Ok(false)` if it is gone.
    fn signal_init(&self, sig: i32) -> Result<bool> {
        let Some(fd) = self.init_pidfd() else {
            return Ok(false);
        };
        match sys::pidfd::send_signal(fd.as_fd(), sig) {
            Ok(()) => Ok(true),
            Err(nix::errno::Errno::ESRCH) => Ok(false),
            Err(e) => Err(Error::call("pidfd_send_signal", e)),
        }
    }
}

/// The oldest CRIU `checkpoint` and `restore` work with (`criu version` as a number).
pub fn criu_min_version() -> i32 {
    criu::MIN_VERSION
}

/// The exit code a shell would report for a wait status.
pub fn exit_code(status: nix::sys::wait::WaitStatus) -> i32 {
    match status {
        nix::sys::wait::WaitStatus::Exited(_, c) => c,
        nix::sys::wait::WaitStatus::Signaled(_, s, _) => 128 + s as i32,
        _ => 255,
    }
}

/// Writes a pid file atomically (containerd reads it as soon as create returns).
pub(crate) fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let tmp = path.with_extension("berth-tmp");
    std::fs::write(&tmp, pid.to_string()).map_err(|e| Error::io("write pid file", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io("write pid file", path, e))
}
