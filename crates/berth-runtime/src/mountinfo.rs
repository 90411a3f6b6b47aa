//! `/proc/self/mountinfo`, parsed: which filesystems are mounted where.

use std::path::PathBuf;

use crate::{Error, Result};

/// One mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub mount_point: PathBuf,
    pub fstype: String,
    /// The superblock options (`rw,cpu,cpuacct` for a v1 hierarchy).
    pub super_options: String,
}

/// The mounts of the calling process's mount namespace.
pub fn read() -> Result<Vec<Mount>> {
    let text = std::fs::File::open("/proc/self/mountinfo")
        .and_then(berth_cgroups::at::read_all)
        .map_err(|e| Error::io("read", "/proc/self/mountinfo", e))?;
    Ok(parse(&text))
}

/// Parses mountinfo text; malformed lines are skipped.
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let mut post = post.split_whitespace();
            let (fstype, _source, opts) = (post.next()?, post.next()?, post.next()?);
            Some(Mount {
                mount_point: unescape(pre.split_whitespace().nth(4)?),
                fstype: fstype.to_string(),
                super_options: opts.to_string(),
            })
        })
        .collect()
}

/// A mountinfo path with its octal escapes (`\040` for a space) decoded.
pub fn unescape(s: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c));
        if octal {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_points_types_and_escapes() {
        let t = "22 1 0:21 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct\n\
                 23 1 0:22 / /a\\040b rw - tmpfs tmpfs rw\nbroken line\n";
        let m = parse(t);
        assert_eq!(m.len(), 2);
        assert_eq!(
            m[0].mount_point,
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")
        );
        assert_eq!(m[0].fstype, "cgroup");
        assert_eq!(m[0].super_options, "rw,cpu,cpuacct");
        assert_eq!(m[1].mount_point, PathBuf::from("/a b"));
        assert_eq!(unescape("/x\\"), PathBuf::from("/x\\"));
    }
}
