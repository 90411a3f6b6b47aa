//! `berth list`.

use berth_runtime::container::Container;

use crate::cli::Global;

pub fn run(g: &Global, quiet: bool, format: &str) -> anyhow::Result<i32> {
    let mut rows = Vec::new();
    for id in berth_runtime::state::list(&g.root)? {
        if let Ok(c) = Container::load(&g.root, &id) {
            rows.push(c.state_json());
        }
    }
    if quiet {
        for r in &rows {
            println!("{}", r["id"].as_str().unwrap_or_default());
        }
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
                r["id"].as_str().unwrap_or_default(),
                r["pid"].to_string(),
                r["status"].as_str().unwrap_or_default(),
                r["bundle"].as_str().unwrap_or_default(),
                r["created"].as_str().unwrap_or_default(),
                r["owner"].as_str().unwrap_or_default(),
            );
        }
    }
    Ok(0)
}
