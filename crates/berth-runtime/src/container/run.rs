//! `run`: create and start in one call; the init waits on the runtime's channel instead of
//! a socket, so there is no second process between them.

use std::os::fd::OwnedFd;

use super::create::{self, CreateOptions};
use super::{Container, Runtime};
use crate::spawn::job::StartMode;
use crate::spawn::sync::Msg;
use crate::state::oci::hook_state;
use crate::state::StoredStatus;
use crate::{hooks, Error, Result};

/// A started container: its init is the caller's child (wait for it with [`Started::pid`]).
#[derive(Debug)]
pub struct Started {
    pub container: Container,
    /// The pty master, with `Console::Return`.
    pub master: Option<OwnedFd>,
    /// The init's pidfd: readable once it exited.
    pub pidfd: OwnedFd,
    /// Unknown config properties, a busy cgroup, failed poststart hooks.
    pub warnings: Vec<String>,
}

impl Started {
    /// The init's pid.
    pub fn pid(&self) -> i32 {
        self.container.state.pid
    }
}

impl Runtime {
    /// `run`: creates the container and starts it. On a failed start the container is
    /// deleted again and the error returned.
    pub fn run(&self, opts: CreateOptions) -> Result<Started> {
        let pending = create::create(self, opts, StartMode::Channel)?;
        let mut created = pending.created;
        let init = pending.init;
        let started = init.chan.send(Msg::Start).and_then(|()| {
            // EOF: the init exec'd (its end is close-on-exec); a message: it failed.
            match init.chan.recv()? {
                None => Ok(()),
                Some(Msg::Error(e)) => Err(Error::Init(e)),
                Some(m) => Err(Error::Protocol(format!("unexpected {m:?} at start"))),
            }
        });
        // The init exec'd: from now on the container may be joined (see `create::setup`).
        let started = started.and_then(|()| {
            let c = &mut created.container;
            c.state.status = StoredStatus::Created;
            c.dir.save(&c.state)
        });
        if let Err(e) = started {
            let _ = created.container.delete(true);
            return Err(e);
        }
        created.warnings.extend(hooks::run_warn(
            "poststart",
            &pending.poststart,
            &hook_state(&pending.hook_context, "running", init.pid.as_raw()),
        ));
        Ok(Started {
            container: created.container,
            master: created.master,
            pidfd: init.pidfd,
            warnings: created.warnings,
        })
    }
}
