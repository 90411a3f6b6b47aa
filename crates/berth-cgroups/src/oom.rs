//! Waiting for OOM kills, for the `events` command.
//!
//! v1: an eventfd registered on `memory.oom_control` through
//! `cgroup.event_control`; the kernel signals it on OOM and when the cgroup
//! is removed. v2: inotify on `memory.events`, whose `oom_kill` counter is
//! compared with the last value seen.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use crate::common::{parse_flat_keyed, read_optional, write_file};
use crate::error::{CgroupError, Result};

/// What [`OomWatcher::wait`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OomEvent {
    /// The OOM killer acted in the cgroup.
    Oom,
    /// The cgroup was removed; no more events will come.
    CgroupGone,
    /// The timeout passed with nothing to report.
    Timeout,
}

/// A subscription to a cgroup's OOM events.
#[derive(Debug)]
pub struct OomWatcher {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    V1 {
        efd: EventFd,
        // Kept open: the registration lives as long as this file.
        _oom_control: File,
        dir: PathBuf,
    },
    V2 {
        inotify: Inotify,
        dir: PathBuf,
        last: u64,
    },
}

impl OomWatcher {
    /// Registers an eventfd for the v1 memory cgroup `dir`.
    pub(crate) fn v1(dir: &Path) -> Result<OomWatcher> {
        let path = dir.join("memory.oom_control");
        let oom_control = File::open(&path).map_err(|e| CgroupError::io("open", &path, e))?;
        let efd = EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC)
            .map_err(|e| CgroupError::sys("eventfd", dir, e))?;
        let line = format!("{} {}", efd.as_fd().as_raw_fd(), oom_control.as_raw_fd());
        write_file(dir, "cgroup.event_control", &line)?;
        Ok(OomWatcher {
            inner: Inner::V1 {
                efd,
                _oom_control: oom_control,
                dir: dir.to_path_buf(),
            },
        })
    }

    /// Watches `memory.events` of the v2 cgroup `dir`.
    pub(crate) fn v2(dir: &Path) -> Result<OomWatcher> {
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
            .map_err(|e| CgroupError::sys("inotify_init", dir, e))?;
        let events = dir.join("memory.events");
        inotify
            .add_watch(&events, AddWatchFlags::IN_MODIFY)
            .map_err(|e| CgroupError::sys("inotify_add_watch", &events, e))?;
        let last = v2_oom_kills(dir)?.unwrap_or(0);
        Ok(OomWatcher {
            inner: Inner::V2 {
                inotify,
                dir: dir.to_path_buf(),
                last,
            },
        })
    }

    /// The descriptor that becomes readable when there may be an event, for
    /// callers multiplexing with poll(2).
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.inner {
            Inner::V1 { efd, .. } => efd.as_fd(),
            Inner::V2 { inotify, .. } => inotify.as_fd(),
        }
    }

    /// Waits for the next OOM kill, the cgroup's removal, or `timeout`
    /// (`None`: no timeout).
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<OomEvent> {
        // v2 may already have a new kill counted before any notification.
        if let Some(ev) = self.check_v2()? {
            return Ok(ev);
        }
        loop {
            let t = match timeout {
                None => PollTimeout::NONE,
                Some(d) => PollTimeout::try_from(d).unwrap_or(PollTimeout::MAX),
            };
            let ready = {
                let mut fds = [PollFd::new(self.as_fd(), PollFlags::POLLIN)];
                match poll(&mut fds, t) {
                    Ok(n) => n,
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(CgroupError::sys("poll", self.dir(), e)),
                }
            };
            if ready == 0 {
                return Ok(OomEvent::Timeout);
            }
            match &mut self.inner {
                Inner::V1 { efd, dir, .. } => {
                    efd.read()
                        .map_err(|e| CgroupError::sys("read eventfd", dir, e))?;
                    // The kernel also signals when the cgroup goes away.
                    if !dir.join("cgroup.event_control").exists() {
                        return Ok(OomEvent::CgroupGone);
                    }
                    return Ok(OomEvent::Oom);
                }
                Inner::V2 { inotify, dir, .. } => {
                    match inotify.read_events() {
                        Ok(evs) => {
                            if evs
                                .iter()
                                .any(|e| e.mask.contains(AddWatchFlags::IN_IGNORED))
                            {
                                return Ok(OomEvent::CgroupGone);
                            }
                        }
                        Err(nix::errno::Errno::EAGAIN) => {}
                        Err(e) => return Err(CgroupError::sys("read inotify", dir, e)),
                    }
                    if let Some(ev) = self.check_v2()? {
                        return Ok(ev);
                    }
                }
            }
        }
    }

    fn dir(&self) -> &Path {
        match &self.inner {
            Inner::V1 { dir, .. } | Inner::V2 { dir, .. } => dir,
        }
    }

    fn check_v2(&mut self) -> Result<Option<OomEvent>> {
        let Inner::V2 { dir, last, .. } = &mut self.inner else {
            return Ok(None);
        };
        match v2_oom_kills(dir)? {
            None => Ok(Some(OomEvent::CgroupGone)),
            Some(n) if n > *last => {
                *last = n;
                Ok(Some(OomEvent::Oom))
            }
            Some(_) => Ok(None),
        }
    }
}

/// The `oom_kill` counter of v2 `memory.events`; `None` if the cgroup is gone.
pub(crate) fn v2_oom_kills(dir: &Path) -> Result<Option<u64>> {
    match read_optional(dir, "memory.events") {
        Ok(Some(s)) => Ok(Some(
            parse_flat_keyed(&s).get("oom_kill").copied().unwrap_or(0),
        )),
        Ok(None) => Ok(None),
        Err(e) if e.errno() == Some(nix::errno::Errno::ENODEV) => Ok(None),
        Err(e) => Err(e),
    }
}
