//! Mount options: the spec's option strings parsed into flags and attributes (pure).

use nix::mount::MsFlags;

use crate::{Error, Result};

pub use crate::sys::mount::attr;

/// What one mount's `options` ask for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MountOptions {
    /// Flags passed to `mount(2)`.
    #[serde(with = "super::bits::ms_flags")]
    pub flags: MsFlags,
    /// Flags the options cleared explicitly (e.g. `rw`, `suid`): used on bind remounts.
    #[serde(with = "super::bits::ms_flags")]
    pub cleared: MsFlags,
    /// Propagation changes applied after the mount, in order.
    #[serde(with = "super::bits::ms_flags_vec")]
    pub propagation: Vec<MsFlags>,
    /// `MOUNT_ATTR_*` to set recursively (`rro`, `rnosuid`, ...).
    pub rec_attr_set: u64,
    /// `MOUNT_ATTR_*` to clear recursively (`rrw`, `rsuid`, ...).
    pub rec_attr_clr: u64,
    /// Filesystem-specific options passed as mount data.
    pub data: Vec<String>,
    /// `bind` or `rbind`.
    pub bind: bool,
    /// `rbind`.
    pub recursive: bool,
    /// `idmap` / `ridmap`: the mount gets a user namespace mapping.
    pub idmap: bool,
    /// `ridmap`: the mapping applies to the submounts too.
    pub idmap_recursive: bool,
}

impl MountOptions {
    /// The mount data string (`mode=755,size=65536k`).
    pub fn data(&self) -> Option<String> {
        (!self.data.is_empty()).then(|| self.data.join(","))
    }

    /// The non-recursive `MOUNT_ATTR_*` equivalent of `flags`, for bind mounts.
    pub fn attr_set(&self) -> u64 {
        let mut a = 0;
        let f = self.flags;
        if f.contains(MsFlags::MS_RDONLY) {
            a |= attr::RDONLY;
        }
        if f.contains(MsFlags::MS_NOSUID) {
            a |= attr::NOSUID;
        }
        if f.contains(MsFlags::MS_NODEV) {
            a |= attr::NODEV;
        }
        if f.contains(MsFlags::MS_NOEXEC) {
            a |= attr::NOEXEC;
        }
        if f.contains(MsFlags::MS_NOATIME) {
            a |= attr::NOATIME;
        } else if f.contains(MsFlags::MS_STRICTATIME) {
            a |= attr::STRICTATIME;
        }
        if f.contains(MsFlags::MS_NODIRATIME) {
            a |= attr::NODIRATIME;
        }
        if f.bits() & libc::MS_NOSYMFOLLOW != 0 {
            a |= attr::NOSYMFOLLOW;
        }
        a
    }
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            cleared: MsFlags::empty(),
            propagation: Vec::new(),
            rec_attr_set: 0,
            rec_attr_clr: 0,
            data: Vec::new(),
            bind: false,
            recursive: false,
            idmap: false,
            idmap_recursive: false,
        }
    }
}

enum Opt {
    Set(MsFlags),
    Clear(MsFlags),
    Prop(MsFlags),
    RecSet(u64),
    RecClr(u64),
    Bind(bool),
    Idmap(bool),
    Ignore,
}

fn lookup(opt: &str) -> Option<Opt> {
    use MsFlags as F;
    let nosymfollow = F::from_bits_retain(libc::MS_NOSYMFOLLOW);
    Some(match opt {
        "defaults" => Opt::Ignore,
        "ro" => Opt::Set(F::MS_RDONLY),
        "rw" => Opt::Clear(F::MS_RDONLY),
        "nosuid" => Opt::Set(F::MS_NOSUID),
        "suid" => Opt::Clear(F::MS_NOSUID),
        "nodev" => Opt::Set(F::MS_NODEV),
        "dev" => Opt::Clear(F::MS_NODEV),
        "noexec" => Opt::Set(F::MS_NOEXEC),
        "exec" => Opt::Clear(F::MS_NOEXEC),
        "sync" => Opt::Set(F::MS_SYNCHRONOUS),
        "async" => Opt::Clear(F::MS_SYNCHRONOUS),
        "dirsync" => Opt::Set(F::MS_DIRSYNC),
        "remount" => Opt::Set(F::MS_REMOUNT),
        "mand" => Opt::Set(F::MS_MANDLOCK),
        "nomand" => Opt::Clear(F::MS_MANDLOCK),
        "atime" => Opt::Clear(F::MS_NOATIME),
        "noatime" => Opt::Set(F::MS_NOATIME),
        "diratime" => Opt::Clear(F::MS_NODIRATIME),
        "nodiratime" => Opt::Set(F::MS_NODIRATIME),
        "relatime" => Opt::Set(F::MS_RELATIME),
        "norelatime" => Opt::Clear(F::MS_RELATIME),
        "strictatime" => Opt::Set(F::MS_STRICTATIME),
        "nostrictatime" => Opt::Clear(F::MS_STRICTATIME),
        "nosymfollow" => Opt::Set(nosymfollow),
        "symfollow" => Opt::Clear(nosymfollow),
        "bind" => Opt::Bind(false),
        "rbind" => Opt::Bind(true),
        "private" => Opt::Prop(F::MS_PRIVATE),
        "rprivate" => Opt::Prop(F::MS_PRIVATE | F::MS_REC),
        "shared" => Opt::Prop(F::MS_SHARED),
        "rshared" => Opt::Prop(F::MS_SHARED | F::MS_REC),
        "slave" => Opt::Prop(F::MS_SLAVE),
        "rslave" => Opt::Prop(F::MS_SLAVE | F::MS_REC),
        "unbindable" => Opt::Prop(F::MS_UNBINDABLE),
        "runbindable" => Opt::Prop(F::MS_UNBINDABLE | F::MS_REC),
        "rro" => Opt::RecSet(attr::RDONLY),
        "rrw" => Opt::RecClr(attr::RDONLY),
        "rnosuid" => Opt::RecSet(attr::NOSUID),
        "rsuid" => Opt::RecClr(attr::NOSUID),
        "rnodev" => Opt::RecSet(attr::NODEV),
        "rdev" => Opt::RecClr(attr::NODEV),
        "rnoexec" => Opt::RecSet(attr::NOEXEC),
        "rexec" => Opt::RecClr(attr::NOEXEC),
        "rnodiratime" => Opt::RecSet(attr::NODIRATIME),
        "rdiratime" => Opt::RecClr(attr::NODIRATIME),
        "rnoatime" => Opt::RecSet(attr::NOATIME),
        "ratime" | "rrelatime" => Opt::RecSet(attr::RELATIME),
        "rstrictatime" => Opt::RecSet(attr::STRICTATIME),
        "rnosymfollow" => Opt::RecSet(attr::NOSYMFOLLOW),
        "rsymfollow" => Opt::RecClr(attr::NOSYMFOLLOW),
        "idmap" => Opt::Idmap(false),
        "ridmap" => Opt::Idmap(true),
        // Used by other runtimes to copy the image's content up into a tmpfs; accepted, ignored.
        "tmpcopyup" => Opt::Ignore,
        _ => return None,
    })
}

/// Parses a mount's `options`; unknown options are filesystem data (`mode=755`, `size=...`).
pub fn parse_options(options: &[String]) -> MountOptions {
    let mut m = MountOptions::default();
    for opt in options {
        match lookup(opt) {
            Some(Opt::Set(f)) => {
                m.flags |= f;
                m.cleared &= !f;
            }
            Some(Opt::Clear(f)) => {
                m.flags &= !f;
                m.cleared |= f;
            }
            Some(Opt::Prop(f)) => m.propagation.push(f),
            Some(Opt::RecSet(a)) => {
                m.rec_attr_set |= a;
                m.rec_attr_clr &= !a;
                // The kernel wants the whole atime field cleared when one atime mode is set.
                if a & attr::ATIME_MASK != 0 || a == attr::RELATIME {
                    m.rec_attr_set &= !attr::ATIME_MASK | a;
                    m.rec_attr_clr |= attr::ATIME_MASK;
                }
            }
            Some(Opt::RecClr(a)) => {
                m.rec_attr_clr |= a;
                m.rec_attr_set &= !a;
            }
            Some(Opt::Bind(rec)) => {
                m.bind = true;
                m.recursive |= rec;
            }
            Some(Opt::Idmap(rec)) => {
                m.idmap = true;
                m.idmap_recursive |= rec;
            }
            Some(Opt::Ignore) => {}
            None => m.data.push(opt.clone()),
        }
    }
    m
}

/// The propagation flag of `linux.rootfsPropagation`.
pub fn parse_propagation(value: &str) -> Result<MsFlags> {
    use MsFlags as F;
    Ok(match value {
        "shared" => F::MS_SHARED,
        "rshared" => F::MS_SHARED | F::MS_REC,
        "slave" => F::MS_SLAVE,
        "rslave" => F::MS_SLAVE | F::MS_REC,
        "private" => F::MS_PRIVATE,
        "rprivate" => F::MS_PRIVATE | F::MS_REC,
        "unbindable" => F::MS_UNBINDABLE,
        "runbindable" => F::MS_UNBINDABLE | F::MS_REC,
        other => {
            return Err(Error::config(
                "linux.rootfsPropagation",
                format!("unknown propagation {other:?}"),
            ))
        }
    })
}

/// Adds the SELinux mount label `label` to the data of a mount of type `fstype`, as
/// `context="<label>"`, for the filesystems that take it: proc, sysfs, cgroup and mqueue do
/// not (the kernel refuses or ignores it there), and binds keep their files' own labels.
pub fn add_mount_label(fstype: &str, bind: bool, data: &mut Vec<String>, label: Option<&str>) {
    let Some(label) = label else { return };
    if bind
        || matches!(
            fstype,
            "proc" | "sysfs" | "cgroup" | "cgroup2" | "mqueue" | "securityfs" | "overlay"
        )
        || data.iter().any(|o| o.starts_with("context="))
    {
        return;
    }
    data.push(format!("context=\"{label}\""));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[&str]) -> MountOptions {
        parse_options(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn flags_and_data_are_split() {
        let m = opts(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
        assert_eq!(m.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(m.data().as_deref(), Some("mode=755,size=65536k"));
        assert!(!m.bind);
    }

    #[test]
    fn later_options_override_earlier_ones() {
        let m = opts(&["ro", "rw"]);
        assert!(!m.flags.contains(MsFlags::MS_RDONLY));
        assert!(m.cleared.contains(MsFlags::MS_RDONLY));
        let m = opts(&["rw", "ro"]);
        assert!(m.flags.contains(MsFlags::MS_RDONLY));
    }

    #[test]
    fn bind_rbind_and_propagation() {
        let m = opts(&["rbind", "rprivate", "ro"]);
        assert!(m.bind && m.recursive);
        assert_eq!(m.propagation, vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC]);
        assert_eq!(m.attr_set(), attr::RDONLY);
        let m = opts(&["bind"]);
        assert!(m.bind && !m.recursive);
    }

    #[test]
    fn recursive_attributes() {
        let m = opts(&["rbind", "rro", "rnosuid", "rnoatime"]);
        assert_eq!(m.rec_attr_set, attr::RDONLY | attr::NOSUID | attr::NOATIME);
        assert_eq!(m.rec_attr_clr & attr::ATIME_MASK, attr::ATIME_MASK);
        let m = opts(&["rro", "rrw"]);
        assert_eq!(m.rec_attr_set, 0);
        assert_eq!(m.rec_attr_clr, attr::RDONLY);
    }

    #[test]
    fn rootfs_propagation_values() {
        assert_eq!(
            parse_propagation("rslave").unwrap(),
            MsFlags::MS_SLAVE | MsFlags::MS_REC
        );
        let e = parse_propagation("sideways").unwrap_err().to_string();
        assert!(e.contains("linux.rootfsPropagation"), "{e}");
    }

    #[test]
    fn mount_label_goes_to_filesystems_that_take_it() {
        let l = Some("system_u:object_r:container_file_t:s0:c1,c2");
        let ctx = "context=\"system_u:object_r:container_file_t:s0:c1,c2\"".to_string();
        let with = |t: &str, bind: bool, d: &[&str], l: Option<&str>| {
            let mut v: Vec<String> = d.iter().map(|s| s.to_string()).collect();
            add_mount_label(t, bind, &mut v, l);
            v
        };
        assert_eq!(
            with("tmpfs", false, &["mode=755"], l),
            vec!["mode=755".into(), ctx.clone()]
        );
        assert_eq!(with("devpts", false, &[], l), vec![ctx]);
        assert!(with("proc", false, &[], l).is_empty());
        assert!(with("mqueue", false, &[], l).is_empty());
        assert!(with("none", true, &[], l).is_empty());
        assert!(with("tmpfs", false, &[], None).is_empty());
        // An explicit context in the config wins.
        assert_eq!(
            with("tmpfs", false, &["context=\"a\""], l),
            vec!["context=\"a\"".to_string()]
        );
    }
}
