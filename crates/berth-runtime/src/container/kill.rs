//! `kill`: signals the init, or with `all` every process of the container.

use nix::sys::signal::Signal;

use super::{cgroup, Container};
use crate::state::{Status, Verb};
use crate::{Error, Result};

impl Container {
    /// Sends `sig` (`None`: signal 0, a liveness check) to the init, or with `all` to every
    /// process in the container's cgroup. `--all` of a stopped container succeeds (runc:
    /// containerd's shim calls it after the init exited).
    pub fn kill(&self, sig: Option<Signal>, all: bool) -> Result<()> {
        let status = self.check(if all { Verb::KillAll } else { Verb::Kill })?;
        if all {
            let m = cgroup::manager(&self.state)?;
            if let Some(s) = sig {
                if berth_cgroups::CgroupManager::exists(&m) {
                    berth_cgroups::CgroupManager::kill_all(&m, s)?;
                }
            }
            if status == Status::Stopped {
                return Ok(());
            }
        }
        let raw = sig.map_or(0, |s| s as i32);
        self.rt
            .step(|| format!("kill {}: signal {raw} (all: {all})", self.state.id));
        match self.signal_init(raw)? {
            true => Ok(()),
            // With --all the init may already be gone (and reaped by the shim): that is done.
            false if all => Ok(()),
            false => Err(Error::WrongState {
                verb: Verb::Kill,
                id: self.state.id.clone(),
                status: Status::Stopped,
            }),
        }
    }
}

/// Parses a signal as `kill` takes it: `KILL`, `SIGKILL`, `9`; `0` is `None` (a liveness
/// check, as runc accepts it).
pub fn parse_signal(s: &str) -> Result<Option<Signal>> {
    let bad = || Error::Invalid {
        what: "signal",
        msg: format!("{s:?} is not a signal"),
    };
    if let Ok(n) = s.parse::<i32>() {
        if n == 0 {
            return Ok(None);
        }
        return Signal::try_from(n).map(Some).map_err(|_| bad());
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse::<Signal>().map(Some).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(parse_signal("KILL").unwrap(), Some(Signal::SIGKILL));
        assert_eq!(parse_signal("sigterm").unwrap(), Some(Signal::SIGTERM));
        assert_eq!(parse_signal("9").unwrap(), Some(Signal::SIGKILL));
        assert_eq!(parse_signal("0").unwrap(), None);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("99").is_err());
    }
}
