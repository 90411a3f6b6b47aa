//! The monitor (what conmon is to podman): `berth image monitor`, started by `image run` in
//! a session of its own. It sets the container up ([`crate::launch`]), is the parent of its
//! init, writes the log of a `-d` container, waits for the exit, records it (137 for an OOM
//! kill, as for any SIGKILL), tears the network down, removes everything for `--rm`, and only
//! then tells the client the exit code. An attached container is killed when its client goes
//! away, so a SIGKILLed `image run` leaves nothing behind either.

pub mod proto;

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::launch::{self, Launched};
use crate::logs::{LogWriter, Stream};
use crate::record::State;
use crate::{runtime, teardown, Engine, Error, Result};
use proto::{Attached, Msg};

/// Appends a line to the container's `monitor.log` (the monitor has no terminal).
fn note(engine: &Engine, id: &str, msg: &str) {
    let p = engine.container_dir(id).join("monitor.log");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
    {
        let _ = writeln!(f, "{} {msg}", runtime::rfc3339_now());
    }
}

/// Runs the monitor on the client's socket; returns the process's exit status.
pub fn run(engine: &Engine, sock: UnixStream) -> i32 {
    let plan = match proto::recv(&sock) {
        Ok(Some((Msg::Plan(p), _))) => p,
        // The client went away before saying anything: nothing was made.
        _ => return 1,
    };
    let id = plan.record.id.clone();
    let launched = match launch::launch(engine, &plan) {
        Ok(l) => l,
        Err(e) => {
            // A name in use means the record belongs to another container.
            if !matches!(e, Error::NameInUse { .. }) {
                if let Err(t) = teardown::remove(engine, &id, true) {
                    note(engine, &id, &format!("cleanup after a failed start: {t}"));
                }
            }
            let _ = proto::send(
                &sock,
                &Msg::Failed {
                    error: e.to_string(),
                },
                &[],
            );
            return 1;
        }
    };
    let raw: Vec<i32> = launched.to_client.iter().map(|f| f.as_raw_fd()).collect();
    let started = proto::send(
        &sock,
        &Msg::Started {
            id: id.clone(),
            pid: launched.pid,
            attached: launched.attached,
            warnings: launched.warnings.clone(),
        },
        &raw,
    );
    let attached = launched.attached != Attached::None;
    if started.is_err() && attached {
        note(
            engine,
            &id,
            "the client is gone before the start: killing the container",
        );
        let _ = runtime::kill(&plan.record.runtime_root, &id, Signal::SIGKILL, true);
    }
    // Blocked only now: the init must not inherit a blocked SIGCHLD. An exit before this
    // point is found by supervise's first waitpid.
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    let _ = mask.thread_block();
    let status = supervise(engine, &id, launched, &sock, attached, mask);
    let (code, oom_killed) = match status {
        Ok(c) => c,
        Err(e) => {
            note(engine, &id, &format!("supervising: {e}"));
            (255, false)
        }
    };
    let _ = engine.update(&id, |r| {
        r.state = State::Exited;
        r.exit_code = Some(code);
        r.oom_killed = oom_killed;
        r.finished_unix = Some(crate::record::now_unix());
    });
    if let Err(e) = teardown::after_exit(engine, &id) {
        note(engine, &id, &format!("cleanup after the exit: {e}"));
    }
    let _ = engine.update(&id, |r| r.monitor = None);
    let _ = proto::send(&sock, &Msg::Exited { code, oom_killed }, &[]);
    0
}

/// Waits for the init to exit (logging a `-d` container's output meanwhile; killing an
/// attached one whose client hung up). Returns the exit code and whether the OOM killer
/// acted.
fn supervise(
    engine: &Engine,
    id: &str,
    mut l: Launched,
    sock: &UnixStream,
    attached: bool,
    mask: SigSet,
) -> Result<(i32, bool)> {
    let root = engine.runtime_root().to_path_buf();
    drop(std::mem::take(&mut l.to_client));
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| Error::Protocol(format!("signalfd: {e}")))?;
    let mut log = if attached {
        None
    } else {
        Some(LogWriter::open(&engine.log_path(id))?)
    };
    let mut client_open = attached;
    let mut buf = vec![0u8; 64 << 10];
    let pid = Pid::from_raw(l.pid);
    let reaped = |status: WaitStatus| match status {
        WaitStatus::StillAlive => None,
        st => Some(runtime::exit_code(st)),
    };
    let mut code = None;
    while code.is_none() {
        if let Ok(st) = waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            code = reaped(st);
            if code.is_some() {
                break;
            }
        }
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if client_open {
            fds.push(PollFd::new(sock.as_fd(), PollFlags::POLLIN));
        }
        let out_at = fds.len();
        for f in [&l.stdout, &l.stderr].into_iter().flatten() {
            fds.push(PollFd::new(f.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(Error::Protocol(format!("poll: {e}"))),
        }
        let ready = |i: usize| {
            fds.get(i).and_then(|f| f.revents()).is_some_and(|r| {
                r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
            })
        };
        let sig_ready = ready(0);
        let client_ready = client_open && ready(1);
        let outs_ready: Vec<bool> = (out_at..fds.len()).map(ready).collect();
        drop(fds);
        if sig_ready {
            while let Ok(Some(_)) = sfd.read_signal() {}
        }
        if client_ready {
            // The client says nothing after the plan: readable means it has gone.
            let mut b = [0u8; 1];
            if matches!(nix::unistd::read(sock.as_fd(), &mut b), Ok(0) | Err(_)) {
                client_open = false;
                note(
                    engine,
                    id,
                    "the client went away: killing the attached container",
                );
                let _ = runtime::kill(&root, id, Signal::SIGKILL, true);
            }
        }
        let mut i = 0;
        for (slot, stream) in [
            (&mut l.stdout, Stream::Stdout),
            (&mut l.stderr, Stream::Stderr),
        ] {
            if slot.is_none() {
                continue;
            }
            let is_ready = outs_ready.get(i).copied().unwrap_or(false);
            i += 1;
            if is_ready {
                read_into(slot, stream, &mut log, &mut buf);
            }
        }
    }
    // Whatever the pipes still hold was written before the exit.
    for (slot, stream) in [
        (&mut l.stdout, Stream::Stdout),
        (&mut l.stderr, Stream::Stderr),
    ] {
        if let Some(f) = slot.as_ref() {
            launch::set_nonblocking(f);
        }
        while slot.is_some() {
            read_into(slot, stream, &mut log, &mut buf);
        }
    }
    if let Some(log) = &mut log {
        log.flush();
    }
    drop(l.stdin_keep.take());
    let oom = runtime::oom_kills(&root, id).is_some_and(|n| n > 0);
    Ok((code.unwrap_or(255), oom))
}

/// Reads once from a stdio end into the log; drops the end at EOF (or EIO of a pty, or
/// EAGAIN once drained).
fn read_into(
    slot: &mut Option<OwnedFd>,
    stream: Stream,
    log: &mut Option<LogWriter>,
    buf: &mut [u8],
) {
    let Some(fd) = slot.as_ref() else { return };
    match nix::unistd::read(fd.as_fd(), buf) {
        Ok(0) => *slot = None,
        Ok(n) => {
            if let Some(l) = log {
                l.write(stream, &buf[..n]);
            }
        }
        Err(Errno::EINTR) => {}
        Err(_) => *slot = None,
    }
}
