//! `berth kill`.

use berth_runtime::container::{parse_signal, Container};

use crate::cli::Global;

pub fn run(g: &Global, id: &str, signal: &str, all: bool) -> anyhow::Result<i32> {
    let sig = parse_signal(signal)?;
    let c = Container::load(&g.root, id)?;
    c.kill(sig, all)?;
    Ok(0)
}
