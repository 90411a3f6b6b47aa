//! `linux.resources.devices` on the v1 `devices` controller.

use std::path::Path;

use crate::common::write_field;
use crate::devices::{effective, DeviceKind, DeviceRule};
use crate::error::Result;

/// The (file, line) writes for `rules`: one per rule of their
/// [`effective`] form, which starts with the catch-all (`a`, usually a
/// deny). The kernel reads any line starting with `a` as "every device,
/// every access", so an `a` rule limited to a number or an access is
/// written as its `c` and `b` halves.
pub(crate) fn writes(rules: &[DeviceRule]) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for r in effective(rules) {
        let file = if r.allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        if r.is_everything() {
            out.push((file, "a".to_string()));
        } else if r.kind == DeviceKind::All {
            for kind in [DeviceKind::Char, DeviceKind::Block] {
                out.push((file, DeviceRule { kind, ..r }.v1_line()));
            }
        } else {
            out.push((file, r.v1_line()));
        }
    }
    out
}

/// Applies the rules to the cgroup `dir`.
pub(crate) fn apply(dir: &Path, rules: &[DeviceRule]) -> Result<()> {
    for (file, line) in writes(rules) {
        write_field(
            dir,
            file,
            &line,
            &format!("linux.resources.devices (`{line}`)"),
        )?;
    }
    Ok(())
}
