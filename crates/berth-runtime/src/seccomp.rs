//! `linux.seccomp`: compiled in the parent (a pure step of the plan), installed by the init.
//!
//! A filter is installed as late as possible, right before `execve`, so the runtime's own
//! setup is not filtered. Two cases force it earlier, before the uid and capability change:
//! without `noNewPrivileges` installing needs CAP_SYS_ADMIN, and with `SCMP_ACT_NOTIFY` the
//! listener fd must reach the agent while `create` is still running.

use std::fmt;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use oci_spec::runtime::LinuxSeccomp;

use crate::{Error, Result};

/// A compiled filter and where its notifications go.
#[derive(Clone)]
pub struct SeccompPlan {
    pub filter: berth_seccomp::Filter,
    /// `listenerPath` and `listenerMetadata`, when the profile uses NOTIFY.
    pub listener: Option<(PathBuf, Option<String>)>,
    /// Install before the identity change (see the module docs).
    pub early: bool,
}

impl fmt::Debug for SeccompPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeccompPlan")
            .field("instructions", &self.filter.program().len())
            .field("listener", &self.listener)
            .field("early", &self.early)
            .finish()
    }
}

/// Compiles `linux.seccomp`; warnings (unknown syscall names) are returned beside it.
pub fn plan(s: &LinuxSeccomp, no_new_privileges: bool) -> Result<SeccompPlan> {
    let filter = berth_seccomp::compile(s).map_err(|e| Error::Other(e.to_string()))?;
    let listener = if filter.uses_notify() {
        let path = s.listener_path().clone().ok_or_else(|| {
            Error::config(
                "linux.seccomp.listenerPath",
                "SCMP_ACT_NOTIFY needs a listener path",
            )
        })?;
        Some((path, s.listener_metadata().clone()))
    } else {
        None
    };
    let early = listener.is_some() || !no_new_privileges;
    Ok(SeccompPlan {
        filter,
        listener,
        early,
    })
}

/// Loads the filter into the calling process; returns the notify listener fd, if any.
pub fn install(p: &SeccompPlan) -> Result<Option<OwnedFd>> {
    berth_seccomp::install(&p.filter).map_err(|e| Error::Other(format!("linux.seccomp: {e}")))
}

/// Hands the notify fd to the agent at `listenerPath`, with the container's state.
pub fn send_to_agent(
    p: &SeccompPlan,
    fd: &OwnedFd,
    state: &oci_spec::runtime::State,
    pid: i32,
) -> Result<()> {
    use std::os::fd::AsFd;
    let Some((path, meta)) = &p.listener else {
        return Ok(());
    };
    let msg = berth_seccomp::notify::process_state(state, pid, meta.as_deref());
    berth_seccomp::notify::send_to_listener(path, fd.as_fd(), &msg)
        .map_err(|e| Error::Other(format!("linux.seccomp.listenerPath: {e}")))
}
