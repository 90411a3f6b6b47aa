//! `linux.resources.blockIO` on the v2 `io` controller.

use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxThrottleDevice};

use crate::common::{parse_nested_keyed, read_optional, write_field};
use crate::error::{CgroupError, Result};
use crate::stats::{BlkioEntry, BlkioStats};

fn field(name: &str) -> String {
    format!("linux.resources.blockIO.{name}")
}

/// Converts a blkio weight (10..=1000) to `io.weight` (1..=10000) linearly,
/// as runc does; `io.bfq.weight` takes the blkio range unchanged.
pub fn blkio_weight_to_io_weight(w: u16) -> u64 {
    if w == 0 {
        return 0;
    }
    let w = u64::from(w.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

/// True if any blockIO field is set.
pub(crate) fn requested(b: &LinuxBlockIo) -> bool {
    crate::v1::blkio::requested(b)
}

/// Writes the block I/O settings into the cgroup `dir`. With BFQ active the
/// weights go to `io.bfq.weight`, else to `io.weight` (converted).
pub(crate) fn apply(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    let bfq = dir.join("io.bfq.weight").exists();
    let weight_file = |name: &str| -> Result<&'static str> {
        if bfq {
            Ok("io.bfq.weight")
        } else if dir.join("io.weight").exists() {
            Ok("io.weight")
        } else {
            Err(CgroupError::unsupported(
                field(name),
                "no io.weight or io.bfq.weight (no weight-based I/O scheduler)",
            ))
        }
    };
    if b.leaf_weight().is_some()
        || b.weight_device()
            .iter()
            .flatten()
            .any(|d| d.leaf_weight().is_some())
    {
        return Err(CgroupError::unsupported(
            field("leafWeight"),
            "not available on cgroup v2",
        ));
    }
    if let Some(w) = b.weight() {
        let f = weight_file("weight")?;
        let v = if bfq {
            w.to_string()
        } else {
            format!("default {}", blkio_weight_to_io_weight(w))
        };
        write_field(dir, f, &v, &field("weight"))?;
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        let name = format!("weightDevice[{i}]");
        if let Some(w) = d.weight() {
            let f = weight_file(&name)?;
            let v = if bfq {
                w.to_string()
            } else {
                blkio_weight_to_io_weight(w).to_string()
            };
            write_field(
                dir,
                f,
                &format!("{}:{} {v}", d.major(), d.minor()),
                &field(&name),
            )?;
        }
    }
    let throttles: [(&str, &Option<Vec<LinuxThrottleDevice>>, &str); 4] = [
        (
            "throttleReadBpsDevice",
            b.throttle_read_bps_device(),
            "rbps",
        ),
        (
            "throttleWriteBpsDevice",
            b.throttle_write_bps_device(),
            "wbps",
        ),
        (
            "throttleReadIOPSDevice",
            b.throttle_read_iops_device(),
            "riops",
        ),
        (
            "throttleWriteIOPSDevice",
            b.throttle_write_iops_device(),
            "wiops",
        ),
    ];
    for (name, devs, key) in throttles {
        for (i, d) in devs.iter().flatten().enumerate() {
            let line = io_max_line(d, key);
            write_field(dir, "io.max", &line, &field(&format!("{name}[{i}]")))?;
        }
    }
    Ok(())
}

/// One `io.max` line, e.g. `8:0 rbps=1048576`; rate 0 means no limit.
pub(crate) fn io_max_line(d: &LinuxThrottleDevice, key: &str) -> String {
    let rate = if d.rate() == 0 {
        "max".to_string()
    } else {
        d.rate().to_string()
    };
    format!("{}:{} {key}={rate}", d.major(), d.minor())
}

/// Reads `io.stat` into runc's blkio shape (Read/Write bytes and ops).
pub(crate) fn stats(dir: &Path) -> Result<BlkioStats> {
    let mut out = BlkioStats::default();
    for (dev, fields) in parse_nested_keyed(&read_optional(dir, "io.stat")?.unwrap_or_default()) {
        let Some((major, minor)) = dev.split_once(':') else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
            continue;
        };
        let entry = |op: &str, k: &str| BlkioEntry {
            major,
            minor,
            op: op.to_string(),
            value: fields.get(k).copied().unwrap_or(0),
        };
        out.io_service_bytes_recursive.push(entry("Read", "rbytes"));
        out.io_service_bytes_recursive
            .push(entry("Write", "wbytes"));
        out.io_serviced_recursive.push(entry("Read", "rios"));
        out.io_serviced_recursive.push(entry("Write", "wios"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blkio_weight_range_maps_onto_io_weight_range() {
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
        assert_eq!(blkio_weight_to_io_weight(500), 4950);
    }
}
