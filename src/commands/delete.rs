//! `berth delete`.

use berth_runtime::container::Container;

use crate::cli::Global;
use crate::logging::Logger;

pub fn run(g: &Global, id: &str, force: bool, log: &Logger) -> anyhow::Result<i32> {
    let c = match Container::load_locked(&g.root, id) {
        Ok(c) => c,
        // runc: `delete --force` of a missing container succeeds.
        Err(berth_runtime::Error::NotExist(_)) if force => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    for w in c.delete(force)? {
        log.warn(&w);
    }
    Ok(0)
}
