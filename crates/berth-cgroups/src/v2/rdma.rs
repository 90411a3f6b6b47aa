//! `linux.resources.rdma` on the v2 `rdma` controller.

use std::collections::HashMap;
use std::path::Path;

use oci_spec::runtime::LinuxRdma;

use crate::common::write_field;
use crate::error::Result;
use crate::v1::rdma::max_line;

/// Writes one `rdma.max` line per device, in name order.
pub(crate) fn apply(dir: &Path, rdma: &HashMap<String, LinuxRdma>) -> Result<()> {
    let mut devices: Vec<_> = rdma.iter().collect();
    devices.sort_by(|a, b| a.0.cmp(b.0));
    for (dev, r) in devices {
        write_field(
            dir,
            "rdma.max",
            &max_line(dev, r)?,
            &format!("linux.resources.rdma.{dev}"),
        )?;
    }
    Ok(())
}
