//! `linux.resources.devices` on the v1 `devices` controller.

use std::path::Path;

use crate::common::write_field;
use crate::devices::DeviceRule;
use crate::error::Result;

/// The (file, line) writes for `rules`: deny everything first, then each
/// rule in order, as runc does.
pub(crate) fn writes(rules: &[DeviceRule]) -> Vec<(&'static str, String)> {
    let mut out = vec![("devices.deny", "a *:* rwm".to_string())];
    for r in rules {
        out.push((
            if r.allow {
                "devices.allow"
            } else {
                "devices.deny"
            },
            r.v1_line(),
        ));
    }
    out
}

/// Applies the rules to the cgroup `dir`.
pub(crate) fn apply(dir: &Path, rules: &[DeviceRule]) -> Result<()> {
    for (i, (file, line)) in writes(rules).into_iter().enumerate() {
        let field = match i {
            0 => "linux.resources.devices".to_string(),
            i => format!("linux.resources.devices[{}]", i - 1),
        };
        write_field(dir, file, &line, &field)?;
    }
    Ok(())
}
