//! `linux.seccomp`: compiled in the parent (a pure step of the plan), installed by the init.
//!
//! A filter is installed as late as possible, right before the container waits for `start`
//! (runc does the same, so `startContainer` hooks run under it), so the runtime's own setup is
//! not filtered. Two cases force it earlier, before the uid and capability change: without
//! `noNewPrivileges` installing needs CAP_SYS_ADMIN, and with `SCMP_ACT_NOTIFY` the listener
//! fd must reach the agent while `create` is still running.

use std::path::PathBuf;

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction};

use crate::{Error, Result};

/// A compiled filter and where its notifications go.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SeccompPlan {
    /// The program, as [`berth_seccomp::Filter::to_bytes`] encodes it.
    pub program: Vec<u8>,
    /// `listenerPath` and `listenerMetadata`, when the profile uses NOTIFY.
    pub listener: Option<(PathBuf, Option<String>)>,
    /// Install before the identity change (see the module docs).
    pub early: bool,
}

impl std::fmt::Debug for SeccompPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeccompPlan")
            .field("bytes", &self.program.len())
            .field("listener", &self.listener)
            .field("early", &self.early)
            .finish()
    }
}

/// Compiles `linux.seccomp` (`field` is its JSON path); warnings (unknown syscall names) are
/// returned beside it.
pub fn plan(
    field: &str,
    s: &LinuxSeccomp,
    no_new_privileges: bool,
) -> Result<(SeccompPlan, Vec<String>)> {
    // After installing a NOTIFY filter the process tells its parent the listener fd with
    // one write(2); were that write held for an agent that has no fd yet, it would never
    // return (runc refuses this too).
    for (i, rule) in s
        .syscalls()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        if rule.action() == LinuxSeccompAction::ScmpActNotify
            && rule.names().iter().any(|n| n == "write")
        {
            return Err(Error::config(
                format!("{field}.syscalls[{i}]"),
                "SCMP_ACT_NOTIFY cannot be used for the write syscall",
            ));
        }
    }
    let filter = berth_seccomp::compile(s)?;
    let listener = if filter.uses_notify() {
        let path = s.listener_path().clone().ok_or_else(|| {
            Error::config(
                format!("{field}.listenerPath"),
                "SCMP_ACT_NOTIFY needs a listener path",
            )
        })?;
        Some((path, s.listener_metadata().clone()))
    } else {
        None
    };
    let early = listener.is_some() || !no_new_privileges;
    Ok((
        SeccompPlan {
            program: filter.to_bytes(),
            listener,
            early,
        },
        filter.warnings().to_vec(),
    ))
}

impl SeccompPlan {
    /// The filter to install.
    pub fn filter(&self) -> Result<berth_seccomp::Filter> {
        berth_seccomp::Filter::from_bytes(&self.program)
            .ok_or_else(|| Error::Protocol("malformed seccomp program".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_on_write_is_refused_and_notify_needs_a_listener() {
        let s: LinuxSeccomp = serde_json::from_str(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/agent.sock",
                "syscalls":[{"names":["openat"],"action":"SCMP_ACT_NOTIFY"},
                            {"names":["write","read"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        )
        .unwrap();
        let e = plan("linux.seccomp", &s, true).unwrap_err().to_string();
        assert!(e.contains("linux.seccomp.syscalls[1]"), "{e}");
        let s: LinuxSeccomp = serde_json::from_str(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "syscalls":[{"names":["openat"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        )
        .unwrap();
        let e = plan("linux.seccomp", &s, true).unwrap_err().to_string();
        assert!(e.contains("listenerPath"), "{e}");
    }

    #[test]
    fn the_filter_comes_back_from_the_plan() {
        let s: LinuxSeccomp = serde_json::from_str(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#,
        )
        .unwrap();
        let (p, _) = plan("linux.seccomp", &s, true).unwrap();
        assert!(!p.early);
        assert!(p.filter().unwrap().program().len() > 3);
    }
}
