//! `berth kill`.

use berth_runtime::container::{parse_signal, Container};

use crate::cli::Global;

pub fn run(g: &Global, id: &str, signal: &str, all: bool) -> anyhow::Result<i32> {
    let c = Container::load(&g.root, id)?;
    // Signal 0 only asks whether the container is alive.
    if signal == "0" || signal.eq_ignore_ascii_case("SIG0") {
        if c.status() == berth_runtime::state::Status::Stopped {
            anyhow::bail!("container not running");
        }
        return Ok(0);
    }
    let sig = parse_signal(signal)?;
    c.kill(sig, all)?;
    Ok(0)
}
