//! `berth ps`: the container's processes, as `ps` shows them, or their pids as JSON.

use anyhow::Context;
use berth_runtime::Runtime;

pub fn run(rt: &Runtime, id: &str, format: &str, ps_args: &[String]) -> anyhow::Result<i32> {
    let pids = rt.load(id)?.pids()?;
    if format == "json" {
        println!("{}", serde_json::to_string(&pids)?);
        return Ok(0);
    }
    let args = if ps_args.is_empty() {
        &["-ef".to_string()][..]
    } else {
        ps_args
    };
    let out = std::process::Command::new("ps")
        .args(args)
        .output()
        .context("run ps")?;
    let text = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success(),
        "ps {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .context("ps output has no PID column")?;
    println!("{header}");
    for l in lines.filter(|l| {
        l.split_whitespace()
            .nth(col)
            .and_then(|p| p.parse().ok())
            .is_some_and(|p| pids.contains(&p))
    }) {
        println!("{l}");
    }
    Ok(0)
}
