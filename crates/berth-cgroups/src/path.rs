//! `linux.cgroupsPath`: which cgroup a container lives in.

use std::path::{Component, Path, PathBuf};

use crate::error::{CgroupError, Result};

/// Where a container's cgroup is, decoded from `linux.cgroupsPath`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupsPath {
    /// A cgroupfs path, relative to the cgroup mount root (no leading `/`).
    Fs(PathBuf),
    /// runc's systemd form `slice:prefix:name`.
    Systemd {
        /// The parent slice, e.g. `system.slice`; empty for the default.
        slice: String,
        /// The unit name prefix, e.g. `docker`.
        prefix: String,
        /// The unit name, usually the container id.
        name: String,
    },
}

/// The path used when the spec gives none: `/berth/<id>`.
pub fn default_cgroups_path(container_id: &str) -> String {
    format!("/berth/{container_id}")
}

impl CgroupsPath {
    /// Decodes `linux.cgroupsPath`. An empty value means
    /// [`default_cgroups_path`], or with `systemd` the scope
    /// `berth-<id>.scope` in the instance's default slice (as runc names
    /// its own `runc-<id>.scope`). With `systemd` false (the cgroupfs driver)
    /// the value must be a path; an absolute one is taken relative to the
    /// mount root, and so is a relative one (berth has no per-runtime base).
    /// `..` and the root cgroup itself are refused.
    pub fn parse(value: &str, container_id: &str, systemd: bool) -> Result<CgroupsPath> {
        let bad = |reason: &str| CgroupError::InvalidPath {
            path: value.to_string(),
            reason: reason.to_string(),
        };
        if systemd {
            if value.is_empty() {
                return Ok(CgroupsPath::Systemd {
                    slice: String::new(),
                    prefix: crate::systemd::DEFAULT_PREFIX.to_string(),
                    name: container_id.to_string(),
                });
            }
            let parts: Vec<&str> = value.split(':').collect();
            return match parts.as_slice() {
                [slice, prefix, name] => Ok(CgroupsPath::Systemd {
                    slice: slice.to_string(),
                    prefix: prefix.to_string(),
                    name: name.to_string(),
                }),
                _ => Err(bad("the systemd driver expects `slice:prefix:name`")),
            };
        }
        let default;
        let value_or_default = if value.is_empty() {
            default = default_cgroups_path(container_id);
            &default
        } else {
            value
        };
        if !value_or_default.starts_with('/') && value_or_default.split(':').count() == 3 {
            return Err(bad(
                "this is the systemd `slice:prefix:name` form, but the cgroupfs driver is in use",
            ));
        }
        let mut rel = PathBuf::new();
        for c in Path::new(value_or_default).components() {
            match c {
                Component::RootDir | Component::CurDir => {}
                Component::Normal(n) => rel.push(n),
                Component::ParentDir => return Err(bad("`..` is not allowed")),
                Component::Prefix(_) => return Err(bad("not a Linux path")),
            }
        }
        if rel.as_os_str().is_empty() {
            return Err(bad("the root cgroup cannot be a container's cgroup"));
        }
        Ok(CgroupsPath::Fs(rel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fs(p: &str) -> CgroupsPath {
        CgroupsPath::Fs(PathBuf::from(p))
    }

    #[test]
    fn absolute_path_is_relative_to_mount_root() {
        assert_eq!(
            CgroupsPath::parse("/berth/abc", "abc", false).unwrap(),
            fs("berth/abc")
        );
        assert_eq!(
            CgroupsPath::parse("/a//./b/", "x", false).unwrap(),
            fs("a/b")
        );
    }

    #[test]
    fn empty_means_default() {
        assert_eq!(CgroupsPath::parse("", "c1", false).unwrap(), fs("berth/c1"));
    }

    #[test]
    fn relative_path_is_accepted() {
        assert_eq!(
            CgroupsPath::parse("pod/c1", "c1", false).unwrap(),
            fs("pod/c1")
        );
    }

    #[test]
    fn dotdot_and_root_are_refused() {
        assert!(CgroupsPath::parse("/a/../../etc", "x", false).is_err());
        assert!(CgroupsPath::parse("/", "x", false).is_err());
    }

    #[test]
    fn systemd_form_with_cgroupfs_gives_clear_error() {
        let e = CgroupsPath::parse("system.slice:docker:abc", "abc", false).unwrap_err();
        assert!(e.to_string().contains("systemd"), "{e}");
    }

    #[test]
    fn systemd_form_parses_with_systemd_driver() {
        let p = CgroupsPath::parse("system.slice:berth:abc", "abc", true).unwrap();
        assert_eq!(
            p,
            CgroupsPath::Systemd {
                slice: "system.slice".into(),
                prefix: "berth".into(),
                name: "abc".into()
            }
        );
        assert!(CgroupsPath::parse("/berth/abc", "abc", true).is_err());
    }

    #[test]
    fn systemd_default_is_a_berth_scope() {
        assert_eq!(
            CgroupsPath::parse("", "c1", true).unwrap(),
            CgroupsPath::Systemd {
                slice: String::new(),
                prefix: "berth".into(),
                name: "c1".into()
            }
        );
    }
}
