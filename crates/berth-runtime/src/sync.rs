//! The protocol between `berth create` (the parent) and the container's init.
//!
//! ```text
//!  parent (berth create / run)                      init (cloned child)
//!  ───────────────────────────                      ───────────────────
//!  clone(CLONE_NEW* ...) ─────────────────────────▶ waits for Go
//!  write uid_map / gid_map (new user namespace)
//!  move the init into its cgroup (made before the clone, or right after Go when nothing
//!  in the init needs it yet; either way before Ready is read)
//!  Go ────────────────────────────────────────────▶ setns/unshare(cgroup), mounts, devices
//!                        ◀────────────────────────── Hooks      (only if there are prestart/
//!  run prestart + createRuntime hooks                            createRuntime hooks)
//!  HooksDone ─────────────────────────────────────▶ createContainer hooks, pivot_root,
//!                                                   masked/readonly paths, sysctl, user, caps
//!                        ◀────────────────────────── Ready  (or Error(text) at any point)
//!  write state.json and the pid file, exit          waits for start: accept() on exec.sock
//!                                                   (run: Start on this channel instead)
//!  berth start: connect(exec.sock) ───────────────▶ startContainer hooks, seccomp, execve
//!               EOF on the connection means execve succeeded (the socket is CLOEXEC);
//!               Error(text) that it failed.
//! ```
//!
//! Each message is one datagram on a `SOCK_SEQPACKET` socket pair: a tag byte, then a payload.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{self, AddressFamily, SockFlag, SockType};

use crate::{Error, Result};

/// One message of the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// Parent → init: maps written, cgroup joined (or being made, see `create`).
    Go,
    /// Init → parent: run the prestart and createRuntime hooks now.
    Hooks,
    /// Parent → init: hooks done.
    HooksDone,
    /// Init → parent: set up, waiting to be started.
    Ready,
    /// Parent → init (`run` only): start now.
    Start,
    /// Either way: the sender failed with this message.
    Error(String),
}

impl Msg {
    fn encode(&self) -> Vec<u8> {
        match self {
            Msg::Go => b"G".to_vec(),
            Msg::Hooks => b"H".to_vec(),
            Msg::HooksDone => b"D".to_vec(),
            Msg::Ready => b"R".to_vec(),
            Msg::Start => b"S".to_vec(),
            Msg::Error(e) => format!("E{e}").into_bytes(),
        }
    }

    fn decode(b: &[u8]) -> Option<Msg> {
        let (tag, rest) = b.split_first()?;
        let text = || String::from_utf8_lossy(rest).into_owned();
        Some(match tag {
            b'G' => Msg::Go,
            b'H' => Msg::Hooks,
            b'D' => Msg::HooksDone,
            b'R' => Msg::Ready,
            b'S' => Msg::Start,
            b'E' => Msg::Error(text()),
            _ => return None,
        })
    }
}

/// One end of the channel.
#[derive(Debug)]
pub struct Channel(pub OwnedFd);

/// A connected pair of channels (close-on-exec).
pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socket::socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| Error::call("socketpair", e))?;
    Ok((Channel(a), Channel(b)))
}

impl Channel {
    /// Sends one message.
    pub fn send(&self, m: &Msg) -> Result<()> {
        send_raw(self.0.as_raw_fd(), &m.encode())
    }

    /// Receives one message; `Ok(None)` when the other side closed without a message.
    pub fn recv(&self) -> Result<Option<Msg>> {
        recv_raw(self.0.as_raw_fd())
    }

    /// Receives and expects `want`; an `Error` message or EOF becomes an error.
    pub fn expect(&self, want: &Msg, eof: &str) -> Result<()> {
        match self.recv()? {
            Some(m) if &m == want => Ok(()),
            Some(Msg::Error(e)) => Err(Error::Init(e)),
            Some(m) => Err(Error::Other(format!(
                "protocol error: got {m:?}, want {want:?}"
            ))),
            None => Err(Error::Init(eof.to_string())),
        }
    }
}

/// Sends a datagram on a raw fd.
pub fn send_raw(fd: RawFd, data: &[u8]) -> Result<()> {
    loop {
        // SAFETY: `data` is a valid buffer of the length passed.
        let r = unsafe { libc::send(fd, data.as_ptr().cast(), data.len(), libc::MSG_NOSIGNAL) };
        if r >= 0 {
            return Ok(());
        }
        match Errno::last() {
            Errno::EINTR => continue,
            e => return Err(Error::call("send", e)),
        }
    }
}

/// Receives a datagram from a raw fd.
pub fn recv_raw(fd: RawFd) -> Result<Option<Msg>> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // SAFETY: `buf` is a valid writable buffer of the length passed.
        let r = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if r > 0 {
            return Msg::decode(&buf[..r as usize])
                .map(Some)
                .ok_or_else(|| Error::Other("protocol error: bad message".into()));
        }
        if r == 0 {
            return Ok(None);
        }
        match Errno::last() {
            Errno::EINTR => continue,
            Errno::ECONNRESET => return Ok(None),
            e => return Err(Error::call("recv", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let (a, b) = pair().unwrap();
        for m in [
            Msg::Go,
            Msg::Hooks,
            Msg::HooksDone,
            Msg::Ready,
            Msg::Start,
            Msg::Error("mount `/x`: EPERM".into()),
        ] {
            a.send(&m).unwrap();
            assert_eq!(b.recv().unwrap(), Some(m));
        }
        drop(a);
        assert_eq!(b.recv().unwrap(), None);
    }

    #[test]
    fn expect_reports_the_peer_error() {
        let (a, b) = pair().unwrap();
        a.send(&Msg::Error("boom".into())).unwrap();
        assert_eq!(
            b.expect(&Msg::Ready, "eof").unwrap_err().to_string(),
            "boom"
        );
        drop(a);
        assert_eq!(
            b.expect(&Msg::Ready, "init died").unwrap_err().to_string(),
            "init died"
        );
    }
}
