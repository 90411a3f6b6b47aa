//! `linux.resources.unified`: raw v2 files, written last so they win.

use std::collections::HashMap;
use std::path::Path;

use crate::common::{read_file, write_field};
use crate::error::{CgroupError, Result};

/// Checks that `key` names a file directly in the cgroup directory.
pub fn validate_key(key: &str) -> Result<()> {
    let field = format!("linux.resources.unified.{key}");
    if key.is_empty() || key.contains('/') || key == "." || key == ".." || key.contains('\0') {
        return Err(CgroupError::invalid(
            field,
            "must be a file name in the cgroup directory",
        ));
    }
    if key.starts_with("cgroup.")
        && !matches!(
            key,
            "cgroup.freeze" | "cgroup.max.depth" | "cgroup.max.descendants"
        )
    {
        return Err(CgroupError::invalid(
            field,
            "cgroup core files other than limits are managed by the runtime",
        ));
    }
    Ok(())
}

/// Writes each entry, in key order, after checking its file exists (or
/// naming the controller that is missing).
pub(crate) fn apply(dir: &Path, unified: &HashMap<String, String>) -> Result<()> {
    let mut entries: Vec<_> = unified.iter().collect();
    entries.sort();
    for (key, value) in entries {
        validate_key(key)?;
        let field = format!("linux.resources.unified.{key}");
        if !dir.join(key).exists() {
            let controller = key.split('.').next().unwrap_or(key);
            let available = read_file(dir, "cgroup.controllers").unwrap_or_default();
            let reason = if available.split_whitespace().any(|c| c == controller) {
                format!("no such file `{key}` in the cgroup")
            } else {
                format!(
                    "controller `{controller}` is not available (have: {})",
                    available.trim()
                )
            };
            return Err(CgroupError::unsupported(field, reason));
        }
        write_field(dir, key, value, &field)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_must_be_plain_file_names() {
        assert!(validate_key("memory.max").is_ok());
        assert!(validate_key("io.max").is_ok());
        for bad in [
            "",
            ".",
            "..",
            "../memory.max",
            "sub/memory.max",
            "/etc/passwd",
            "cgroup.procs",
            "cgroup.subtree_control",
        ] {
            assert!(validate_key(bad).is_err(), "{bad:?} accepted");
        }
    }
}
