//! `linux.resources.hugepageLimits` on the v2 `hugetlb` controller.

use std::path::Path;

use oci_spec::runtime::LinuxHugepageLimit;

use crate::common::{parse_flat_keyed, read_optional, read_u64_optional};
use crate::error::Result;
use crate::stats::{hugepage_sizes, HugetlbStats};

/// Writes `hugetlb.<size>.max` (and `.rsvd.max` where present).
pub(crate) fn apply(dir: &Path, limits: &[LinuxHugepageLimit]) -> Result<()> {
    crate::v1::hugetlb::write_limits(dir, limits, "max")
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
