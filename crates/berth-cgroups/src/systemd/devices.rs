//! Device rules as `DevicePolicy=` and `DeviceAllow=`.
//!
//! systemd only has an allowlist (`strict`: nothing but the listed
//! devices) or allow-all (`auto` with no list). The rules are replayed as
//! the kernel would (last match wins, `a *:* rwm` resets) into an allowlist.
//! Where systemd cannot express a rule exactly, the list errs on the side
//! of allowing less, as runc's does: the exact rules are enforced anyway by
//! the device filter the cgroupfs code installs (v2's eBPF program replaces
//! systemd's; v1's `devices.allow`/`deny` are written after systemd's), and
//! systemd's list only matters again if systemd re-applies it (e.g. on
//! daemon-reload), when it must never allow more than the container's rules.

use super::properties::{prop, Property, Value};
use crate::devices::{DeviceKind, DeviceRule, ACCESS_MKNOD, ACCESS_READ, ACCESS_WRITE};

/// The properties for `rules`; `group` names the device group of a major
/// number (`char-pts` for 136) from `/proc/devices`.
pub fn device_properties(
    rules: &[DeviceRule],
    group: &mut dyn FnMut(DeviceKind, u32) -> Option<String>,
) -> Vec<Property> {
    let policy = |p: &str| prop("DevicePolicy", Value::Str(p.to_string()));
    // An empty list first: SetUnitProperties appends to DeviceAllow.
    let reset = prop("DeviceAllow", Value::DeviceAllow(Vec::new()));
    let allowed = match replay(rules) {
        Replay::AllowAll => {
            let all = ["char-*", "block-*"].map(|g| (g.to_string(), "rwm".to_string()));
            return vec![
                policy("auto"),
                reset,
                prop("DeviceAllow", Value::DeviceAllow(all.to_vec())),
            ];
        }
        // Denials after an allow-all have no systemd form: allow nothing
        // rather than everything (as runc).
        Replay::DenyList => return vec![policy("strict"), reset],
        Replay::AllowList(allowed) => allowed,
    };
    let mut list = Vec::new();
    for r in &allowed {
        let kinds: &[DeviceKind] = match r.kind {
            DeviceKind::All => &[DeviceKind::Char, DeviceKind::Block],
            DeviceKind::Char => &[DeviceKind::Char],
            DeviceKind::Block => &[DeviceKind::Block],
        };
        for &kind in kinds {
            let (dir, prefix) = match kind {
                DeviceKind::Block => ("block", "block-"),
                _ => ("char", "char-"),
            };
            let entry = match (r.major, r.minor) {
                (Some(maj), Some(min)) => Some(format!("/dev/{dir}/{maj}:{min}")),
                (Some(maj), None) => group(kind, maj),
                (None, None) => Some(format!("{prefix}*")),
                // `*:n` has no systemd form.
                (None, Some(_)) => None,
            };
            if let Some(path) = entry {
                let item = (path, access(r.access));
                if !list.contains(&item) {
                    list.push(item);
                }
            }
        }
    }
    vec![
        policy("strict"),
        reset,
        prop("DeviceAllow", Value::DeviceAllow(list)),
    ]
}

/// What the rules amount to, in systemd's terms.
enum Replay {
    /// Every device, every access.
    AllowAll,
    /// Everything but some devices: no systemd form.
    DenyList,
    /// Only these (partly overlapping) allow rules.
    AllowList(Vec<DeviceRule>),
}

/// Replays the rules in order, as the kernel applies them. A deny only
/// removes access from an allow rule it covers entirely; a partial overlap
/// keeps the allow rule (the exact filter is the cgroupfs one).
fn replay(rules: &[DeviceRule]) -> Replay {
    let mut default_allow = false;
    let mut denied = false;
    let mut allowed: Vec<DeviceRule> = Vec::new();
    for r in rules {
        if r.is_everything() {
            default_allow = r.allow;
            denied = false;
            allowed.clear();
        } else if default_allow {
            denied |= !r.allow;
        } else if r.allow {
            allowed.push(*r);
        } else {
            for a in allowed.iter_mut().filter(|a| covers(r, a)) {
                a.access &= !r.access;
            }
            allowed.retain(|a| a.access != 0);
        }
    }
    match (default_allow, denied) {
        (true, false) => Replay::AllowAll,
        (true, true) => Replay::DenyList,
        (false, _) => Replay::AllowList(allowed),
    }
}

/// True if every device `inner` matches is also matched by `outer`.
fn covers(outer: &DeviceRule, inner: &DeviceRule) -> bool {
    let kind = outer.kind == DeviceKind::All || outer.kind == inner.kind;
    let num = |o: Option<u32>, i: Option<u32>| o.is_none() || o == i;
    kind && num(outer.major, inner.major) && num(outer.minor, inner.minor)
}

fn access(bits: u8) -> String {
    [(ACCESS_READ, 'r'), (ACCESS_WRITE, 'w'), (ACCESS_MKNOD, 'm')]
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, c)| c)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::rules_from_spec;
    use crate::devices::tests::spec_rule;
    use oci_spec::runtime::LinuxDeviceType::{A, B, C};

    fn pts(kind: DeviceKind, major: u32) -> Option<String> {
        (kind == DeviceKind::Char && major == 136).then(|| "char-pts".to_string())
    }

    fn run(rules: &[oci_spec::runtime::LinuxDeviceCgroup]) -> (String, Vec<(String, String)>) {
        let p = device_properties(&rules_from_spec(rules).unwrap(), &mut pts);
        let Value::Str(policy) = &p[0].value else {
            panic!("{p:?}")
        };
        assert_eq!(p[0].name, "DevicePolicy");
        assert_eq!(p[1], prop("DeviceAllow", Value::DeviceAllow(Vec::new())));
        let list = match p.get(2) {
            Some(Property {
                value: Value::DeviceAllow(l),
                ..
            }) => l.clone(),
            None => Vec::new(),
            other => panic!("{other:?}"),
        };
        (policy.clone(), list)
    }

    fn pair(a: &str, b: &str) -> (String, String) {
        (a.to_string(), b.to_string())
    }

    #[test]
    fn runtime_defaults_become_paths_and_groups() {
        let (policy, list) = run(&[
            spec_rule(false, None, None, None, "rwm"),
            spec_rule(true, Some(C), Some(1), Some(3), "rwm"),
            spec_rule(true, Some(C), Some(5), Some(0), "rw"),
            spec_rule(true, Some(C), Some(136), None, "rwm"),
            spec_rule(true, Some(B), Some(8), Some(0), "r"),
            spec_rule(true, Some(C), None, None, "m"),
        ]);
        assert_eq!(policy, "strict");
        assert_eq!(
            list,
            [
                pair("/dev/char/1:3", "rwm"),
                pair("/dev/char/5:0", "rw"),
                pair("char-pts", "rwm"),
                pair("/dev/block/8:0", "r"),
                pair("char-*", "m"),
            ]
        );
    }

    #[test]
    fn allow_all_is_auto() {
        let (policy, list) = run(&[spec_rule(true, Some(A), None, None, "rwm")]);
        assert_eq!(policy, "auto");
        assert_eq!(list, [pair("char-*", "rwm"), pair("block-*", "rwm")]);
    }

    #[test]
    fn no_rules_is_strict_and_empty() {
        assert_eq!(run(&[]), ("strict".to_string(), Vec::new()));
    }

    #[test]
    fn deny_after_allow_all_allows_nothing() {
        let (policy, list) = run(&[
            spec_rule(true, None, None, None, "rwm"),
            spec_rule(false, Some(C), Some(1), Some(3), "w"),
        ]);
        assert_eq!((policy.as_str(), list.len()), ("strict", 0));
    }

    #[test]
    fn a_covering_deny_takes_access_away() {
        let (_, list) = run(&[
            spec_rule(true, Some(C), Some(1), Some(3), "rwm"),
            spec_rule(true, Some(C), Some(1), Some(5), "rw"),
            spec_rule(false, Some(C), Some(1), None, "w"),
            spec_rule(false, Some(A), None, None, "rw"),
            spec_rule(true, Some(C), Some(1), Some(9), "r"),
        ]);
        // 1:3 keeps m only; 1:5 lost everything; 1:9 came after the denies.
        assert_eq!(
            list,
            [pair("/dev/char/1:3", "m"), pair("/dev/char/1:9", "r")]
        );
    }

    #[test]
    fn a_partial_deny_keeps_the_wider_allow() {
        let (_, list) = run(&[
            spec_rule(true, Some(C), Some(136), None, "rwm"),
            spec_rule(false, Some(C), Some(136), Some(2), "rwm"),
        ]);
        assert_eq!(list, [pair("char-pts", "rwm")]);
    }

    #[test]
    fn inexpressible_rules_are_left_out() {
        let (_, list) = run(&[
            spec_rule(true, Some(C), None, Some(5), "rwm"),
            spec_rule(true, Some(C), Some(99), None, "rwm"),
            spec_rule(true, Some(A), Some(1), Some(3), "r"),
        ]);
        // *:5 has no form, major 99 has no group: only the a 1:3 rule, twice.
        assert_eq!(
            list,
            [pair("/dev/char/1:3", "r"), pair("/dev/block/1:3", "r")]
        );
    }
}
