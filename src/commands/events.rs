//! `berth events`: stats and oom events as JSON lines, in runc's shape.

use std::io::Write;
use std::time::Duration;

use berth_cgroups::{CgroupManager, OomEvent};
use berth_runtime::container::Container;

use crate::cli::Global;

/// Parses `5s`, `500ms`, `1m`, `2` (seconds).
pub fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| c.is_ascii_alphabetic())
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let n: f64 = num
        .parse()
        .map_err(|_| anyhow::anyhow!("--interval: invalid duration {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => anyhow::bail!("--interval: invalid unit in {s:?}"),
    };
    if secs <= 0.0 {
        anyhow::bail!("--interval must be positive");
    }
    Ok(Duration::from_secs_f64(secs))
}

pub fn run(g: &Global, id: &str, stats_only: bool, interval: &str) -> anyhow::Result<i32> {
    let interval = parse_duration(interval)?;
    let c = Container::load(&g.root, id)?;
    if c.status() == berth_runtime::state::Status::Stopped {
        anyhow::bail!("container not running");
    }
    let m = berth_runtime::cgroups::manager(&c.state.cgroups_path, id)?;
    let emit = |kind: &str, data: serde_json::Value| -> bool {
        // runc leaves `data` out of events that have none (oom).
        let line = if data.is_null() {
            serde_json::json!({ "type": kind, "id": id })
        } else {
            serde_json::json!({ "type": kind, "id": id, "data": data })
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}").and_then(|_| out.flush()).is_ok()
    };
    if stats_only {
        emit("stats", serde_json::to_value(m.stats()?)?);
        return Ok(0);
    }
    let mut watcher = m.oom_watcher()?;
    loop {
        match watcher.wait(Some(interval))? {
            OomEvent::Oom => {
                if !emit("oom", serde_json::Value::Null) {
                    return Ok(0);
                }
            }
            OomEvent::Timeout => {
                let Ok(s) = m.stats() else { return Ok(0) };
                if !emit("stats", serde_json::to_value(s)?) {
                    return Ok(0);
                }
            }
            OomEvent::CgroupGone => return Ok(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("fast").is_err());
    }
}
