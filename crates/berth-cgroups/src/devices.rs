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
