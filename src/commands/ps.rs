//! `berth ps`: the container's processes (host pids).

use berth_runtime::container::Container;

use crate::cli::Global;

pub fn run(g: &Global, id: &str, format: &str, ps_args: &[String]) -> anyhow::Result<i32> {
    let c = Container::load(&g.root, id)?;
    let pids = berth_runtime::cgroups::pids(&c.state)?;
    if format == "json" {
        println!("{}", serde_json::to_string(&pids)?);
        return Ok(0);
    }
    let args: Vec<String> = if ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        ps_args.to_vec()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .map_err(|e| anyhow::anyhow!("run ps: {e}"))?;
    if !out.status.success() {
        anyhow::bail!(
            "ps {}: {}: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return Ok(0);
    };
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| anyhow::anyhow!("ps output has no PID column"))?;
    println!("{header}");
    for l in lines {
        if let Some(pid) = l
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok())
        {
            if pids.contains(&pid) {
                println!("{l}");
            }
        }
    }
    Ok(0)
}
