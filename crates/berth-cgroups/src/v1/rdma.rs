//! `linux.resources.rdma` on the v1 `rdma` controller.

use std::collections::HashMap;
use std::path::Path;

use oci_spec::runtime::LinuxRdma;

use crate::common::write_field;
use crate::error::{CgroupError, Result};

/// The `rdma.max` line for one device (same format on v1 and v2).
fn max_line(device: &str, r: &LinuxRdma) -> Result<String> {
    if r.hca_handles().is_none() && r.hca_objects().is_none() {
        return Err(CgroupError::invalid(
            format!("linux.resources.rdma.{device}"),
            "set hcaHandles or hcaObjects",
        ));
    }
    let mut line = device.to_string();
    if let Some(h) = r.hca_handles() {
        line.push_str(&format!(" hca_handle={h}"));
    }
    if let Some(o) = r.hca_objects() {
        line.push_str(&format!(" hca_object={o}"));
    }
    Ok(line)
}

/// Writes one `rdma.max` line per device, in name order (same file on v1 and v2).
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
