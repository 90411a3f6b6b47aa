//! `linux.resources.blockIO` on the v1 `blkio` controller.

use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxThrottleDevice};

use crate::common::{read_optional, write_field};
use crate::error::{CgroupError, Result};
use crate::stats::{BlkioEntry, BlkioStats};

fn field(name: &str) -> String {
    format!("linux.resources.blockIO.{name}")
}

/// True if any blockIO field is set.
pub(crate) fn requested(b: &LinuxBlockIo) -> bool {
    b.weight().is_some()
        || b.leaf_weight().is_some()
        || b.weight_device().is_some()
        || b.throttle_read_bps_device().is_some()
        || b.throttle_write_bps_device().is_some()
        || b.throttle_read_iops_device().is_some()
        || b.throttle_write_iops_device().is_some()
}

/// The weight file: CFQ's `blkio.weight`, else BFQ's `blkio.bfq.weight`.
fn pick<'a>(dir: &Path, cfq: &'a str, bfq: &'a str, name: &str) -> Result<&'a str> {
    if dir.join(cfq).exists() {
        Ok(cfq)
    } else if dir.join(bfq).exists() {
        Ok(bfq)
    } else {
        Err(CgroupError::unsupported(
            field(name),
            "no proportional-weight I/O scheduler (CFQ or BFQ) is available",
        ))
    }
}

/// Writes the block I/O settings into the cgroup `dir`.
pub(crate) fn apply(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    if let Some(w) = b.weight() {
        let f = pick(dir, "blkio.weight", "blkio.bfq.weight", "weight")?;
        write_field(dir, f, &w.to_string(), &field("weight"))?;
    }
    if let Some(w) = b.leaf_weight() {
        if !dir.join("blkio.leaf_weight").exists() {
            return Err(CgroupError::unsupported(
                field("leafWeight"),
                "needs the CFQ scheduler (no blkio.leaf_weight)",
            ));
        }
        write_field(
            dir,
            "blkio.leaf_weight",
            &w.to_string(),
            &field("leafWeight"),
        )?;
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        let name = format!("weightDevice[{i}]");
        if let Some(w) = d.weight() {
            let f = pick(dir, "blkio.weight_device", "blkio.bfq.weight_device", &name)?;
            write_field(
                dir,
                f,
                &format!("{}:{} {w}", d.major(), d.minor()),
                &field(&name),
            )?;
        }
        if let Some(w) = d.leaf_weight() {
            if !dir.join("blkio.leaf_weight_device").exists() {
                return Err(CgroupError::unsupported(
                    field(&name),
                    "leafWeight needs the CFQ scheduler",
                ));
            }
            write_field(
                dir,
                "blkio.leaf_weight_device",
                &format!("{}:{} {w}", d.major(), d.minor()),
                &field(&name),
            )?;
        }
    }
    let throttles: [(&str, &Option<Vec<LinuxThrottleDevice>>, &str); 4] = [
        (
            "throttleReadBpsDevice",
            b.throttle_read_bps_device(),
            "blkio.throttle.read_bps_device",
        ),
        (
            "throttleWriteBpsDevice",
            b.throttle_write_bps_device(),
            "blkio.throttle.write_bps_device",
        ),
        (
            "throttleReadIOPSDevice",
            b.throttle_read_iops_device(),
            "blkio.throttle.read_iops_device",
        ),
        (
            "throttleWriteIOPSDevice",
            b.throttle_write_iops_device(),
            "blkio.throttle.write_iops_device",
        ),
    ];
    for (name, devs, file) in throttles {
        for (i, d) in devs.iter().flatten().enumerate() {
            let line = format!("{}:{} {}", d.major(), d.minor(), d.rate());
            write_field(dir, file, &line, &field(&format!("{name}[{i}]")))?;
        }
    }
    Ok(())
}

/// Parses a v1 blkio counter file ("8:0 Read 4096" lines, "Total N" last).
pub(crate) fn parse_entries(s: &str) -> Vec<BlkioEntry> {
    s.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let [dev, op, value] = f.as_slice() else {
                return None;
            };
            let (major, minor) = dev.split_once(':')?;
            Some(BlkioEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op: op.to_string(),
                value: value.parse().ok()?,
            })
        })
        .collect()
}

/// Reads the recursive byte and operation counters, from the first of the
/// CFQ, BFQ and throttling files that has data (as runc does).
pub(crate) fn stats(dir: &Path) -> Result<BlkioStats> {
    let mut out = BlkioStats::default();
    for prefix in ["blkio.", "blkio.bfq.", "blkio.throttle."] {
        let bytes = read_optional(dir, &format!("{prefix}io_service_bytes_recursive"))?;
        let ops = read_optional(dir, &format!("{prefix}io_serviced_recursive"))?;
        let bytes = parse_entries(&bytes.unwrap_or_default());
        if !bytes.is_empty() {
            out.io_service_bytes_recursive = bytes;
            out.io_serviced_recursive = parse_entries(&ops.unwrap_or_default());
            break;
        }
    }
    Ok(out)
}
