//! The container process: user, rlimits, capabilities, no_new_privs, and the final `execve`.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use oci_spec::runtime::{PosixRlimitType, Process};

use crate::capabilities::{self, CapsPlan};
use crate::{Error, Result};

/// Everything about the process that the init (or `exec`) applies, already validated.
#[derive(Debug, Clone, Default)]
pub struct ProcessPlan {
    pub args: Vec<CString>,
    pub env: Vec<CString>,
    pub cwd: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub umask: Option<u32>,
    pub rlimits: Vec<(libc::__rlimit_resource_t, u64, u64, &'static str)>,
    pub caps: CapsPlan,
    pub no_new_privileges: bool,
    pub oom_score_adj: Option<i32>,
    pub terminal: bool,
    pub console_size: Option<(u16, u16)>,
    pub apparmor_profile: Option<String>,
    pub selinux_label: Option<String>,
    /// Scheduler, I/O priority, CPU affinity and (for the init) personality.
    pub attributes: crate::attributes::Attributes,
}

fn rlimit_resource(t: PosixRlimitType) -> (libc::__rlimit_resource_t, &'static str) {
    use PosixRlimitType as R;
    match t {
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
    }
}

fn cstrings(field: &str, list: &[String]) -> Result<Vec<CString>> {
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            CString::new(s.as_bytes())
                .map_err(|_| Error::config(format!("{field}[{i}]"), "contains a NUL byte"))
        })
        .collect()
}

/// Validates `process` (`field` is its JSON path: `process`, or `--process` for exec).
pub fn plan(field: &str, p: &Process) -> Result<ProcessPlan> {
    let args = p.args().as_deref().unwrap_or_default();
    if args.is_empty() || args[0].is_empty() {
        return Err(Error::config(format!("{field}.args"), "must not be empty"));
    }
    if !p.cwd().is_absolute() {
        return Err(Error::config(
            format!("{field}.cwd"),
            format!("{} is not an absolute path", p.cwd().display()),
        ));
    }
    let mut rlimits: Vec<(libc::__rlimit_resource_t, u64, u64, &'static str)> = Vec::new();
    for (i, r) in p
        .rlimits()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let (res, name) = rlimit_resource(r.typ());
        if rlimits.iter().any(|(x, ..)| *x == res) {
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
        rlimits.push((res, r.soft(), r.hard(), name));
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
    if apparmor_profile.is_some() && !crate::lsm::apparmor_enabled() {
        return Err(Error::config(
            format!("{field}.apparmorProfile"),
            "AppArmor is not enabled on this host",
        ));
    }
    let selinux_label = p.selinux_label().clone().filter(|s| !s.is_empty());
    if selinux_label.is_some() && !crate::lsm::selinux_enabled() {
        return Err(Error::config(
            format!("{field}.selinuxLabel"),
            "SELinux is not enabled on this host",
        ));
    }
    let user = p.user();
    Ok(ProcessPlan {
        args: cstrings(&format!("{field}.args"), args)?,
        env: cstrings(
            &format!("{field}.env"),
            p.env().as_deref().unwrap_or_default(),
        )?,
        cwd: p.cwd().clone(),
        uid: user.uid(),
        gid: user.gid(),
        additional_gids: user.additional_gids().clone().unwrap_or_default(),
        umask: user.umask(),
        rlimits,
        caps: capabilities::plan(&format!("{field}.capabilities"), p.capabilities().as_ref())?,
        no_new_privileges: p.no_new_privileges().unwrap_or(false),
        oom_score_adj: p.oom_score_adj(),
        terminal: p.terminal().unwrap_or(false),
        console_size: p
            .console_size()
            .map(|b| (b.height() as u16, b.width() as u16)),
        apparmor_profile,
        selinux_label,
        attributes: crate::attributes::plan(field, p, None, None)?,
    })
}

impl ProcessPlan {
    /// The value of `name` in the process environment.
    pub fn env_var(&self, name: &str) -> Option<&[u8]> {
        self.env.iter().find_map(|e| {
            let b = e.as_bytes();
            (b.len() > name.len() && b.starts_with(name.as_bytes()) && b[name.len()] == b'=')
                .then(|| &b[name.len() + 1..])
        })
    }

    /// Resolves `args[0]` as `execvp` would, with the container's `PATH`, in the current root.
    pub fn find_executable(&self) -> Result<CString> {
        let arg0 = self.args[0].as_bytes();
        let check = |p: &Path| -> std::result::Result<(), Errno> {
            nix::unistd::access(p, nix::unistd::AccessFlags::X_OK)?;
            let st = nix::sys::stat::stat(p)?;
            if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                return Err(Errno::EACCES);
            }
            Ok(())
        };
        if arg0.contains(&b'/') {
            let p = Path::new(std::ffi::OsStr::from_bytes(arg0));
            let full = if p.is_absolute() {
                p.to_path_buf()
            } else {
                self.cwd.join(p)
            };
            return match check(&full) {
                Ok(()) => Ok(self.args[0].clone()),
                // runc's wording, which dockerd matches to choose exit code 127 over 126.
                Err(e) => Err(Error::Other(format!(
                    "exec: {:?}: stat {}: {}",
                    p.display().to_string(),
                    p.display(),
                    e.desc().to_lowercase()
                ))),
            };
        }
        let path = self
            .env_var("PATH")
            .unwrap_or(b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        for dir in path.split(|b| *b == b':') {
            let dir = if dir.is_empty() { b"." as &[u8] } else { dir };
            let full =
                Path::new(std::ffi::OsStr::from_bytes(dir)).join(std::ffi::OsStr::from_bytes(arg0));
            if check(&full).is_ok() {
                return CString::new(full.as_os_str().as_bytes())
                    .map_err(|_| Error::Other("exec: path contains NUL".into()));
            }
        }
        Err(Error::Other(format!(
            "exec: {:?}: executable file not found in $PATH",
            String::from_utf8_lossy(arg0)
        )))
    }

    /// Sets the rlimits (before the uid change: raising a hard limit needs privilege).
    pub fn apply_rlimits(&self) -> Result<()> {
        for (res, soft, hard, name) in &self.rlimits {
            let lim = libc::rlimit {
                rlim_cur: *soft,
                rlim_max: *hard,
            };
            // SAFETY: `lim` is a valid rlimit; a null old-limit pointer is allowed.
            if unsafe { libc::prlimit(0, *res, &lim, std::ptr::null_mut()) } != 0 {
                return Err(Error::call(name, Errno::last()));
            }
        }
        Ok(())
    }

    /// Drops the bounding set, switches to the configured user and group while keeping
    /// capabilities, then sets the remaining capability sets and `no_new_privs`.
    pub fn apply_identity(&self) -> Result<()> {
        self.attributes.apply()?;
        if let Some(cpus) = &self.attributes.cpus_initial {
            crate::attributes::set_affinity(cpus, "process.execCPUAffinity.initial")?;
        }
        self.caps.apply_bounding()?;
        prctl::set_keep_capabilities(true)
            .map_err(|e| Error::call("prctl(PR_SET_KEEPCAPS)", Errno::from_raw(e)))?;
        let gids: Vec<nix::unistd::Gid> =
            self.additional_gids.iter().map(|g| (*g).into()).collect();
        // setgroups is refused in a user namespace whose gid map was written without
        // privilege ("deny"); that is only an error if groups were asked for.
        if let Err(e) = nix::unistd::setgroups(&gids) {
            if !(e == Errno::EPERM && gids.is_empty()) {
                return Err(Error::call("setgroups", e));
            }
        }
        let gid = nix::unistd::Gid::from_raw(self.gid);
        nix::unistd::setresgid(gid, gid, gid).map_err(|e| Error::call("setresgid", e))?;
        let uid = nix::unistd::Uid::from_raw(self.uid);
        nix::unistd::setresuid(uid, uid, uid).map_err(|e| Error::call("setresuid", e))?;
        prctl::set_keep_capabilities(false)
            .map_err(|e| Error::call("prctl(PR_SET_KEEPCAPS)", Errno::from_raw(e)))?;
        self.caps.apply_sets()?;
        if let Some(mask) = self.umask {
            nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
        }
        if self.no_new_privileges {
            prctl::set_no_new_privileges(true)
                .map_err(|e| Error::call("prctl(PR_SET_NO_NEW_PRIVS)", Errno::from_raw(e)))?;
        }
        Ok(())
    }

    /// Whether setting up this process writes to procfs (see [`crate::procfs`]).
    pub fn writes_procfs(&self) -> bool {
        self.oom_score_adj.is_some()
            || self.apparmor_profile.is_some()
            || self.selinux_label.is_some()
    }

    /// Requests the AppArmor profile and SELinux label for the coming `execve`.
    pub fn apply_labels(&self, proc: &crate::procfs::Proc) -> Result<()> {
        crate::lsm::apply(
            proc,
            self.apparmor_profile.as_deref(),
            self.selinux_label.as_deref(),
        )
    }

    /// Writes `oomScoreAdj` for the calling process.
    pub fn apply_oom_score_adj(&self, proc: &crate::procfs::Proc) -> Result<()> {
        if let Some(adj) = self.oom_score_adj {
            proc.write("self/oom_score_adj", adj.to_string().as_bytes())
                .map_err(|e| Error::Other(format!("process.oomScoreAdj: {e}")))?;
        }
        Ok(())
    }

    /// Replaces the process image with the checked executable; returns only on failure.
    pub fn exec(
        &self,
        path: &CString,
        checked: &(std::os::fd::OwnedFd, crate::exe_guard::Kind),
    ) -> Error {
        if let crate::exe_guard::Kind::Elf = checked.1 {
            return crate::exe_guard::exec_fd(&checked.0, &self.args, &self.env);
        }
        let e = nix::unistd::execve(path, &self.args, &self.env).unwrap_err();
        Error::Other(format!("exec {:?}: {}", path, e.desc()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(json: &str) -> Process {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn empty_args_and_relative_cwd_are_rejected() {
        let e = plan(
            "process",
            &process(r#"{"user":{"uid":0,"gid":0},"cwd":"/","args":[]}"#),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "process.args: must not be empty");
        let e = plan(
            "process",
            &process(r#"{"user":{"uid":0,"gid":0},"cwd":"tmp","args":["sh"]}"#),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("process.cwd"));
    }

    #[test]
    fn rlimits_are_checked() {
        let p = process(
            r#"{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"],
               "rlimits":[{"type":"RLIMIT_NOFILE","soft":10,"hard":5}]}"#,
        );
        assert!(plan("process", &p)
            .unwrap_err()
            .to_string()
            .contains("rlimits[0]"));
        let p = process(
            r#"{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"],
               "rlimits":[{"type":"RLIMIT_CORE","soft":1,"hard":1},{"type":"RLIMIT_CORE","soft":1,"hard":1}]}"#,
        );
        assert!(plan("process", &p)
            .unwrap_err()
            .to_string()
            .contains("duplicate RLIMIT_CORE"));
    }

    #[test]
    fn env_lookup() {
        let p = plan(
            "process",
            &process(r#"{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"],"env":["PATHX=1","PATH=/bin"]}"#),
        )
        .unwrap();
        assert_eq!(p.env_var("PATH"), Some(&b"/bin"[..]));
        assert_eq!(p.env_var("HOME"), None);
    }
}
