//! Loading the seccomp filter, and handing a NOTIFY listener to the parent for the agent.

use std::os::fd::AsRawFd;

use crate::spawn::sync::{self, Channel, Msg};
use crate::{Error, Result};

/// Loads `filter` into the calling process. A NOTIFY filter's listener fd is announced to the
/// parent with one `write(2)` of a frame built beforehand (the filter may hold any other
/// system call for an agent that has no fd yet; `write` itself cannot be held, see
/// `plan::seccomp`); the parent copies it with `pidfd_getfd`, hands it to the agent and
/// answers. Nothing of the container runs before the agent has it.
pub fn install(filter: &berth_seccomp::Filter, chan: &Channel) -> Result<()> {
    let Some(listener) = berth_seccomp::install(filter)? else {
        return Ok(());
    };
    let frame = sync::seccomp_frame(listener.as_raw_fd());
    match nix::unistd::write(&chan.0, &frame) {
        Ok(n) if n == frame.len() => {}
        Ok(_) => return Err(Error::Protocol("seccomp frame cut short".into())),
        Err(e) => return Err(Error::call("announce the seccomp listener", e)),
    }
    chan.expect(
        |m| matches!(m, Msg::SeccompDone),
        "the seccomp agent hand-off",
    )?;
    drop(listener);
    Ok(())
}
