//! `berth run`: create and start; in the foreground, wait and return the exit status.

use berth_runtime::container::Container;
use berth_runtime::create::{self, Mode};
use berth_runtime::foreground;
use berth_runtime::sync::Msg;

use crate::cli::{Global, RunArgs};
use crate::logging::Logger;

pub fn run(g: &Global, a: RunArgs, log: &Logger) -> anyhow::Result<i32> {
    let opts = super::create::options(g, &a.create, Mode::Run, !a.detach);
    let c = create::create(&opts)?;
    for w in &c.plan.warnings {
        log.warn(w);
    }
    let sigs = (!a.detach).then(foreground::block_signals);
    let started = (|| -> anyhow::Result<()> {
        c.chan.send(&Msg::Start)?;
        // EOF: the init exec'd (its end is close-on-exec); a message: it failed.
        if let Some(Msg::Error(e)) = c.chan.recv()? {
            anyhow::bail!("{e}");
        }
        Ok(())
    })();
    let container = Container {
        dir: c.dir,
        state: c.state,
    };
    if let Err(e) = started {
        let _ = container.delete_with_hooks(true, Some(&c.plan.hooks));
        return Err(e);
    }
    let hooks_state = berth_runtime::create::hook_state(
        &container.state.id,
        "running",
        container.state.pid,
        &container.state.bundle,
        &container.state.annotations,
    );
    for w in
        berth_runtime::hooks::run_warn("poststart", c.plan.hooks.poststart().as_ref(), &hooks_state)
    {
        log.warn(&w);
    }
    let Some(sigs) = sigs else { return Ok(0) };
    let code = foreground::wait(container.state.pid, sigs, c.master);
    if !a.keep {
        for w in container.delete_with_hooks(true, Some(&c.plan.hooks))? {
            log.warn(&w);
        }
    }
    Ok(code)
}
