//! `linux.resources.network.priorities` on the v1 `net_prio` controller.

use std::path::Path;

use oci_spec::runtime::LinuxInterfacePriority;

use crate::common::write_field;
use crate::error::Result;

/// Writes one `net_prio.ifpriomap` line per interface.
pub(crate) fn apply(dir: &Path, prios: &[LinuxInterfacePriority]) -> Result<()> {
    for (i, p) in prios.iter().enumerate() {
        let line = format!("{} {}", p.name(), p.priority());
        write_field(
            dir,
            "net_prio.ifpriomap",
            &line,
            &format!("linux.resources.network.priorities[{i}]"),
        )?;
    }
    Ok(())
}
