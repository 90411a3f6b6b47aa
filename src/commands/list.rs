//! `berth list`.

use berth_runtime::Runtime;

pub fn run(rt: &Runtime, quiet: bool, format: &str) -> anyhow::Result<i32> {
    let rows: Vec<_> = rt.list()?.iter().map(|c| c.state()).collect();
    if quiet {
        rows.iter().for_each(|r| println!("{}", r.id));
    } else if format == "json" {
        println!("{}", serde_json::to_string(&rows)?);
    } else {
        println!(
            "{:<12} {:<10} {:<10} {:<40} {:<30} OWNER",
            "ID", "PID", "STATUS", "BUNDLE", "CREATED"
        );
        for r in &rows {
            println!(
                "{:<12} {:<10} {:<10} {:<40} {:<30} {}",
                r.id,
                r.pid,
                r.status,
                r.bundle.display(),
                r.created,
                r.owner
            );
        }
    }
    Ok(0)
}
