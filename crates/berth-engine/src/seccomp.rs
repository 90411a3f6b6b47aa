//! The container's seccomp filter: Docker's default profile unless `--security-opt seccomp=`
//! says otherwise. Docker's profile is read from where Debian installs it (or from
//! `/etc/berth/seccomp.json`, to override it; podman's copy of it is the last fallback), and its
//! capability- and architecture-conditional rules are resolved for the container's capability
//! set by berth-seccomp, as Docker does when it writes config.json.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxSeccomp;

use crate::options::Seccomp;
use crate::{Error, Result};

/// Where the default profile is looked for, in order.
pub const DEFAULT_PROFILES: &[&str] = &[
    "/etc/berth/seccomp.json",
    // Debian's golang-github-docker-docker-dev: Docker's own default.json.
    "/usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json",
    // Debian's golang-github-containers-common: podman's profile, derived from Docker's.
    "/usr/share/containers/seccomp.json",
];

/// The default profile's path: the first of [`DEFAULT_PROFILES`] that exists.
pub fn default_profile() -> Result<PathBuf> {
    DEFAULT_PROFILES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| Error::Seccomp {
            path: PathBuf::from(DEFAULT_PROFILES[1]),
            reason: format!(
                "no default seccomp profile: looked for {}; install Debian's \
                 golang-github-docker-docker-dev, or run with --security-opt \
                 seccomp=unconfined|PROFILE",
                DEFAULT_PROFILES.join(", ")
            ),
        })
}

/// Loads a profile for a container with capabilities `caps`: an engine profile (Docker's
/// format, with `archMap` and conditional rules) is resolved; anything else must be an OCI
/// `linux.seccomp` object.
pub fn load(path: &Path, caps: &BTreeSet<String>) -> Result<LinuxSeccomp> {
    let err = |reason: String| Error::Seccomp {
        path: path.to_path_buf(),
        reason,
    };
    let raw = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let value: serde_json::Value =
        serde_json::from_slice(&raw).map_err(|e| err(format!("not JSON: {e}")))?;
    let value = if value.get("archMap").is_some() {
        let caps: Vec<&str> = caps.iter().map(String::as_str).collect();
        berth_seccomp::engine::resolve(&value, &caps)
            .ok_or_else(|| err("an engine profile without an x86_64 entry in archMap".into()))?
    } else {
        value
    };
    berth_seccomp::parse(&value).map_err(|e| err(e.to_string()))
}

/// Drops the syscall names no x86 ABI has (Docker's profile lists other architectures'
/// calls, such as `recv`), as libseccomp silently does for Docker: the runtime would warn
/// about each on every run of the default profile.
fn known_only(mut s: LinuxSeccomp) -> LinuxSeccomp {
    use berth_seccomp::Abi;
    let known = |n: &String| {
        [Abi::X86_64, Abi::X32, Abi::I386]
            .iter()
            .any(|a| a.syscall_number(n).is_some())
    };
    if let Some(rules) = s.syscalls().clone() {
        let rules = rules
            .into_iter()
            .map(|mut r| {
                let names: Vec<String> = r.names().iter().filter(|n| known(n)).cloned().collect();
                r.set_names(names);
                r
            })
            .filter(|r| !r.names().is_empty())
            .collect();
        s.set_syscalls(Some(rules));
    }
    s
}

/// The filter for a container: `None` when unconfined.
pub fn for_container(choice: &Seccomp, caps: &BTreeSet<String>) -> Result<Option<LinuxSeccomp>> {
    match choice {
        Seccomp::Unconfined => Ok(None),
        Seccomp::Default => load(&default_profile()?, caps).map(|s| Some(known_only(s))),
        Seccomp::Profile(p) => load(p, caps).map(Some).map_err(|e| match e {
            Error::Seccomp { path, reason } => Error::Flag {
                flag: "--security-opt",
                value: format!("seccomp={}", path.display()),
                reason,
            },
            e => e,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_and_oci_profiles() {
        let dir = tempfile::tempdir().unwrap();
        let engine = dir.path().join("engine.json");
        std::fs::write(
            &engine,
            r#"{"defaultAction":"SCMP_ACT_ERRNO","archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86"]}],
               "syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"},
                           {"names":["mount"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}}]}"#,
        )
        .unwrap();
        let none = BTreeSet::new();
        let s = load(&engine, &none).unwrap();
        assert_eq!(s.syscalls().as_ref().unwrap().len(), 1);
        let admin: BTreeSet<String> = ["CAP_SYS_ADMIN".to_string()].into();
        assert_eq!(
            load(&engine, &admin)
                .unwrap()
                .syscalls()
                .as_ref()
                .unwrap()
                .len(),
            2
        );
        let oci = dir.path().join("oci.json");
        std::fs::write(&oci, r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#).unwrap();
        assert!(load(&oci, &none).is_ok());
        std::fs::write(&oci, "nope").unwrap();
        let e = for_container(&Seccomp::Profile(oci.clone()), &none)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("--security-opt `seccomp=") && e.contains("JSON"),
            "{e}"
        );
        assert!(for_container(&Seccomp::Unconfined, &none)
            .unwrap()
            .is_none());
        let pruned = known_only(
            berth_seccomp::parse_str(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","recv"],"action":"SCMP_ACT_ALLOW"},{"names":["nosuchcall"],"action":"SCMP_ACT_ALLOW"}]}"#).unwrap(),
        );
        let rules = pruned.syscalls().as_ref().unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].names(), &vec!["read".to_string()]);
    }
}
