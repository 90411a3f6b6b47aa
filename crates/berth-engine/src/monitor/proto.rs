//! What `image run` and its monitor say to each other over their socket pair.
//!
//! ```text
//!  client                                  monitor
//!    │── Plan(RunPlan) ─────────────────────►│  sets the container up
//!    │◄─ Failed{error}  (nothing was left) ──│  or
//!    │◄─ Started{id, pid, attached} + fds ───│  (pty master, or stdin/stdout/stderr pipes)
//!    │   … the client relays stdio …         │  waits for the container
//!    │◄─ Exited{code, oom_killed} ───────────│  then cleans up
//!    ╳ (the client's end closes)  ──────────►│  a foreground container is killed
//! ```
//!
//! Each message is a 4-byte big-endian length and a JSON document; descriptors travel as
//! `SCM_RIGHTS` on the message's first byte.

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use serde::{Deserialize, Serialize};

use crate::plan::RunPlan;
use crate::{Error, Result};

/// Which of the container's stdio the client was handed with `Started`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Attached {
    /// Nothing (`-d`).
    None,
    /// The pty master.
    Tty,
    /// stdout and stderr read ends, and with `stdin` the stdin write end first.
    Pipes { stdin: bool },
}

/// One message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Msg {
    Plan(Box<RunPlan>),
    Started {
        id: String,
        pid: i32,
        attached: Attached,
        warnings: Vec<String>,
    },
    /// Nothing was left; the error's text (its exit status follows from it, see
    /// [`crate::Error::exit_code`]).
    Failed {
        error: String,
    },
    Exited {
        code: i32,
        oom_killed: bool,
    },
}

const MAX_MESSAGE: usize = 16 << 20;
const MAX_FDS: usize = 4;

/// Sends `msg` with `fds`.
pub fn send(sock: &UnixStream, msg: &Msg, fds: &[RawFd]) -> Result<()> {
    let body = serde_json::to_vec(msg).expect("messages serialise");
    let len = (body.len() as u32).to_be_bytes();
    let iov = [IoSlice::new(&len), IoSlice::new(&body)];
    let cmsgs = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsgs };
    let sent = sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None)
        .map_err(|e| Error::Protocol(format!("send: {e}")))?;
    // A stream socket may take part of it; the rest follows as plain bytes.
    let mut all = len.to_vec();
    all.extend_from_slice(&body);
    if sent < all.len() {
        (&*sock)
            .write_all(&all[sent..])
            .map_err(|e| Error::Protocol(format!("send: {e}")))?;
    }
    Ok(())
}

/// Receives one message and the descriptors that came with it; `None` when the other end
/// has closed.
pub fn recv(sock: &UnixStream) -> Result<Option<(Msg, Vec<OwnedFd>)>> {
    let mut len = [0u8; 4];
    let mut space = nix::cmsg_space!([RawFd; MAX_FDS]);
    let (n, raw_fds) = loop {
        let mut iov = [IoSliceMut::new(&mut len)];
        match recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(m) => {
                let mut fds = Vec::new();
                for c in m
                    .cmsgs()
                    .map_err(|e| Error::Protocol(format!("receive: {e}")))?
                {
                    if let ControlMessageOwned::ScmRights(f) = c {
                        fds.extend(f);
                    }
                }
                break (m.bytes, fds);
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::Protocol(format!("receive: {e}"))),
        }
    };
    // SAFETY: the kernel has just installed these descriptors in our table for us; nothing
    // else owns them.
    let fds: Vec<OwnedFd> = raw_fds
        .into_iter()
        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
        .collect();
    if n == 0 {
        return Ok(None);
    }
    if n < 4 {
        (&*sock)
            .read_exact(&mut len[n..])
            .map_err(|e| Error::Protocol(format!("receive: {e}")))?;
    }
    let size = u32::from_be_bytes(len) as usize;
    if size > MAX_MESSAGE {
        return Err(Error::Protocol(format!("a message of {size} bytes")));
    }
    let mut body = vec![0u8; size];
    (&*sock)
        .read_exact(&mut body)
        .map_err(|e| Error::Protocol(format!("receive: {e}")))?;
    let msg = serde_json::from_slice(&body)
        .map_err(|e| Error::Protocol(format!("a message that does not parse: {e}")))?;
    Ok(Some((msg, fds)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_descriptors_cross() {
        let (a, b) = UnixStream::pair().unwrap();
        let (r, w) = nix::unistd::pipe().unwrap();
        send(
            &a,
            &Msg::Started {
                id: "x".into(),
                pid: 7,
                attached: Attached::Pipes { stdin: false },
                warnings: vec![],
            },
            &[r.as_raw_fd()],
        )
        .unwrap();
        send(
            &a,
            &Msg::Exited {
                code: 3,
                oom_killed: false,
            },
            &[],
        )
        .unwrap();
        drop(a);
        let (m, fds) = recv(&b).unwrap().unwrap();
        assert!(matches!(m, Msg::Started { pid: 7, .. }));
        assert_eq!(fds.len(), 1);
        nix::unistd::write(&w, b"hi").unwrap();
        let mut buf = [0u8; 2];
        nix::unistd::read(&fds[0], &mut buf).unwrap();
        assert_eq!(&buf, b"hi");
        let (m, fds) = recv(&b).unwrap().unwrap();
        assert!(matches!(m, Msg::Exited { code: 3, .. }) && fds.is_empty());
        assert!(recv(&b).unwrap().is_none());
    }
}
