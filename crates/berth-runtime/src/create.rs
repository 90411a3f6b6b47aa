//! `create` (and the first half of `run`): clone the init and wait until it is ready.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::init::{self, Console, InitArgs, StartSignal};
use crate::namespaces::CLONE_NEWTIME;
use crate::plan::{self, Plan};
use crate::state::{self, ContainerDir, State};
use crate::sync::{self, Msg};
use crate::{cgroups, fs, hooks, spec, tty, Error, Result};

/// How the container will be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `create`: the init waits for `berth start`.
    Create,
    /// `run`: the caller starts it through the returned [`Created`].
    Run,
}

/// Options of `create`/`run`.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    pub root: PathBuf,
    pub id: String,
    pub bundle: PathBuf,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub no_pivot: bool,
    pub preserve_fds: i32,
    pub mode: Mode,
    /// `run` in the foreground with `process.terminal`: receive the pty master here.
    pub foreground_tty: bool,
    /// `--no-new-keyring`.
    pub no_new_keyring: bool,
}

/// A created container, as `run` needs it.
pub struct Created {
    pub dir: ContainerDir,
    pub state: State,
    pub plan: Plan,
    pub chan: sync::Channel,
    /// The pty master, for a foreground `run -t`.
    pub master: Option<OwnedFd>,
}

/// The state document handed to hooks (runtime-spec "State").
pub fn hook_state(
    id: &str,
    status: &str,
    pid: i32,
    bundle: &Path,
    annotations: &std::collections::HashMap<String, String>,
) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "ociVersion": oci_spec::runtime::VERSION,
        "id": id,
        "status": status,
        "pid": pid,
        "bundle": bundle,
        "annotations": annotations,
    }))
    .unwrap_or_default()
}

/// Clones the init with every new namespace in one call. Returns the child's pid in the
/// parent; in the child, runs `child` (which never returns).
fn clone_init(flags: CloneFlags, cgroup: Option<RawFd>, child: impl FnOnce()) -> Result<Pid> {
    let r = if let Some(fd) = cgroup {
        // clone_args of clone3(2); a zero stack means "like fork".
        #[repr(C)]
        struct CloneArgs {
            flags: u64,
            pidfd: u64,
            child_tid: u64,
            parent_tid: u64,
            exit_signal: u64,
            stack: u64,
            stack_size: u64,
            tls: u64,
            set_tid: u64,
            set_tid_size: u64,
            cgroup: u64,
        }
        const CLONE_INTO_CGROUP: u64 = 0x200000000;
        let args = CloneArgs {
            flags: flags.bits() as u64 | CLONE_INTO_CGROUP,
            pidfd: 0,
            child_tid: 0,
            parent_tid: 0,
            exit_signal: libc::SIGCHLD as u64,
            stack: 0,
            stack_size: 0,
            tls: 0,
            set_tid: 0,
            set_tid_size: 0,
            cgroup: fd as u64,
        };
        // SAFETY: as below, with clone3's argument struct, valid for the call.
        unsafe {
            libc::syscall(
                libc::SYS_clone3,
                &args as *const CloneArgs,
                std::mem::size_of::<CloneArgs>(),
            )
        }
    } else {
        // SAFETY: a fork-like clone (no new stack, no CLONE_VM): the child gets a copy of
        // our single-threaded address space and runs `child`, which ends in _exit or execve.
        unsafe {
            libc::syscall(
                libc::SYS_clone,
                (flags.bits() | libc::SIGCHLD) as libc::c_ulong,
                0usize,
                0usize,
                0usize,
                0usize,
            )
        }
    };
    match r {
        -1 => Err(Error::call("clone", nix::errno::Errno::last())),
        0 => {
            child();
            // SAFETY: _exit is always safe; `child` does not return in practice.
            unsafe { libc::_exit(1) }
        }
        pid => Ok(Pid::from_raw(pid as i32)),
    }
}

/// Runs `create`; on failure nothing is left behind (process, cgroup, state dir).
pub fn create(opts: &CreateOptions) -> Result<Created> {
    let dir = ContainerDir::create(&opts.root, &opts.id)?;
    let mut child: Option<Pid> = None;
    let mut cgroup_made: Option<String> = None;
    let r = create_in(opts, &dir, &mut child, &mut cgroup_made);
    match r {
        Ok(c) => Ok(Created { dir, ..c }),
        Err(e) => {
            if let Some(pid) = child {
                let _ = kill(pid, Signal::SIGKILL);
                let _ = nix::sys::wait::waitpid(pid, None);
            }
            if let Some(path) = cgroup_made {
                let _ = cgroups::destroy(&path);
            }
            let _ = dir.remove();
            Err(e)
        }
    }
}

fn create_in(
    opts: &CreateOptions,
    dir: &ContainerDir,
    child: &mut Option<Pid>,
    cgroup_made: &mut Option<String>,
) -> Result<Created> {
    let bundle =
        std::fs::canonicalize(&opts.bundle).map_err(|e| Error::io("bundle", &opts.bundle, e))?;
    let (spec, raw, unknown) = spec::load(&bundle)?;
    let mut plan = plan::build(&opts.id, &bundle, spec)?;
    plan.warnings.extend(
        unknown
            .into_iter()
            .map(|f| format!("config.json: unknown property {f} ignored")),
    );
    plan.no_pivot = opts.no_pivot;
    plan.new_keyring = !opts.no_new_keyring;
    // Socket activation: fds handed to us under LISTEN_FDS go to the container, as with runc.
    let mut preserve_fds = opts.preserve_fds;
    if let Some(n) = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse::<i32>().ok())
    {
        if n > 0 {
            preserve_fds += n;
            plan.process.env.retain(|e| {
                !e.as_bytes().starts_with(b"LISTEN_FDS=")
                    && !e.as_bytes().starts_with(b"LISTEN_PID=")
            });
            plan.process
                .env
                .push(std::ffi::CString::new(format!("LISTEN_FDS={n}")).expect("no NUL"));
            plan.process
                .env
                .push(std::ffi::CString::new("LISTEN_PID=1").expect("no NUL"));
        }
    }
    let bounding = caps::read(None, caps::CapSet::Bounding).unwrap_or_default();
    let beyond = plan.process.caps.beyond(&bounding);
    if !beyond.is_empty() {
        let names: Vec<String> = beyond.iter().map(|c| c.to_string()).collect();
        return Err(Error::config(
            "process.capabilities",
            format!(
                "{} not in the runtime's bounding set, cannot be granted",
                names.join(", ")
            ),
        ));
    }
    let annotations = plan.spec.annotations().clone().unwrap_or_default();
    let start = match opts.mode {
        Mode::Create => {
            // A short path through our fd of the directory: socket paths are limited to 108 bytes.
            let d = std::fs::File::open(&dir.path).map_err(|e| Error::io("open", &dir.path, e))?;
            let p = format!("/proc/self/fd/{}/{}", d.as_raw_fd(), state::START_SOCKET);
            let l =
                UnixListener::bind(&p).map_err(|e| Error::io("listen", dir.start_socket(), e))?;
            StartSignal::Socket(OwnedFd::from(l))
        }
        Mode::Run => StartSignal::Channel,
    };
    let mut master_rx = None;
    let console = if plan.process.terminal {
        if let Some(path) = &opts.console_socket {
            Console::Socket(tty::connect(path)?)
        } else if opts.foreground_tty {
            let (a, b) = std::os::unix::net::UnixStream::pair()
                .map_err(|e| Error::io("socketpair", "console", e))?;
            master_rx = Some(a);
            Console::Socket(OwnedFd::from(b))
        } else {
            return Err(Error::config(
                "process.terminal",
                "a terminal needs --console-socket",
            ));
        }
    } else {
        Console::None
    };
    // The cgroup is made before the clone when the init must be born in it (v2's
    // CLONE_INTO_CGROUP), must be in it before it unshares its cgroup namespace, or mounts
    // it. Otherwise
    // it is made while the init already sets up its mounts, on the other CPU.
    // A `cgroup` mount binds the container's own cgroup directories: they must exist first.
    let early_cgroup = plan.ns.new_cgroup
        || plan
            .mounts
            .iter()
            .any(|m| m.typ == "cgroup" || m.typ == "cgroup2")
        || cgroups::unified();
    let early = if early_cgroup {
        let c = cgroups::prepare(&plan)?;
        *cgroup_made = Some(plan.cgroups_path.clone());
        Some(c)
    } else {
        None
    };
    let (parent_chan, child_chan) = sync::pair()?;
    let (idmap_tx, idmap_rx) = if crate::idmap::wanted(&plan) {
        let (a, b) = std::os::unix::net::UnixStream::pair()
            .map_err(|e| Error::io("socketpair", "idmap", e))?;
        (Some(a), Some(OwnedFd::from(b)))
    } else {
        (None, None)
    };
    let (seccomp_rx, seccomp_tx) = if plan.seccomp.as_ref().is_some_and(|s| s.listener.is_some()) {
        let (a, b) = std::os::unix::net::UnixStream::pair()
            .map_err(|e| Error::io("socketpair", "seccomp", e))?;
        (Some(a), Some(OwnedFd::from(b)))
    } else {
        (None, None)
    };
    if let Some(p) = &plan.ns.pid_path {
        let fd = std::fs::File::open(p).map_err(|e| Error::io("open namespace", p, e))?;
        nix::sched::setns(&fd, CloneFlags::CLONE_NEWPID).map_err(|e| Error::sys("setns", p, e))?;
    }
    if plan.ns.new_time {
        nix::sched::unshare(CloneFlags::from_bits_retain(CLONE_NEWTIME))
            .map_err(|e| Error::call("unshare(CLONE_NEWTIME)", e))?;
        if let Some(offsets) = &plan.time_offsets {
            fs::write_proc(Path::new("/proc/self/timens_offsets"), offsets.as_bytes())
                .map_err(|e| Error::Other(format!("linux.timeOffsets: {e}")))?;
        }
    }
    let id = opts.id.clone();
    let bundle_for_hooks = bundle.clone();
    let ann = annotations.clone();
    let pid = {
        let plan_ref = &plan;
        let args = InitArgs {
            plan: plan_ref,
            chan: child_chan,
            start,
            console,
            preserve_fds,
            seccomp_chan: seccomp_tx,
            idmap_chan: idmap_rx,
            runtime_exe: crate::exe_guard::runtime_identity(),
            state_json: Box::new(move |pid, status| {
                hook_state(&id, status, pid, &bundle_for_hooks, &ann)
            }),
        };
        clone_init(
            plan.ns.clone_flags,
            early
                .as_ref()
                .and_then(|c| c.into.as_ref())
                .map(|f| f.as_raw_fd()),
            move || init::run(args),
        )?
    };
    *child = Some(pid);
    if let Some(m) = &plan.uid_map {
        fs::write_proc(&PathBuf::from(format!("/proc/{pid}/uid_map")), m.as_bytes())
            .map_err(|e| Error::Other(format!("linux.uidMappings: {e}")))?;
    }
    if let Some(m) = &plan.gid_map {
        fs::write_proc(&PathBuf::from(format!("/proc/{pid}/gid_map")), m.as_bytes())
            .map_err(|e| Error::Other(format!("linux.gidMappings: {e}")))?;
    }
    if let Some(tx) = &idmap_tx {
        crate::idmap::send_trees(&plan, pid.as_raw(), tx.as_raw_fd())?;
    }
    match early {
        Some(c) => {
            c.add(pid.as_raw())?;
            parent_chan.send(&Msg::Go)?;
        }
        None => {
            parent_chan.send(&Msg::Go)?;
            // The init reports Ready only after this: the parent reads Ready afterwards and
            // the container process cannot run before the parent lets it.
            let c = cgroups::prepare(&plan)?;
            *cgroup_made = Some(plan.cgroups_path.clone());
            c.add(pid.as_raw())?;
        }
    }
    let died = "container init exited during setup";
    loop {
        match parent_chan.recv()? {
            Some(Msg::Ready) => break,
            Some(Msg::Hooks) => {
                let st = hook_state(&opts.id, "creating", pid.as_raw(), &bundle, &annotations);
                hooks::run("prestart", plan.hooks.prestart().as_ref(), &st)?;
                hooks::run("createRuntime", plan.hooks.create_runtime().as_ref(), &st)?;
                parent_chan.send(&Msg::HooksDone)?;
            }
            Some(Msg::Error(e)) => return Err(Error::Init(e)),
            Some(m) => return Err(Error::Other(format!("protocol error: unexpected {m:?}"))),
            None => return Err(Error::Init(died.into())),
        }
    }
    let master = match master_rx {
        Some(rx) => Some(tty::recv_fd(rx.as_raw_fd())?),
        None => None,
    };
    let start_time =
        state::process_start_time(pid.as_raw()).ok_or_else(|| Error::Init(died.into()))?;
    if let (Some(rx), Some(sp)) = (&seccomp_rx, &plan.seccomp) {
        let fd = tty::recv_fd(rx.as_raw_fd())?;
        let st = oci_state(
            &opts.id,
            oci_spec::runtime::ContainerState::Creating,
            pid.as_raw(),
            &bundle,
            &annotations,
        );
        crate::seccomp::send_to_agent(sp, &fd, &st, pid.as_raw())?;
    }
    let st = State {
        oci_version: oci_spec::runtime::VERSION.to_string(),
        id: opts.id.clone(),
        pid: pid.as_raw(),
        start_time,
        bundle: bundle.clone(),
        rootfs: plan.rootfs.clone(),
        created: state::rfc3339_now(),
        annotations,
        owner: String::new(),
        cgroups_path: plan.cgroups_path.clone(),
        own_cgroup: cgroup_made.is_some(),
    };
    dir.write_atomic(state::CONFIG_FILE, &raw)?;
    dir.save(&st)?;
    if let Some(pf) = &opts.pid_file {
        write_pid_file(pf, pid.as_raw())?;
    }
    Ok(Created {
        dir: ContainerDir::new(&opts.root, &opts.id)?,
        state: st,
        plan,
        chan: parent_chan,
        master,
    })
}

/// The container's state as an oci-spec value, for the seccomp agent.
pub(crate) fn oci_state(
    id: &str,
    status: oci_spec::runtime::ContainerState,
    pid: i32,
    bundle: &Path,
    annotations: &std::collections::HashMap<String, String>,
) -> oci_spec::runtime::State {
    let mut s = oci_spec::runtime::State::default();
    s.set_version(oci_spec::runtime::VERSION.to_string());
    s.set_id(id.to_string());
    s.set_status(status);
    s.set_pid(Some(pid));
    s.set_bundle(bundle.to_path_buf());
    s.set_annotations(Some(annotations.clone()));
    s
}

/// Writes the pid file atomically (containerd reads it as soon as create returns).
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let tmp = path.with_extension("berth-tmp");
    std::fs::write(&tmp, pid.to_string()).map_err(|e| Error::io("write pid file", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io("write pid file", path, e))
}
