//! One `criu swrk` process: CRIU's RPC service, started as our child with one end of a
//! `SOCK_SEQPACKET` socketpair as its fd 3.
//!
//! ```text
//!  client                                   criu swrk 3
//!  ──────                                   ───────────
//!  Req{type, opts} ───────────────────────▶
//!                   ◀─────────────────────── Resp{NOTIFY, notify{script, pid}} (+ an fd for
//!  Req{NOTIFY, notify_success} ───────────▶    orphan-pts-master), once per stage when
//!                   ◀─────────────────────── ...                   opts.notify_scripts is set
//!                   ◀─────────────────────── Resp{type, success, dump|restore|version|...}
//!  close, wait                               exit (a pre-dump waits for more: EOF ends it)
//! ```
//!
//! Each message is one packet. CRIU finds the directories named by fd in the request
//! (`images_dir_fd`, `work_dir_fd`) in the client, through `/proc/<client>/fd/`, and the
//! `inherit_fd` ones in its own fd table (0-2 are its stdio, 4.. the extra fds).

use std::fs::File;
use std::io::{IoSliceMut, Read, Seek};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};

use nix::errno::Errno;
use nix::sys::socket::{
    recvmsg, send, socketpair, AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType,
};
use prost::Message;

use crate::mntns::{CgroupYard, Prepared, RootMount};
use crate::rpc::{Notify, Req, ReqType, Resp};
use crate::{Error, Result};

/// Largest message accepted from CRIU (its answers are a few hundred bytes).
const MAX_MESSAGE: usize = 1 << 16;

/// What one of CRIU's stdio fds is.
#[derive(Debug, Default)]
pub enum Io {
    /// `/dev/null`.
    #[default]
    Null,
    /// The caller's own.
    Inherit,
    /// This fd.
    Fd(OwnedFd),
    /// A temporary file, whose text an [`Error::Exited`] quotes (stderr only; elsewhere
    /// [`Io::Null`]).
    Capture,
}

/// How to start `criu swrk`.
#[derive(Debug)]
pub struct Setup {
    /// The criu binary (a bare name is looked up in `PATH`).
    pub binary: PathBuf,
    pub stdin: Io,
    pub stdout: Io,
    pub stderr: Io,
    /// Given to CRIU as fds 4, 5, ... (for `inherit_fd` entries).
    pub extra_fds: Vec<OwnedFd>,
    /// For a restore: CRIU runs in a mount namespace of its own with this root mounted (see
    /// [`crate::mntns`]), and this cgroup yard, if given.
    pub root: Option<RootMount>,
    pub cgroup_yard: Option<CgroupYard>,
}

impl Setup {
    /// `criu swrk` from `binary`, with `/dev/null` for stdin and stdout and stderr captured.
    pub fn new(binary: impl Into<PathBuf>) -> Setup {
        Setup {
            binary: binary.into(),
            stdin: Io::Null,
            stdout: Io::Null,
            stderr: Io::Capture,
            extra_fds: Vec::new(),
            root: None,
            cgroup_yard: None,
        }
    }
}

/// A running `criu swrk`.
#[derive(Debug)]
pub struct Swrk {
    child: Option<Child>,
    sock: Option<OwnedFd>,
    stderr: Option<File>,
    binary: PathBuf,
}

fn sys(op: &'static str) -> impl FnOnce(Errno) -> Error {
    move |errno| Error::Sys { op, errno }
}

impl Swrk {
    /// Starts `criu swrk 3` as set up.
    pub fn start(setup: Setup) -> Result<Swrk> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(sys("socketpair"))?;
        // The fds CRIU gets at 3, 4, ...: copies numbered above every target first, so that a
        // dup2 onto a target never overwrites a source not yet placed.
        let count = 1 + setup.extra_fds.len() as RawFd;
        let sources = std::iter::once(theirs)
            .chain(setup.extra_fds)
            .map(|fd| {
                nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3 + count))
                    // SAFETY: F_DUPFD_CLOEXEC returned a fresh fd that nobody else owns.
                    .map(|n| unsafe { OwnedFd::from_raw_fd(n) })
                    .map_err(sys("fcntl(F_DUPFD_CLOEXEC)"))
            })
            .collect::<Result<Vec<_>>>()?;
        let raw: Vec<RawFd> = sources.iter().map(|f| f.as_raw_fd()).collect();
        let mntns = setup
            .root
            .as_ref()
            .map(|r| Prepared::new(r, setup.cgroup_yard.as_ref()))
            .transpose()?;
        let mut captured = None;
        let mut stdio = |io: Io, capture: bool| -> Result<Stdio> {
            Ok(match io {
                Io::Null => Stdio::null(),
                Io::Inherit => Stdio::inherit(),
                Io::Fd(fd) => Stdio::from(fd),
                Io::Capture if !capture => Stdio::null(),
                Io::Capture => {
                    let f = nix::sys::memfd::memfd_create(
                        c"criu-stderr",
                        nix::sys::memfd::MFdFlags::MFD_CLOEXEC,
                    )
                    .map_err(sys("memfd_create"))?;
                    let copy = f.try_clone().map_err(|e| Error::Sys {
                        op: "dup",
                        errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EBADF)),
                    })?;
                    captured = Some(File::from(f));
                    Stdio::from(copy)
                }
            })
        };
        let mut cmd = Command::new(&setup.binary);
        cmd.args(["swrk", "3"])
            .stdin(stdio(setup.stdin, false)?)
            .stdout(stdio(setup.stdout, false)?)
            .stderr(stdio(setup.stderr, true)?);
        // SAFETY: the closure makes only async-signal-safe system calls (sigprocmask, dup2,
        // unshare, mkdir, mount) on data prepared before the fork, as a forked child of a
        // multi-threaded program must.
        unsafe {
            cmd.pre_exec(move || {
                // CRIU runs with no signal blocked, whatever the caller blocks.
                let mut none: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut none);
                libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
                for (i, fd) in raw.iter().enumerate() {
                    // dup2 clears close-on-exec on the copy.
                    if libc::dup2(*fd, 3 + i as RawFd) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                match &mntns {
                    Some(ns) => ns.enter(),
                    None => Ok(()),
                }
            });
        }
        let child = cmd.spawn().map_err(|source| Error::Start {
            binary: setup.binary.clone(),
            source,
        })?;
        // Our copies of CRIU's fds close here: CRIU's death is then EOF on `ours`.
        drop(sources);
        Ok(Swrk {
            child: Some(child),
            sock: Some(ours),
            stderr: captured,
            binary: setup.binary,
        })
    }

    /// CRIU's pid.
    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    /// Sends `req` and answers CRIU's notifications with `on_notify` (given the fds that
    /// came with each) until the response to `req` arrives. A notification `on_notify`
    /// fails is acknowledged as failed, so that CRIU undoes what it did, and its error is
    /// returned.
    pub fn call<E: From<Error>>(
        &mut self,
        req: &Req,
        mut on_notify: impl FnMut(&Notify, Vec<OwnedFd>) -> std::result::Result<(), E>,
    ) -> std::result::Result<Resp, E> {
        let sent = req.r#type();
        self.send(req)?;
        loop {
            let (resp, fds) = self.recv()?;
            if !resp.success {
                return Err(Error::Failed {
                    request: resp.r#type(),
                    errno: resp.cr_errno.filter(|e| *e != 0),
                    message: resp.cr_errmsg.filter(|m| !m.is_empty()),
                }
                .into());
            }
            match resp.r#type() {
                ReqType::Notify => {
                    let n = resp.notify.unwrap_or_default();
                    let r = on_notify(&n, fds);
                    self.send(&Req {
                        r#type: ReqType::Notify as i32,
                        notify_success: Some(r.is_ok()),
                        ..Default::default()
                    })?;
                    r?;
                }
                t if t == sent => return Ok(resp),
                got => return Err(Error::Unexpected { sent, got }.into()),
            }
        }
    }

    fn send(&mut self, req: &Req) -> Result<()> {
        let sock = self.sock_fd("send to criu")?;
        loop {
            match send(sock, &req.encode_to_vec(), MsgFlags::MSG_NOSIGNAL) {
                Err(Errno::EINTR) => continue,
                // CRIU is gone: its exit status and stderr say why.
                Err(Errno::EPIPE | Errno::ECONNRESET) => return Err(self.exited()),
                r => return r.map(drop).map_err(sys("send to criu")),
            }
        }
    }

    fn recv(&mut self) -> Result<(Resp, Vec<OwnedFd>)> {
        let sock = self.sock_fd("receive from criu")?;
        let mut buf = vec![0u8; MAX_MESSAGE];
        let mut space = nix::cmsg_space!([RawFd; 4]);
        let (n, fds) = loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg =
                match recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC) {
                    Err(Errno::EINTR) => continue,
                    Err(Errno::ECONNRESET) => return Err(self.exited()),
                    r => r.map_err(sys("receive from criu"))?,
                };
            if msg.flags.contains(MsgFlags::MSG_TRUNC) {
                return Err(Error::Sys {
                    op: "receive from criu (message too long)",
                    errno: Errno::EMSGSIZE,
                });
            }
            let mut fds = Vec::new();
            for c in msg.cmsgs().map_err(sys("receive from criu"))? {
                if let ControlMessageOwned::ScmRights(list) = c {
                    // SAFETY: SCM_RIGHTS fds are new in this process and owned by no one.
                    fds.extend(list.into_iter().map(|f| unsafe { OwnedFd::from_raw_fd(f) }));
                }
            }
            break (msg.bytes, fds);
        };
        if n == 0 {
            return Err(self.exited());
        }
        Ok((Resp::decode(&buf[..n])?, fds))
    }

    /// Our end of the socket (it stays open until the session ends).
    fn sock_fd(&self, op: &'static str) -> Result<RawFd> {
        self.sock.as_ref().map(|s| s.as_raw_fd()).ok_or(Error::Sys {
            op,
            errno: Errno::EBADF,
        })
    }

    /// The error for a CRIU that hung up: waits for it and quotes its stderr.
    fn exited(&mut self) -> Error {
        self.sock = None;
        let status = self
            .wait()
            .map_or_else(|e| e.to_string(), |s| s.to_string());
        Error::Exited {
            binary: self.binary.clone(),
            status,
            stderr: self.stderr_text(),
        }
    }

    fn wait(&mut self) -> Result<ExitStatus> {
        let Some(mut child) = self.child.take() else {
            return Err(Error::Sys {
                op: "wait for criu (already reaped)",
                errno: Errno::ECHILD,
            });
        };
        child.wait().map_err(|e| Error::Sys {
            op: "wait for criu",
            errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::ECHILD)),
        })
    }

    /// The last lines CRIU wrote to a captured stderr.
    fn stderr_text(&mut self) -> String {
        let Some(f) = self.stderr.as_mut() else {
            return String::new();
        };
        let mut text = String::new();
        let _ = f.rewind().and_then(|()| f.read_to_string(&mut text));
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(4)..].join("; ")
    }

    /// Hangs up and waits for CRIU to exit; its status (a pre-dump's CRIU fails when it
    /// finds the socket closed instead of the next request).
    pub fn finish(mut self) -> Result<ExitStatus> {
        self.sock = None;
        self.wait()
    }

    /// [`Swrk::finish`], requiring success.
    pub fn finish_ok(mut self) -> Result<()> {
        self.sock = None;
        let status = self.wait()?;
        if status.success() {
            Ok(())
        } else {
            Err(Error::Exited {
                binary: self.binary.clone(),
                status: status.to_string(),
                stderr: self.stderr_text(),
            })
        }
    }
}

impl Drop for Swrk {
    fn drop(&mut self) {
        // Hung up first: CRIU exits at EOF, so the wait ends.
        self.sock = None;
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }
}

/// A request with no options (`VERSION`, `CHECK`, `FEATURE_CHECK`).
pub(crate) fn simple(t: ReqType) -> Req {
    Req {
        r#type: t as i32,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::{Notify, Resp, RestoreResp};
    use std::io::IoSlice;

    /// A session whose other end is `peer`, played by the test (no process).
    fn session() -> (Swrk, OwnedFd) {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        let s = Swrk {
            child: None,
            sock: Some(a),
            stderr: None,
            binary: "criu".into(),
        };
        (s, b)
    }

    fn reply(peer: &OwnedFd, resp: &Resp, fd: Option<RawFd>) {
        let data = resp.encode_to_vec();
        let iov = [IoSlice::new(&data)];
        let rights = fd.map(|f| [f]);
        let cmsg: Vec<nix::sys::socket::ControlMessage> = rights
            .iter()
            .map(|r| nix::sys::socket::ControlMessage::ScmRights(r))
            .collect();
        nix::sys::socket::sendmsg::<()>(peer.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
            .unwrap();
    }

    fn read_req(peer: &OwnedFd) -> Req {
        let mut buf = vec![0u8; 4096];
        let n = nix::unistd::read(peer, &mut buf).unwrap();
        Req::decode(&buf[..n]).unwrap()
    }

    fn notify(script: &str, pid: i32) -> Resp {
        Resp {
            r#type: ReqType::Notify as i32,
            success: true,
            notify: Some(Notify {
                script: Some(script.into()),
                pid: Some(pid),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn notifications_are_answered_and_their_fds_handed_over() {
        let (mut s, peer) = session();
        let (r, _w) = nix::unistd::pipe().unwrap();
        std::thread::scope(|t| {
            t.spawn(|| {
                assert_eq!(read_req(&peer).r#type(), ReqType::Restore);
                reply(&peer, &notify("setup-namespaces", 7), None);
                let ack = read_req(&peer);
                assert_eq!(
                    (ack.r#type(), ack.notify_success),
                    (ReqType::Notify, Some(true))
                );
                reply(&peer, &notify("orphan-pts-master", 0), Some(r.as_raw_fd()));
                assert_eq!(read_req(&peer).notify_success, Some(true));
                reply(
                    &peer,
                    &Resp {
                        r#type: ReqType::Restore as i32,
                        success: true,
                        restore: Some(RestoreResp { pid: 7 }),
                        ..Default::default()
                    },
                    None,
                );
            });
            let mut seen = Vec::new();
            let resp = s
                .call::<Error>(&simple(ReqType::Restore), |n, fds| {
                    seen.push((n.script.clone().unwrap(), n.pid, fds.len()));
                    Ok(())
                })
                .unwrap();
            assert_eq!(resp.restore.unwrap().pid, 7);
            assert_eq!(
                seen,
                [
                    ("setup-namespaces".to_string(), Some(7), 0),
                    ("orphan-pts-master".to_string(), Some(0), 1)
                ]
            );
        });
    }

    #[test]
    fn a_failed_notification_is_acknowledged_as_failed() {
        let (mut s, peer) = session();
        std::thread::scope(|t| {
            t.spawn(|| {
                read_req(&peer);
                reply(&peer, &notify("post-restore", 9), None);
                assert_eq!(read_req(&peer).notify_success, Some(false));
            });
            let e = s
                .call::<Error>(&simple(ReqType::Restore), |_, _| {
                    Err(Error::Sys {
                        op: "record the container",
                        errno: Errno::ENOSPC,
                    })
                })
                .unwrap_err();
            assert!(e.to_string().contains("record the container"), "{e}");
        });
    }

    #[test]
    fn a_failure_names_the_request_errno_and_message() {
        let (mut s, peer) = session();
        std::thread::scope(|t| {
            t.spawn(|| {
                read_req(&peer);
                let fail = Resp {
                    r#type: ReqType::Dump as i32,
                    success: false,
                    cr_errno: Some(libc::EBUSY),
                    cr_errmsg: Some("Can't freeze".into()),
                    ..Default::default()
                };
                reply(&peer, &fail, None);
            });
            let e = s
                .call::<Error>(&simple(ReqType::Dump), |_, _| Ok(()))
                .unwrap_err();
            assert_eq!(
                e.to_string(),
                "criu failed to dump (errno 16: Device or resource busy): Can't freeze"
            );
        });
    }

    #[test]
    fn a_hang_up_is_an_exit_before_the_answer() {
        let (mut s, peer) = session();
        drop(peer);
        let e = s
            .call::<Error>(&simple(ReqType::Version), |_, _| Ok(()))
            .unwrap_err();
        assert!(matches!(e, Error::Exited { .. }), "{e}");
    }

    #[test]
    fn a_criu_that_cannot_start_is_quoted() {
        // What criu prints on a kernel it cannot work with, then exits 1.
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("criu");
        std::fs::write(
            &fake,
            "#!/bin/sh\n[ \"$1 $2\" = 'swrk 3' ] || exit 9\n[ -S /proc/self/fd/3 ] || [ -e /proc/self/fd/3 ] || exit 8\n\
             echo 'Error (criu/kerndat.c:1615): kerndat_vdso_fill_symtable failed' >&2\n\
             echo 'Error (criu/crtools.c:260): Could not initialize kernel features detection.' >&2\nexit 1\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = crate::version(&fake).unwrap_err().to_string();
        assert!(
            e.contains("exited (exit status: 1) before it answered"),
            "{e}"
        );
        assert!(
            e.contains("Could not initialize kernel features detection"),
            "{e}"
        );
        let missing = crate::version(std::path::Path::new("/nonexistent/criu")).unwrap_err();
        assert!(matches!(missing, Error::Start { .. }), "{missing}");
    }
}
