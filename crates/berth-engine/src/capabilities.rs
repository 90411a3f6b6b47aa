//! The capability set of a container: Docker's default, then `--cap-drop`, then `--cap-add`
//! (either may say `ALL`).

use std::collections::BTreeSet;

use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};

use crate::{Error, Result};

/// What Docker (and podman) give a container by default.
pub const DEFAULT: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability by its bit number (capability.h).
const ALL: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The capabilities of this process's bounding set (what a container can be given at all).
pub fn bounding_set() -> BTreeSet<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .unwrap_or(u64::MAX);
    ALL.iter()
        .enumerate()
        .filter(|(bit, _)| mask & (1 << bit) != 0)
        .map(|(_, n)| n.to_string())
        .collect()
}

/// A capability by name: `CAP_X` or `X`, any case (oci-spec's deserialiser takes both).
fn parse(s: &str) -> Option<Capability> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
}

/// A capability name as `CAP_X`, checked.
fn canonical(flag: &'static str, s: &str) -> Result<String> {
    let c = parse(s).ok_or_else(|| Error::flag(flag, s, "not a capability name"))?;
    Ok(serde_json::to_value(c)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| s.to_ascii_uppercase()))
}

/// Docker's default set with `drop` removed and `add` added; `ALL` in either means every
/// capability of `bounding`. Adding one outside `bounding` is refused.
pub fn resolve(
    add: &[String],
    drop: &[String],
    bounding: &BTreeSet<String>,
) -> Result<BTreeSet<String>> {
    let mut set: BTreeSet<String> = DEFAULT.iter().map(|s| s.to_string()).collect();
    for d in drop {
        if d.eq_ignore_ascii_case("ALL") {
            set.clear();
        } else {
            set.remove(&canonical("--cap-drop", d)?);
        }
    }
    for a in add {
        if a.eq_ignore_ascii_case("ALL") {
            set.extend(bounding.iter().cloned());
        } else {
            let c = canonical("--cap-add", a)?;
            if !bounding.contains(&c) {
                return Err(Error::flag(
                    "--cap-add",
                    a,
                    "not in berth's own bounding set, so it cannot be granted",
                ));
            }
            set.insert(c);
        }
    }
    set.retain(|c| bounding.contains(c));
    Ok(set)
}

/// The process capabilities for `set`: bounding, effective and permitted; no inheritable or
/// ambient ones (CVE-2022-24769).
pub fn linux_capabilities(set: &BTreeSet<String>) -> LinuxCapabilities {
    let caps: Capabilities = set.iter().filter_map(|c| parse(c)).collect();
    let mut lc = LinuxCapabilities::default();
    lc.set_bounding(Some(caps.clone()));
    lc.set_effective(Some(caps.clone()));
    lc.set_permitted(Some(caps));
    lc.set_inheritable(None);
    lc.set_ambient(None);
    lc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn add_and_drop_on_the_default_set() {
        let all: BTreeSet<String> = ALL.iter().map(|s| s.to_string()).collect();
        let d = resolve(&[], &[], &all).unwrap();
        assert_eq!(d.len(), DEFAULT.len());
        let r = resolve(&s(&["net_admin"]), &s(&["CAP_MKNOD", "kill"]), &all).unwrap();
        assert!(r.contains("CAP_NET_ADMIN") && !r.contains("CAP_MKNOD") && !r.contains("CAP_KILL"));
        let r = resolve(&s(&["chown"]), &s(&["ALL"]), &all).unwrap();
        assert_eq!(r.into_iter().collect::<Vec<_>>(), vec!["CAP_CHOWN"]);
        assert_eq!(resolve(&s(&["all"]), &[], &all).unwrap().len(), ALL.len());
        let e = resolve(&s(&["NOPE"]), &[], &all).unwrap_err().to_string();
        assert!(e.starts_with("--cap-add `NOPE`"), "{e}");
        let mut small = all.clone();
        small.remove("CAP_SYS_RESOURCE");
        let e = resolve(&s(&["SYS_RESOURCE"]), &[], &small)
            .unwrap_err()
            .to_string();
        assert!(e.contains("bounding"), "{e}");
        assert!(!resolve(&s(&["ALL"]), &[], &small)
            .unwrap()
            .contains("CAP_SYS_RESOURCE"));
    }

    #[test]
    fn process_capabilities() {
        let set: BTreeSet<String> = ["CAP_CHOWN".to_string()].into();
        let lc = linux_capabilities(&set);
        assert_eq!(lc.bounding().as_ref().unwrap().len(), 1);
        assert!(lc.inheritable().is_none() && lc.ambient().is_none());
    }
}
