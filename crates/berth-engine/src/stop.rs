//! `stop` (the stop signal, then SIGKILL after a timeout) and `rm`.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::runtime::{self, Status};
use crate::{teardown, Engine, Error, Result};

/// How long the monitor gets to record an exit and clean up.
const FINISH_TIMEOUT: Duration = Duration::from_secs(30);

fn running(engine: &Engine, id: &str) -> bool {
    let Ok(Some(r)) = engine.try_load(id) else {
        return false;
    };
    matches!(
        runtime::status(&r.runtime_root, id).0,
        Status::Running | Status::Paused | Status::Created
    )
}

/// Waits up to `timeout` for the container's process to exit.
fn wait_exit(engine: &Engine, id: &str, timeout: Duration) -> bool {
    let start = Instant::now();
    loop {
        if !running(engine, id) {
            return true;
        }
        if start.elapsed() >= timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Stops container `input`: its stop signal, then after `timeout` seconds (the container's
/// `--stop-timeout`, else 10) SIGKILL to every process in it. Returns once the exit has
/// been recorded (and, for `--rm`, the container removed). Stopping a stopped container
/// does nothing.
pub fn stop(engine: &Engine, input: &str, timeout: Option<u64>) -> Result<()> {
    let r = engine.find(input)?;
    if !teardown::is_live(engine, &r.id)? {
        return Ok(());
    }
    let sig = runtime::parse_signal(&r.stop_signal).unwrap_or(Signal::SIGTERM);
    let timeout = Duration::from_secs(timeout.unwrap_or(r.stop_timeout));
    if running(engine, &r.id) {
        // It may exit between the check and the signal: that is a stop too.
        let _ = runtime::kill(&r.runtime_root, &r.id, sig, false);
        if !wait_exit(engine, &r.id, timeout) {
            let _ = runtime::kill(&r.runtime_root, &r.id, Signal::SIGKILL, true);
            if !wait_exit(engine, &r.id, Duration::from_secs(10)) {
                return Err(Error::State {
                    name: r.name,
                    msg: "still running 10s after SIGKILL".into(),
                });
            }
        }
    }
    teardown::wait_finished(engine, &r.id, FINISH_TIMEOUT)
}

/// Removes container `input`. A running one is refused unless `force` (then it is killed);
/// with `volumes`, its anonymous volumes go too.
pub fn remove(engine: &Engine, input: &str, force: bool, volumes: bool) -> Result<()> {
    let _ = teardown::reconcile(engine);
    let r = engine.find(input)?;
    if teardown::is_live(engine, &r.id)? {
        if !force {
            return Err(Error::State {
                name: r.name,
                msg: "is running: stop it first, or remove it with rm -f".into(),
            });
        }
        stop(engine, &r.id, Some(0))?;
    }
    teardown::remove(engine, &r.id, volumes || r.auto_remove)
}
