//! Device nodes: the default set every container gets and `linux.devices`, validated.

use std::path::PathBuf;

use nix::sys::stat::SFlag;
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use crate::{Error, Result};

/// The file type of a device node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DeviceKind {
    Char,
    Block,
    Fifo,
}

impl DeviceKind {
    /// The `S_IF*` type for `mknod`.
    pub fn sflag(self) -> SFlag {
        match self {
            DeviceKind::Char => SFlag::S_IFCHR,
            DeviceKind::Block => SFlag::S_IFBLK,
            DeviceKind::Fifo => SFlag::S_IFIFO,
        }
    }
}

/// One device node to create in the container.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeviceNode {
    pub path: PathBuf,
    pub kind: DeviceKind,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The devices every container has (runtime-spec "Default Devices").
pub fn defaults() -> Vec<DeviceNode> {
    [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
    .into_iter()
    .map(|(name, major, minor)| DeviceNode {
        path: PathBuf::from("/dev").join(name),
        kind: DeviceKind::Char,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect()
}

/// Validates `linux.devices` into nodes; a device with the path of a default replaces it.
pub fn plan(devices: &[LinuxDevice]) -> Result<Vec<DeviceNode>> {
    let mut out = defaults();
    for (i, d) in devices.iter().enumerate() {
        let field = format!("linux.devices[{i}]");
        if !d.path().is_absolute() {
            return Err(Error::config(
                format!("{field}.path"),
                format!("{} is not absolute", d.path().display()),
            ));
        }
        if d.path()
            .components()
            .any(|c| c == std::path::Component::ParentDir)
        {
            return Err(Error::config(
                format!("{field}.path"),
                "must not contain `..`",
            ));
        }
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => DeviceKind::Char,
            LinuxDeviceType::B => DeviceKind::Block,
            LinuxDeviceType::P => DeviceKind::Fifo,
            LinuxDeviceType::A => {
                return Err(Error::config(
                    format!("{field}.type"),
                    "type `a` is only valid in cgroup device rules",
                ))
            }
        };
        if kind != DeviceKind::Fifo && (d.major() < 0 || d.minor() < 0) {
            return Err(Error::config(
                format!("{field}.major"),
                "major and minor must be >= 0",
            ));
        }
        let node = DeviceNode {
            path: d.path().clone(),
            kind,
            major: d.major().max(0) as u64,
            minor: d.minor().max(0) as u64,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        };
        out.retain(|n| n.path != node.path);
        out.push(node);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn defaults_then_spec_devices_override() {
        let devs: Vec<LinuxDevice> = serde_json::from_str(
            r#"[{"path":"/dev/null","type":"c","major":1,"minor":3,"fileMode":384},
                {"path":"/dev/fuse","type":"c","major":10,"minor":229,"uid":5,"gid":6}]"#,
        )
        .unwrap();
        let p = plan(&devs).unwrap();
        assert_eq!(p.len(), 7);
        let null = p.iter().find(|n| n.path == Path::new("/dev/null")).unwrap();
        assert_eq!(null.mode, 0o600);
        let fuse = p.iter().find(|n| n.path == Path::new("/dev/fuse")).unwrap();
        assert_eq!(
            (fuse.major, fuse.minor, fuse.uid, fuse.gid),
            (10, 229, 5, 6)
        );
    }

    #[test]
    fn bad_devices_name_the_field() {
        let devs: Vec<LinuxDevice> =
            serde_json::from_str(r#"[{"path":"dev/x","type":"c","major":1,"minor":1}]"#).unwrap();
        assert!(plan(&devs)
            .unwrap_err()
            .to_string()
            .contains("linux.devices[0].path"));
        let devs: Vec<LinuxDevice> =
            serde_json::from_str(r#"[{"path":"/dev/../x","type":"c","major":1,"minor":1}]"#)
                .unwrap();
        assert!(plan(&devs).is_err());
    }
}
