//! `berth events`: stats and oom events as JSON lines, in runc's shape and key order.

use std::io::Write;
use std::time::Duration;

use berth_runtime::{Event, Runtime};

#[derive(serde::Serialize)]
struct Line<'a, T: serde::Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<T>,
}

fn emit<T: serde::Serialize>(kind: &str, id: &str, data: Option<T>) -> bool {
    let mut out = std::io::stdout().lock();
    let line = serde_json::to_string(&Line { kind, id, data }).unwrap_or_default();
    writeln!(out, "{line}").and_then(|_| out.flush()).is_ok()
}

pub fn run(rt: &Runtime, id: &str, stats_only: bool, interval: Duration) -> anyhow::Result<i32> {
    let c = rt.load(id)?;
    if stats_only {
        emit("stats", id, Some(c.stats()?));
        return Ok(0);
    }
    for ev in c.events(interval)? {
        let ok = match ev? {
            Event::Stats(s) => emit("stats", id, Some(s)),
            Event::Oom => emit::<()>("oom", id, None),
        };
        if !ok {
            break;
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_in_runcs_key_order() {
        let l = serde_json::to_string(&Line {
            kind: "stats",
            id: "c",
            data: Some(1),
        })
        .unwrap();
        assert_eq!(l, r#"{"type":"stats","id":"c","data":1}"#);
        let l = serde_json::to_string(&Line::<()> {
            kind: "oom",
            id: "c",
            data: None,
        })
        .unwrap();
        assert_eq!(l, r#"{"type":"oom","id":"c"}"#);
    }
}
