//! `linux.resources.network.classID` on the v1 `net_cls` controller.

use std::path::Path;

use crate::common::write_field;
use crate::error::Result;

/// Writes `net_cls.classid`.
pub(crate) fn apply(dir: &Path, class_id: u32) -> Result<()> {
    write_field(
        dir,
        "net_cls.classid",
        &class_id.to_string(),
        "linux.resources.network.classID",
    )
}
