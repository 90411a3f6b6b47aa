//! `ps`: the containers of the store, with what docker shows of them.

use serde_json::{json, Value};

use crate::record::{now_unix, Record, State};
use crate::{teardown, Engine, Result};

/// A duration as docker words it ("5 seconds", "About a minute", "3 hours").
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        120..=3599 => format!("{} minutes", s / 60),
        3600..=7199 => "About an hour".into(),
        7200..=172_799 => format!("{} hours", s / 3600),
        _ => format!("{} days", s / 86400),
    }
}

/// The STATUS column: `Up 5 seconds`, `Exited (0) 3 minutes ago`, `Created`.
pub fn status_text(r: &Record, live: bool, now: i64) -> String {
    match r.state {
        State::Creating => "Created".into(),
        State::Running if live => {
            let up = human_duration(now - r.started_unix.unwrap_or(now));
            if r.monitor.is_some_and(|m| m.alive()) {
                format!("Up {up}")
            } else {
                format!("Up {up} (no monitor)")
            }
        }
        _ => {
            let code = r
                .exit_code
                .map_or_else(|| "unknown".to_string(), |c| c.to_string());
            let oom = if r.oom_killed { ", OOM killed" } else { "" };
            let when = r
                .finished_unix
                .map(|f| format!(" {} ago", human_duration(now - f)))
                .unwrap_or_default();
            format!("Exited ({code}{oom}){when}")
        }
    }
}

/// One container as `ps` shows it.
#[derive(Debug, Clone)]
pub struct Row {
    pub record: Record,
    pub live: bool,
    pub status: String,
}

impl Row {
    /// The row as JSON (`ps --format json`).
    pub fn json(&self) -> Value {
        let r = &self.record;
        json!({
            "Id": r.id,
            "Name": r.name,
            "Image": r.image,
            "ImageDigest": r.image_digest,
            "Command": r.command,
            "Created": r.created,
            "State": if self.live { "running" } else if r.state == State::Creating { "created" } else { "exited" },
            "Status": self.status,
            "ExitCode": r.exit_code,
            "OOMKilled": r.oom_killed,
            "Pid": if self.live { r.pid } else { None },
            "Network": r.network.mode,
            "IPAddress": r.network.ip,
            "Ports": r.network.ports,
            "Mounts": r.mounts,
            "AutoRemove": r.auto_remove,
        })
    }
}

/// The containers, newest first; without `all`, only the running ones. Records of dead
/// monitors are reconciled first.
pub fn list(engine: &Engine, all: bool) -> Result<Vec<Row>> {
    let _ = teardown::reconcile(engine);
    let now = now_unix();
    let mut rows = Vec::new();
    for r in engine.records()? {
        let live = teardown::is_live(engine, &r.id)?;
        if !all && !live {
            continue;
        }
        let status = status_text(&r, live, now);
        rows.push(Row {
            record: r,
            live,
            status,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_statuses() {
        assert_eq!(human_duration(5), "5 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(7300), "2 hours");
        let mut r = crate::record::tests::sample("x", "n");
        r.state = State::Exited;
        r.exit_code = Some(137);
        r.oom_killed = true;
        r.finished_unix = Some(100);
        assert_eq!(
            status_text(&r, false, 103),
            "Exited (137, OOM killed) 3 seconds ago"
        );
        r.state = State::Running;
        r.started_unix = Some(100);
        r.monitor = Some(crate::record::Owner::me());
        assert_eq!(status_text(&r, true, 110), "Up 10 seconds");
    }
}
