//! `exec`: run another process in a running container, joining all of its namespaces (the
//! user namespace first) and its cgroup.

use std::convert::Infallible;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::sched::{setns, CloneFlags};
use nix::unistd::Pid;
use oci_spec::runtime::Process;

use crate::container::Container;
use crate::namespaces::{proc_name, JOIN_ORDER};
use crate::process::ProcessPlan;
use crate::state::Status;
use crate::sync::{self, Msg};
use crate::{cgroups, process, tty, Error, Result};

/// Options of `exec`.
pub struct ExecOptions {
    pub root: PathBuf,
    pub id: String,
    pub process: Process,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: i32,
    /// Foreground with a terminal: receive the pty master.
    pub foreground_tty: bool,
    /// The container's `linux.seccomp`, applied to the new process too.
    pub seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
}

/// A started exec process.
pub struct Execed {
    pub pid: i32,
    pub master: Option<OwnedFd>,
}

fn ns_inode(path: &Path) -> Option<u64> {
    std::fs::metadata(path)
        .ok()
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
}

/// Starts the process; returns once it has exec'd (or with the reason it could not).
pub fn exec(opts: &ExecOptions) -> Result<Execed> {
    let c = Container::load(&opts.root, &opts.id)?;
    match c.status() {
        Status::Running | Status::Created => {}
        Status::Paused => return Err(Error::State("cannot exec in a paused container".into())),
        Status::Stopped => return Err(Error::State("cannot exec in a stopped container".into())),
    }
    let plan = process::plan("process", &opts.process)?;
    let seccomp = match &opts.seccomp {
        Some(s) => Some(crate::seccomp::plan(s, plan.no_new_privileges)?),
        None => None,
    };
    let pid = c.state.pid;
    // Only namespaces that differ from ours are joined (setns into our own user namespace
    // would fail with EINVAL).
    let mut joins: Vec<(CloneFlags, OwnedFd)> = Vec::new();
    for flag in JOIN_ORDER.into_iter().chain([CloneFlags::CLONE_NEWPID]) {
        let theirs = PathBuf::from(format!("/proc/{pid}/ns/{}", proc_name(flag)));
        let ours = PathBuf::from(format!("/proc/self/ns/{}", proc_name(flag)));
        let (Some(a), Some(b)) = (ns_inode(&theirs), ns_inode(&ours)) else {
            continue;
        };
        if a == b {
            continue;
        }
        let fd = nix::fcntl::open(
            &theirs,
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| Error::sys("open namespace", &theirs, e))?;
        joins.push((flag, fd));
    }
    // A pid namespace applies to children only: join it here, before the fork.
    if let Some(i) = joins
        .iter()
        .position(|(f, _)| *f == CloneFlags::CLONE_NEWPID)
    {
        let (_, fd) = joins.remove(i);
        setns(&fd, CloneFlags::CLONE_NEWPID).map_err(|e| Error::call("setns(pid)", e))?;
    }
    if !state_alive(&c) {
        return Err(Error::State("cannot exec in a stopped container".into()));
    }
    let mut master_rx = None;
    let console = if plan.terminal {
        if let Some(p) = &opts.console_socket {
            Some(tty::connect(p)?)
        } else if opts.foreground_tty {
            let (a, b) = std::os::unix::net::UnixStream::pair()
                .map_err(|e| Error::io("socketpair", "console", e))?;
            master_rx = Some(a);
            Some(OwnedFd::from(b))
        } else {
            return Err(Error::config(
                "process.terminal",
                "a terminal needs --console-socket",
            ));
        }
    } else {
        None
    };
    let runtime_exe = crate::exe_guard::runtime_identity();
    let (parent, child) = sync::pair()?;
    // NOTIFY: the child sends its listener fd here, and we hand it to the agent.
    let (seccomp_rx, seccomp_tx) = if seccomp.as_ref().is_some_and(|s| s.listener.is_some()) {
        let (a, b) = std::os::unix::net::UnixStream::pair()
            .map_err(|e| Error::io("socketpair", "seccomp", e))?;
        (Some(a), Some(OwnedFd::from(b)))
    } else {
        (None, None)
    };
    let cgroups_path = c.state.cgroups_path.clone();
    // SAFETY: fork-like clone of this single-threaded process; the child runs `child_main`,
    // which ends in execve or _exit.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            libc::SIGCHLD as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if r == 0 {
        let args = ChildArgs {
            plan: &plan,
            seccomp: seccomp.as_ref(),
            runtime_exe,
            joins: &joins,
            cgroups_path: &cgroups_path,
            chan: child.0.as_raw_fd(),
            seccomp_chan: seccomp_tx.as_ref().map(|s| s.as_raw_fd()),
            console: console.as_ref().map(|c| c.as_raw_fd()),
            preserve_fds: opts.preserve_fds,
        };
        let err = match child_main(&args) {
            Ok(n) => match n {},
            Err(e) => e,
        };
        let _ = sync::send_raw(child.0.as_raw_fd(), format!("E{err}").as_bytes());
        // SAFETY: _exit is always safe.
        unsafe { libc::_exit(1) };
    }
    if r < 0 {
        return Err(Error::call("clone", nix::errno::Errno::last()));
    }
    let pid = r as i32;
    drop(child);
    drop(console);
    drop(seccomp_tx);
    if let (Some(rx), Some(sp)) = (&seccomp_rx, &seccomp) {
        let status = match c.status() {
            Status::Created => oci_spec::runtime::ContainerState::Created,
            _ => oci_spec::runtime::ContainerState::Running,
        };
        let handed = tty::recv_fd_for(rx.as_raw_fd(), "receive the seccomp notify fd")
            .and_then(|fd| {
                let st = crate::create::oci_state(
                    &c.state.id,
                    status,
                    c.state.pid,
                    &c.state.bundle,
                    &c.state.annotations,
                );
                crate::seccomp::send_to_agent(sp, &fd, &st, pid)
            })
            .and_then(|()| {
                use std::io::Write;
                (&*rx)
                    .write_all(b"A")
                    .map_err(|e| Error::io("seccomp hand-off", "ack", e))
            });
        if let Err(e) = handed {
            // The child waits for the ack before it runs anything of the container: without
            // its agent it never does. If it failed first, its error is the real reason.
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::SIGKILL);
            let first = match parent.recv() {
                Ok(Some(Msg::Error(m))) => Some(Error::Init(m)),
                _ => None,
            };
            let _ = nix::sys::wait::waitpid(Pid::from_raw(pid), None);
            return Err(first.unwrap_or(e));
        }
    }
    match parent.recv() {
        Ok(None) => {}
        Ok(Some(Msg::Error(e))) => {
            let _ = nix::sys::wait::waitpid(Pid::from_raw(pid), None);
            return Err(Error::Init(e));
        }
        Ok(Some(m)) => return Err(Error::Other(format!("protocol error: unexpected {m:?}"))),
        Err(e) => return Err(e),
    }
    let master = match master_rx {
        Some(rx) => Some(tty::recv_fd(rx.as_raw_fd())?),
        None => None,
    };
    if let Some(pf) = &opts.pid_file {
        crate::create::write_pid_file(pf, pid)?;
    }
    Ok(Execed { pid, master })
}

fn state_alive(c: &Container) -> bool {
    crate::state::init_alive(&c.state)
}

/// What the forked exec child needs.
struct ChildArgs<'a> {
    plan: &'a ProcessPlan,
    seccomp: Option<&'a crate::seccomp::SeccompPlan>,
    runtime_exe: Option<crate::exe_guard::Identity>,
    joins: &'a [(CloneFlags, OwnedFd)],
    cgroups_path: &'a str,
    chan: RawFd,
    seccomp_chan: Option<RawFd>,
    console: Option<RawFd>,
    preserve_fds: i32,
}

fn child_main(a: &ChildArgs) -> Result<Infallible> {
    let ChildArgs {
        plan,
        seccomp,
        runtime_exe,
        joins,
        cgroups_path,
        chan,
        seccomp_chan,
        console,
        preserve_fds,
    } = *a;
    prctl::set_dumpable(false)
        .map_err(|e| Error::call("prctl(PR_SET_DUMPABLE)", nix::errno::Errno::from_raw(e)))?;
    // Nothing the caller had open may reach the container (a cwd of /proc/self/fd/N would
    // otherwise lead out of it): close all but stdio, the preserved fds and our own.
    let mut keep: Vec<RawFd> = vec![chan];
    keep.extend(console);
    keep.extend(seccomp_chan);
    keep.extend(joins.iter().map(|(_, fd)| fd.as_raw_fd()));
    crate::init::close_fds_except(3 + preserve_fds, &keep);
    // Join the cgroup while the host's cgroupfs is still visible; take procfs from the host
    // too, before the container's mounts are in the way.
    cgroups::enter(cgroups_path)?;
    let proc = plan
        .writes_procfs()
        .then(crate::procfs::Proc::open)
        .transpose()?;
    for (flag, fd) in joins {
        setns(fd, *flag).map_err(|e| Error::call(ns_op(*flag), e))?;
    }
    if let Some(p) = &proc {
        plan.apply_oom_score_adj(p)?;
    }
    plan.apply_rlimits()?;
    nix::unistd::chdir(&plan.cwd).map_err(|e| Error::sys("chdir to process.cwd", &plan.cwd, e))?;
    if let Some(sock) = console {
        let (master, slave, _) = tty::open_pty()?;
        if let Some((r, c)) = plan.console_size {
            tty::set_size(master.as_raw_fd(), r, c);
        }
        tty::send_fd(sock, master.as_raw_fd(), "/dev/ptmx")?;
        tty::make_controlling(slave.as_raw_fd())?;
    }
    let exe = plan.find_executable()?;
    let checked = crate::exe_guard::check(&exe, runtime_exe)?;
    if let Some(p) = &proc {
        plan.apply_labels(p)?;
    }
    if let Some(s) = seccomp.filter(|s| s.early) {
        if let Some(fd) = crate::seccomp::install(s)? {
            let Some(chan) = seccomp_chan else {
                return Err(Error::Other(
                    "linux.seccomp: no channel for the notify fd".into(),
                ));
            };
            tty::send_fd(chan, fd.as_raw_fd(), "seccomp")?;
            drop(fd);
            // Nothing of the container runs before the agent has the fd.
            let mut ack = [0u8; 1];
            loop {
                // SAFETY: `chan` is our open end of the hand-off socket for this whole call.
                let sock = unsafe { std::os::fd::BorrowedFd::borrow_raw(chan) };
                match nix::unistd::read(sock, &mut ack) {
                    Ok(1) => break,
                    Err(nix::errno::Errno::EINTR) => continue,
                    _ => {
                        return Err(Error::Other(
                            "linux.seccomp.listenerPath: the agent did not get the notify fd"
                                .into(),
                        ))
                    }
                }
            }
        }
    }
    plan.apply_identity()?;
    // SAFETY: close_range with CLOEXEC only changes fd flags.
    unsafe {
        libc::close_range(
            3 + preserve_fds as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC as i32,
        )
    };
    if let Some(s) = seccomp.filter(|s| !s.early) {
        crate::seccomp::install(s)?;
    }
    Err(plan.exec(&exe, &checked))
}

fn ns_op(flag: CloneFlags) -> &'static str {
    match proc_name(flag) {
        "user" => "setns(user)",
        "mnt" => "setns(mnt)",
        "net" => "setns(net)",
        "ipc" => "setns(ipc)",
        "uts" => "setns(uts)",
        "cgroup" => "setns(cgroup)",
        "pid" => "setns(pid)",
        _ => "setns(time)",
    }
}
