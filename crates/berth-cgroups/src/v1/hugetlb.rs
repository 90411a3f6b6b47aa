//! `linux.resources.hugepageLimits` on the v1 `hugetlb` controller.

use std::path::Path;

use oci_spec::runtime::LinuxHugepageLimit;

use crate::common::{read_u64_optional, write_field};
use crate::error::{CgroupError, Result};
use crate::stats::{hugepage_sizes, HugetlbStats};

/// Writes `hugetlb.<size>.limit_in_bytes` (and the reservation limit where
/// the kernel has it) for each entry.
pub(crate) fn apply(dir: &Path, limits: &[LinuxHugepageLimit]) -> Result<()> {
    write_limits(dir, limits, "limit_in_bytes")
}

/// Writes `hugetlb.<size>.<suffix>` and `hugetlb.<size>.rsvd.<suffix>` (where present) for
/// each entry: v1 names the limit `limit_in_bytes`, v2 `max`.
pub(crate) fn write_limits(dir: &Path, limits: &[LinuxHugepageLimit], suffix: &str) -> Result<()> {
    for (i, l) in limits.iter().enumerate() {
        let field = format!("linux.resources.hugepageLimits[{i}]");
        let size = l.page_size();
        let file = format!("hugetlb.{size}.{suffix}");
        if !dir.join(&file).exists() {
            return Err(CgroupError::unsupported(
                field,
                format!("page size `{size}` is not supported (no {file})"),
            ));
        }
        write_field(dir, &file, &l.limit().to_string(), &field)?;
        let rsvd = format!("hugetlb.{size}.rsvd.{suffix}");
        if dir.join(&rsvd).exists() {
            write_field(dir, &rsvd, &l.limit().to_string(), &field)?;
        }
    }
    Ok(())
}

/// Reads usage per page size.
pub(crate) fn stats(dir: &Path) -> Result<Vec<(String, HugetlbStats)>> {
    let mut out = Vec::new();
    for size in hugepage_sizes() {
        let g = |f: &str| read_u64_optional(dir, &format!("hugetlb.{size}.{f}"));
        let Some(usage) = g("usage_in_bytes")? else {
            continue;
        };
        let st = HugetlbStats {
            usage,
            max: g("max_usage_in_bytes")?.unwrap_or(0),
            failcnt: g("failcnt")?.unwrap_or(0),
        };
        out.push((size, st));
    }
    Ok(out)
}
