//! `SCMP_ACT_NOTIFY`: handing the listener fd to a seccomp agent at
//! `listenerPath`, and the two ioctls an agent uses.
//!
//! Wire format (runtime-spec config-linux.md, "The Container Process
//! State"): one connection per container process to the `SOCK_STREAM`
//! socket at `listenerPath`; the payload is the JSON of
//! [`ContainerProcessState`] (`ociVersion`, `fds: ["seccompFd"]`, `pid`,
//! `metadata` from `listenerMetadata`, `state`), and the fd travels as
//! `SCM_RIGHTS` on the first `sendmsg`; then the connection is closed.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::sys::socket::{
    self, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr,
};
use oci_spec::runtime::{ContainerProcessState, State, SECCOMP_FD_NAME};

use crate::{Error, SeccompData};

/// Builds the message for the agent: `state` is the container's state as
/// `berth state` would print it, `pid` the container process as seen by
/// the runtime, `metadata` the spec's `linux.seccomp.listenerMetadata`.
pub fn process_state(state: &State, pid: i32, metadata: Option<&str>) -> ContainerProcessState {
    let mut s = ContainerProcessState::default();
    s.set_version(oci_spec::runtime::VERSION.to_string());
    s.set_fds(vec![SECCOMP_FD_NAME.to_string()]);
    s.set_pid(pid);
    s.set_metadata(metadata.map(str::to_string));
    s.set_state(state.clone());
    s
}

/// Connects to the agent at `listener_path`, sends `msg` with `seccomp_fd`
/// attached, and closes the connection.
pub fn send_to_listener(
    listener_path: &Path,
    seccomp_fd: BorrowedFd<'_>,
    msg: &ContainerProcessState,
) -> Result<(), Error> {
    let payload = serde_json::to_vec(msg).map_err(Error::EncodeState)?;
    let fail = |op, errno| Error::Listener {
        op,
        path: listener_path.to_path_buf(),
        errno,
    };
    let addr = UnixAddr::new(listener_path).map_err(|e| fail("socket address", e))?;
    let sock = socket::socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| fail("socket", e))?;
    socket::connect(sock.as_raw_fd(), &addr).map_err(|e| fail("connect", e))?;

    let fds = [seccomp_fd.as_raw_fd()];
    let mut sent = 0;
    while sent < payload.len() {
        let iov = [IoSlice::new(&payload[sent..])];
        // The fd goes with the first sendmsg only, as the spec requires.
        let cmsg = [ControlMessage::ScmRights(&fds)];
        let cmsgs: &[ControlMessage] = if sent == 0 { &cmsg } else { &[] };
        match socket::sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
            Ok(n) => sent += n,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(fail("sendmsg", e)),
        }
    }
    Ok(())
}

/// One pending notification, from `SECCOMP_IOCTL_NOTIF_RECV`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notification {
    /// Cookie to answer with [`respond`].
    pub id: u64,
    /// Thread that made the call (in the listener's pid namespace).
    pub pid: u32,
    /// The call itself.
    pub data: SeccompData,
}

/// The answer to a notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Response {
    /// The call returns `value` without running.
    Value(i64),
    /// The call fails with this (positive) errno.
    Errno(i32),
    /// The call runs as if not filtered (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`).
    Continue,
}

/// Waits for the next notification on a listener fd.
pub fn recv(listener: BorrowedFd<'_>) -> Result<Notification, Error> {
    // SAFETY: seccomp_notif is plain data; the kernel requires it zeroed.
    let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: NOTIF_RECV writes one seccomp_notif into `n`, which is
        // valid for writes and correctly sized.
        let rc = unsafe {
            libc::ioctl(
                listener.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_RECV,
                &mut n as *mut libc::seccomp_notif,
            )
        };
        if rc == 0 {
            break;
        }
        match Errno::last() {
            Errno::EINTR => continue,
            errno => {
                return Err(Error::Notify {
                    op: "SECCOMP_IOCTL_NOTIF_RECV",
                    errno,
                })
            }
        }
    }
    Ok(Notification {
        id: n.id,
        pid: n.pid,
        data: SeccompData {
            nr: n.data.nr,
            arch: n.data.arch,
            instruction_pointer: n.data.instruction_pointer,
            args: n.data.args,
        },
    })
}

/// Answers notification `id`.
pub fn respond(listener: BorrowedFd<'_>, id: u64, response: Response) -> Result<(), Error> {
    let (val, error, flags) = match response {
        Response::Value(v) => (v, 0, 0),
        Response::Errno(e) => (0, -e, 0),
        Response::Continue => (0, 0, libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32),
    };
    let mut resp = libc::seccomp_notif_resp {
        id,
        val,
        error,
        flags,
    };
    // SAFETY: NOTIF_SEND reads one seccomp_notif_resp from `resp`.
    let rc = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SEND,
            &mut resp as *mut libc::seccomp_notif_resp,
        )
    };
    if rc != 0 {
        return Err(Error::Notify {
            op: "SECCOMP_IOCTL_NOTIF_SEND",
            errno: Errno::last(),
        });
    }
    Ok(())
}

/// Receives what [`send_to_listener`] sends, on an accepted connection:
/// the parsed state and the fds it carried. For agents and tests.
pub fn recv_from_runtime(
    conn: BorrowedFd<'_>,
) -> Result<(ContainerProcessState, Vec<OwnedFd>), Error> {
    let fail = |errno| Error::Notify {
        op: "recvmsg",
        errno,
    };
    let mut payload = Vec::new();
    let mut fds = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut cmsg_space = nix::cmsg_space!([std::os::fd::RawFd; 4]);
    loop {
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let msg = socket::recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg_space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(fail)?;
        for c in msg.cmsgs().map_err(fail)? {
            if let socket::ControlMessageOwned::ScmRights(raw) = c {
                // SAFETY: SCM_RIGHTS fds are new in this process and owned
                // by nobody else.
                fds.extend(
                    raw.into_iter()
                        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                );
            }
        }
        let n = msg.bytes;
        if n == 0 {
            break;
        }
        payload.extend_from_slice(&buf[..n]);
    }
    let state = serde_json::from_slice(&payload).map_err(|source| Error::Json {
        field: "container process state".into(),
        source,
    })?;
    Ok((state, fds))
}
