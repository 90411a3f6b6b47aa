//! `berth events`: stats and oom events as JSON lines, in runc's shape.

use std::io::Write;
use std::time::Duration;

use berth_runtime::{Event, Runtime};

pub fn run(rt: &Runtime, id: &str, stats_only: bool, interval: Duration) -> anyhow::Result<i32> {
    let c = rt.load(id)?;
    let mut out = std::io::stdout().lock();
    if stats_only {
        writeln!(
            out,
            "{}",
            Event::Stats(Box::new(c.stats()?)).to_json_line(id)
        )?;
        return Ok(0);
    }
    for ev in c.events(interval)? {
        // A reader that went away ends the stream.
        if writeln!(out, "{}", ev?.to_json_line(id))
            .and_then(|()| out.flush())
            .is_err()
        {
            break;
        }
    }
    Ok(0)
}
