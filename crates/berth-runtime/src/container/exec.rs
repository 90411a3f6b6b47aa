//! `exec`: another process in a running container. It joins the container's namespaces (the
//! user namespace first) and every cgroup hierarchy its init is in, and goes through the same
//! setup pipeline as the init, the container's seccomp filter included.

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;

use oci_spec::runtime::Process;

use super::create::{hand_to_agent, Console, Recorded};
use super::{cgroup, write_pid_file, Container};
use crate::plan::namespaces::{proc_name, JOIN_ORDER};
use crate::plan::{self, HookContext};
use crate::spawn::job::{ConsoleMode, FdRole, Job, Kind};
use crate::spawn::sync::Msg;
use crate::spawn::{self, Stdio};
use crate::state::{Status, Verb};
use crate::{Error, Result};

/// Changes to the container's own process for `exec` without `--process` (runc's flags).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub args: Vec<String>,
    /// `KEY=value`, replacing the container's value of `KEY`.
    pub env: Vec<String>,
    pub cwd: Option<PathBuf>,
    /// uid and gid.
    pub user: Option<(u32, u32)>,
    pub additional_gids: Vec<u32>,
    /// Capabilities added to every set (`CAP_NET_ADMIN`).
    pub caps: Vec<String>,
    pub no_new_privileges: bool,
    pub apparmor_profile: Option<String>,
    pub selinux_label: Option<String>,
    pub terminal: bool,
}

impl Overrides {
    fn apply(&self, p: &mut Process) -> Result<()> {
        p.set_args(Some(self.args.clone()));
        p.set_terminal(Some(self.terminal));
        p.set_console_size(None);
        let mut env = p.env().clone().unwrap_or_default();
        for e in &self.env {
            let key = e.split('=').next().unwrap_or_default();
            env.retain(|x| x.split('=').next() != Some(key));
            env.push(e.clone());
        }
        p.set_env(Some(env));
        if let Some(cwd) = &self.cwd {
            p.set_cwd(cwd.clone());
        }
        if let Some((uid, gid)) = self.user {
            p.user_mut().set_uid(uid);
            p.user_mut().set_gid(gid);
        }
        if !self.additional_gids.is_empty() {
            p.user_mut()
                .set_additional_gids(Some(self.additional_gids.clone()));
        }
        if !self.caps.is_empty() {
            let mut c = p.capabilities().clone().unwrap_or_default();
            let mut add = Vec::new();
            for name in &self.caps {
                let cap: oci_spec::runtime::Capability = name
                    .trim_start_matches("CAP_")
                    .parse()
                    .map_err(|_| Error::Invalid {
                        what: "--cap",
                        msg: format!("unknown capability {name}"),
                    })?;
                add.push(cap);
            }
            let with = |set: &Option<oci_spec::runtime::Capabilities>| {
                let mut set = set.clone().unwrap_or_default();
                set.extend(add.iter().copied());
                Some(set)
            };
            c.set_bounding(with(c.bounding()));
            c.set_effective(with(c.effective()));
            c.set_permitted(with(c.permitted()));
            // Ambient needs inheritable, which --cap does not add (as runc).
            if c.inheritable().is_some() {
                c.set_ambient(with(c.ambient()));
            }
            p.set_capabilities(Some(c));
        }
        if self.no_new_privileges {
            p.set_no_new_privileges(Some(true));
        }
        if self.apparmor_profile.is_some() {
            p.set_apparmor_profile(self.apparmor_profile.clone());
        }
        if self.selinux_label.is_some() {
            p.set_selinux_label(self.selinux_label.clone());
        }
        Ok(())
    }
}

/// Options of `exec`.
#[derive(Debug, Default)]
pub struct ExecOptions {
    /// The process (`--process`). `None`: the container's own process with
    /// [`ExecOptions::overrides`].
    pub process: Option<Process>,
    pub overrides: Overrides,
    /// How the process is named in errors (`--process`, or `process`).
    pub field: String,
    pub console: Console,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: i32,
    pub stdio: Stdio,
    /// Exec into a paused container too (runc's `--ignore-paused`).
    pub ignore_paused: bool,
    /// Sub-cgroups of the container's to join: `[controller:]path` (runc's `--cgroup`).
    pub cgroups: Vec<String>,
    /// A helper the caller started earlier with [`spawn::start`], for these `preserve_fds`
    /// and `stdio` and the runtime's init binary, so that its exec overlaps the caller's own
    /// start-up. `None`: exec starts one itself. One started for other `preserve_fds` is
    /// killed and replaced.
    pub helper: Option<spawn::Helper>,
}

/// A started exec process, a child of the caller.
#[derive(Debug)]
pub struct Execed {
    pub pid: i32,
    pub pidfd: OwnedFd,
    pub master: Option<OwnedFd>,
}

/// The namespaces of process `pid` that an exec'd process joins, opened, in [`JOIN_ORDER`]:
/// each type the container made of its own (`new`, from its record), and each other type
/// whose namespace differs from the caller's (setns into the caller's own user namespace
/// fails, and into one owned by the host after the container's user namespace is refused).
/// Namespaces are compared by their links (`net:[4026531840]`), which a readlink gives
/// without the nsfs inode a stat makes; a compared type the kernel lacks (no link on either
/// side) is left out. `new` is `None` for a record without it: every type is compared.
fn namespaces_to_join(pid: i32, new: Option<&[String]>) -> Result<Vec<(CloneFlags, OwnedFd)>> {
    let dir_flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let theirs = format!("/proc/{pid}/ns");
    let dir = nix::fcntl::open(theirs.as_str(), dir_flags, Mode::empty())
        .map_err(|e| Error::sys("open", &theirs, e))?;
    let mut ours = None;
    let mut out = Vec::new();
    for flag in JOIN_ORDER {
        let name = proc_name(flag);
        let compare = !new.is_some_and(|n| n.iter().any(|x| x == name));
        if compare {
            if ours.is_none() {
                ours = Some(
                    nix::fcntl::open("/proc/self/ns", dir_flags, Mode::empty())
                        .map_err(|e| Error::sys("open", "/proc/self/ns", e))?,
                );
            }
            let ours = ours.as_ref().expect("opened above");
            match (
                nix::fcntl::readlinkat(&dir, name),
                nix::fcntl::readlinkat(ours, name),
            ) {
                (Ok(a), Ok(b)) if a != b => {}
                _ => continue,
            }
        }
        let fd = nix::fcntl::openat(
            &dir,
            name,
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::sys("open namespace", format!("{theirs}/{name}"), e))?;
        out.push((flag, fd));
    }
    Ok(out)
}

impl Container {
    /// The container's own process (from its config), as `exec` without `--process` starts
    /// from.
    pub fn process(&self) -> Result<Process> {
        Ok(Recorded::load(&self.dir)?.exec.process.unwrap_or_default())
    }

    /// Starts the process; returns once it has exec'd (or with the reason it could not).
    pub fn exec(&self, mut opts: ExecOptions) -> Result<Execed> {
        // The init, pinned before its status is checked: if it exits while its namespaces
        // and cgroups are gathered below (its pid free for another process), this fd says
        // so. `None` without pidfds (before Linux 5.3): the status is read again instead.
        let init = crate::sys::pidfd::open(self.state.pid).ok();
        self.check(if opts.ignore_paused {
            Verb::ExecIgnorePaused
        } else {
            Verb::Exec
        })?;
        // The helper execs while we gather the container's cgroups, read its config and open
        // its namespaces; the job goes to it once it is ready. An error below kills and
        // reaps it.
        let helper = match opts.helper.take() {
            Some(h) if h.preserve_fds() == opts.preserve_fds => h,
            _ => spawn::start(
                opts.preserve_fds,
                &opts.stdio,
                self.rt.init_binary.as_deref(),
            )?,
        };
        // The container's v1 cgroups go to the helper first: it joins them (the costliest
        // step of its job) while we read the container's config and plan the process.
        let pid = self.state.pid;
        let subs = opts
            .cgroups
            .iter()
            .map(|s| cgroup::parse_sub(s))
            .collect::<Result<Vec<_>>>()?;
        let stopped = || Error::WrongState {
            verb: Verb::Exec,
            id: self.state.id.clone(),
            status: Status::Stopped,
        };
        let exited = || match &init {
            Some(fd) => crate::sys::pidfd::poll_in(fd.as_fd(), 0),
            None => self.status() == Status::Stopped,
        };
        let (procs, dir) = cgroup::for_exec(pid, &self.state.cgroup_mounts, &subs)
            .map_err(|e| if exited() { stopped() } else { e })?;
        let mut roles = Vec::new();
        let mut fds: Vec<OwnedFd> = Vec::new();
        // Only a helper of this very binary knows the message; another init binary (an
        // older berth's, say) gets the files with its job.
        if self.rt.init_binary.is_none() {
            if !procs.is_empty() {
                helper.join(procs)?;
            }
        } else {
            for p in procs {
                roles.push(FdRole::CgroupProcs);
                fds.push(p);
            }
        }
        let recorded = Recorded::load(&self.dir)?;
        let own = recorded.exec.process.clone().unwrap_or_default();
        let process = match opts.process {
            Some(mut p) => {
                if opts.overrides.terminal {
                    p.set_terminal(Some(true));
                }
                // As runc: an exec'd process is confined like the container unless it asks
                // otherwise.
                if p.apparmor_profile()
                    .as_deref()
                    .unwrap_or_default()
                    .is_empty()
                {
                    p.set_apparmor_profile(own.apparmor_profile().clone());
                }
                if p.selinux_label().as_deref().unwrap_or_default().is_empty() {
                    p.set_selinux_label(own.selinux_label().clone());
                }
                p
            }
            None => {
                let mut p = own;
                opts.overrides.apply(&mut p)?;
                p
            }
        };
        let field = if opts.field.is_empty() {
            "process".to_string()
        } else {
            opts.field.clone()
        };
        let plan = plan::process::plan(&field, &process, &self.rt.host)?;
        // The container's filter applies to exec'd processes too (as runc).
        let seccomp = match &recorded.exec.seccomp {
            Some(s) => Some(plan::seccomp::plan("linux.seccomp", s, plan.no_new_privileges)?.0),
            None => None,
        };
        let console = match (plan.terminal, &opts.console) {
            (false, _) => ConsoleMode::None,
            (true, Console::Socket(_)) => ConsoleMode::Socket,
            (true, Console::Return) => ConsoleMode::Return,
            (true, Console::None) => {
                return Err(Error::config(
                    format!("{field}.terminal"),
                    "a terminal needs --console-socket",
                ))
            }
        };
        if let (ConsoleMode::Socket, Console::Socket(path)) = (console, &opts.console) {
            let s = std::os::unix::net::UnixStream::connect(path)
                .map_err(|e| Error::io("connect console socket", path, e))?;
            roles.push(FdRole::Console);
            fds.push(OwnedFd::from(s));
        }
        if let Some(d) = dir {
            roles.push(FdRole::CgroupDir);
            fds.push(d);
        }
        let namespaces = namespaces_to_join(pid, recorded.exec.new_namespaces.as_deref())
            .map_err(|e| if exited() { stopped() } else { e })?;
        for (flag, fd) in namespaces {
            roles.push(FdRole::Namespace(flag.bits()));
            fds.push(fd);
        }
        // The init may have exited while we gathered its namespaces.
        if exited() {
            return Err(stopped());
        }
        let view = spawn::view::of(self.rt.init_binary.as_deref())?;
        let job = Job {
            parent_pid: std::process::id() as i32,
            kind: Kind::Exec,
            process: plan,
            seccomp: seccomp.clone(),
            console,
            preserve_fds: opts.preserve_fds,
            runtime: view.identity,
            fds: roles,
            process_field: field,
        };
        let (child, helper) = helper.launch(&job, fds)?;
        // We have its pid and pidfd: it may go on (and send, fail or exit). The helper is
        // reaped after that, while the process sets up.
        if let Err(e) = child.chan.send(Msg::Go) {
            child.kill();
            return Err(e);
        }
        drop(helper);
        self.rt
            .step(|| format!("exec {}: process started, pid {}", self.state.id, child.pid));
        let mut master = None;
        let r = (|| loop {
            match child.chan.recv()? {
                // EOF: it exec'd (its end of the channel is close-on-exec).
                None => return Ok(()),
                Some(Msg::Error(e)) => return Err(Error::Init(e)),
                Some(Msg::Console(fd)) => master = Some(fd),
                Some(Msg::Seccomp(n)) => {
                    // What the agent is told of the container (only asked for here).
                    let status = match self.status() {
                        Status::Created => (oci_spec::runtime::ContainerState::Created, pid),
                        _ => (oci_spec::runtime::ContainerState::Running, pid),
                    };
                    let ctx: HookContext = self.hook_context();
                    hand_to_agent(seccomp.as_ref(), &ctx, &child, n, status)?;
                    child.chan.send(Msg::SeccompDone)?;
                }
                Some(m) => return Err(Error::Protocol(format!("unexpected {m:?} during exec"))),
            }
        })();
        if let Err(e) = r {
            child.kill();
            return Err(e);
        }
        self.rt
            .step(|| format!("exec {}: pid {} exec'd", self.state.id, child.pid));
        if let Some(pf) = &opts.pid_file {
            if let Err(e) = write_pid_file(pf, child.pid.as_raw()) {
                child.kill();
                return Err(e);
            }
        }
        Ok(Execed {
            pid: child.pid.as_raw(),
            pidfd: child.pidfd,
            master,
        })
    }
}
