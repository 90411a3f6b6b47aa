//! The protocol between the runtime (the caller of `create`, `run` or `exec`), its helper
//! process and the container's init (or the exec'd process).
//!
//! ```text
//!  parent (the library's caller)          helper (`berth init`)            init / exec'd process
//!  ─────────────────────────────          ─────────────────────            ─────────────────────
//!  posix_spawn(read-only view of the
//!    runtime binary) ───────────────────▶ (started)
//!  exec: Join{tasks fds} ────────────────▶ exec: enter the v1 cgroups (while the
//!                                           parent plans the process)
//!  Job{plan, fds} ──────────────────────▶ exec: enter the cgroup, open procfs
//!                                         join namespaces by path, user first
//!                                         init: unshare time, write offsets
//!                                         clone(CLONE_NEW* | CLONE_PARENT) ──▶ (born: a child
//!                  ◀──────────────────────  Pid(its pid)                         of the parent)
//!  reap the helper                        exit
//!  init: write the id maps, place it in
//!  its cgroup (unless born there)
//!  Go ────────────────────────────────────────────────────────────────────▶ init: cgroupns, uid 0,
//!                                                                           hostname, keyring,
//!                                                                           rlimits, mounts, devices
//!                  ◀──────────────────────────────────────────────────────── Devices (its own mknods
//!  write the device rules                                                    are done)
//!  DevicesDone (only when asked: the init ─────────────────────────────────▶ (a terminal's init waits:
//!    opens a pty next)                                                        it opens /dev/ptmx)
//!                  ◀──────────────────────────────────────────────────────── Hooks  (init, only with
//!  prestart + createRuntime hooks                                                     such hooks)
//!  HooksDone ─────────────────────────────────────────────────────────────▶ createContainer hooks,
//!                                                                           pivot_root, console,
//!                  ◀──────────────────────────────────────────────────────── Console(master fd) (when
//!                                                                              the caller wants it)
//!                                                                           masked/readonly paths,
//!                                                                           sysctl, cwd, exe check,
//!                                                                           LSM labels, early seccomp
//!                  ◀──────────────────────────────────────────────────────── Seccomp(fd number), one
//!  pidfd_getfd, hand it to the agent                                          write(2) (NOTIFY only)
//!  SeccompDone ───────────────────────────────────────────────────────────▶ user, capabilities
//!                                                                           clear PDEATHSIG
//!                  ◀──────────────────────────────────────────────────────── Ready  (init)
//!  write state.json ("created"),                                            late seccomp; wait for
//!  pid file                                                                   start:
//!  berth start: connect(exec.sock) ───────────────────────────────────────▶   accept(exec.sock), or
//!   (run: Start on this channel)                                              Start here
//!                                                                           startContainer hooks,
//!                                                                           close fds, execve
//!  EOF on the channel (it is close-on-exec): the process exec'd; Error: it failed.
//!  An exec'd process gets Go as soon as the parent holds its pidfd (before that, a message of
//!  it could overtake the helper's Pid, and its exit be reaped by a shim), and skips Hooks
//!  and Ready: it execs after its setup.
//! ```
//!
//! Any side may send `Error` instead of the next message. Until `Ready` the helper and the
//! init die with the parent (PDEATHSIG), and every read on the channel ends at EOF if the
//! parent died before that was set. From `Pid` on, `state.json` records the init (status
//! `creating`), so a parent killed after `Ready` leaves a container `delete` can remove. Frames are `[tag: u8][length: u32 LE][payload]` on a
//! stream socket; fds travel with a frame's header (`SCM_RIGHTS`).

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use crate::{sys, Error, Result};

/// An error of the helper, the init or an exec'd process, as it reaches the parent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, thiserror::Error)]
#[error("{msg}")]
pub struct ChildError {
    /// The error, as the child printed it (its operation, path or field, and errno).
    pub msg: String,
    /// The errno, when the error had one.
    pub errno: Option<i32>,
}

impl From<&Error> for ChildError {
    fn from(e: &Error) -> Self {
        ChildError {
            msg: e.to_string(),
            errno: e.errno().map(|e| e as i32),
        }
    }
}

/// One message of the protocol.
#[derive(Debug)]
pub enum Msg {
    /// Parent → helper (exec), ahead of the job: the v1 `tasks` files of the container's
    /// cgroups, which the helper joins while the parent plans the process.
    Join(Vec<OwnedFd>),
    /// Parent → helper: the job (JSON), with its fds.
    Job(Vec<u8>, Vec<OwnedFd>),
    /// Helper → parent: the pid of the process it cloned.
    Pid(i32),
    /// Parent → init: id maps written, cgroup joined.
    Go,
    /// Init → parent: run the prestart and createRuntime hooks now.
    Hooks,
    /// Parent → init: hooks done.
    HooksDone,
    /// Init → parent: its device nodes are made; the device rules may be written. With
    /// `true` the init waits for [`Msg::DevicesDone`] (it opens a device next: the pty,
    /// which a half-written rule set, denying everything, refuses).
    Devices(bool),
    /// Parent → init: the device rules are written.
    DevicesDone,
    /// Child → parent: the pty master (attached).
    Console(OwnedFd),
    /// Child → parent: the seccomp notify fd's number in the child (`pidfd_getfd` it).
    Seccomp(i32),
    /// Parent → child: the agent has the notify fd.
    SeccompDone,
    /// Init → parent: set up, waiting to be started; it no longer dies with the parent.
    Ready,
    /// Parent → init (`run`): start now.
    Start,
    /// Either way: the sender failed.
    Error(ChildError),
}

const JOIN: u8 = b'N';
const JOB: u8 = b'J';
const PID: u8 = b'P';
const GO: u8 = b'G';
const HOOKS: u8 = b'H';
const HOOKS_DONE: u8 = b'D';
const DEVICES: u8 = b'V';
const DEVICES_DONE: u8 = b'W';
const CONSOLE: u8 = b'C';
const SECCOMP: u8 = b'S';
const SECCOMP_DONE: u8 = b'A';
const READY: u8 = b'R';
const START: u8 = b'T';
const ERROR: u8 = b'E';

/// Largest frame accepted (a job with a huge environment still fits).
const MAX_FRAME: usize = 64 << 20;

/// The `Seccomp` frame for `fd`, as bytes: built without allocating, so that it can be sent
/// with nothing but one `write(2)` after the filter is loaded.
pub fn seccomp_frame(fd: RawFd) -> [u8; 9] {
    let mut b = [0u8; 9];
    b[0] = SECCOMP;
    b[1..5].copy_from_slice(&4u32.to_le_bytes());
    b[5..9].copy_from_slice(&(fd as u32).to_le_bytes());
    b
}

/// One end of the channel.
#[derive(Debug)]
pub struct Channel(pub OwnedFd);

/// A connected pair of channels (close-on-exec).
pub fn pair() -> Result<(Channel, Channel)> {
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| Error::call("socketpair", e))?;
    Ok((Channel(a), Channel(b)))
}

impl Channel {
    /// Sends one message.
    pub fn send(&self, m: Msg) -> Result<()> {
        let (tag, payload, fds): (u8, Vec<u8>, Vec<OwnedFd>) = match m {
            Msg::Join(fds) => (JOIN, vec![], fds),
            Msg::Job(data, fds) => (JOB, data, fds),
            Msg::Pid(p) => (PID, p.to_le_bytes().to_vec(), vec![]),
            Msg::Go => (GO, vec![], vec![]),
            Msg::Hooks => (HOOKS, vec![], vec![]),
            Msg::HooksDone => (HOOKS_DONE, vec![], vec![]),
            Msg::Devices(wait) => (DEVICES, vec![wait as u8], vec![]),
            Msg::DevicesDone => (DEVICES_DONE, vec![], vec![]),
            Msg::Console(fd) => (CONSOLE, vec![], vec![fd]),
            Msg::Seccomp(fd) => (SECCOMP, (fd as u32).to_le_bytes().to_vec(), vec![]),
            Msg::SeccompDone => (SECCOMP_DONE, vec![], vec![]),
            Msg::Ready => (READY, vec![], vec![]),
            Msg::Start => (START, vec![], vec![]),
            Msg::Error(e) => (ERROR, serde_json::to_vec(&e).unwrap_or_default(), vec![]),
        };
        let mut frame = Vec::with_capacity(5 + payload.len());
        frame.push(tag);
        frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        frame.extend_from_slice(&payload);
        let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
        sys::fdpass::send(self.0.as_fd(), &frame, &raw).map_err(|e| Error::call("send", e))
    }

    /// Receives one message; `Ok(None)` when the other side closed (or exec'd) without one.
    pub fn recv(&self) -> Result<Option<Msg>> {
        let mut head = [0u8; 5];
        let (n, mut fds) =
            sys::fdpass::recv(self.0.as_fd(), &mut head, 8).map_err(|e| Error::call("recv", e))?;
        if n == 0 {
            return Ok(None);
        }
        self.read_exact(&mut head[n..])?;
        let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if len > MAX_FRAME {
            return Err(Error::Protocol(format!("frame of {len} bytes")));
        }
        let mut payload = vec![0u8; len];
        self.read_exact(&mut payload)?;
        let int = |p: &[u8]| -> Result<i32> {
            p.try_into()
                .map(i32::from_le_bytes)
                .map_err(|_| Error::Protocol("short integer".into()))
        };
        Ok(Some(match head[0] {
            JOIN => Msg::Join(fds),
            JOB => Msg::Job(payload, fds),
            PID => Msg::Pid(int(&payload)?),
            GO => Msg::Go,
            HOOKS => Msg::Hooks,
            HOOKS_DONE => Msg::HooksDone,
            DEVICES => Msg::Devices(payload.first() == Some(&1)),
            DEVICES_DONE => Msg::DevicesDone,
            CONSOLE => Msg::Console(
                fds.pop()
                    .ok_or_else(|| Error::Protocol("console message without its fd".into()))?,
            ),
            SECCOMP => Msg::Seccomp(int(&payload)?),
            SECCOMP_DONE => Msg::SeccompDone,
            READY => Msg::Ready,
            START => Msg::Start,
            ERROR => Msg::Error(
                serde_json::from_slice(&payload).unwrap_or_else(|_| ChildError {
                    msg: String::from_utf8_lossy(&payload).into_owned(),
                    errno: None,
                }),
            ),
            t => return Err(Error::Protocol(format!("unknown message {:?}", t as char))),
        }))
    }

    fn read_exact(&self, mut buf: &mut [u8]) -> Result<()> {
        while !buf.is_empty() {
            match nix::unistd::read(&self.0, buf) {
                Ok(0) => return Err(Error::Protocol("message cut short".into())),
                Ok(n) => buf = &mut buf[n..],
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(Error::call("read", e)),
            }
        }
        Ok(())
    }

    /// Receives and expects a message matched by `want`; an `Error` message becomes
    /// [`Error::Init`] and EOF [`Error::InitDied`] (during `during`).
    pub fn expect(&self, want: fn(&Msg) -> bool, during: &'static str) -> Result<Msg> {
        match self.recv()? {
            Some(Msg::Error(e)) => Err(Error::Init(e)),
            Some(m) if want(&m) => Ok(m),
            Some(m) => Err(Error::Protocol(format!("unexpected {m:?} during {during}"))),
            None => Err(Error::InitDied(during)),
        }
    }

    /// Sends the error `e` (best effort: the peer may be gone).
    pub fn send_error(&self, e: &Error) {
        let _ = self.send(Msg::Error(ChildError::from(e)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_with_fds() {
        let (a, b) = pair().unwrap();
        let (r, _w) = nix::unistd::pipe().unwrap();
        a.send(Msg::Job(b"{\"x\":1}".to_vec(), vec![r])).unwrap();
        match b.recv().unwrap() {
            Some(Msg::Job(d, fds)) => {
                assert_eq!(d, b"{\"x\":1}");
                assert_eq!(fds.len(), 1);
            }
            m => panic!("{m:?}"),
        }
        a.send(Msg::Pid(1234)).unwrap();
        assert!(matches!(b.recv().unwrap(), Some(Msg::Pid(1234))));
        for m in [Msg::Go, Msg::Hooks, Msg::Ready] {
            a.send(m).unwrap();
        }
        assert!(matches!(b.recv().unwrap(), Some(Msg::Go)));
        assert!(matches!(b.recv().unwrap(), Some(Msg::Hooks)));
        assert!(matches!(b.recv().unwrap(), Some(Msg::Ready)));
        drop(a);
        assert!(b.recv().unwrap().is_none());
    }

    #[test]
    fn the_seccomp_frame_is_a_message() {
        let (a, b) = pair().unwrap();
        nix::unistd::write(&a.0, &seccomp_frame(17)).unwrap();
        assert!(matches!(b.recv().unwrap(), Some(Msg::Seccomp(17))));
    }

    #[test]
    fn long_errors_arrive_whole_and_typed() {
        let (a, b) = pair().unwrap();
        let long = "x".repeat(200_000);
        let e = ChildError {
            msg: long.clone(),
            errno: Some(2),
        };
        std::thread::scope(|s| {
            s.spawn(|| a.send(Msg::Error(e.clone())).unwrap());
            match b.expect(|_| false, "test") {
                Err(Error::Init(got)) => {
                    assert_eq!((got.msg.len(), got.errno), (long.len(), Some(2)))
                }
                r => panic!("{r:?}"),
            }
        });
        drop(a);
        assert!(matches!(
            b.expect(|_| true, "setup"),
            Err(Error::InitDied("setup"))
        ));
    }
}
