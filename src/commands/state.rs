//! `berth state`.

use berth_runtime::container::Container;

use crate::cli::Global;

pub fn run(g: &Global, id: &str) -> anyhow::Result<i32> {
    let c = Container::load(&g.root, id)?;
    println!("{}", serde_json::to_string_pretty(&c.state_json())?);
    Ok(0)
}
