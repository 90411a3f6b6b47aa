//! The one adapter between the engine and berth-runtime: every call into the runtime library
//! is here. The library puts processes into containers through its own helper process (a
//! read-only view of the berth binary), never changes the caller, and may be called from any
//! thread; the init and exec'd processes are children of the caller.

use std::os::fd::OwnedFd;
use std::path::Path;

use berth_runtime::{Console, CreateOptions, ExecOptions, Runtime};
use nix::sys::signal::Signal;
use oci_spec::runtime::Process;

use crate::{Error, Result};

fn rt(op: &'static str) -> impl FnOnce(berth_runtime::Error) -> Error {
    move |source| Error::Runtime { op, source }
}

/// A created container: its init waits for [`start`].
pub struct Created {
    /// The init's pid (a child of the caller).
    pub pid: i32,
    /// The pty master, when the process has a terminal.
    pub master: Option<OwnedFd>,
    /// What the runtime warned about (unknown config properties, seccomp notes).
    pub warnings: Vec<String>,
}

/// Creates container `id` from `bundle` under the state root `root`. The init inherits the
/// caller's fds 0, 1 and 2 (unless the process has a terminal: then the pty is returned).
pub fn create(root: &Path, id: &str, bundle: &Path) -> Result<Created> {
    let c = Runtime::new(root)
        .create(CreateOptions {
            id: id.to_string(),
            bundle: bundle.to_path_buf(),
            console: Console::Return,
            ..Default::default()
        })
        .map_err(rt("create container"))?;
    Ok(Created {
        pid: c.container.pid().unwrap_or(0),
        master: c.master,
        warnings: c.warnings,
    })
}

/// Starts a created container; returns once its process has exec'd.
pub fn start(root: &Path, id: &str) -> Result<Vec<String>> {
    Runtime::new(root)
        .load_locked(id)
        .and_then(|c| c.start())
        .map_err(rt("start container"))
}

/// A container's status as the runtime sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Paused,
    Stopped,
    /// The runtime has no such container.
    Missing,
}

/// The status of container `id`, and its init's pid while it lives.
pub fn status(root: &Path, id: &str) -> (Status, Option<i32>) {
    use berth_runtime::Status as S;
    match Runtime::new(root).load(id) {
        Ok(c) => {
            let s = match c.status() {
                S::Creating | S::Created => Status::Created,
                S::Running => Status::Running,
                S::Paused => Status::Paused,
                S::Stopped => Status::Stopped,
            };
            let pid = if s == Status::Stopped { None } else { c.pid() };
            (s, pid)
        }
        Err(_) => (Status::Missing, None),
    }
}

/// Sends `sig` to the container's init, or with `all` to every process in its cgroup.
pub fn kill(root: &Path, id: &str, sig: Signal, all: bool) -> Result<()> {
    Runtime::new(root)
        .load(id)
        .and_then(|c| c.kill(Some(sig), all))
        .map_err(rt("signal container"))
}

/// Kills whatever still runs and removes the container from the runtime (a missing one is
/// not an error). Returns the poststop hooks' warnings.
pub fn delete(root: &Path, id: &str) -> Result<Vec<String>> {
    Runtime::new(root)
        .delete(id, true)
        .map_err(rt("delete container"))
}

/// How many times the OOM killer acted in the container's memory cgroup.
pub fn oom_kills(root: &Path, id: &str) -> Option<u64> {
    Runtime::new(root).load(id).ok()?.oom_kill_count().ok()
}

/// The container's own process (from its config), which `exec` starts from.
pub fn container_process(root: &Path, id: &str) -> Result<Process> {
    Runtime::new(root)
        .load(id)
        .and_then(|c| c.process())
        .map_err(rt("load container"))
}

/// A process started in a container by [`exec`].
pub struct Execed {
    /// Its pid (a child of the caller).
    pub pid: i32,
    /// The pty master, when `process.terminal` is set.
    pub master: Option<OwnedFd>,
}

/// Runs `process` in container `id`, confined like the container (its seccomp filter, its
/// AppArmor profile and SELinux label unless the process names its own). The process
/// inherits the caller's fds 0, 1 and 2 unless it has a terminal.
pub fn exec(root: &Path, id: &str, process: Process) -> Result<Execed> {
    let e = Runtime::new(root)
        .load(id)
        .and_then(|c| {
            c.exec(ExecOptions {
                process: Some(process),
                field: "process".into(),
                console: Console::Return,
                ..Default::default()
            })
        })
        .map_err(rt("exec in container"))?;
    Ok(Execed {
        pid: e.pid,
        master: e.master,
    })
}

/// The exit code a shell reports for a wait status (128 + signal when killed).
pub fn exit_code(status: nix::sys::wait::WaitStatus) -> i32 {
    berth_runtime::exit_code(status)
}

/// A signal by name or number (`TERM`, `SIGTERM`, `15`).
pub fn parse_signal(s: &str) -> Option<Signal> {
    berth_runtime::parse_signal(s).ok().flatten()
}

/// Now as RFC 3339 UTC with nanoseconds.
pub fn rfc3339_now() -> String {
    berth_runtime::state::store::rfc3339_now()
}

/// A Unix time as RFC 3339 UTC.
pub fn rfc3339(secs: i64, nanos: u32) -> String {
    berth_runtime::state::store::rfc3339(secs, nanos)
}
