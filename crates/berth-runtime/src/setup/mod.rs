//! The child side of putting a process into a container: the runtime's helper process
//! (`berth init`, exec'd by [`crate::spawn`] from a read-only view of the runtime binary) and
//! the one setup pipeline that the container's init and an exec'd process share.
//!
//! The helper joins the namespaces given by path (the user namespace first, so it owns what
//! is created next), unshares a new time namespace, and clones the process with the new
//! namespaces and `CLONE_PARENT`, so the process is a child of the runtime's caller (which
//! waits for it and reaps it), while the caller itself never changes namespace. The process
//! then runs the pipeline; every step is a function of its own module, and the steps both
//! kinds run (cwd check, executable check, labels, seccomp, identity, `execve`) exist once.

pub mod cgroupfs;
pub mod console;
pub mod devices;
pub mod exe_guard;
pub mod exec;
pub mod lsm;
pub mod mounts;
pub mod paths;
pub mod pivot;
pub mod process;
pub mod resolve;
pub mod rootfs;
pub mod seccomp;

use std::convert::Infallible;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::sched::{setns, unshare, CloneFlags};

use crate::plan::namespaces::CLONE_NEWTIME;
use crate::procfs::Proc;
use crate::spawn::job::{FdRole, InitJob, Job, Kind, StartMode};
use crate::spawn::sync::{Channel, Msg};
use crate::state::oci::hook_state;
use crate::sys::clone::{exit_now, fork_with, Forked};
use crate::{hooks, sys, Error, Result};

/// The fds that came with the job, by role.
#[derive(Default)]
struct JobFds {
    console: Option<OwnedFd>,
    start: Option<OwnedFd>,
    trees: Option<OwnedFd>,
    cgroup_dir: Option<OwnedFd>,
    cgroup_procs: Vec<OwnedFd>,
    namespaces: Vec<(CloneFlags, OwnedFd)>,
}

impl JobFds {
    fn sort(roles: &[FdRole], fds: Vec<OwnedFd>) -> Result<JobFds> {
        if roles.len() != fds.len() {
            return Err(Error::Protocol(format!(
                "{} fds for {} roles",
                fds.len(),
                roles.len()
            )));
        }
        let mut out = JobFds::default();
        for (role, fd) in roles.iter().zip(fds) {
            match role {
                FdRole::Console => out.console = Some(fd),
                FdRole::StartListener => out.start = Some(fd),
                FdRole::Idmap => out.trees = Some(fd),
                FdRole::CgroupDir => out.cgroup_dir = Some(fd),
                FdRole::CgroupProcs => out.cgroup_procs.push(fd),
                FdRole::Namespace(flag) => out
                    .namespaces
                    .push((CloneFlags::from_bits_retain(*flag), fd)),
            }
        }
        Ok(out)
    }
}

/// The helper's entry point: `slot` is its channel's fd. Never returns.
pub fn main(slot: RawFd) -> ! {
    let chan = Channel(sys::adopt(slot));
    let err = match helper(&chan, slot) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    chan.send_error(&err);
    exit_now(1)
}

/// Moves the calling process into the cgroups whose `tasks` (or `cgroup.procs`) files these
/// are.
fn join_cgroups(tasks: &[OwnedFd]) -> Result<()> {
    for t in tasks {
        nix::unistd::write(t, b"0").map_err(|e| Error::call("join the container's cgroup", e))?;
    }
    Ok(())
}

/// Moves a received fd above the preserved range (it may have landed in a hole there).
fn above(fd: OwnedFd, min: RawFd) -> Result<OwnedFd> {
    if fd.as_raw_fd() >= min {
        return Ok(fd);
    }
    nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(min))
        .map(sys::adopt)
        .map_err(|e| Error::call("fcntl(F_DUPFD_CLOEXEC)", e))
}

fn helper(chan: &Channel, slot: RawFd) -> Result<Infallible> {
    // No other process may open our /proc entries (and through them our fds or the runtime
    // binary) while we set up; execve resets this.
    prctl::set_dumpable(false)
        .map_err(|e| Error::call("prctl(PR_SET_DUMPABLE)", nix::errno::Errno::from_raw(e)))?;
    let _ = nix::fcntl::fcntl(
        &chan.0,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
    // Die with the runtime until the container is handed off.
    sys::set_parent_death_signal(libc::SIGKILL)
        .map_err(|e| Error::call("prctl(PR_SET_PDEATHSIG)", e))?;
    // Whatever else the caller left open must not reach the container.
    sys::close_from_except(slot + 1, &[], false);
    // While the job is still on its way: the process cloned below then starts with every
    // signal at its default and none blocked, and need not reset them before its exec.
    sys::reset_signals_for_children();
    // Exec: the container's v1 cgroups may come first (see [`Msg::Join`]).
    let (data, fds) = loop {
        match chan.expect(|m| matches!(m, Msg::Job(..) | Msg::Join(..)), "its start")? {
            Msg::Join(tasks) => join_cgroups(&tasks)?,
            Msg::Job(data, fds) => break (data, fds),
            _ => unreachable!("expect matched Job or Join"),
        }
    };
    let fds = fds
        .into_iter()
        .map(|f| above(f, slot + 1))
        .collect::<Result<Vec<_>>>()?;
    let job: Job = serde_json::from_slice(&data)
        .map_err(|e| Error::Protocol(format!("decode the job: {e}")))?;
    // The parent died before we could set PDEATHSIG: we were reparented.
    if nix::unistd::getppid().as_raw() != job.parent_pid {
        exit_now(1);
    }
    let mut fds = JobFds::sort(&job.fds, fds)?;
    // Join the cgroup while the host's cgroupfs is still visible: the process cloned below
    // is born in it.
    join_cgroups(&fds.cgroup_procs)?;
    fds.cgroup_procs.clear();
    match &job.kind {
        Kind::Init(init) => {
            join(&fds.namespaces)?;
            if init.ns.new_time {
                unshare(CloneFlags::from_bits_retain(CLONE_NEWTIME))
                    .map_err(|e| Error::call("unshare(CLONE_NEWTIME)", e))?;
                if let Some(offsets) = &init.time_offsets {
                    crate::procfs::write_checked(
                        Path::new("/proc/self/timens_offsets"),
                        offsets.as_bytes(),
                    )
                    .map_err(|e| e.in_field("linux.timeOffsets"))?;
                }
            }
            let flags = init.ns.clone_flags.bits() | libc::CLONE_PARENT;
            // An unprivileged parent writes the new user namespace's maps through /proc of
            // the init, which needs it dumpable (runc does the same); it turns non-dumpable
            // again at Go.
            if init.ns.new_user {
                prctl::set_dumpable(true).map_err(|e| {
                    Error::call("prctl(PR_SET_DUMPABLE)", nix::errno::Errno::from_raw(e))
                })?;
            }
            match fork_with(flags, fds.cgroup_dir.as_ref().map(|f| f.as_fd()))
                .map_err(|e| Error::call("clone the container's init", e))?
            {
                Forked::Parent(pid) => {
                    chan.send(Msg::Pid(pid.as_raw()))?;
                    exit_now(0)
                }
                Forked::Child => {
                    fds.cgroup_dir = None;
                    fds.namespaces.clear();
                    Pipeline::new(chan, &job, fds, None).init(init)
                }
            }
        }
        Kind::Exec => {
            // A procfs from the host, before the container's mounts are in the way.
            let proc = job.process.writes_procfs().then(Proc::open).transpose()?;
            // The container's cgroup namespace is joined by the process, once it is born in
            // the container's cgroup: clone3(CLONE_INTO_CGROUP) from inside that namespace
            // fails with ENOENT when the helper's own cgroup is outside the namespace's root
            // (always so, unless the runtime was called from within the container's cgroup).
            let (cgroupns, others): (Vec<_>, Vec<_>) = std::mem::take(&mut fds.namespaces)
                .into_iter()
                .partition(|(flag, _)| flag.contains(CloneFlags::CLONE_NEWCGROUP));
            join(&others)?;
            drop(others);
            match fork_with(
                libc::CLONE_PARENT,
                fds.cgroup_dir.as_ref().map(|f| f.as_fd()),
            )
            .map_err(|e| Error::call("clone the process", e))?
            {
                Forked::Parent(pid) => {
                    chan.send(Msg::Pid(pid.as_raw()))?;
                    exit_now(0)
                }
                Forked::Child => {
                    fds.cgroup_dir = None;
                    join(&cgroupns)?;
                    drop(cgroupns);
                    Pipeline::new(chan, &job, fds, proc).exec()
                }
            }
        }
    }
}

/// The init forked from the caller itself (`spawn::fork_init`): returns its pid in the
/// caller; the child does what the helper would have done (sort out its fds, join its v1
/// cgroups) and runs the init's pipeline. `chan` is the child's end of the channel.
pub(crate) fn fork_init(
    job: &Job,
    fds: Vec<OwnedFd>,
    stdio: &crate::spawn::Stdio,
    chan: Channel,
    parent_end: RawFd,
) -> Result<nix::unistd::Pid> {
    let Kind::Init(init) = &job.kind else {
        return Err(Error::Protocol("fork_init of an exec job".into()));
    };
    let flags = init.ns.clone_flags.bits();
    let into = JobFds::sort(&job.fds, fds)?;
    let forked = fork_with(flags, into.cgroup_dir.as_ref().map(|f| f.as_fd()))
        .map_err(|e| Error::call("clone the container's init", e))?;
    match forked {
        // Our copies of the child's fds close here.
        Forked::Parent(pid) => Ok(pid),
        Forked::Child => {
            // The caller's end, wherever it is (it may sit in the preserved range): a caller
            // that dies now leaves the init an EOF at its first read.
            // SAFETY: closing our copy of an fd the caller owns; this process never returns to
            // the caller's code.
            unsafe { libc::close(parent_end) };
            forked_child(chan, job, init, into, stdio)
        }
    }
}

/// The forked init: what the helper's exec and its fd handling gave, then the pipeline.
fn forked_child(
    chan: Channel,
    job: &Job,
    init: &InitJob,
    fds: JobFds,
    stdio: &crate::spawn::Stdio,
) -> ! {
    let min = 3 + job.preserve_fds;
    // The channel first, above the preserved range: every error is reported on it.
    let chan = match above(chan.0, min) {
        Ok(fd) => Channel(fd),
        Err(_) => exit_now(1),
    };
    match forked_setup(job, fds, stdio, chan.0.as_raw_fd()) {
        Ok(fds) => Pipeline::new(&chan, job, fds, None).init(init),
        Err(e) => Pipeline::finish(&chan, Err(e)),
    }
}

fn forked_setup(
    job: &Job,
    mut fds: JobFds,
    stdio: &crate::spawn::Stdio,
    chan: RawFd,
) -> Result<JobFds> {
    // No other process may open our /proc entries (and through them the runtime binary we
    // still run, or our fds); it dies with the runtime until the container is handed off (a
    // runtime that died before this leaves it EOF on the channel: in its new pid namespace
    // getppid() cannot tell).
    prctl::set_dumpable(false)
        .map_err(|e| Error::call("prctl(PR_SET_DUMPABLE)", nix::errno::Errno::from_raw(e)))?;
    sys::set_parent_death_signal(libc::SIGKILL)
        .map_err(|e| Error::call("prctl(PR_SET_PDEATHSIG)", e))?;
    let min = 3 + job.preserve_fds;
    // The standard streams: each copied above the preserved range first, so that no dup2
    // overwrites a source still to be read, then into place (dup2 clears close-on-exec).
    let mut streams = Vec::new();
    for (i, s) in [&stdio.stdin, &stdio.stdout, &stdio.stderr]
        .into_iter()
        .enumerate()
    {
        if let Some(fd) = s {
            let c = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(min))
                .map(sys::adopt)
                .map_err(|e| Error::call("fcntl(F_DUPFD_CLOEXEC)", e))?;
            streams.push((c, i as RawFd));
        }
    }
    for (c, i) in &streams {
        // SAFETY: dup2 onto a standard stream's slot; both fds are valid.
        if unsafe { libc::dup2(c.as_raw_fd(), *i) } < 0 {
            return Err(Error::call("dup2", nix::errno::Errno::last()));
        }
    }
    drop(streams);
    // Our fds above the preserved range, and every other fd of the caller's above it closed.
    let mut keep = vec![chan];
    let mut lift = |f: &mut Option<OwnedFd>| -> Result<()> {
        if let Some(fd) = f.take() {
            let fd = above(fd, min)?;
            keep.push(fd.as_raw_fd());
            *f = Some(fd);
        }
        Ok(())
    };
    lift(&mut fds.console)?;
    lift(&mut fds.start)?;
    lift(&mut fds.trees)?;
    let mut procs = Vec::new();
    for t in std::mem::take(&mut fds.cgroup_procs) {
        let t = above(t, min)?;
        keep.push(t.as_raw_fd());
        procs.push(t);
    }
    fds.cgroup_dir = None;
    sys::close_from_except(min, &keep, false);
    // Below `min`, a close-on-exec fd is the runtime's own (the caller's streams and preserved
    // fds came through an exec, so they are not), opened into a slot the caller left free. It
    // would close at the container's execve, but only after the kernel resolved a path such as
    // /proc/self/fd/N/.. through it: closed now.
    for fd in 0..min {
        let own = nix::fcntl::fcntl(sys::borrow(fd), nix::fcntl::FcntlArg::F_GETFD)
            .is_ok_and(|f| f & libc::FD_CLOEXEC != 0);
        if own && !keep.contains(&fd) {
            // SAFETY: closes an fd nothing in this process uses any more (the caller's copy of
            // it is the caller's; this child only runs the init pipeline from here).
            unsafe { libc::close(fd) };
        }
    }
    // Join the container's cgroups (v1 and hybrid hierarchies) before anything else runs.
    for tasks in &procs {
        nix::unistd::write(tasks, b"0")
            .map_err(|e| Error::call("join the container's cgroup", e))?;
    }
    Ok(fds)
}

/// Joins the namespaces in order (the user namespace comes first: it grants the
/// capabilities the other joins need; the mount namespace last: it changes how paths
/// resolve).
fn join(namespaces: &[(CloneFlags, OwnedFd)]) -> Result<()> {
    for (flag, fd) in namespaces {
        setns(fd, *flag).map_err(|e| {
            Error::call(
                match crate::plan::namespaces::proc_name(*flag) {
                    "user" => "setns(user)",
                    "mnt" => "setns(mnt)",
                    "net" => "setns(net)",
                    "ipc" => "setns(ipc)",
                    "uts" => "setns(uts)",
                    "cgroup" => "setns(cgroup)",
                    "pid" => "setns(pid)",
                    _ => "setns(time)",
                },
                e,
            )
        })?;
    }
    Ok(())
}

/// The process being set up: its channel, job, fds and procfs handle.
struct Pipeline<'a> {
    chan: &'a Channel,
    job: &'a Job,
    fds: JobFds,
    proc: Option<Proc>,
}

impl<'a> Pipeline<'a> {
    fn new(chan: &'a Channel, job: &'a Job, fds: JobFds, proc: Option<Proc>) -> Self {
        Pipeline {
            chan,
            job,
            fds,
            proc,
        }
    }

    /// Reports `r`'s error on `chan` (the channel, or `start`'s connection) and exits.
    fn finish(chan: &Channel, r: Result<Infallible>) -> ! {
        let err = match r {
            Ok(never) => match never {},
            Err(e) => e,
        };
        chan.send_error(&err);
        exit_now(1)
    }

    fn init(mut self, init: &InitJob) -> ! {
        let chan = self.chan;
        let r = self.init_steps(init);
        match r {
            Ok(Started::Connection(conn, r)) => Self::finish(&conn, r),
            Ok(Started::Channel(r)) => Self::finish(chan, r),
            Err(e) => Self::finish(chan, Err(e)),
        }
    }

    fn exec(mut self) -> ! {
        let chan = self.chan;
        let r = self.exec_steps();
        Self::finish(chan, r)
    }

    fn init_steps(&mut self, j: &InitJob) -> Result<Started> {
        let (job, chan) = (self.job, self.chan);
        let plan = &j.init;
        let p = &job.process;
        sys::set_parent_death_signal(libc::SIGKILL)
            .map_err(|e| Error::call("prctl(PR_SET_PDEATHSIG)", e))?;
        chan.expect(|m| matches!(m, Msg::Go), "setup")?;
        // A session of its own, as runc's init: the caller's terminal and job control do not
        // reach the container, and CRIU can dump it (it refuses a session leader outside the
        // container's pid namespace). With a terminal, the console setup makes it.
        if !p.terminal {
            nix::unistd::setsid().map_err(|e| Error::call("setsid", e))?;
        }
        prctl::set_dumpable(false)
            .map_err(|e| Error::call("prctl(PR_SET_DUMPABLE)", nix::errno::Errno::from_raw(e)))?;
        if j.ns.new_cgroup {
            unshare(CloneFlags::CLONE_NEWCGROUP)
                .map_err(|e| Error::call("unshare(CLONE_NEWCGROUP)", e))?;
        }
        if j.ns.in_user_ns() {
            // Become root of the user namespace (the parent mapped it), keeping the
            // capabilities.
            nix::unistd::setresgid(0.into(), 0.into(), 0.into())
                .map_err(|e| Error::call("setresgid(0) in the user namespace", e))?;
            nix::unistd::setresuid(0.into(), 0.into(), 0.into())
                .map_err(|e| Error::call("setresuid(0) in the user namespace", e))?;
        }
        if let Some(h) = &plan.hostname {
            nix::unistd::sethostname(h)
                .map_err(|e| Error::call("sethostname", e).in_field("hostname"))?;
        }
        if let Some(d) = &plan.domainname {
            sys::attrs::set_domainname(d)
                .map_err(|e| Error::call("setdomainname", e).in_field("domainname"))?;
        }
        if let Some(name) = &plan.keyring {
            join_session_keyring(name)?;
        }
        // Opened in the container's namespaces, before the image's /proc can be in the way,
        // and only when something is to be written (most containers write nothing).
        if p.writes_procfs() || !plan.sysctl.is_empty() {
            self.proc = Some(Proc::open()?);
        }
        self.before_root()?;
        // Hooks run in the container's namespaces get the pid as the container sees it.
        let own_pid = nix::unistd::getpid().as_raw();
        // No device nodes in a user namespace: the container's own, or the one the runtime
        // was started in (rootless podman's); the host's are bound instead.
        let mknod = !j.ns.in_user_ns() && !plan.runtime_in_user_ns;
        let root = rootfs::prepare(plan, self.fds.trees.as_ref(), mknod, p.terminal)?;
        self.fds.trees = None;
        // Writing the rules denies everything for a moment: an init that opens the pty
        // waits until they are written.
        chan.send(Msg::Devices(p.terminal))?;
        if p.terminal {
            chan.expect(|m| matches!(m, Msg::DevicesDone), "the device rules")?;
        }
        if j.runtime_hooks {
            chan.send(Msg::Hooks)?;
            chan.expect(|m| matches!(m, Msg::HooksDone), "the prestart hooks")?;
        }
        // runc runs createContainer hooks in the rootfs (hook libraries use relative paths).
        hooks::run(
            "createContainer",
            &plan.create_container_hooks,
            &hook_state(&plan.hook_context, "created", own_pid),
            Some(&plan.rootfs),
        )?;
        drop(root);
        if plan.mount_ns {
            pivot::pivot(&plan.rootfs, plan.no_pivot)?;
            pivot::root_propagation_after(plan.root_propagation)?;
        } else {
            pivot::chroot(&plan.rootfs)?;
        }
        if p.terminal {
            console::setup(p, job.console, self.fds.console.as_ref(), chan, true)?;
        } else if plan.mount_ns {
            reopen_dev_null()?;
        }
        self.fds.console = None;
        paths::mask(&plan.masked_paths)?;
        // Before readonlyPaths, which usually include /proc/sys.
        if let Some(proc) = &self.proc {
            paths::sysctl(&plan.sysctl, proc)?;
        }
        paths::read_only(&plan.readonly_paths)?;
        if plan.readonly_root {
            paths::read_only_root()?;
        }
        let (exe, filter) = self.checks_and_early_seccomp()?;
        // Set up: the container outlives the runtime from now on (it is recorded with our pid
        // since before Go, so `delete` can always find us).
        sys::set_parent_death_signal(0).map_err(|e| Error::call("prctl(PR_SET_PDEATHSIG)", e))?;
        chan.send(Msg::Ready)?;
        // startContainer hooks run under the container's filter (as runc's do): an early one
        // is ours already; a late one is loaded in each hook's process, so the init itself
        // still filters only its execve.
        let late = filter.as_ref().filter(|_| !self.seccomp_early());
        let run = |this: &Self| -> Result<Infallible> {
            hooks::run_filtered(
                "startContainer",
                &plan.start_container_hooks,
                &hook_state(&plan.hook_context, "created", own_pid),
                late,
            )?;
            this.final_exec(&exe, late)
        };
        match j.start {
            StartMode::Socket => {
                let listener = self
                    .fds
                    .start
                    .take()
                    .ok_or_else(|| Error::Protocol("no start socket".into()))?;
                let conn = accept(&listener)?;
                drop(listener);
                // From here on errors go to `start`, over its connection.
                let conn = Channel(conn);
                let r = run(self);
                Ok(Started::Connection(conn, r))
            }
            StartMode::Channel => {
                chan.expect(|m| matches!(m, Msg::Start), "the wait for start")?;
                Ok(Started::Channel(run(self)))
            }
        }
    }

    fn exec_steps(&mut self) -> Result<Infallible> {
        let (job, chan) = (self.job, self.chan);
        sys::set_parent_death_signal(libc::SIGKILL)
            .map_err(|e| Error::call("prctl(PR_SET_PDEATHSIG)", e))?;
        // Until Go the parent may not have our pid yet (the helper sends it) nor a pidfd: a
        // message of ours could overtake the helper's Pid, and our exit could be reaped (a
        // shim reaps every child) before the parent opens the pidfd.
        chan.expect(|m| matches!(m, Msg::Go), "setup")?;
        self.before_root()?;
        if job.process.terminal {
            console::setup(
                &job.process,
                job.console,
                self.fds.console.as_ref(),
                chan,
                false,
            )?;
        }
        self.fds.console = None;
        let (exe, filter) = self.checks_and_early_seccomp()?;
        let late = filter.as_ref().filter(|_| !self.seccomp_early());
        self.final_exec(&exe, late)
    }

    /// oomScoreAdj and rlimits: while the process still has its privileges.
    fn before_root(&self) -> Result<()> {
        let p = &self.job.process;
        if let Some(proc) = &self.proc {
            process::oom_score_adj(p, proc)?;
        }
        process::rlimits(p)
    }

    fn seccomp_early(&self) -> bool {
        self.job.seccomp.as_ref().is_some_and(|s| s.early)
    }

    /// The steps every process takes once it sees its root: the working directory, the
    /// executable, LSM labels, an early seccomp filter, then the user and capabilities.
    /// Returns the executable and the filter still to load late.
    fn checks_and_early_seccomp(
        &mut self,
    ) -> Result<(exec::Executable, Option<berth_seccomp::Filter>)> {
        let job = self.job;
        let p = &job.process;
        process::cwd(&p.cwd, &job.process_field)?;
        let exe = exec::find(p, job.runtime)?;
        if let Some(proc) = &self.proc {
            lsm::apply(
                proc,
                p.apparmor_profile.as_deref(),
                p.selinux_label.as_deref(),
            )?;
        }
        self.proc = None;
        // Decoded now: nothing may allocate between loading a NOTIFY filter and telling the
        // parent its listener.
        let filter = job.seccomp.as_ref().map(|s| s.filter()).transpose()?;
        process::attributes(&p.attributes)?;
        if let Some(f) = filter.as_ref().filter(|_| self.seccomp_early()) {
            seccomp::install(f, self.chan)?;
        }
        process::identity(p)?;
        Ok((exe, filter))
    }

    /// Closes what the container must not get, loads a late seccomp filter (last: it then
    /// sees only our execve), and execs.
    fn final_exec(
        &self,
        exe: &exec::Executable,
        late: Option<&berth_seccomp::Filter>,
    ) -> Result<Infallible> {
        let p = &self.job.process;
        if let Some(cpus) = &p.attributes.cpus_final {
            process::set_affinity(cpus).map_err(|e| e.in_field("process.execCPUAffinity.final"))?;
        }
        // An exec'd process no longer dies with `exec` once it runs (`exec -d`).
        sys::set_parent_death_signal(0).map_err(|e| Error::call("prctl(PR_SET_PDEATHSIG)", e))?;
        // Every fd but stdio and the preserved ones is close-on-exec from here.
        sys::close_from_except(3 + self.job.preserve_fds, &[], true);
        // The program starts with no signal ignored or blocked by us (a shell cannot trap a
        // signal that was ignored when it started). Before the late seccomp filter, which
        // may not allow rt_sigaction. Done already if the helper did it before the clone.
        if !sys::signals_reset() {
            sys::reset_signals();
        }
        if let Some(f) = late {
            seccomp::install(f, self.chan)?;
        }
        Err(exec::exec(p, exe))
    }
}

/// How `start` reached the init: errors after it go back the same way.
enum Started {
    Connection(Channel, Result<Infallible>),
    Channel(Result<Infallible>),
}

fn accept(listener: &OwnedFd) -> Result<OwnedFd> {
    loop {
        match nix::sys::socket::accept4(
            listener.as_raw_fd(),
            nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        ) {
            Ok(fd) => return Ok(sys::adopt(fd)),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::call("wait for start (accept)", e)),
        }
    }
}

/// Joins a new session keyring, so keys of the caller are not reachable.
fn join_session_keyring(name: &str) -> Result<()> {
    let c = std::ffi::CString::new(name).map_err(|_| Error::Invalid {
        what: "keyring name",
        msg: name.to_string(),
    })?;
    match sys::join_session_keyring(&c) {
        // Kernels without keyrings, or a seccomp'd parent, refuse: runc goes on too.
        Ok(())
        | Err(nix::errno::Errno::ENOSYS | nix::errno::Errno::EPERM | nix::errno::Errno::EACCES) => {
            Ok(())
        }
        Err(e) => Err(Error::call("keyctl(KEYCTL_JOIN_SESSION_KEYRING)", e)),
    }
}

/// Stdio that is the host's null device (an engine's `/dev/null`) becomes the container's
/// `/dev/null`, as runc's init does: CRIU can only dump files on mounts of the container.
/// Nothing is done where the container has no `/dev/null`.
fn reopen_dev_null() -> Result<()> {
    use nix::fcntl::{open, OFlag};
    use nix::sys::stat::Mode;
    let Ok(null) = open("/dev/null", OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty()) else {
        return Ok(());
    };
    let stat = |fd: RawFd| {
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: fstat writes a whole `struct stat` on success, and only then is it read.
        (unsafe { libc::fstat(fd, st.as_mut_ptr()) } == 0).then(|| unsafe { st.assume_init() })
    };
    let Some(ours) = stat(null.as_raw_fd()) else {
        return Err(Error::call("fstat(/dev/null)", nix::errno::Errno::last()));
    };
    if ours.st_mode & libc::S_IFMT != libc::S_IFCHR {
        return Ok(());
    }
    for fd in 0..3 {
        let Some(s) = stat(fd) else { continue };
        if s.st_mode & libc::S_IFMT == libc::S_IFCHR && s.st_rdev == ours.st_rdev {
            // SAFETY: dup2 onto a standard descriptor of our own; `null` stays open.
            if unsafe { libc::dup2(null.as_raw_fd(), fd) } < 0 {
                return Err(Error::call("dup2(/dev/null)", nix::errno::Errno::last()));
            }
        }
    }
    Ok(())
}
