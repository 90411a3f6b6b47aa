//! `events`: resource statistics at an interval, and OOM kills as they happen.

use std::time::Duration;

use berth_cgroups::{CgroupManager, Manager, OomEvent, OomWatcher, Stats};

use super::{cgroup, Container};
use crate::state::Verb;
use crate::Result;

/// One event of a container.
#[derive(Debug, Clone)]
pub enum Event {
    Stats(Box<Stats>),
    Oom,
}

impl Event {
    /// The event as runc's `events` prints it: `{"type":"stats","id":…,"data":…}`, or
    /// `{"type":"oom","id":…}` (the key order is what line-oriented scripts match).
    pub fn to_json_line(&self, id: &str) -> String {
        #[derive(serde::Serialize)]
        struct Line<'a> {
            #[serde(rename = "type")]
            kind: &'a str,
            id: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            data: Option<&'a Stats>,
        }
        let (kind, data) = match self {
            Event::Stats(s) => ("stats", Some(&**s)),
            Event::Oom => ("oom", None),
        };
        serde_json::to_string(&Line { kind, id, data }).unwrap_or_default()
    }
}

/// The events of a container, until its cgroup goes away.
pub struct Events {
    manager: Manager,
    watcher: OomWatcher,
    interval: Duration,
}

impl Container {
    /// Resource usage now.
    pub fn stats(&self) -> Result<Stats> {
        self.check(Verb::Events)?;
        Ok(cgroup::manager(&self.state)?.stats()?)
    }

    /// How many processes of the container the OOM killer has killed.
    pub fn oom_kill_count(&self) -> Result<u64> {
        Ok(cgroup::manager(&self.state)?.oom_kill_count()?)
    }

    /// A watcher of the container's OOM kills (for a caller that polls many containers).
    pub fn oom_watcher(&self) -> Result<OomWatcher> {
        self.check(Verb::Events)?;
        Ok(cgroup::manager(&self.state)?.oom_watcher()?)
    }

    /// OOM kills as they happen, and statistics every `interval`.
    pub fn events(&self, interval: Duration) -> Result<Events> {
        self.check(Verb::Events)?;
        let manager = cgroup::manager(&self.state)?;
        let watcher = manager.oom_watcher()?;
        Ok(Events {
            manager,
            watcher,
            interval,
        })
    }
}

impl Iterator for Events {
    type Item = Result<Event>;

    fn next(&mut self) -> Option<Result<Event>> {
        match self.watcher.wait(Some(self.interval)) {
            Ok(OomEvent::Oom) => Some(Ok(Event::Oom)),
            Ok(OomEvent::Timeout) => self
                .manager
                .stats()
                .ok()
                .map(|s| Ok(Event::Stats(Box::new(s)))),
            Ok(OomEvent::CgroupGone) => None,
            Err(e) => Some(Err(e.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_in_runcs_key_order() {
        assert_eq!(Event::Oom.to_json_line("c"), r#"{"type":"oom","id":"c"}"#);
        let line = Event::Stats(Box::default()).to_json_line("c");
        assert!(
            line.starts_with(r#"{"type":"stats","id":"c","data":{"#),
            "{line}"
        );
    }
}
