//! `linux.resources.devices`, decoded once into [`DeviceRule`]s that both
//! the v1 writer (`devices.allow`/`devices.deny` lines) and the v2 eBPF
//! program builder consume.
//!
//! Semantics (as runc): everything is denied first, then the rules apply in
//! the listed order and, for any access, the last matching rule decides.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::error::{CgroupError, Result};

/// Which devices a rule covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// Block and character devices (`a`).
    All,
    /// Character devices (`c`, also `u`).
    Char,
    /// Block devices (`b`).
    Block,
}

/// Access bit: read.
pub const ACCESS_READ: u8 = 2;
/// Access bit: write.
pub const ACCESS_WRITE: u8 = 4;
/// Access bit: mknod.
pub const ACCESS_MKNOD: u8 = 1;
/// All access bits (`rwm`); the values are the kernel's `BPF_DEVCG_ACC_*`.
pub const ACCESS_ALL: u8 = ACCESS_READ | ACCESS_WRITE | ACCESS_MKNOD;

/// One validated device-cgroup rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRule {
    /// Allow (`true`) or deny.
    pub allow: bool,
    /// Device type.
    pub kind: DeviceKind,
    /// Major number, `None` for any.
    pub major: Option<u32>,
    /// Minor number, `None` for any.
    pub minor: Option<u32>,
    /// `ACCESS_*` bits, never 0.
    pub access: u8,
}

impl DeviceRule {
    /// True for a rule that matches every device and every access.
    pub fn is_everything(&self) -> bool {
        self.kind == DeviceKind::All
            && self.major.is_none()
            && self.minor.is_none()
            && self.access == ACCESS_ALL
    }

    /// The line written to v1 `devices.allow` / `devices.deny`.
    pub fn v1_line(&self) -> String {
        let kind = match self.kind {
            DeviceKind::All => 'a',
            DeviceKind::Char => 'c',
            DeviceKind::Block => 'b',
        };
        let num = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
        let mut acc = String::new();
        for (bit, c) in [(ACCESS_READ, 'r'), (ACCESS_WRITE, 'w'), (ACCESS_MKNOD, 'm')] {
            if self.access & bit != 0 {
                acc.push(c);
            }
        }
        format!("{kind} {}:{} {acc}", num(self.major), num(self.minor))
    }
}

/// The shortest list with the same meaning as `rules`, starting with the
/// rule for every device (the spec's last one, or deny-all when it has
/// none): rules before that last catch-all never decide; of identical rules
/// only the last can decide; and rules that agree with the catch-all before
/// any rule disagrees with it change nothing. The runtime's defaults often
/// repeat the spec's own rules, and each v1 rule is a write.
pub fn effective(rules: &[DeviceRule]) -> Vec<DeviceRule> {
    let (base, rest) = match rules.iter().rposition(DeviceRule::is_everything) {
        Some(i) => (rules[i], &rules[i + 1..]),
        None => (
            DeviceRule {
                allow: false,
                kind: DeviceKind::All,
                major: None,
                minor: None,
                access: ACCESS_ALL,
            },
            rules,
        ),
    };
    let mut out = vec![base];
    let mut disagreed = false;
    for (i, r) in rest.iter().enumerate() {
        disagreed |= r.allow != base.allow;
        if !disagreed || rest[i + 1..].contains(r) {
            continue;
        }
        out.push(*r);
    }
    out
}

/// Validates and decodes the spec's device rules, keeping their order.
pub fn rules_from_spec(devices: &[LinuxDeviceCgroup]) -> Result<Vec<DeviceRule>> {
    devices
        .iter()
        .enumerate()
        .map(|(i, d)| rule_from_spec(i, d))
        .collect()
}

fn rule_from_spec(i: usize, d: &LinuxDeviceCgroup) -> Result<DeviceRule> {
    let field = |f: &str| format!("linux.resources.devices[{i}].{f}");
    let kind = match d.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => DeviceKind::All,
        LinuxDeviceType::C | LinuxDeviceType::U => DeviceKind::Char,
        LinuxDeviceType::B => DeviceKind::Block,
        LinuxDeviceType::P => {
            return Err(CgroupError::invalid(
                field("type"),
                "`p` (FIFO) is not controlled by the device cgroup; use a, b or c",
            ))
        }
    };
    let number = |n: Option<i64>, name: &str| -> Result<Option<u32>> {
        match n {
            None => Ok(None),
            Some(n) if n < 0 => Ok(None),
            Some(n) => u32::try_from(n)
                .map(Some)
                .map_err(|_| CgroupError::invalid(field(name), format!("{n} is out of range"))),
        }
    };
    let access = match d.access().as_deref() {
        None | Some("") => ACCESS_ALL,
        Some(s) => {
            let mut bits = 0;
            for c in s.chars() {
                bits |= match c {
                    'r' => ACCESS_READ,
                    'w' => ACCESS_WRITE,
                    'm' => ACCESS_MKNOD,
                    _ => {
                        return Err(CgroupError::invalid(
                            field("access"),
                            format!("`{s}` is not a combination of r, w and m"),
                        ))
                    }
                };
            }
            bits
        }
    };
    Ok(DeviceRule {
        allow: d.allow(),
        kind,
        major: number(d.major(), "major")?,
        minor: number(d.minor(), "minor")?,
        access,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceCgroupBuilder;

    pub(crate) fn spec_rule(
        allow: bool,
        typ: Option<LinuxDeviceType>,
        major: Option<i64>,
        minor: Option<i64>,
        access: &str,
    ) -> LinuxDeviceCgroup {
        let mut b = LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .access(access.to_string());
        if let Some(t) = typ {
            b = b.typ(t);
        }
        if let Some(m) = major {
            b = b.major(m);
        }
        if let Some(m) = minor {
            b = b.minor(m);
        }
        b.build().unwrap()
    }

    #[test]
    fn rules_render_as_v1_lines() {
        let rules = rules_from_spec(&[
            spec_rule(false, None, None, None, "rwm"),
            spec_rule(true, Some(LinuxDeviceType::C), Some(1), Some(3), "rw"),
            spec_rule(true, Some(LinuxDeviceType::B), Some(8), None, "m"),
            spec_rule(true, Some(LinuxDeviceType::U), Some(-1), Some(5), "mwr"),
        ])
        .unwrap();
        let lines: Vec<String> = rules.iter().map(DeviceRule::v1_line).collect();
        assert_eq!(lines, ["a *:* rwm", "c 1:3 rw", "b 8:* m", "c *:5 rwm"]);
        assert!(rules[0].is_everything() && !rules[0].allow);
    }

    fn rule(allow: bool, kind: DeviceKind, major: Option<u32>, minor: Option<u32>) -> DeviceRule {
        DeviceRule {
            allow,
            kind,
            major,
            minor,
            access: ACCESS_ALL,
        }
    }

    #[test]
    fn effective_rules_drop_what_cannot_decide() {
        let deny_all = rule(false, DeviceKind::All, None, None);
        let allow_all = rule(true, DeviceKind::All, None, None);
        let null = rule(true, DeviceKind::Char, Some(1), Some(3));
        let zero = rule(true, DeviceKind::Char, Some(1), Some(5));
        let deny_zero = rule(false, DeviceKind::Char, Some(1), Some(5));
        // runc's config: the spec's deny-all, then the runtime's defaults,
        // which repeat null.
        assert_eq!(
            effective(&[deny_all, null, zero, null]),
            [deny_all, zero, null]
        );
        // No catch-all: deny-all is implied.
        assert_eq!(effective(&[null]), [deny_all, null]);
        // Everything before the last catch-all is dead.
        assert_eq!(
            effective(&[null, allow_all, deny_all, zero]),
            [deny_all, zero]
        );
        // A deny after deny-all changes nothing until something is allowed.
        assert_eq!(
            effective(&[deny_all, deny_zero, zero, deny_zero]),
            [deny_all, zero, deny_zero]
        );
        assert_eq!(effective(&[allow_all, null]), [allow_all]);
    }

    #[test]
    fn effective_rules_decide_as_the_full_list() {
        // Every access of a few devices gets the same answer from the full
        // list and from the short one (last matching rule decides).
        let decide = |rules: &[DeviceRule], kind: DeviceKind, maj: u32, min: u32, acc: u8| {
            rules
                .iter()
                .rev()
                .find(|r| {
                    (r.kind == DeviceKind::All || r.kind == kind)
                        && r.major.is_none_or(|m| m == maj)
                        && r.minor.is_none_or(|m| m == min)
                        && if r.allow {
                            r.access & acc == acc
                        } else {
                            r.access & acc != 0
                        }
                })
                .is_some_and(|r| r.allow)
        };
        let rules = rules_from_spec(&[
            spec_rule(true, Some(LinuxDeviceType::C), Some(1), None, "rw"),
            spec_rule(false, None, None, None, "rwm"),
            spec_rule(false, Some(LinuxDeviceType::C), Some(1), Some(3), "w"),
            spec_rule(true, Some(LinuxDeviceType::C), Some(1), None, "r"),
            spec_rule(true, Some(LinuxDeviceType::B), Some(8), Some(0), "rwm"),
            spec_rule(false, Some(LinuxDeviceType::C), Some(1), Some(5), "r"),
            spec_rule(true, Some(LinuxDeviceType::C), Some(1), None, "r"),
        ])
        .unwrap();
        let short = effective(&rules);
        assert!(short.len() < rules.len());
        for kind in [DeviceKind::Char, DeviceKind::Block] {
            for (maj, min) in [(1, 3), (1, 5), (8, 0), (8, 1), (5, 1)] {
                for acc in 1..=ACCESS_ALL {
                    assert_eq!(
                        decide(&rules, kind, maj, min, acc),
                        decide(&short, kind, maj, min, acc),
                        "{kind:?} {maj}:{min} access {acc}"
                    );
                }
            }
        }
    }

    #[test]
    fn bad_access_and_fifo_name_the_field() {
        let e = rules_from_spec(&[
            spec_rule(true, None, None, None, "rwm"),
            spec_rule(true, Some(LinuxDeviceType::C), Some(1), Some(3), "rx"),
        ])
        .unwrap_err();
        assert!(
            e.to_string().contains("linux.resources.devices[1].access"),
            "{e}"
        );
        let e = rules_from_spec(&[spec_rule(true, Some(LinuxDeviceType::P), None, None, "r")])
            .unwrap_err();
        assert!(e.to_string().contains("devices[0].type"), "{e}");
    }
}
