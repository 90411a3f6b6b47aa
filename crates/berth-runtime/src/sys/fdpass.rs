//! Passing fds over unix sockets (`SCM_RIGHTS`), as consoles, seccomp agents and berth's own
//! parent/child protocol do.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};

use super::SysResult;

/// Sends `data` with `fds` attached (all of `data` is sent; the fds go with its first byte).
pub fn send(sock: BorrowedFd<'_>, data: &[u8], fds: &[RawFd]) -> SysResult<()> {
    let mut sent = 0;
    while sent < data.len() || (sent == 0 && data.is_empty()) {
        let iov = [IoSlice::new(&data[sent..])];
        let cmsg = [ControlMessage::ScmRights(fds)];
        let cmsgs: &[ControlMessage] = if sent == 0 && !fds.is_empty() {
            &cmsg
        } else {
            &[]
        };
        match sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
            Ok(n) => {
                sent += n;
                if data.is_empty() {
                    break;
                }
            }
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Receives up to `buf.len()` bytes and the fds attached to them (close-on-exec). `Ok((0, _))`
/// is end of file.
pub fn recv(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    max_fds: usize,
) -> SysResult<(usize, Vec<OwnedFd>)> {
    let mut space = vec![0u8; nix::sys::socket::cmsg_space::<RawFd>() * max_fds.max(1)];
    loop {
        let mut iov = [IoSliceMut::new(buf)];
        let msg = match recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(Errno::EINTR) => continue,
            Err(Errno::ECONNRESET) => return Ok((0, Vec::new())),
            r => r?,
        };
        let mut fds = Vec::new();
        for c in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(list) = c {
                fds.extend(list.into_iter().map(super::adopt));
            }
        }
        return Ok((msg.bytes, fds));
    }
}
