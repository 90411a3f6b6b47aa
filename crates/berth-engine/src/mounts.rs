//! `-v`, `--mount` and `--tmpfs`: parsed into [`MountRequest`]s, then turned into OCI mounts.
//!
//! Bind sources are made absolute and resolved on the host once, here (symlinks included), so
//! what is mounted is what the user named when the container was created; targets must be
//! absolute and free of `..`, and the runtime opens them with `RESOLVE_IN_ROOT`, so a symlink
//! in the image cannot send a mount outside the container's root.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::Mount;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// What is mounted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// A host path (absolute, resolved).
    Bind(PathBuf),
    /// A named volume; `anonymous` ones were made for this container (`-v /dst`).
    Volume { name: String, anonymous: bool },
    /// A fresh tmpfs with these mount options (`size=`, `mode=`, …).
    Tmpfs(Vec<String>),
}

/// One mount the user asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountRequest {
    pub source: Source,
    /// Absolute, normalised path in the container.
    pub target: PathBuf,
    pub readonly: bool,
    /// Bind propagation (`rprivate` unless asked otherwise).
    pub propagation: String,
}

const PROPAGATIONS: &[&str] = &[
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

/// docker's volume name rule.
pub fn valid_volume_name(s: &str) -> bool {
    s.len() >= 2
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// An absolute container path without `..`, normalised; not `/`.
fn target(flag: &'static str, value: &str, t: &str) -> Result<PathBuf> {
    let p = Path::new(t);
    if !p.is_absolute() {
        return Err(Error::flag(
            flag,
            value,
            format!("the container path `{t}` must be absolute"),
        ));
    }
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(Error::flag(
                    flag,
                    value,
                    format!("the container path `{t}` must not contain `..`"),
                ))
            }
        }
    }
    if out == Path::new("/") {
        return Err(Error::flag(
            flag,
            value,
            "cannot mount over the container's /",
        ));
    }
    Ok(out)
}

/// A host path for a bind mount: absolute (relative ones are taken from `cwd`) and resolved.
/// `create`: make a missing directory (what `-v` does); otherwise it must exist.
fn bind_source(
    flag: &'static str,
    value: &str,
    s: &str,
    cwd: &Path,
    create: bool,
) -> Result<PathBuf> {
    let p = if Path::new(s).is_absolute() {
        PathBuf::from(s)
    } else {
        cwd.join(s)
    };
    if create && !p.exists() {
        std::fs::create_dir_all(&p)
            .map_err(|e| Error::flag(flag, value, format!("create {}: {e}", p.display())))?;
    }
    std::fs::canonicalize(&p)
        .map_err(|e| Error::flag(flag, value, format!("the host path {}: {e}", p.display())))
}

/// Random name of an anonymous volume (64 hex digits, as docker's).
fn anonymous_name() -> String {
    crate::record::random_hex(32)
}

/// `-v SRC:DST[:OPTS]`, `-v NAME:DST[:OPTS]` or `-v DST` (an anonymous volume).
pub fn parse_volume(value: &str, cwd: &Path) -> Result<MountRequest> {
    const F: &str = "-v";
    let parts: Vec<&str> = value.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [d] => (None, *d, ""),
        [s, d] => (Some(*s), *d, ""),
        [s, d, o] => (Some(*s), *d, *o),
        _ => {
            return Err(Error::flag(
                F,
                value,
                "expected SRC:DST[:OPTS], NAME:DST[:OPTS] or DST",
            ))
        }
    };
    let target = target(F, value, dst)?;
    let mut readonly = false;
    let mut propagation = "rprivate".to_string();
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" | "readonly" => readonly = true,
            "rw" => readonly = false,
            "nocopy" => {}
            p if PROPAGATIONS.contains(&p) => propagation = p.to_string(),
            "z" | "Z" => {
                return Err(Error::flag(
                    F,
                    value,
                    "SELinux relabelling (z, Z) is not supported",
                ))
            }
            other => {
                return Err(Error::flag(
                    F,
                    value,
                    format!("unknown option `{other}` (ro, rw, nocopy or a propagation)"),
                ))
            }
        }
    }
    let source = match src {
        None => Source::Volume {
            name: anonymous_name(),
            anonymous: true,
        },
        Some(s)
            if s.starts_with('/') || s.starts_with("./") || s.starts_with("../") || s == "." =>
        {
            Source::Bind(bind_source(F, value, s, cwd, true)?)
        }
        Some(s) if valid_volume_name(s) => Source::Volume {
            name: s.to_string(),
            anonymous: false,
        },
        Some(s) => {
            return Err(Error::flag(
                F,
                value,
                format!("`{s}` is neither a host path (start it with / or ./) nor a volume name"),
            ))
        }
    };
    Ok(MountRequest {
        source,
        target,
        readonly,
        propagation,
    })
}

/// tmpfs options docker and the kernel accept.
fn tmpfs_option(flag: &'static str, value: &str, o: &str) -> Result<String> {
    let (k, v) = o.split_once('=').unwrap_or((o, ""));
    match k {
        "size" => {
            let n = crate::options::parse_size(flag, v)
                .map_err(|_| Error::flag(flag, value, format!("bad tmpfs size `{v}`")))?;
            Ok(format!("size={n}"))
        }
        "mode" => {
            u32::from_str_radix(v, 8)
                .ok()
                .filter(|m| *m <= 0o7777)
                .ok_or_else(|| Error::flag(flag, value, format!("bad tmpfs mode `{v}` (octal)")))?;
            Ok(format!("mode={v}"))
        }
        "uid" | "gid" | "nr_inodes" => {
            v.parse::<u64>()
                .map_err(|_| Error::flag(flag, value, format!("bad tmpfs {k} `{v}`")))?;
            Ok(o.to_string())
        }
        "exec" | "noexec" | "suid" | "nosuid" | "dev" | "nodev" | "ro" | "rw" | "atime"
        | "noatime" | "relatime" | "strictatime" => Ok(o.to_string()),
        _ => Err(Error::flag(
            flag,
            value,
            format!("unknown tmpfs option `{o}`"),
        )),
    }
}

/// `--tmpfs DST[:OPTS]`.
pub fn parse_tmpfs(value: &str) -> Result<MountRequest> {
    const F: &str = "--tmpfs";
    let (dst, opts) = value.split_once(':').unwrap_or((value, ""));
    let target = target(F, value, dst)?;
    let mut options = Vec::new();
    let mut readonly = false;
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        let o = tmpfs_option(F, value, o)?;
        match o.as_str() {
            "ro" => readonly = true,
            "rw" => readonly = false,
            _ => options.push(o),
        }
    }
    Ok(MountRequest {
        source: Source::Tmpfs(options),
        target,
        readonly,
        propagation: "rprivate".into(),
    })
}

/// `--mount type=bind|volume|tmpfs,source=…,target=…[,readonly][,…]`.
pub fn parse_mount(value: &str, cwd: &Path) -> Result<MountRequest> {
    const F: &str = "--mount";
    let mut typ = "volume".to_string();
    let mut src: Option<String> = None;
    let mut dst: Option<String> = None;
    let mut readonly = false;
    let mut propagation = "rprivate".to_string();
    let mut tmpfs = Vec::new();
    for kv in value.split(',') {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        match k {
            "type" => typ = v.to_string(),
            "source" | "src" => src = Some(v.to_string()),
            "target" | "destination" | "dst" => dst = Some(v.to_string()),
            "readonly" | "ro" => {
                readonly = match v {
                    "" | "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(Error::flag(F, value, format!("bad {k} value `{v}`"))),
                }
            }
            "bind-propagation" if PROPAGATIONS.contains(&v) => propagation = v.to_string(),
            "volume-nocopy" => {}
            "tmpfs-size" => tmpfs.push(tmpfs_option(F, value, &format!("size={v}"))?),
            "tmpfs-mode" => tmpfs.push(tmpfs_option(F, value, &format!("mode={v}"))?),
            _ => return Err(Error::flag(F, value, format!("unknown key `{kv}`"))),
        }
    }
    let dst = dst.ok_or_else(|| Error::flag(F, value, "target= is required"))?;
    let target = target(F, value, &dst)?;
    let source = match typ.as_str() {
        "bind" => {
            let s = src.ok_or_else(|| Error::flag(F, value, "a bind mount needs source="))?;
            Source::Bind(bind_source(F, value, &s, cwd, false)?)
        }
        "volume" => match src {
            None => Source::Volume {
                name: anonymous_name(),
                anonymous: true,
            },
            Some(s) if valid_volume_name(&s) => Source::Volume {
                name: s,
                anonymous: false,
            },
            Some(s) => return Err(Error::flag(F, value, format!("bad volume name `{s}`"))),
        },
        "tmpfs" => {
            if src.is_some() {
                return Err(Error::flag(F, value, "a tmpfs mount takes no source"));
            }
            Source::Tmpfs(tmpfs)
        }
        other => {
            return Err(Error::flag(
                F,
                value,
                format!("unknown type `{other}` (bind, volume or tmpfs)"),
            ))
        }
    };
    Ok(MountRequest {
        source,
        target,
        readonly,
        propagation,
    })
}

/// Refuses two mounts on one target.
pub fn check_unique(reqs: &[MountRequest]) -> Result<()> {
    let mut seen = HashSet::new();
    for r in reqs {
        if !seen.insert(&r.target) {
            return Err(Error::flag(
                "-v/--mount/--tmpfs",
                &r.target.display().to_string(),
                "duplicate mount point",
            ));
        }
    }
    Ok(())
}

/// The OCI mount for a request; `volume_dir` gives a volume's data directory.
pub fn oci_mount(r: &MountRequest, volume_dir: &dyn Fn(&str) -> PathBuf) -> Mount {
    let mut m = Mount::default();
    m.set_destination(r.target.clone());
    let mut options: Vec<String> = Vec::new();
    match &r.source {
        Source::Bind(p) => {
            m.set_typ(Some("bind".into()));
            m.set_source(Some(p.clone()));
            options.extend(["rbind".to_string(), r.propagation.clone()]);
        }
        Source::Volume { name, .. } => {
            m.set_typ(Some("bind".into()));
            m.set_source(Some(volume_dir(name)));
            options.extend(["rbind".to_string(), r.propagation.clone()]);
        }
        Source::Tmpfs(o) => {
            m.set_typ(Some("tmpfs".into()));
            m.set_source(Some("tmpfs".into()));
            options.extend(["nosuid".to_string(), "nodev".into(), "noexec".into()]);
            for x in o {
                options.retain(|y| !(x == "exec" && y == "noexec"));
                if x != "exec" {
                    options.push(x.clone());
                }
            }
        }
    }
    if r.readonly {
        options.push("ro".into());
    }
    m.set_options(Some(options));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_flags() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path();
        let r = parse_volume("data:/var/lib/x:ro", cwd).unwrap();
        assert_eq!(
            r.source,
            Source::Volume {
                name: "data".into(),
                anonymous: false
            }
        );
        assert_eq!(r.target, Path::new("/var/lib/x"));
        assert!(r.readonly);
        let r = parse_volume("/data//", cwd).unwrap();
        assert!(matches!(
            r.source,
            Source::Volume {
                anonymous: true,
                ..
            }
        ));
        assert_eq!(r.target, Path::new("/data"));
        // A relative host path is taken from the cwd and created, as -v does.
        let r = parse_volume("./sub:/mnt", cwd).unwrap();
        let canon = std::fs::canonicalize(cwd.join("sub")).unwrap();
        assert_eq!(r.source, Source::Bind(canon));
        for (bad, says) in [
            ("a:b:c:d", "expected"),
            ("data:rel", "absolute"),
            ("data:/a/../b", ".."),
            ("data:/", "container's /"),
            ("x:/a", "neither a host path"),
            ("data:/a:zz", "unknown option"),
            ("data:/a:Z", "SELinux"),
        ] {
            let e = parse_volume(bad, cwd).unwrap_err().to_string();
            assert!(e.starts_with("-v `") && e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn mount_and_tmpfs_flags() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path();
        let src = cwd.display().to_string();
        let r = parse_mount(&format!("type=bind,src={src},dst=/m,readonly"), cwd).unwrap();
        assert!(r.readonly && matches!(r.source, Source::Bind(_)));
        let e = parse_mount("type=bind,src=/no/such/dir,dst=/m", cwd)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("--mount") && e.contains("/no/such/dir"),
            "{e}"
        );
        let r = parse_mount("type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1777", cwd).unwrap();
        assert_eq!(
            r.source,
            Source::Tmpfs(vec!["size=1048576".into(), "mode=1777".into()])
        );
        assert!(parse_mount("type=nfs,dst=/x", cwd).is_err());
        assert!(parse_mount("type=volume,src=v1", cwd)
            .unwrap_err()
            .to_string()
            .contains("target="));
        let t = parse_tmpfs("/run:size=64m,exec").unwrap();
        let m = oci_mount(&t, &|_| PathBuf::new());
        let o = m.options().clone().unwrap();
        assert!(o.contains(&"size=67108864".to_string()) && !o.contains(&"noexec".into()));
        assert!(parse_tmpfs("/run:mode=999").is_err());
        assert!(parse_tmpfs("/run:bogus").is_err());
        let dup = [t.clone(), t];
        assert!(check_unique(&dup).is_err());
    }

    #[test]
    fn oci_mounts_for_volumes() {
        let r = MountRequest {
            source: Source::Volume {
                name: "v".into(),
                anonymous: false,
            },
            target: "/d".into(),
            readonly: true,
            propagation: "rprivate".into(),
        };
        let m = oci_mount(&r, &|n| PathBuf::from(format!("/store/volumes/{n}/_data")));
        assert_eq!(
            m.source().as_deref(),
            Some(Path::new("/store/volumes/v/_data"))
        );
        assert_eq!(
            m.options().clone().unwrap(),
            vec!["rbind", "rprivate", "ro"]
        );
    }
}
