//! The adapter between the shim and berth-runtime: every call into the runtime library is in
//! this module, so the move to the redesigned library (issue 12) changes only this file.
//!
//! Today's library clones the container's init and exec'd processes from the calling process,
//! `exec` moves the caller into the container's pid namespace, and hooks are waited for as the
//! caller's children. None of that may happen inside this multi-threaded shim, whose reaper
//! thread waits for every child. So the verbs that fork or join namespaces (create, start, exec,
//! delete) run in a *helper*: the shim re-executes its own binary (`/proc/self/exe`, the
//! read-only view the shim runs from) with [`HELPER_ARG`], hands it the container's stdio as fds
//! 0-2 and a request on fd 3, and reads the reply (and the pty master, if any) from fd 3. The
//! helper is single-threaded, calls the library and exits; the init and the exec'd processes it
//! cloned are reparented to the shim, a child subreaper, which reaps them and reports their
//! exits.
//!
//! ```text
//!  shim (threads)                        helper (one thread)             container
//!  ──────────────                        ───────────────────             ─────────
//!  fork+exec /proc/self/exe ───────────▶ read request on fd 3
//!  request (JSON), shutdown(write) ────▶ mount rootfs, library call ───▶ init / exec'd process
//!                      ◀──────────────── reply (JSON) + pty master fd
//!                                        exit ── the new process is reparented to the shim
//! ```
//!
//! The other verbs (kill, pause, resume, pids, stats, update, OOM watch) only read state files,
//! write cgroup files and send signals: they run in the shim itself, one at a time. So do
//! start and delete of a container without poststart/poststop hooks (connecting to the init's
//! start socket; killing, removing the cgroup, the state and the rootfs mount): only hooks,
//! which the library runs and waits for as its caller's children, need the helper there.

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio as ChildStdio};
use std::sync::{Mutex, MutexGuard};

use berth_cgroups::{CgroupManager, OomWatcher, Stats};
use berth_runtime::container::Container;
use nix::sys::signal::Signal;
use nix::sys::socket::{self, ControlMessage, ControlMessageOwned, MsgFlags};
use oci_spec::runtime::{LinuxResources, Process};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rootfs::{self, RootfsMount};

/// `argv[1]` that makes the shim binary a helper.
pub const HELPER_ARG: &str = "--berth-runtime-helper";
/// The fd on which the helper gets its request and sends its reply.
const HELPER_FD: RawFd = 3;
/// The helper's name in `ps`.
const HELPER_NAME: &str = "containerd-shim-berth-v2-helper";

/// Serialises the in-process calls: today's library was written for a single-threaded CLI.
static IN_PROCESS: Mutex<()> = Mutex::new(());

fn serialised() -> MutexGuard<'static, ()> {
    IN_PROCESS.lock().unwrap_or_else(|e| e.into_inner())
}

/// The stdio a new process gets; `None` is `/dev/null`.
#[derive(Default)]
pub struct Stdio {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

/// A process the library started.
pub struct Spawned {
    pub pid: i32,
    /// The pty master, for a process with a terminal.
    pub master: Option<OwnedFd>,
    /// Warnings the library reported (unknown config properties, hook warnings).
    pub warnings: Vec<String>,
}

/// Which of the hooks that run after `create` the container has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hooks {
    pub poststart: bool,
    pub poststop: bool,
}

/// The cgroup version a container's statistics come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    V1,
    V2,
}

/// What `create` needs.
pub struct CreateOptions<'a> {
    pub id: &'a str,
    pub bundle: &'a Path,
    /// Mounts from containerd's snapshotter, mounted on `<bundle>/rootfs` first.
    pub rootfs: &'a [RootfsMount],
    pub terminal: bool,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub systemd_cgroup: bool,
    pub stdio: Stdio,
}

/// One state root of the runtime library.
#[derive(Debug, Clone)]
pub struct Runtime {
    root: PathBuf,
    /// The hooks of the container this shim created here; unknown (`None`): assume hooks.
    hooks: Option<Hooks>,
}

/// A request to the helper.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Request {
    Create {
        root: PathBuf,
        id: String,
        bundle: PathBuf,
        rootfs: Vec<RootfsMount>,
        terminal: bool,
        no_pivot: bool,
        no_new_keyring: bool,
    },
    Start {
        root: PathBuf,
        id: String,
    },
    Exec {
        root: PathBuf,
        id: String,
        process: Box<Process>,
        terminal: bool,
    },
    Delete {
        root: PathBuf,
        id: String,
        force: bool,
        /// `<bundle>/rootfs`, when the shim mounted it.
        unmount: Option<PathBuf>,
    },
}

/// The helper's answer.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Reply {
    pid: i32,
    warnings: Vec<String>,
    hooks: Hooks,
    error: Option<String>,
    /// The error means "no such container".
    not_found: bool,
}

impl Runtime {
    /// The runtime with state root `root`.
    pub fn new(root: impl Into<PathBuf>) -> Runtime {
        Runtime {
            root: root.into(),
            hooks: None,
        }
    }

    /// Mounts the rootfs and creates the container; its init waits for [`Runtime::start`].
    /// On failure nothing is left: no process, cgroup, state or mount.
    pub fn create(&mut self, o: CreateOptions) -> Result<Spawned> {
        if o.systemd_cgroup {
            return Err(Error::invalid(
                "options.SystemdCgroup",
                "the systemd cgroup driver is not supported by berth yet; use cgroupfs",
            ));
        }
        let req = Request::Create {
            root: self.root.clone(),
            id: o.id.to_string(),
            bundle: o.bundle.to_path_buf(),
            rootfs: o.rootfs.to_vec(),
            terminal: o.terminal,
            no_pivot: o.no_pivot,
            no_new_keyring: o.no_new_keyring,
        };
        let (spawned, hooks) = call("create", &req, o.stdio)?;
        self.hooks = Some(hooks);
        Ok(spawned)
    }

    /// Starts a created container: returns once the container's process exec'd.
    pub fn start(&self, id: &str) -> Result<Vec<String>> {
        if self.hooks.is_some_and(|h| !h.poststart) {
            let _g = serialised();
            return self
                .load("start", id)?
                .start()
                .map_err(Error::runtime("start"));
        }
        let req = Request::Start {
            root: self.root.clone(),
            id: id.to_string(),
        };
        call("start", &req, Stdio::default()).map(|(s, _)| s.warnings)
    }

    /// Runs `process` in the running container `id`.
    pub fn exec(
        &self,
        id: &str,
        process: Process,
        terminal: bool,
        stdio: Stdio,
    ) -> Result<Spawned> {
        let req = Request::Exec {
            root: self.root.clone(),
            id: id.to_string(),
            process: Box::new(process),
            terminal,
        };
        call("exec", &req, stdio).map(|(s, _)| s)
    }

    /// Deletes the container (killing it first with `force`) and unmounts `unmount_rootfs`.
    /// A container that does not exist is not an error: the rootfs is still unmounted.
    pub fn delete(&self, id: &str, force: bool, unmount_rootfs: Option<&Path>) -> Result<()> {
        let _g = serialised();
        // No hooks to run: no helper. Neither when the container is gone already (`shim
        // delete` after a clean exit).
        let exists = || berth_runtime::state::ContainerDir::open(&self.root, id).is_ok();
        if self.hooks.is_some_and(|h| !h.poststop) || !exists() {
            return delete(&self.root, id, force, unmount_rootfs).map_err(|e| match e {
                Deleted::Runtime(e) => Error::runtime("delete")(e),
                Deleted::Unmount(e) => e,
            });
        }
        drop(_g);
        let req = Request::Delete {
            root: self.root.clone(),
            id: id.to_string(),
            force,
            unmount: unmount_rootfs.map(Path::to_path_buf),
        };
        call("delete", &req, Stdio::default()).map(|_| ())
    }

    fn load(&self, op: &'static str, id: &str) -> Result<Container> {
        Container::load(&self.root, id).map_err(Error::runtime(op))
    }

    /// The init's pid, if the container exists.
    pub fn init_pid(&self, id: &str) -> Option<i32> {
        let _g = serialised();
        Container::load(&self.root, id).ok().map(|c| c.state.pid)
    }

    /// Signals the init, or with `all` every process of the container.
    pub fn kill(&self, id: &str, signal: Signal, all: bool) -> Result<()> {
        let _g = serialised();
        self.load("kill", id)?
            .kill(signal, all)
            .map_err(Error::runtime("kill"))
    }

    /// Freezes the container's cgroup.
    pub fn pause(&self, id: &str) -> Result<()> {
        let _g = serialised();
        let c = self.load("pause", id)?;
        berth_runtime::cgroups::freeze(&c.state.cgroups_path).map_err(Error::runtime("pause"))
    }

    /// Thaws the container's cgroup.
    pub fn resume(&self, id: &str) -> Result<()> {
        let _g = serialised();
        let c = self.load("resume", id)?;
        berth_runtime::cgroups::thaw(&c.state.cgroups_path).map_err(Error::runtime("resume"))
    }

    /// The container's processes (host pids).
    pub fn pids(&self, id: &str) -> Result<Vec<i32>> {
        let _g = serialised();
        let c = self.load("pids", id)?;
        berth_runtime::cgroups::pids(&c.state).map_err(Error::runtime("pids"))
    }

    /// The container's resource usage, and which cgroup version it comes from.
    pub fn stats(&self, id: &str) -> Result<(Stats, CgroupVersion)> {
        let _g = serialised();
        let c = self.load("stats", id)?;
        let m = berth_runtime::cgroups::manager(&c.state.cgroups_path, id)
            .map_err(Error::runtime("stats"))?;
        let version = if m.version() == "v2" {
            CgroupVersion::V2
        } else {
            CgroupVersion::V1
        };
        Ok((m.stats().map_err(Error::cgroup("stats"))?, version))
    }

    /// Applies new limits to the container's cgroup.
    pub fn update(&self, id: &str, resources: LinuxResources) -> Result<()> {
        let _g = serialised();
        let c = self.load("update", id)?;
        berth_runtime::cgroups::update(&c.state.cgroups_path, id, resources)
            .map_err(Error::runtime("update"))
    }

    /// A subscription to the container's OOM kills.
    pub fn oom_watcher(&self, id: &str) -> Result<OomWatcher> {
        let _g = serialised();
        let c = self.load("watch OOM", id)?;
        berth_runtime::cgroups::manager(&c.state.cgroups_path, id)
            .map_err(Error::runtime("watch OOM"))?
            .oom_watcher()
            .map_err(Error::cgroup("watch OOM"))
    }
}

/// What delete failed at.
enum Deleted {
    Runtime(berth_runtime::Error),
    Unmount(Error),
}

/// Deletes container `id` (if it exists), then unmounts `unmount`.
fn delete(
    root: &Path,
    id: &str,
    force: bool,
    unmount: Option<&Path>,
) -> std::result::Result<(), Deleted> {
    match Container::load_locked(root, id) {
        Ok(c) => c.delete(force).map(|_| ()).map_err(Deleted::Runtime)?,
        Err(berth_runtime::Error::NotExist(_)) => {}
        Err(e) => return Err(Deleted::Runtime(e)),
    }
    if let Some(target) = unmount {
        rootfs::unmount(target).map_err(Deleted::Unmount)?;
    }
    Ok(())
}

/// A read-only view of the shim binary (a detached bind mount): the long-running shim is
/// started from it, so that the helpers it runs, and the containers' processes before their
/// execve, never run from a writable binary (CVE-2019-5736).
pub fn readonly_self() -> Result<OwnedFd> {
    let exe = Path::new("/proc/self/exe");
    let view = berth_runtime::fs::open_tree_clone(exe, false)
        .map_err(Error::runtime("open a view of the shim binary"))?;
    berth_runtime::fs::mount_setattr(
        view.as_raw_fd(),
        false,
        berth_runtime::mounts::attr::RDONLY | berth_runtime::mounts::attr::NODEV,
        0,
        exe,
    )
    .map_err(Error::runtime("make the view of the shim binary read-only"))?;
    Ok(view)
}

/// Re-executes the shim from a read-only view of its binary unless it already runs from one
/// (CVE-2019-5736: the helpers, and so the containers' processes before their execve, run
/// from `/proc/self/exe`). Returns only on failure.
pub fn protect_self() -> Result<()> {
    berth_runtime::exe_guard::protect_self().map_err(Error::runtime("protect the shim binary"))
}

/// The library's parse of a mount's options (flags, propagation, filesystem data).
pub fn mount_options(options: &[String]) -> berth_runtime::mounts::MountOptions {
    berth_runtime::mounts::parse_options(options)
}

fn child_stdio(fd: Option<OwnedFd>) -> ChildStdio {
    fd.map(ChildStdio::from).unwrap_or_else(ChildStdio::null)
}

/// Runs `req` in a helper with `stdio` as its fds 0-2 and returns what it made.
fn call(op: &'static str, req: &Request, stdio: Stdio) -> Result<(Spawned, Hooks)> {
    let t0 = std::time::Instant::now();
    let r = call_helper(op, req, stdio);
    log::debug!("helper {op}: {:?}", t0.elapsed());
    r
}

fn call_helper(op: &'static str, req: &Request, stdio: Stdio) -> Result<(Spawned, Hooks)> {
    let (mut ours, theirs) =
        UnixStream::pair().map_err(|e| Error::io(op, "helper socketpair", e))?;
    let exe = Path::new("/proc/self/exe");
    let mut cmd = Command::new(exe);
    cmd.arg0(HELPER_NAME)
        .arg(HELPER_ARG)
        .stdin(child_stdio(stdio.stdin))
        .stdout(child_stdio(stdio.stdout))
        .stderr(child_stdio(stdio.stderr));
    let fd = theirs.as_raw_fd();
    // SAFETY: the closure runs in the forked child before exec and only calls dup2 and fcntl,
    // which are async-signal-safe; `fd` stays open in the parent until spawn returns.
    unsafe {
        cmd.pre_exec(move || {
            let r = if fd == HELPER_FD {
                libc::fcntl(fd, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, HELPER_FD)
            };
            if r < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // The child is reaped by the shim's reaper thread: never wait for it here, the reply's EOF
    // says it is done.
    let spawned = cmd.spawn();
    // Our copies of the container's stdio and of the helper's socket end go now, so that the
    // container holds the only writers of its FIFOs.
    drop(cmd);
    drop(theirs);
    spawned.map_err(|e| Error::io(op, exe, e))?;
    let body = serde_json::to_vec(req).map_err(|e| Error::Helper {
        op,
        msg: format!("encode the request: {e}"),
    })?;
    ours.write_all(&body)
        .and_then(|()| ours.shutdown(std::net::Shutdown::Write))
        .map_err(|e| Error::io(op, "helper socket", e))?;
    let (data, fd) = recv_reply(&ours).map_err(|e| Error::sys("read the helper's reply", e))?;
    if data.is_empty() {
        return Err(Error::Helper {
            op,
            msg: "the helper exited without an answer".into(),
        });
    }
    let reply: Reply = serde_json::from_slice(&data).map_err(|e| Error::Helper {
        op,
        msg: format!("malformed reply: {e}"),
    })?;
    match reply.error {
        Some(msg) if reply.not_found => Err(Error::NotFound(msg)),
        Some(msg) => Err(Error::Helper { op, msg }),
        None => Ok((
            Spawned {
                pid: reply.pid,
                master: fd,
                warnings: reply.warnings,
            },
            reply.hooks,
        )),
    }
}

/// Reads until EOF, keeping the first fd passed along.
fn recv_reply(sock: &UnixStream) -> nix::Result<(Vec<u8>, Option<OwnedFd>)> {
    let mut data = Vec::new();
    let mut fd = None;
    let mut buf = [0u8; 8192];
    loop {
        let mut cmsg = nix::cmsg_space!([RawFd; 1]);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = match socket::recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => r?,
        };
        let n = msg.bytes;
        for c in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                for f in fds {
                    // SAFETY: the kernel installed this fd for us; nothing else owns it.
                    let owned = unsafe { OwnedFd::from_raw_fd(f) };
                    if fd.is_none() {
                        fd = Some(owned);
                    }
                }
            }
        }
        if n == 0 {
            return Ok((data, fd));
        }
        data.extend_from_slice(&buf[..n]);
    }
}

/// The helper: serves one request from fd 3 and exits. Never returns.
pub fn helper_main() -> ! {
    // SAFETY: the shim put our end of the request socket on fd 3 and nothing else in this
    // fresh process owns it.
    let mut sock = unsafe { UnixStream::from_raw_fd(HELPER_FD) };
    // The container's processes must not inherit it.
    // SAFETY: fcntl on an fd we own.
    unsafe { libc::fcntl(HELPER_FD, libc::F_SETFD, libc::FD_CLOEXEC) };
    let mut body = Vec::new();
    let (reply, fd) = match sock.read_to_end(&mut body) {
        Err(e) => (Reply::failed(format!("read the request: {e}")), None),
        Ok(_) => match serde_json::from_slice::<Request>(&body) {
            Err(e) => (Reply::failed(format!("malformed request: {e}")), None),
            Ok(req) => serve(req),
        },
    };
    let data = serde_json::to_vec(&reply).unwrap_or_default();
    let fds: Vec<RawFd> = fd.iter().map(|f| f.as_raw_fd()).collect();
    let cmsgs: Vec<ControlMessage> = if fds.is_empty() {
        Vec::new()
    } else {
        vec![ControlMessage::ScmRights(&fds)]
    };
    let mut sent = socket::sendmsg::<()>(
        sock.as_raw_fd(),
        &[IoSlice::new(&data)],
        &cmsgs,
        MsgFlags::empty(),
        None,
    )
    .unwrap_or(0);
    if sent < data.len() {
        sent = sent.min(data.len());
        let _ = sock.write_all(&data[sent..]);
    }
    std::process::exit(0)
}

impl Reply {
    fn failed(msg: String) -> Reply {
        Reply {
            error: Some(msg),
            ..Reply::default()
        }
    }

    fn from_error(e: berth_runtime::Error) -> Reply {
        Reply {
            not_found: matches!(e, berth_runtime::Error::NotExist(_)),
            ..Reply::failed(e.to_string())
        }
    }
}

fn serve(req: Request) -> (Reply, Option<OwnedFd>) {
    match req {
        Request::Create {
            root,
            id,
            bundle,
            rootfs,
            terminal,
            no_pivot,
            no_new_keyring,
        } => {
            let target = bundle.join("rootfs");
            if let Err(e) = rootfs::mount_all(&rootfs, &target) {
                return (Reply::failed(e.to_string()), None);
            }
            let opts = berth_runtime::create::CreateOptions {
                root,
                id,
                bundle,
                console_socket: None,
                pid_file: None,
                no_pivot,
                preserve_fds: 0,
                mode: berth_runtime::create::Mode::Create,
                foreground_tty: terminal,
                no_new_keyring,
            };
            match berth_runtime::create::create(&opts) {
                Ok(c) => (
                    Reply {
                        pid: c.state.pid,
                        warnings: c.plan.warnings.clone(),
                        hooks: Hooks {
                            poststart: c
                                .plan
                                .hooks
                                .poststart()
                                .as_ref()
                                .is_some_and(|h| !h.is_empty()),
                            poststop: c
                                .plan
                                .hooks
                                .poststop()
                                .as_ref()
                                .is_some_and(|h| !h.is_empty()),
                        },
                        ..Reply::default()
                    },
                    c.master,
                ),
                Err(e) => {
                    if !rootfs.is_empty() {
                        let _ = rootfs::unmount(&target);
                    }
                    (Reply::from_error(e), None)
                }
            }
        }
        Request::Start { root, id } => match Container::load(&root, &id).and_then(|c| c.start()) {
            Ok(warnings) => (
                Reply {
                    warnings,
                    ..Reply::default()
                },
                None,
            ),
            Err(e) => (Reply::from_error(e), None),
        },
        Request::Exec {
            root,
            id,
            process,
            terminal,
        } => match exec(root, id, *process, terminal) {
            Ok(e) => (
                Reply {
                    pid: e.pid,
                    ..Reply::default()
                },
                e.master,
            ),
            Err(e) => (Reply::from_error(e), None),
        },
        Request::Delete {
            root,
            id,
            force,
            unmount,
        } => match delete(&root, &id, force, unmount.as_deref()) {
            Ok(()) => (Reply::default(), None),
            Err(Deleted::Runtime(e)) => (Reply::from_error(e), None),
            Err(Deleted::Unmount(e)) => (Reply::failed(e.to_string()), None),
        },
    }
}

/// `exec` as the CLI does it: the container's seccomp filter applies, and its LSM labels
/// unless the process names its own.
fn exec(
    root: PathBuf,
    id: String,
    mut process: Process,
    terminal: bool,
) -> berth_runtime::Result<berth_runtime::exec::Execed> {
    let dir = berth_runtime::state::ContainerDir::open(&root, &id)?;
    let config = dir.path.join(berth_runtime::state::CONFIG_FILE);
    let raw = std::fs::read(&config)
        .map_err(|e| berth_runtime::Error::io("read the container's config", &config, e))?;
    let spec = berth_runtime::spec::parse(&raw).map_err(|msg| berth_runtime::Error::Parse {
        path: config.clone(),
        msg,
    })?;
    if let Some(cp) = spec.process() {
        if process
            .apparmor_profile()
            .as_deref()
            .unwrap_or_default()
            .is_empty()
        {
            process.set_apparmor_profile(cp.apparmor_profile().clone());
        }
        if process
            .selinux_label()
            .as_deref()
            .unwrap_or_default()
            .is_empty()
        {
            process.set_selinux_label(cp.selinux_label().clone());
        }
    }
    process.set_terminal(Some(terminal));
    berth_runtime::exec::exec(&berth_runtime::exec::ExecOptions {
        root,
        id,
        process,
        console_socket: None,
        pid_file: None,
        preserve_fds: 0,
        foreground_tty: terminal,
        seccomp: spec.linux().as_ref().and_then(|l| l.seccomp().clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        let req = Request::Delete {
            root: "/r".into(),
            id: "c1".into(),
            force: true,
            unmount: Some("/b/rootfs".into()),
        };
        let json = serde_json::to_string(&req).unwrap();
        assert!(json.contains(r#""op":"delete""#), "{json}");
        match serde_json::from_str::<Request>(&json).unwrap() {
            Request::Delete { id, force, .. } => assert_eq!((id.as_str(), force), ("c1", true)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn library_not_found_is_marked() {
        let r = Reply::from_error(berth_runtime::Error::NotExist("c1".into()));
        assert!(r.not_found);
        assert!(!Reply::from_error(berth_runtime::Error::Other("x".into())).not_found);
    }
}
