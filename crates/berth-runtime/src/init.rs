//! The container's init: the cloned child of `berth create`. It never returns; it either
//! execs the container process or reports an error to the parent and exits.

use std::convert::Infallible;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::sched::{setns, unshare, CloneFlags};

use crate::plan::Plan;
use crate::sync::{self, Channel, Msg};
use crate::{hooks, rootfs, tty, Error, Result};

/// How the init learns that it may exec the container process.
pub enum StartSignal {
    /// `create`: wait for `berth start` to connect to this listening socket.
    Socket(OwnedFd),
    /// `run`: the parent sends [`Msg::Start`] over the sync channel.
    Channel,
}

/// Where the pty master goes when `process.terminal` is set.
pub enum Console {
    /// No terminal.
    None,
    /// Send the master over this connected socket (`--console-socket`, or `run -t`'s pair).
    Socket(OwnedFd),
}

/// Builds the state JSON for hooks from the init's host pid and a status.
pub type StateFn<'a> = Box<dyn Fn(i32, &str) -> Vec<u8> + 'a>;

/// What the init needs besides the plan.
pub struct InitArgs<'a> {
    pub plan: &'a Plan,
    pub chan: Channel,
    pub start: StartSignal,
    pub console: Console,
    /// fds 3 .. 3+preserve_fds are passed to the container process.
    pub preserve_fds: i32,
    /// Where the init receives its idmapped mount trees, in mount order.
    pub idmap_chan: Option<OwnedFd>,
    /// The berth binary's identity, which the container must never execute.
    pub runtime_exe: Option<crate::exe_guard::Identity>,
    /// Where the init sends the seccomp notify fd (when the profile uses NOTIFY).
    pub seccomp_chan: Option<OwnedFd>,
    /// The state JSON for the startContainer hooks (pid filled in by the parent's Go).
    pub state_json: StateFn<'a>,
}

/// Runs the init. Never returns.
pub fn run(args: InitArgs) -> ! {
    let mut report: Option<RawFd> = Some(args.chan.0.as_raw_fd());
    let err = match setup(&args, &mut report) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    if let Some(fd) = report {
        let _ = sync::send_raw(fd, format!("E{err}").as_bytes());
    }
    // SAFETY: _exit is always safe; it skips destructors the parent owns copies of.
    unsafe { libc::_exit(1) }
}

/// Closes every fd from `first` up except those in `keep`, so nothing the caller of berth
/// had open (beyond stdio and --preserve-fds) can reach the container.
pub fn close_fds_except(first: RawFd, keep: &[RawFd]) {
    let mut keep: Vec<RawFd> = keep.iter().copied().filter(|fd| *fd >= first).collect();
    keep.sort_unstable();
    let mut from = first as libc::c_uint;
    for k in keep {
        if (k as libc::c_uint) > from {
            // SAFETY: close_range only closes fds; none of the kept ones are in range.
            unsafe { libc::close_range(from, k as libc::c_uint - 1, 0) };
        }
        from = k as libc::c_uint + 1;
    }
    // SAFETY: as above.
    unsafe { libc::close_range(from, libc::c_uint::MAX, 0) };
}

fn setup(a: &InitArgs, report: &mut Option<RawFd>) -> Result<Infallible> {
    let plan = a.plan;
    // No other process may open our /proc entries (and through them the berth binary or our
    // fds) while we set up; execve resets this.
    prctl::set_dumpable(false)
        .map_err(|e| Error::call("prctl(PR_SET_DUMPABLE)", nix::errno::Errno::from_raw(e)))?;
    let mut keep = vec![a.chan.0.as_raw_fd()];
    if let StartSignal::Socket(fd) = &a.start {
        keep.push(fd.as_raw_fd());
    }
    if let Console::Socket(fd) = &a.console {
        keep.push(fd.as_raw_fd());
    }
    if let Some(fd) = &a.seccomp_chan {
        keep.push(fd.as_raw_fd());
    }
    if let Some(fd) = &a.idmap_chan {
        keep.push(fd.as_raw_fd());
    }
    close_fds_except(3 + a.preserve_fds, &keep);

    match a.chan.recv()? {
        Some(Msg::Go) => {}
        Some(Msg::Error(e)) => return Err(Error::Init(e)),
        _ => return Err(Error::Other("parent went away".into())),
    };
    for (flag, path) in &plan.ns.join {
        let fd = nix::fcntl::open(
            path,
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| Error::sys("open namespace", path, e))?;
        setns(&fd, *flag).map_err(|e| Error::sys("setns", path, e))?;
    }
    if !plan.ns.unshare_after_join.is_empty() {
        unshare(plan.ns.unshare_after_join).map_err(|e| Error::call("unshare", e))?;
    }
    if plan.ns.new_cgroup {
        unshare(CloneFlags::CLONE_NEWCGROUP)
            .map_err(|e| Error::call("unshare(CLONE_NEWCGROUP)", e))?;
    }
    if plan.ns.new_user
        || plan
            .ns
            .join
            .first()
            .is_some_and(|(f, _)| *f == CloneFlags::CLONE_NEWUSER)
    {
        // Become root of the user namespace (the parent mapped it), keeping the capabilities.
        nix::unistd::setresgid(0.into(), 0.into(), 0.into())
            .map_err(|e| Error::call("setresgid(0) in the user namespace", e))?;
        nix::unistd::setresuid(0.into(), 0.into(), 0.into())
            .map_err(|e| Error::call("setresuid(0) in the user namespace", e))?;
    }
    if let Some(h) = &plan.hostname {
        nix::unistd::sethostname(h).map_err(|e| Error::call("sethostname", e))?;
    }
    if let Some(d) = &plan.domainname {
        // SAFETY: pointer and length describe the string's bytes.
        if unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) } != 0 {
            return Err(Error::call("setdomainname", nix::errno::Errno::last()));
        }
    }
    if plan.new_keyring {
        join_session_keyring(&plan.id)?;
    }
    // Opened in the container's namespaces, before the image's /proc can be in the way, and
    // only when something is to be written (most containers write nothing to procfs).
    let proc = (plan.process.writes_procfs() || !plan.sysctl.is_empty())
        .then(crate::procfs::Proc::open)
        .transpose()?;
    if let Some(p) = &proc {
        plan.process.apply_oom_score_adj(p)?;
    }
    plan.process.apply_rlimits()?;

    let mount_ns = plan.ns.has(CloneFlags::CLONE_NEWNS);
    // Hooks run in the container's namespaces get the pid as the container sees it.
    let own_pid = nix::unistd::getpid().as_raw();
    let root = if mount_ns {
        Some(rootfs::prepare(
            plan,
            a.idmap_chan.as_ref().map(|f| f.as_raw_fd()),
        )?)
    } else {
        None
    };
    let hooks = &plan.hooks;
    if hooks.prestart().as_ref().is_some_and(|h| !h.is_empty())
        || hooks
            .create_runtime()
            .as_ref()
            .is_some_and(|h| !h.is_empty())
    {
        a.chan.send(&Msg::Hooks)?;
        a.chan.expect(&Msg::HooksDone, "parent went away")?;
    }
    hooks::run(
        "createContainer",
        hooks.create_container().as_ref(),
        &(a.state_json)(own_pid, "created"),
    )?;
    drop(root);
    if mount_ns {
        rootfs::pivot(&plan.rootfs, plan.no_pivot)?;
        rootfs::root_propagation_after_pivot(plan.root_propagation)?;
    } else {
        nix::unistd::chroot(&plan.rootfs).map_err(|e| Error::sys("chroot", &plan.rootfs, e))?;
    }
    if plan.process.terminal {
        setup_console(a)?;
    }
    rootfs::mask_paths(&plan.masked_paths)?;
    // Before readonlyPaths, which usually include /proc/sys.
    if let Some(p) = &proc {
        rootfs::sysctl(&plan.sysctl, p)?;
    }
    rootfs::readonly_paths(&plan.readonly_paths)?;
    if plan.readonly_root {
        rootfs::readonly_root()?;
    }
    let cwd = &plan.process.cwd;
    if let Err(e) = nix::unistd::chdir(cwd) {
        // runc creates a missing cwd; so does berth, inside the root.
        if e != nix::errno::Errno::ENOENT {
            return Err(Error::sys("chdir to process.cwd", cwd, e));
        }
        std::fs::create_dir_all(cwd).map_err(|e| Error::io("create process.cwd", cwd, e))?;
        nix::unistd::chdir(cwd).map_err(|e| Error::sys("chdir to process.cwd", cwd, e))?;
    }
    // A cwd reached through a leaked fd would be outside the root: getcwd says so.
    match nix::unistd::getcwd() {
        Ok(p) if p.is_absolute() => {}
        _ => {
            return Err(Error::config(
                "process.cwd",
                "is outside the container's root",
            ))
        }
    }
    let exe = plan.process.find_executable()?;
    let checked = crate::exe_guard::check(&exe, a.runtime_exe)?;
    if let Some(p) = &proc {
        plan.process.apply_labels(p)?;
    }
    let seccomp = plan.seccomp.as_ref();
    if let Some(s) = seccomp.filter(|s| s.early) {
        if let Some(fd) = crate::seccomp::install(s)? {
            let Some(chan) = &a.seccomp_chan else {
                return Err(Error::Other(
                    "linux.seccomp: no channel for the notify fd".into(),
                ));
            };
            tty::send_fd(chan.as_raw_fd(), fd.as_raw_fd(), "seccomp")?;
        }
    }
    plan.process.apply_identity()?;
    a.chan.send(&Msg::Ready)?;

    let _conn = match &a.start {
        StartSignal::Socket(l) => {
            let c = accept(l.as_raw_fd())?;
            *report = Some(c.as_raw_fd());
            Some(c)
        }
        StartSignal::Channel => {
            a.chan.expect(&Msg::Start, "parent went away")?;
            None
        }
    };
    hooks::run(
        "startContainer",
        hooks.start_container().as_ref(),
        &(a.state_json)(own_pid, "created"),
    )?;
    // Every fd but stdio and the preserved ones is close-on-exec from here.
    // SAFETY: close_range with CLOEXEC only changes fd flags.
    unsafe {
        libc::close_range(
            3 + a.preserve_fds as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC as i32,
        )
    };
    // Last: the filter then sees only our execve.
    if let Some(s) = seccomp.filter(|s| !s.early) {
        crate::seccomp::install(s)?;
    }
    Err(plan.process.exec(&exe, &checked))
}

/// Joins a new session keyring `_ses.<id>`, so keys of the caller are not reachable.
fn join_session_keyring(id: &str) -> Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_int = 1;
    let name = std::ffi::CString::new(format!("_ses.{id}"))
        .map_err(|_| Error::Other("keyring name".into()))?;
    // SAFETY: keyctl with a valid NUL-terminated name.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    // Kernels without keyrings, or a seccomp'd parent, answer ENOSYS/EPERM: runc goes on too.
    if r < 0
        && !matches!(
            nix::errno::Errno::last(),
            nix::errno::Errno::ENOSYS | nix::errno::Errno::EPERM | nix::errno::Errno::EACCES
        )
    {
        return Err(Error::call(
            "keyctl(KEYCTL_JOIN_SESSION_KEYRING)",
            nix::errno::Errno::last(),
        ));
    }
    Ok(())
}

fn accept(listener: RawFd) -> Result<OwnedFd> {
    loop {
        match nix::sys::socket::accept4(listener, nix::sys::socket::SockFlag::SOCK_CLOEXEC) {
            // SAFETY: a fresh fd returned by accept4.
            Ok(fd) => return Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) }),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::call("wait for start (accept)", e)),
        }
    }
}

/// Creates the pty inside the container, bind-mounts its slave on `/dev/console`, hands the
/// master out, and makes the slave our stdio and controlling terminal.
fn setup_console(a: &InitArgs) -> Result<()> {
    let Console::Socket(sock) = &a.console else {
        return Err(Error::config(
            "process.terminal",
            "a terminal needs --console-socket (or run in the foreground)",
        ));
    };
    let (master, slave, slave_path) = tty::open_pty()?;
    if let Some((rows, cols)) = a.plan.process.console_size {
        tty::set_size(master.as_raw_fd(), rows, cols);
    }
    let console = Path::new("/dev/console");
    let root = nix::fcntl::open(
        "/",
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::sys("open", "/", e))?;
    let target = crate::fs::mkdir_all_in_root(root.as_raw_fd(), console, true)?;
    // Bind the slave we hold, not whatever its path leads to by now.
    let tree = crate::fs::open_tree_clone_fd(slave.as_raw_fd(), &slave_path)?;
    crate::fs::move_mount(tree.as_raw_fd(), target.as_raw_fd(), console)?;
    tty::send_fd(sock.as_raw_fd(), master.as_raw_fd(), "/dev/ptmx")?;
    tty::make_controlling(slave.as_raw_fd())?;
    Ok(())
}
