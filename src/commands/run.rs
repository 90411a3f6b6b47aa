//! `berth run`: create and start; in the foreground, wait and return the exit status.

use berth_runtime::{Console, Runtime};

use crate::cli::RunArgs;
use crate::foreground;
use crate::logging::Logger;

pub fn run(rt: &Runtime, a: RunArgs, log: &Logger) -> anyhow::Result<i32> {
    let console = if a.detach {
        Console::None
    } else {
        Console::Return
    };
    // Blocked before the start, so a signal for the container is never lost; the library
    // starts the container's process with none blocked.
    let sigs = (!a.detach).then(foreground::block_signals);
    let s = rt.run(super::create::options(&a.create, console))?;
    log.warn_all(&s.warnings);
    let Some(sigs) = sigs else { return Ok(0) };
    let code = foreground::wait(s.pid(), sigs, s.master);
    if !a.keep {
        log.warn_all(&s.container.delete(true)?);
    }
    Ok(code)
}
