//! The one adapter between the engine and berth-runtime: every call into the runtime library
//! is here, so its redesign (a `Runtime` handle with `create/start/kill/exec/delete` methods,
//! no side effects on the caller) changes this file only.
//!
//! Today's library clones the container's init from the calling process (which becomes its
//! parent) and is not safe from a multi-threaded caller; its `exec` joins the calling process
//! to the container's pid namespace. The engine calls [`create`] only from the monitor and
//! [`exec`] only from the short-lived `image exec` process, both single-threaded.

use std::os::fd::OwnedFd;
use std::path::Path;

use berth_cgroups::CgroupManager;
use berth_runtime::container::Container;
use berth_runtime::create::{CreateOptions, Mode};
use nix::sys::signal::Signal;
use oci_spec::runtime::{Process, Spec};

use crate::{Error, Result};

fn rt(op: &'static str) -> impl FnOnce(berth_runtime::Error) -> Error {
    move |source| Error::Runtime { op, source }
}

/// CVE-2019-5736: a process that puts something into a container re-executes itself from a
/// read-only view of the berth binary first (returns only if it already runs from one).
pub fn protect_self() -> Result<()> {
    berth_runtime::exe_guard::protect_self().map_err(rt("protect the berth binary"))
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

/// Runs `f` with SIGPIPE at its default action. Today's library clones the init and the exec'd
/// process from the caller without resetting signal dispositions, and an ignored signal stays
/// ignored across execve: the container's processes would inherit the SIGPIPE that Rust's
/// runtime ignores (`yes | head` would never end). runc resets them in its init.
fn with_default_sigpipe<T>(f: impl FnOnce() -> T) -> T {
    use nix::sys::signal::{signal, SigHandler};
    // SAFETY: switching between the default and the ignore disposition installs no handler
    // code; the process is single-threaded here (see the module comment).
    let old = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
    let out = f();
    if let Ok(old) = old {
        // SAFETY: as above; `old` is the disposition that was in place.
        let _ = unsafe { signal(Signal::SIGPIPE, old) };
    }
    out
}

/// Creates container `id` from `bundle` under the state root `root`. The init inherits the
/// caller's fds 0, 1 and 2 (unless the process has a terminal: then the pty is returned).
pub fn create(root: &Path, id: &str, bundle: &Path) -> Result<Created> {
    let c = with_default_sigpipe(|| {
        berth_runtime::create::create(&CreateOptions {
            root: root.to_path_buf(),
            id: id.to_string(),
            bundle: bundle.to_path_buf(),
            console_socket: None,
            pid_file: None,
            no_pivot: false,
            preserve_fds: 0,
            mode: Mode::Create,
            foreground_tty: true,
            no_new_keyring: false,
        })
    })
    .map_err(rt("create container"))?;
    Ok(Created {
        pid: c.state.pid,
        master: c.master,
        warnings: c.plan.warnings.clone(),
    })
}

/// Starts a created container; returns once its process has exec'd.
pub fn start(root: &Path, id: &str) -> Result<Vec<String>> {
    Container::load_locked(root, id)
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
    use berth_runtime::state::Status as S;
    match Container::load(root, id) {
        Ok(c) => {
            let s = match c.status() {
                S::Created => Status::Created,
                S::Running => Status::Running,
                S::Paused => Status::Paused,
                S::Stopped => Status::Stopped,
            };
            let pid = (s != Status::Stopped).then_some(c.state.pid);
            (s, pid)
        }
        Err(_) => (Status::Missing, None),
    }
}

/// Sends `sig` to the container's init, or with `all` to every process in its cgroup.
pub fn kill(root: &Path, id: &str, sig: Signal, all: bool) -> Result<()> {
    Container::load(root, id)
        .and_then(|c| c.kill(sig, all))
        .map_err(rt("signal container"))
}

/// Kills whatever still runs and removes the container from the runtime (a missing one is
/// not an error). Returns the poststop hooks' warnings.
pub fn delete(root: &Path, id: &str) -> Result<Vec<String>> {
    match Container::load_locked(root, id) {
        Ok(c) => c.delete(true).map_err(rt("delete container")),
        Err(berth_runtime::Error::NotExist(_)) => Ok(Vec::new()),
        Err(e) => Err(rt("delete container")(e)),
    }
}

/// How many times the OOM killer acted in the container's memory cgroup.
pub fn oom_kills(root: &Path, id: &str) -> Option<u64> {
    let c = Container::load(root, id).ok()?;
    berth_runtime::cgroups::manager(&c.state.cgroups_path, id)
        .ok()?
        .oom_kill_count()
        .ok()
}

/// The container's `config.json` as the runtime keeps it.
pub fn container_spec(root: &Path, id: &str) -> Result<Spec> {
    let dir = berth_runtime::state::ContainerDir::open(root, id).map_err(rt("load container"))?;
    let path = dir.path.join(berth_runtime::state::CONFIG_FILE);
    let raw = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
    berth_runtime::spec::parse(&raw).map_err(|reason| Error::Corrupt {
        what: "container config",
        path,
        reason,
    })
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
pub fn exec(root: &Path, id: &str, mut process: Process) -> Result<Execed> {
    let spec = container_spec(root, id)?;
    if let Some(cp) = spec.process() {
        if process.apparmor_profile().is_none() {
            process.set_apparmor_profile(cp.apparmor_profile().clone());
        }
        if process.selinux_label().is_none() {
            process.set_selinux_label(cp.selinux_label().clone());
        }
    }
    let e = with_default_sigpipe(|| {
        berth_runtime::exec::exec(&berth_runtime::exec::ExecOptions {
            root: root.to_path_buf(),
            id: id.to_string(),
            process,
            console_socket: None,
            pid_file: None,
            preserve_fds: 0,
            foreground_tty: true,
            seccomp: spec.linux().as_ref().and_then(|l| l.seccomp().clone()),
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
    berth_runtime::container::exit_code(status)
}

/// A signal by name or number (`TERM`, `SIGTERM`, `15`).
pub fn parse_signal(s: &str) -> Option<Signal> {
    berth_runtime::container::parse_signal(s).ok()
}

/// Now as RFC 3339 UTC with nanoseconds.
pub fn rfc3339_now() -> String {
    berth_runtime::state::rfc3339_now()
}

/// A Unix time as RFC 3339 UTC.
pub fn rfc3339(secs: i64, nanos: u32) -> String {
    berth_runtime::state::rfc3339(secs, nanos)
}
