//! Operations on an existing container: status, start, kill, delete, foreground wait.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::create::hook_state;
use crate::state::{self, ContainerDir, State, Status};
use crate::sync;
use crate::{cgroups, hooks, Error, Result};

/// A loaded container.
pub struct Container {
    pub dir: ContainerDir,
    pub state: State,
}

impl Container {
    /// Loads container `id` from the state root.
    pub fn load(root: &Path, id: &str) -> Result<Container> {
        let dir = ContainerDir::open(root, id)?;
        let state = dir.load()?;
        Ok(Container { dir, state })
    }

    /// Loads and locks it against concurrent mutating commands.
    pub fn load_locked(root: &Path, id: &str) -> Result<Container> {
        let mut dir = ContainerDir::open(root, id)?;
        dir.lock()?;
        let state = dir.load()?;
        Ok(Container { dir, state })
    }

    /// The current status, from the init's liveness, the start socket and the freezer.
    pub fn status(&self) -> Status {
        if !state::init_alive(&self.state) {
            return Status::Stopped;
        }
        if self.dir.start_socket().exists() {
            return Status::Created;
        }
        if cgroups::is_frozen(&self.state.cgroups_path) {
            return Status::Paused;
        }
        Status::Running
    }

    /// The `state` document (runtime-spec "State"); pid is 0 once stopped.
    pub fn state_json(&self) -> serde_json::Value {
        let status = self.status();
        let pid = if status == Status::Stopped {
            0
        } else {
            self.state.pid
        };
        serde_json::json!({
            "ociVersion": self.state.oci_version,
            "id": self.state.id,
            "pid": pid,
            "status": status.as_str(),
            "bundle": self.state.bundle,
            "rootfs": self.state.rootfs,
            "created": self.state.created,
            "annotations": self.state.annotations,
            "owner": self.state.owner,
        })
    }

    fn hook_state(&self, status: &str) -> Vec<u8> {
        hook_state(
            &self.state.id,
            status,
            self.state.pid,
            &self.state.bundle,
            &self.state.annotations,
        )
    }

    fn hooks(&self) -> oci_spec::runtime::Hooks {
        std::fs::read(self.dir.path.join(state::CONFIG_FILE))
            .ok()
            .and_then(|raw| crate::spec::parse(&raw).ok())
            .and_then(|s| s.hooks().clone())
            .unwrap_or_default()
    }

    /// `start`: lets the created init exec the container process; returns after the exec
    /// (or its failure) and the poststart hooks. Warnings of poststart hooks are returned.
    pub fn start(&self) -> Result<Vec<String>> {
        match self.status() {
            Status::Created => {}
            Status::Stopped => {
                return Err(Error::State(
                    "cannot start a container that has stopped".into(),
                ))
            }
            s => {
                return Err(Error::State(format!(
                    "cannot start an already {} container",
                    s.as_str()
                )))
            }
        }
        let d = std::fs::File::open(&self.dir.path)
            .map_err(|e| Error::io("open", &self.dir.path, e))?;
        let p = format!("/proc/self/fd/{}/{}", d.as_raw_fd(), state::START_SOCKET);
        let conn = std::os::unix::net::UnixStream::connect(&p)
            .map_err(|e| Error::io("connect", self.dir.start_socket(), e))?;
        // From now on the container counts as started, whatever happens next.
        let _ = std::fs::remove_file(self.dir.start_socket());
        if let Some(sync::Msg::Error(e)) = sync::recv_raw(OwnedFd::from(conn).as_raw_fd())? {
            return Err(Error::Init(e));
        }
        Ok(hooks::run_warn(
            "poststart",
            self.hooks().poststart().as_ref(),
            &self.hook_state("running"),
        ))
    }

    /// `kill`: signals the init, or with `all` every process of the container.
    pub fn kill(&self, sig: Signal, all: bool) -> Result<()> {
        if self.status() == Status::Stopped {
            return Err(Error::State("container not running".into()));
        }
        if all {
            cgroups::kill_all(&self.state.cgroups_path, sig)?;
        }
        match kill(Pid::from_raw(self.state.pid), sig) {
            Ok(()) => Ok(()),
            // With --all the init may already be gone (and reaped by the shim): that is done.
            Err(nix::errno::Errno::ESRCH) if all => Ok(()),
            Err(nix::errno::Errno::ESRCH) => Err(Error::State("container not running".into())),
            Err(e) => Err(Error::call("kill", e)),
        }
    }

    /// `delete`: removes a stopped (or, with `force`, any) container: kills it, runs the
    /// poststop hooks, removes the cgroup and the state. Returns hook warnings.
    pub fn delete(&self, force: bool) -> Result<Vec<String>> {
        self.delete_with_hooks(force, None)
    }

    /// `delete` with the hooks already in memory (`run` has them), so the config copy in the
    /// state dir is not read and parsed again.
    pub fn delete_with_hooks(
        &self,
        force: bool,
        hooks: Option<&oci_spec::runtime::Hooks>,
    ) -> Result<Vec<String>> {
        let status = self.status();
        match status {
            Status::Stopped | Status::Created => {}
            s if !force => {
                return Err(Error::State(format!(
                    "cannot delete container {} that is not stopped: {}",
                    self.state.id,
                    s.as_str()
                )))
            }
            _ => {}
        }
        if status != Status::Stopped {
            if status == Status::Paused {
                let _ = cgroups::thaw(&self.state.cgroups_path);
            }
            let pidfd = crate::hooks::pidfd_open(self.state.pid).ok();
            let _ = cgroups::kill_all(&self.state.cgroups_path, Signal::SIGKILL);
            let _ = kill(Pid::from_raw(self.state.pid), Signal::SIGKILL);
            if let Some(fd) = pidfd {
                crate::hooks::wait_pidfd(&fd, 10_000);
            }
        }
        let loaded;
        let poststop = match hooks {
            Some(h) => h.poststop().as_ref(),
            None => {
                loaded = self.hooks();
                loaded.poststop().as_ref()
            }
        };
        let warnings = hooks::run_warn("poststop", poststop, &self.hook_state("stopped"));
        if self.state.own_cgroup {
            cgroups::destroy(&self.state.cgroups_path)?;
        }
        self.dir.remove()?;
        Ok(warnings)
    }
}

/// Parses a signal as `kill` takes it: `KILL`, `SIGKILL`, `9`.
pub fn parse_signal(s: &str) -> Result<Signal> {
    let bad = || Error::Other(format!("invalid signal {s:?}"));
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad());
    }
    // `kill ID 0` (runc accepts it: a liveness probe) is handled by the caller as None.
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse::<Signal>().map_err(|_| bad())
}

/// The exit code a shell would report for a wait status.
pub fn exit_code(status: nix::sys::wait::WaitStatus) -> i32 {
    match status {
        nix::sys::wait::WaitStatus::Exited(_, c) => c,
        nix::sys::wait::WaitStatus::Signaled(_, s, _) => 128 + s as i32,
        _ => 255,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(parse_signal("KILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("sigterm").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("15").unwrap(), Signal::SIGTERM);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("99").is_err());
    }
}
