//! The process's terminal: a new pty in the container's `devpts`, given to the process's
//! user, its master handed out (over the console socket or back to the parent), the slave
//! made the controlling terminal and stdio, and bound onto `/dev/console` for the init.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;

use super::resolve;
use crate::plan::ProcessPlan;
use crate::spawn::job::ConsoleMode;
use crate::spawn::sync::{Channel, Msg};
use crate::{sys, Error, Result};

/// Sets up the terminal. `socket`: the console socket (for [`ConsoleMode::Socket`]);
/// `bind_console`: the init binds the slave onto `/dev/console` (in the current root).
pub fn setup(
    p: &ProcessPlan,
    mode: ConsoleMode,
    socket: Option<&OwnedFd>,
    chan: &Channel,
    bind_console: bool,
) -> Result<()> {
    let (master, slave, slave_path) =
        sys::pty::open().map_err(|e| Error::sys("open a pty through", "/dev/ptmx", e))?;
    if let Some((rows, cols)) = p.console_size {
        sys::pty::set_size(master.as_fd(), rows, cols);
    }
    // The terminal belongs to the process's user, as runc hands it over.
    nix::unistd::fchown(&slave, Some(p.uid.into()), None)
        .map_err(|e| Error::sys("chown", &slave_path, e))?;
    if bind_console {
        let console = Path::new("/dev/console");
        let root = nix::fcntl::open(
            "/",
            OFlag::O_PATH | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| Error::sys("open", "/", e))?;
        let target = resolve::open_no_symlinks(root.as_fd(), console, OFlag::O_PATH)?;
        // Bind the slave we hold, not whatever its path leads to by now.
        let tree = resolve::clone_tree_fd(slave.as_fd(), &slave_path)?;
        resolve::attach(&tree, &target, console)?;
    }
    match (mode, socket) {
        (ConsoleMode::Socket, Some(sock)) => {
            sys::fdpass::send(sock.as_fd(), b"/dev/ptmx", &[master.as_raw_fd()])
                .map_err(|e| Error::call("send the console over the console socket", e))?
        }
        (ConsoleMode::Return, _) => chan.send(Msg::Console(master))?,
        _ => {
            return Err(Error::config(
                "process.terminal",
                "a terminal needs --console-socket",
            ))
        }
    }
    make_controlling(&slave)
}

/// Makes `slave` the controlling terminal and stdio of the calling process.
fn make_controlling(slave: &OwnedFd) -> Result<()> {
    nix::unistd::setsid().map_err(|e| Error::call("setsid", e))?;
    sys::pty::set_controlling(slave.as_fd()).map_err(|e| Error::call("ioctl(TIOCSCTTY)", e))?;
    nix::unistd::dup2_stdin(slave)
        .and_then(|()| nix::unistd::dup2_stdout(slave))
        .and_then(|()| nix::unistd::dup2_stderr(slave))
        .map_err(|e| Error::call("dup2 the console", e))
}
