//! `process` (and an exec's process): arguments, environment, user, rlimits, capabilities,
//! terminal, LSM labels and attributes, validated into a [`ProcessPlan`].

use std::path::PathBuf;

use oci_spec::runtime::{PosixRlimitType, Process};

use super::attributes::{self, Attributes};
use super::capabilities::{self, CapsPlan};
use super::host::HostFacts;
use crate::{Error, Result};

/// One rlimit to set.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rlimit {
    pub resource: u32,
    pub soft: u64,
    pub hard: u64,
    pub name: String,
}

/// Everything about the process that the init (or `exec`) applies, already validated.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProcessPlan {
    /// Non-empty; no NUL bytes.
    pub args: Vec<String>,
    /// `KEY=value` entries; no NUL bytes.
    pub env: Vec<String>,
    pub cwd: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub umask: Option<u32>,
    pub rlimits: Vec<Rlimit>,
    pub caps: CapsPlan,
    pub no_new_privileges: bool,
    pub oom_score_adj: Option<i32>,
    pub terminal: bool,
    pub console_size: Option<(u16, u16)>,
    pub apparmor_profile: Option<String>,
    pub selinux_label: Option<String>,
    /// Scheduler, I/O priority, CPU affinity and (for the init) personality, memory policy.
    pub attributes: Attributes,
}

fn rlimit_resource(t: PosixRlimitType) -> (u32, &'static str) {
    use PosixRlimitType as R;
    let (r, n) = match t {
        R::RlimitCpu => (libc::RLIMIT_CPU, "RLIMIT_CPU"),
        R::RlimitFsize => (libc::RLIMIT_FSIZE, "RLIMIT_FSIZE"),
        R::RlimitData => (libc::RLIMIT_DATA, "RLIMIT_DATA"),
        R::RlimitStack => (libc::RLIMIT_STACK, "RLIMIT_STACK"),
        R::RlimitCore => (libc::RLIMIT_CORE, "RLIMIT_CORE"),
        R::RlimitRss => (libc::RLIMIT_RSS, "RLIMIT_RSS"),
        R::RlimitNproc => (libc::RLIMIT_NPROC, "RLIMIT_NPROC"),
        R::RlimitNofile => (libc::RLIMIT_NOFILE, "RLIMIT_NOFILE"),
        R::RlimitMemlock => (libc::RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK"),
        R::RlimitAs => (libc::RLIMIT_AS, "RLIMIT_AS"),
        R::RlimitLocks => (libc::RLIMIT_LOCKS, "RLIMIT_LOCKS"),
        R::RlimitSigpending => (libc::RLIMIT_SIGPENDING, "RLIMIT_SIGPENDING"),
        R::RlimitMsgqueue => (libc::RLIMIT_MSGQUEUE, "RLIMIT_MSGQUEUE"),
        R::RlimitNice => (libc::RLIMIT_NICE, "RLIMIT_NICE"),
        R::RlimitRtprio => (libc::RLIMIT_RTPRIO, "RLIMIT_RTPRIO"),
        R::RlimitRttime => (libc::RLIMIT_RTTIME, "RLIMIT_RTTIME"),
    };
    (r, n)
}

fn no_nul(field: &str, list: &[String]) -> Result<()> {
    for (i, s) in list.iter().enumerate() {
        if s.contains('\0') {
            return Err(Error::config(
                format!("{field}[{i}]"),
                "contains a NUL byte",
            ));
        }
    }
    Ok(())
}

/// Validates `process` (`field` is its JSON path: `process`, or `--process` for exec).
pub fn plan(field: &str, p: &Process, host: &HostFacts) -> Result<ProcessPlan> {
    let args = p.args().as_deref().unwrap_or_default();
    if args.is_empty() || args[0].is_empty() {
        return Err(Error::config(format!("{field}.args"), "must not be empty"));
    }
    no_nul(&format!("{field}.args"), args)?;
    let env = p.env().as_deref().unwrap_or_default();
    no_nul(&format!("{field}.env"), env)?;
    for (i, e) in env.iter().enumerate() {
        match e.split_once('=') {
            Some((k, _)) if !k.is_empty() => {}
            _ => {
                return Err(Error::config(
                    format!("{field}.env[{i}]"),
                    format!("{e:?} is not of the form KEY=value"),
                ))
            }
        }
    }
    if !p.cwd().is_absolute() {
        return Err(Error::config(
            format!("{field}.cwd"),
            format!("{} is not an absolute path", p.cwd().display()),
        ));
    }
    let mut rlimits: Vec<Rlimit> = Vec::new();
    for (i, r) in p
        .rlimits()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let (resource, name) = rlimit_resource(r.typ());
        if rlimits.iter().any(|x| x.resource == resource) {
            return Err(Error::config(
                format!("{field}.rlimits[{i}].type"),
                format!("duplicate {name}"),
            ));
        }
        if r.soft() > r.hard() {
            return Err(Error::config(
                format!("{field}.rlimits[{i}]"),
                format!(
                    "{name} soft limit {} is above the hard limit {}",
                    r.soft(),
                    r.hard()
                ),
            ));
        }
        rlimits.push(Rlimit {
            resource,
            soft: r.soft(),
            hard: r.hard(),
            name: name.to_string(),
        });
    }
    if let Some(adj) = p.oom_score_adj() {
        if !(-1000..=1000).contains(&adj) {
            return Err(Error::config(
                format!("{field}.oomScoreAdj"),
                format!("{adj} is outside -1000..1000"),
            ));
        }
    }
    let apparmor_profile = p.apparmor_profile().clone().filter(|s| !s.is_empty());
    if apparmor_profile.is_some() && !host.apparmor {
        return Err(Error::config(
            format!("{field}.apparmorProfile"),
            "AppArmor is not enabled on this host",
        ));
    }
    let selinux_label = p.selinux_label().clone().filter(|s| !s.is_empty());
    if selinux_label.is_some() && !host.selinux {
        return Err(Error::config(
            format!("{field}.selinuxLabel"),
            "SELinux is not enabled on this host",
        ));
    }
    let caps = capabilities::plan(&format!("{field}.capabilities"), p.capabilities().as_ref())?;
    let beyond = caps.beyond(host.bounding);
    if beyond != 0 {
        return Err(Error::config(
            format!("{field}.capabilities"),
            format!(
                "{} not in the runtime's bounding set, cannot be granted",
                capabilities::names(beyond)
            ),
        ));
    }
    let user = p.user();
    Ok(ProcessPlan {
        args: args.to_vec(),
        env: env.to_vec(),
        cwd: p.cwd().clone(),
        uid: user.uid(),
        gid: user.gid(),
        additional_gids: user.additional_gids().clone().unwrap_or_default(),
        umask: user.umask(),
        rlimits,
        caps,
        no_new_privileges: p.no_new_privileges().unwrap_or(false),
        oom_score_adj: p.oom_score_adj(),
        terminal: p.terminal().unwrap_or(false),
        console_size: p
            .console_size()
            .map(|b| (b.height() as u16, b.width() as u16)),
        apparmor_profile,
        selinux_label,
        attributes: attributes::plan(field, p, None, None)?,
    })
}

impl ProcessPlan {
    /// The value of `name` in the process environment.
    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .find_map(|e| e.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
    }

    /// Whether setting up this process writes to procfs (see [`crate::procfs`]).
    pub fn writes_procfs(&self) -> bool {
        self.oom_score_adj.is_some()
            || self.apparmor_profile.is_some()
            || self.selinux_label.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(json: &str) -> Process {
        serde_json::from_str(json).unwrap()
    }

    fn plan_of(json: &str) -> Result<ProcessPlan> {
        plan("process", &process(json), &HostFacts::for_tests())
    }

    #[test]
    fn empty_args_and_relative_cwd_are_rejected() {
        let e = plan_of(r#"{"user":{"uid":0,"gid":0},"cwd":"/","args":[]}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid configuration: process.args: must not be empty"
        );
        let e = plan_of(r#"{"user":{"uid":0,"gid":0},"cwd":"tmp","args":["sh"]}"#).unwrap_err();
        assert!(e.to_string().contains("process.cwd"));
    }

    #[test]
    fn env_entries_need_an_equals_sign() {
        let e = plan_of(r#"{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"],"env":["A=1","B"]}"#)
            .unwrap_err();
        assert!(e.to_string().contains("process.env[1]"), "{e}");
        let e = plan_of(r#"{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"],"env":["=x"]}"#)
            .unwrap_err();
        assert!(e.to_string().contains("process.env[0]"), "{e}");
    }

    #[test]
    fn rlimits_are_checked() {
        let e = plan_of(
            r#"{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"],
               "rlimits":[{"type":"RLIMIT_NOFILE","soft":10,"hard":5}]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("rlimits[0]"));
        let e = plan_of(
            r#"{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"],
               "rlimits":[{"type":"RLIMIT_CORE","soft":1,"hard":1},{"type":"RLIMIT_CORE","soft":1,"hard":1}]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("duplicate RLIMIT_CORE"));
    }

    #[test]
    fn capabilities_beyond_the_bounding_set_are_named() {
        let mut host = HostFacts::for_tests();
        host.bounding = caps::Capability::CAP_KILL.bitmask();
        let e = plan(
            "process",
            &process(
                r#"{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"],
                   "capabilities":{"bounding":["CAP_KILL","CAP_SYS_RESOURCE"]}}"#,
            ),
            &host,
        )
        .unwrap_err();
        assert!(e.to_string().contains("CAP_SYS_RESOURCE"), "{e}");
    }

    #[test]
    fn env_lookup() {
        let p = plan_of(
            r#"{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"],"env":["PATHX=1","PATH=/bin"]}"#,
        )
        .unwrap();
        assert_eq!(p.env_var("PATH"), Some("/bin"));
        assert_eq!(p.env_var("HOME"), None);
    }
}
