//! Unit names and cgroup paths: `slice:prefix:name` is the transient scope
//! `prefix-name.scope` in `slice`, and its cgroup is the slice's nested path
//! plus the scope (`a-b.slice` lives in `a.slice/a-b.slice`).

use std::path::PathBuf;

use crate::error::{CgroupError, Result};

/// Which systemd instance manages the container's scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instance {
    /// PID 1, on the system bus.
    System,
    /// The user's `systemd --user` (`user@UID.service`), on the session
    /// bus: what a non-root caller can use (rootless containers).
    User,
}

impl Instance {
    /// The system instance for root, the user instance for anyone else (as
    /// runc decides for `--systemd-cgroup`).
    pub fn for_caller() -> Instance {
        if nix::unistd::geteuid().is_root() {
            Instance::System
        } else {
            Instance::User
        }
    }

    /// The slice used when `linux.cgroupsPath` names none.
    pub fn default_slice(self) -> &'static str {
        match self {
            Instance::System => "system.slice",
            Instance::User => "user.slice",
        }
    }

    /// `system` or `user`, for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Instance::System => "system",
            Instance::User => "user",
        }
    }
}

/// The unit name prefix when `linux.cgroupsPath` is empty (runc uses `runc`).
pub const DEFAULT_PREFIX: &str = "berth";

/// A container's scope: its unit name, its slice and its cgroup path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The parent slice unit, e.g. `system.slice`.
    pub slice: String,
    /// The scope unit, e.g. `berth-web.scope`.
    pub unit: String,
    /// The container's name part, for the unit's description.
    pub name: String,
    /// The slice's cgroup path below the instance's root, e.g.
    /// `kubepods.slice/kubepods-burstable.slice`.
    slice_dir: PathBuf,
}

impl Scope {
    /// Validates the three parts of `slice:prefix:name` (`raw` is the whole
    /// value, for messages). An empty slice means the instance's default.
    pub fn new(
        raw: &str,
        slice: &str,
        prefix: &str,
        name: &str,
        instance: Instance,
    ) -> Result<Scope> {
        let bad = |reason: String| CgroupError::InvalidPath {
            path: raw.to_string(),
            reason,
        };
        let slice = if slice.is_empty() {
            instance.default_slice()
        } else {
            slice
        };
        let slice_dir = expand_slice(slice).map_err(bad)?;
        if name.is_empty() {
            return Err(bad("the name part of `slice:prefix:name` is empty".into()));
        }
        if name.ends_with(".slice") {
            return Err(bad(format!(
                "`{name}` is a slice; a container needs a scope (give a name without `.slice`)"
            )));
        }
        let unit = format!("{prefix}-{name}.scope");
        if let Some(c) = unit.chars().find(|&c| !valid_unit_char(c)) {
            return Err(bad(format!(
                "`{c}` is not allowed in the unit name `{unit}` (letters, digits, `:-_.\\` only)"
            )));
        }
        if unit.len() > UNIT_NAME_MAX {
            return Err(bad(format!(
                "the unit name `{unit}` is longer than {UNIT_NAME_MAX} bytes"
            )));
        }
        Ok(Scope {
            slice: slice.to_string(),
            unit,
            name: name.to_string(),
            slice_dir,
        })
    }

    /// The scope's cgroup relative to the instance's root (the mount root
    /// for the system instance, the user manager's cgroup for the user one).
    pub fn rel(&self) -> PathBuf {
        self.slice_dir.join(&self.unit)
    }
}

/// systemd's limit on unit names (`UNIT_NAME_MAX` less the NUL).
const UNIT_NAME_MAX: usize = 255;

/// Characters systemd accepts in a plain (non-template) unit name.
fn valid_unit_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || ":-_.\\".contains(c)
}

/// The cgroup path of a slice: `a-b-c.slice` is nested as
/// `a.slice/a-b.slice/a-b-c.slice`; `-.slice` is the root.
pub fn expand_slice(slice: &str) -> std::result::Result<PathBuf, String> {
    let invalid = |why: &str| format!("invalid slice name `{slice}`: {why}");
    let Some(stem) = slice.strip_suffix(".slice") else {
        return Err(invalid("a slice name ends with `.slice`"));
    };
    if stem.is_empty() {
        return Err(invalid("the name before `.slice` is empty"));
    }
    if let Some(c) = slice.chars().find(|&c| !valid_unit_char(c)) {
        return Err(invalid(&format!("`{c}` is not allowed")));
    }
    if stem == "-" {
        return Ok(PathBuf::new());
    }
    let mut path = PathBuf::new();
    let mut prefix = String::new();
    for part in stem.split('-') {
        if part.is_empty() {
            return Err(invalid("`-` must separate non-empty parts"));
        }
        prefix.push_str(part);
        path.push(format!("{prefix}.slice"));
        prefix.push('-');
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_slices_expand() {
        assert_eq!(
            expand_slice("system.slice").unwrap(),
            PathBuf::from("system.slice")
        );
        assert_eq!(
            expand_slice("a-b-c.slice").unwrap(),
            PathBuf::from("a.slice/a-b.slice/a-b-c.slice")
        );
        assert_eq!(
            expand_slice("kubepods-besteffort-pod1_2.slice").unwrap(),
            PathBuf::from(
                "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1_2.slice"
            )
        );
        assert_eq!(expand_slice("-.slice").unwrap(), PathBuf::new());
    }

    #[test]
    fn bad_slices_are_refused() {
        for s in [
            "system",
            ".slice",
            "a--b.slice",
            "-a.slice",
            "a-.slice",
            "a/b.slice",
            "a b.slice",
        ] {
            assert!(expand_slice(s).is_err(), "{s}");
        }
    }

    #[test]
    fn scope_name_and_path() {
        let s = Scope::new(
            "a-b.slice:docker:c1",
            "a-b.slice",
            "docker",
            "c1",
            Instance::System,
        )
        .unwrap();
        assert_eq!(s.unit, "docker-c1.scope");
        assert_eq!(s.slice, "a-b.slice");
        assert_eq!(s.rel(), PathBuf::from("a.slice/a-b.slice/docker-c1.scope"));
    }

    #[test]
    fn empty_slice_is_the_instance_default() {
        let s = Scope::new(":berth:c1", "", "berth", "c1", Instance::System).unwrap();
        assert_eq!(s.rel(), PathBuf::from("system.slice/berth-c1.scope"));
        let u = Scope::new(":berth:c1", "", "berth", "c1", Instance::User).unwrap();
        assert_eq!(u.slice, "user.slice");
        assert_eq!(u.rel(), PathBuf::from("user.slice/berth-c1.scope"));
    }

    #[test]
    fn bad_names_name_the_path() {
        let e = Scope::new(
            "system.slice:x:a/b",
            "system.slice",
            "x",
            "a/b",
            Instance::System,
        )
        .unwrap_err();
        assert!(e.to_string().contains("system.slice:x:a/b"), "{e}");
        assert!(e.to_string().contains('/'), "{e}");
        assert!(Scope::new("s.slice:x:", "s.slice", "x", "", Instance::System).is_err());
        assert!(Scope::new("s:x:y", "s", "x", "y", Instance::System).is_err());
        let e = Scope::new(
            "s.slice:x:p.slice",
            "s.slice",
            "x",
            "p.slice",
            Instance::System,
        )
        .unwrap_err();
        assert!(e.to_string().contains("scope"), "{e}");
        let long = "n".repeat(300);
        assert!(Scope::new("x", "s.slice", "p", &long, Instance::System).is_err());
    }
}
