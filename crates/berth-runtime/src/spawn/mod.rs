//! The parent side of putting a process into a container: start the helper from a read-only
//! view of the runtime binary, hand it the job, and learn the pid of the process it cloned.
//!
//! `posix_spawn` (a `vfork`-like clone that only execs) is safe from a multi-threaded caller,
//! and the runtime process itself never changes its namespaces: the helper, a fresh
//! single-threaded process, joins and clones (see [`sync`] for the whole protocol).

pub mod job;
pub mod sync;
pub mod trees;
pub mod view;

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::unistd::Pid;

use crate::{sys, Error, Result};
use job::Job;
use sync::{Channel, Msg};

/// The environment variable through which the helper learns its channel's fd.
pub const INIT_ENV: &str = "_BERTH_INIT";

/// The standard streams of the new process: `None` inherits the caller's.
#[derive(Debug, Default)]
pub struct Stdio {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

/// A process the helper cloned into the container, a child of the caller.
pub struct Spawned {
    pub pid: Pid,
    /// Its pidfd: signals and waits without pid reuse races.
    pub pidfd: OwnedFd,
    pub chan: Channel,
}

/// A copy of `fd` numbered at least `min` (close-on-exec), so that the spawn's dup2s, which
/// write the slots below `min`, cannot overwrite it before it is read.
fn above(fd: RawFd, min: RawFd) -> Result<OwnedFd> {
    nix::fcntl::fcntl(sys::borrow(fd), nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(min))
        .map(sys::adopt)
        .map_err(|e| Error::call("fcntl(F_DUPFD_CLOEXEC)", e))
}

/// The runtime's helper process, started and waiting for its job. Dropped without a job,
/// it is killed and reaped.
pub struct Helper {
    pid: Pid,
    /// `None` once the job is handed over.
    chan: Option<Channel>,
    preserve_fds: i32,
}

impl std::fmt::Debug for Helper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Helper")
            .field("pid", &self.pid)
            .field("preserve_fds", &self.preserve_fds)
            .finish()
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        if self.chan.take().is_some() {
            let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGKILL);
            // The caller may reap it first (a shim's reaper): ECHILD is fine.
            let _ = nix::sys::wait::waitpid(self.pid, None);
        }
    }
}

/// Starts the helper. It execs while the caller goes on (making the container's cgroup,
/// say); [`Helper::launch`] hands it its job. `preserve_fds`: fds 3.. of the caller that the
/// container process gets.
pub fn start(preserve_fds: i32, stdio: &Stdio, init_binary: Option<&Path>) -> Result<Helper> {
    let view = view::of(init_binary)?;
    let (parent, child) = sync::pair()?;
    // The helper finds its channel at the first fd after the preserved ones.
    let slot = 3 + preserve_fds;
    let min = slot + 1;
    let exe = above(view.fd.as_raw_fd(), min)?;
    let chan = above(child.0.as_raw_fd(), min)?;
    drop(child);
    let mut keep: Vec<OwnedFd> = Vec::new();
    let mut dup2s: Vec<(RawFd, RawFd)> = Vec::new();
    for (i, s) in [&stdio.stdin, &stdio.stdout, &stdio.stderr]
        .into_iter()
        .enumerate()
    {
        if let Some(fd) = s {
            let c = above(fd.as_raw_fd(), min)?;
            dup2s.push((c.as_raw_fd(), i as RawFd));
            keep.push(c);
        }
    }
    dup2s.push((chan.as_raw_fd(), slot));
    let path = CString::new(format!("/proc/self/fd/{}", exe.as_raw_fd())).expect("no NUL");
    let argv = [c"berth".to_owned(), c"init".to_owned()];
    let env = [CString::new(format!("{INIT_ENV}={slot}")).expect("no NUL")];
    let pid = sys::spawn::spawn(&path, &argv, &env, &dup2s)
        .map_err(|e| Error::call("start the runtime's helper (posix_spawn)", e))?;
    Ok(Helper {
        pid,
        chan: Some(parent),
        preserve_fds,
    })
}

impl Helper {
    /// A helper the caller started itself, as [`start`] does with no preserved fds and the
    /// caller's own stdio: `berth init` executed from a view of the runtime binary (see
    /// [`view::adopt`]) with `INIT_ENV=3` and its channel's other end at fd 3. berth's entry
    /// point starts one so, before the C library's start-up, when it is run as `exec`.
    pub fn adopt(pid: i32, chan: OwnedFd) -> Helper {
        Helper {
            pid: Pid::from_raw(pid),
            chan: Some(Channel(chan)),
            preserve_fds: 0,
        }
    }

    /// The number of the caller's fds (3..) it was started to pass on.
    pub fn preserve_fds(&self) -> i32 {
        self.preserve_fds
    }

    /// Exec, ahead of the job: the v1 `tasks` files of the container's cgroups, which the
    /// helper joins while the caller still plans the process (a write to each is a cgroup
    /// migration, the most costly step of its job). A failure of the helper there comes back
    /// from [`Helper::launch`].
    pub fn join(&self, tasks: Vec<OwnedFd>) -> Result<()> {
        let chan = self.chan.as_ref().expect("joined before the launch");
        send_or_its_error(chan, Msg::Join(tasks))
    }

    /// Kills the helper (a job that will not come) and reaps it.
    pub fn abandon(self) {
        drop(self)
    }

    /// Hands the helper `job` with `fds` (in the order of `job.fds`); returns the process it
    /// cloned, and the helper, which exits on its own once it has sent the pid: reaped when
    /// the [`Reap`] is dropped, which the caller may put off until its process has its
    /// `Go`. On error nothing is left running.
    pub fn launch(mut self, job: &Job, fds: Vec<OwnedFd>) -> Result<(Spawned, Reap)> {
        debug_assert_eq!(job.preserve_fds, self.preserve_fds);
        let chan = self.chan.take().expect("a helper is launched once");
        let helper = Abandon(self.pid);
        let data = match serde_json::to_vec(job) {
            Ok(d) => d,
            Err(e) => return Err(Error::Protocol(format!("encode the job: {e}"))),
        };
        send_or_its_error(&chan, Msg::Job(data, fds))?;
        let pid = match chan.expect(|m| matches!(m, Msg::Pid(_)), "its start")? {
            Msg::Pid(p) => Pid::from_raw(p),
            _ => unreachable!("expect matched Pid"),
        };
        // The helper exits once the process is cloned.
        let reap = Reap(helper.0);
        std::mem::forget(helper);
        let pidfd = match sys::pidfd::open(pid.as_raw()) {
            Ok(fd) => fd,
            Err(e) => {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                return Err(Error::call("pidfd_open", e));
            }
        };
        Ok((Spawned { pid, pidfd, chan }, reap))
    }
}

/// A launched helper on its way out (it exits by itself): waited for when dropped.
#[must_use = "dropping it waits for the helper's exit"]
pub struct Reap(Pid);

impl Drop for Reap {
    fn drop(&mut self) {
        // The caller may reap it first (a shim's reaper): ECHILD is fine.
        let _ = nix::sys::wait::waitpid(self.0, None);
    }
}

/// Sends `m` to the helper; if it is gone (its end closed), the error it sent before it
/// exited (a failed join) rather than the broken pipe.
fn send_or_its_error(chan: &Channel, m: Msg) -> Result<()> {
    chan.send(m).map_err(|e| {
        let gone = matches!(
            e.errno(),
            Some(nix::errno::Errno::EPIPE | nix::errno::Errno::ECONNRESET)
        );
        match gone.then(|| chan.recv()) {
            Some(Ok(Some(Msg::Error(c)))) => Error::Init(c),
            _ => e,
        }
    })
}

/// Kills and reaps the helper process when dropped: every early return of a launch.
struct Abandon(Pid);

impl Drop for Abandon {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(self.0, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(self.0, None);
    }
}

/// Starts the helper and hands it `job` at once (see [`start`] and [`Helper::launch`]).
pub fn spawn(
    job: &Job,
    fds: Vec<OwnedFd>,
    stdio: &Stdio,
    init_binary: Option<&Path>,
) -> Result<Spawned> {
    start(job.preserve_fds, stdio, init_binary)?
        .launch(job, fds)
        .map(|(spawned, _reap)| spawned)
}

/// Whether the calling process runs a single thread (`/proc/self/task` links one entry per
/// thread beside `.` and `..`).
fn single_threaded() -> bool {
    nix::sys::stat::stat("/proc/self/task").is_ok_and(|st| st.st_nlink == 3)
}

/// Whether a container with namespaces `ns` may have its init forked from the caller (see
/// `Runtime::fork_init`): a new pid namespace, none joined by path, no new user namespace
/// (the init joins its v1 cgroups itself, which needs the host's credentials) and no new
/// time namespace (that takes an unshare by the process that clones the init). Whether the
/// caller runs one thread is checked by [`fork_init`] itself, at the fork.
pub fn can_fork_init(ns: &crate::plan::NamespacePlan) -> bool {
    ns.clone_flags
        .contains(nix::sched::CloneFlags::CLONE_NEWPID)
        && ns.join.is_empty()
        && !ns.new_user
        && !ns.new_time
}

/// Forks the container's init from the caller itself: no helper, no exec of the runtime
/// binary, no job to encode. A caller running more than one thread gets the helper instead
/// (a fork would copy one thread of a process whose locks others may hold).
pub fn fork_init(job: &Job, fds: Vec<OwnedFd>, stdio: &Stdio) -> Result<Spawned> {
    if !single_threaded() {
        return spawn(job, fds, stdio, None);
    }
    let (parent, child) = sync::pair()?;
    let pid = crate::setup::fork_init(job, fds, stdio, child, parent.0.as_raw_fd())?;
    let pidfd = match sys::pidfd::open(pid.as_raw()) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
            return Err(Error::call("pidfd_open", e));
        }
    };
    Ok(Spawned {
        pid,
        pidfd,
        chan: parent,
    })
}

impl Spawned {
    /// Kills the process and waits for it (it is our child).
    pub fn kill(&self) {
        let _ = sys::pidfd::send_signal(self.pidfd.as_fd(), libc::SIGKILL);
        let _ = nix::sys::wait::waitpid(self.pid, None);
    }
}
