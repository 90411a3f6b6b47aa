//! `start`: lets a created init exec the container process.

use std::os::fd::OwnedFd;

use super::create::Recorded;
use super::Container;
use crate::spawn::sync::Channel;
use crate::state::oci::hook_state;
use crate::state::store::START_SOCKET;
use crate::state::Verb;
use crate::{hooks, Error, Result};

impl Container {
    /// Starts the container: returns once its process has exec'd (or with the reason it
    /// could not: a failing startContainer hook, a failed exec), then runs the poststart
    /// hooks, whose failures are returned as warnings.
    pub fn start(&self) -> Result<Vec<String>> {
        self.check(Verb::Start)?;
        let recorded = Recorded::load(&self.dir)?;
        let d = std::fs::File::open(&self.dir.path)
            .map_err(|e| Error::io("open", &self.dir.path, e))?;
        // A short path through our fd of the directory: socket paths are limited to 108 bytes.
        let p = format!(
            "/proc/self/fd/{}/{START_SOCKET}",
            std::os::fd::AsRawFd::as_raw_fd(&d)
        );
        let conn = std::os::unix::net::UnixStream::connect(&p)
            .map_err(|e| Error::io("connect", self.dir.start_socket(), e))?;
        // From now on the container counts as started, whatever happens next.
        let _ = std::fs::remove_file(self.dir.start_socket());
        // EOF: the init exec'd (the connection is close-on-exec); a message: it failed.
        self.rt
            .step(|| format!("start {}: connected to the init", self.state.id));
        let conn = Channel(OwnedFd::from(conn));
        match conn.recv()? {
            None => {}
            Some(crate::spawn::sync::Msg::Error(e)) => return Err(Error::Init(e)),
            Some(m) => return Err(Error::Protocol(format!("unexpected {m:?} at start"))),
        }
        self.rt
            .step(|| format!("start {}: the container process runs", self.state.id));
        Ok(hooks::run_warn(
            "poststart",
            &recorded.poststart,
            &hook_state(&self.hook_context(), "running", self.state.pid),
        ))
    }

    /// The hook context of a recorded container.
    pub(crate) fn hook_context(&self) -> crate::plan::HookContext {
        crate::plan::HookContext {
            id: self.state.id.clone(),
            bundle: self.state.bundle.clone(),
            annotations: self.state.annotations.clone(),
        }
    }
}
