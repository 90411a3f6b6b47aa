//! `berth start`.

use berth_runtime::container::Container;

use crate::cli::Global;
use crate::logging::Logger;

pub fn run(g: &Global, id: &str, log: &Logger) -> anyhow::Result<i32> {
    let c = Container::load_locked(&g.root, id)?;
    for w in c.start()? {
        log.warn(&w);
    }
    Ok(0)
}
