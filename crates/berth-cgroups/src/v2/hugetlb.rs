//! `linux.resources.hugepageLimits` on the v2 `hugetlb` controller.

use std::path::Path;

use oci_spec::runtime::LinuxHugepageLimit;

use crate::common::{parse_flat_keyed, read_optional, read_u64_optional, write_field};
use crate::error::{CgroupError, Result};
use crate::stats::{hugepage_sizes, HugetlbStats};

/// Writes `hugetlb.<size>.max` (and `.rsvd.max` where present).
pub(crate) fn apply(dir: &Path, limits: &[LinuxHugepageLimit]) -> Result<()> {
    for (i, l) in limits.iter().enumerate() {
        let field = format!("linux.resources.hugepageLimits[{i}]");
        let size = l.page_size();
        let file = format!("hugetlb.{size}.max");
        if !dir.join(&file).exists() {
            return Err(CgroupError::unsupported(
                field,
                format!("page size `{size}` is not supported (no {file})"),
            ));
        }
        write_field(dir, &file, &l.limit().to_string(), &field)?;
        let rsvd = format!("hugetlb.{size}.rsvd.max");
        if dir.join(&rsvd).exists() {
            write_field(dir, &rsvd, &l.limit().to_string(), &field)?;
        }
    }
    Ok(())
}

/// Reads usage per page size; failcnt is the `max` count of `.events`.
pub(crate) fn stats(dir: &Path) -> Result<Vec<(String, HugetlbStats)>> {
    let mut out = Vec::new();
    for size in hugepage_sizes() {
        let Some(usage) = read_u64_optional(dir, &format!("hugetlb.{size}.current"))? else {
            continue;
        };
        let events = read_optional(dir, &format!("hugetlb.{size}.events"))?.unwrap_or_default();
        let failcnt = parse_flat_keyed(&events).get("max").copied().unwrap_or(0);
        out.push((
            size,
            HugetlbStats {
                usage,
                max: 0,
                failcnt,
            },
        ));
    }
    Ok(out)
}
