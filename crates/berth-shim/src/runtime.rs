//! The adapter between the shim and berth-runtime: every call into the runtime library is in
//! this module.
//!
//! The library never changes its caller and is safe from the shim's threads: the containers'
//! inits and exec'd processes are the shim's children (it reaps them). Two things still run in
//! a short-lived *helper* (the shim binary re-executed with [`HELPER_ARG`], single-threaded):
//! lifecycle hooks, which the library runs and waits for as its caller's children (the shim's
//! reaper would take their exit status), and a rootfs whose mount data only fits a page after
//! a `chdir` (process-wide).
//!
//! ```text
//!  shim (threads)                        helper (one thread)             container
//!  ──────────────                        ───────────────────             ─────────
//!  fork+exec /proc/self/exe ───────────▶ read request on fd 3
//!  request (JSON), shutdown(write) ────▶ mount rootfs, library call ───▶ init / exec'd process
//!                      ◀──────────────── reply (JSON) + pty master fd
//!                                        exit ── the new process is reparented to the shim
//! ```

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio as ChildStdio};

use berth_cgroups::Stats;
use berth_runtime::{Console, Container, ExecOptions};
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
    /// prestart, createRuntime, createContainer or startContainer hooks.
    pub at_create: bool,
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
    systemd: bool,
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
        systemd: bool,
    },
    Start {
        root: PathBuf,
        id: String,
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

/// Which hooks a bundle's config has (read before create: hooks need the helper).
fn bundle_hooks(bundle: &Path) -> Result<Hooks> {
    #[derive(Deserialize, Default)]
    struct Config {
        #[serde(default)]
        hooks: Option<oci_spec::runtime::Hooks>,
    }
    let path = bundle.join("config.json");
    let raw = std::fs::read(&path).map_err(|e| Error::io("create", &path, e))?;
    let c: Config = serde_json::from_slice(&raw).unwrap_or_default();
    let h = c.hooks.unwrap_or_default();
    let any = |l: &Option<Vec<oci_spec::runtime::Hook>>| l.as_ref().is_some_and(|v| !v.is_empty());
    Ok(Hooks {
        poststart: any(h.poststart()),
        poststop: any(h.poststop()),
        at_create: any(h.prestart())
            || any(h.create_runtime())
            || any(h.create_container())
            || any(h.start_container()),
    })
}

/// `None` as `/dev/null`: the library's `None` would be the shim's own stdio.
fn or_null(fd: Option<OwnedFd>) -> Result<OwnedFd> {
    match fd {
        Some(f) => Ok(f),
        None => std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .map(OwnedFd::from)
            .map_err(|e| Error::io("stdio", "/dev/null", e)),
    }
}

fn library_stdio(s: Stdio) -> Result<berth_runtime::Stdio> {
    Ok(berth_runtime::Stdio {
        stdin: Some(or_null(s.stdin)?),
        stdout: Some(or_null(s.stdout)?),
        stderr: Some(or_null(s.stderr)?),
    })
}

impl Runtime {
    /// The runtime with state root `root`.
    pub fn new(root: impl Into<PathBuf>) -> Runtime {
        Runtime {
            root: root.into(),
            systemd: false,
            hooks: None,
        }
    }

    fn library(&self) -> berth_runtime::Runtime {
        berth_runtime::Runtime::new(&self.root).systemd_cgroup(self.systemd)
    }

    /// Mounts the rootfs and creates the container; its init waits for [`Runtime::start`].
    /// On failure nothing is left: no process, cgroup, state or mount.
    pub fn create(&mut self, o: CreateOptions) -> Result<Spawned> {
        self.systemd = o.systemd_cgroup;
        let hooks = bundle_hooks(o.bundle)?;
        self.hooks = Some(hooks);
        if hooks.at_create || o.rootfs.iter().any(rootfs::needs_chdir) {
            let req = Request::Create {
                root: self.root.clone(),
                id: o.id.to_string(),
                bundle: o.bundle.to_path_buf(),
                rootfs: o.rootfs.to_vec(),
                terminal: o.terminal,
                no_pivot: o.no_pivot,
                no_new_keyring: o.no_new_keyring,
                systemd: o.systemd_cgroup,
            };
            return call("create", &req, o.stdio).map(|(s, _)| s);
        }
        let target = o.bundle.join("rootfs");
        rootfs::mount_all(o.rootfs, &target)?;
        let created = library_stdio(o.stdio).and_then(|stdio| {
            self.library()
                .create(berth_runtime::CreateOptions {
                    id: o.id.to_string(),
                    bundle: o.bundle.to_path_buf(),
                    console: if o.terminal {
                        Console::Return
                    } else {
                        Console::None
                    },
                    no_pivot: o.no_pivot,
                    no_new_keyring: o.no_new_keyring,
                    stdio,
                    ..Default::default()
                })
                .map_err(Error::runtime("create"))
        });
        match created {
            Ok(c) => Ok(Spawned {
                pid: c.container.pid().unwrap_or(0),
                master: c.master,
                warnings: c.warnings,
            }),
            Err(e) => {
                if !o.rootfs.is_empty() {
                    let _ = rootfs::unmount(&target);
                }
                Err(e)
            }
        }
    }

    /// Starts a created container: returns once the container's process exec'd.
    pub fn start(&self, id: &str) -> Result<Vec<String>> {
        if self.hooks.is_some_and(|h| !h.poststart) {
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

    /// Runs `process` in the running container `id` (its seccomp filter applies, and its
    /// LSM labels unless the process names its own).
    pub fn exec(
        &self,
        id: &str,
        mut process: Process,
        terminal: bool,
        stdio: Stdio,
    ) -> Result<Spawned> {
        process.set_terminal(Some(terminal));
        let e = self
            .load("exec", id)?
            .exec(ExecOptions {
                process: Some(process),
                field: "process".into(),
                console: if terminal {
                    Console::Return
                } else {
                    Console::None
                },
                stdio: library_stdio(stdio)?,
                ..Default::default()
            })
            .map_err(Error::runtime("exec"))?;
        Ok(Spawned {
            pid: e.pid,
            master: e.master,
            warnings: Vec::new(),
        })
    }

    /// Deletes the container (killing it first with `force`) and unmounts `unmount_rootfs`.
    /// A container that does not exist is not an error: the rootfs is still unmounted.
    pub fn delete(&self, id: &str, force: bool, unmount_rootfs: Option<&Path>) -> Result<()> {
        // No hooks to run: no helper. Neither when the container is gone already (`shim
        // delete` after a clean exit).
        let exists = || self.library().load(id).is_ok();
        if self.hooks.is_some_and(|h| !h.poststop) || !exists() {
            return delete(&self.root, id, force, unmount_rootfs).map_err(|e| match e {
                Deleted::Runtime(e) => Error::runtime("delete")(e),
                Deleted::Unmount(e) => e,
            });
        }
        let req = Request::Delete {
            root: self.root.clone(),
            id: id.to_string(),
            force,
            unmount: unmount_rootfs.map(Path::to_path_buf),
        };
        call("delete", &req, Stdio::default()).map(|_| ())
    }

    fn load(&self, op: &'static str, id: &str) -> Result<Container> {
        self.library().load(id).map_err(Error::runtime(op))
    }

    /// The init's pid, if the container exists.
    pub fn init_pid(&self, id: &str) -> Option<i32> {
        self.library().load(id).ok().and_then(|c| c.pid())
    }

    /// Signals the init, or with `all` every process of the container.
    pub fn kill(&self, id: &str, signal: Signal, all: bool) -> Result<()> {
        self.load("kill", id)?
            .kill(Some(signal), all)
            .map_err(Error::runtime("kill"))
    }

    /// Freezes the container's processes.
    pub fn pause(&self, id: &str) -> Result<()> {
        self.load("pause", id)?
            .pause()
            .map_err(Error::runtime("pause"))
    }

    /// Thaws the container's processes.
    pub fn resume(&self, id: &str) -> Result<()> {
        self.load("resume", id)?
            .resume()
            .map_err(Error::runtime("resume"))
    }

    /// The container's processes (host pids).
    pub fn pids(&self, id: &str) -> Result<Vec<i32>> {
        self.load("pids", id)?
            .pids()
            .map_err(Error::runtime("pids"))
    }

    /// The container's resource usage, and which cgroup version it comes from.
    pub fn stats(&self, id: &str) -> Result<(Stats, CgroupVersion)> {
        let c = self.load("stats", id)?;
        let version = if berth_cgroups::detect().is_ok_and(|m| !m.is_v1()) {
            CgroupVersion::V2
        } else {
            CgroupVersion::V1
        };
        Ok((c.stats().map_err(Error::runtime("stats"))?, version))
    }

    /// Applies new limits to the container's cgroup.
    pub fn update(&self, id: &str, resources: LinuxResources) -> Result<()> {
        self.load("update", id)?
            .update(resources)
            .map_err(Error::runtime("update"))
    }

    /// A subscription to the container's OOM kills.
    pub fn oom_watcher(&self, id: &str) -> Result<berth_cgroups::OomWatcher> {
        self.load("watch OOM", id)?
            .oom_watcher()
            .map_err(Error::runtime("watch OOM"))
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
    berth_runtime::Runtime::new(root)
        .delete(id, force)
        .map_err(Deleted::Runtime)?;
    if let Some(target) = unmount {
        rootfs::unmount(target).map_err(Deleted::Unmount)?;
    }
    Ok(())
}

/// The library's parse of a mount's options (flags, propagation, filesystem data).
pub fn mount_options(options: &[String]) -> berth_runtime::plan::MountOptions {
    berth_runtime::plan::mounts::parse_options(options)
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
            systemd,
        } => {
            let target = bundle.join("rootfs");
            if let Err(e) = rootfs::mount_all(&rootfs, &target) {
                return (Reply::failed(e.to_string()), None);
            }
            let hooks = bundle_hooks(&bundle).unwrap_or_default();
            let created = berth_runtime::Runtime::new(root)
                .systemd_cgroup(systemd)
                .create(berth_runtime::CreateOptions {
                    id,
                    bundle,
                    console: if terminal {
                        Console::Return
                    } else {
                        Console::None
                    },
                    no_pivot,
                    no_new_keyring,
                    ..Default::default()
                });
            match created {
                Ok(c) => (
                    Reply {
                        pid: c.container.pid().unwrap_or(0),
                        warnings: c.warnings,
                        hooks,
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
        Request::Start { root, id } => match berth_runtime::Runtime::new(root)
            .load(&id)
            .and_then(|c| c.start())
        {
            Ok(warnings) => (
                Reply {
                    warnings,
                    ..Reply::default()
                },
                None,
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
        assert!(!Reply::from_error(berth_runtime::Error::Protocol("x".into())).not_found);
    }
}
