//! Which namespaces a container gets: created by the init's `clone`, joined by path, or
//! unshared later (cgroup).

use std::path::PathBuf;

use nix::sched::CloneFlags;
use oci_spec::runtime::{Linux, LinuxNamespaceType};

use crate::{Error, Result};

/// `CLONE_NEWTIME`, which nix does not name.
pub const CLONE_NEWTIME: i32 = 0x80;

/// A namespace joined by path.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JoinNs {
    #[serde(with = "super::bits::clone_flags")]
    pub flag: CloneFlags,
    pub path: PathBuf,
    /// Its JSON path, for errors (`linux.namespaces[2].path`).
    pub field: String,
}

/// The namespace part of the plan.
///
/// The init is cloned by a short-lived helper process (see `setup`): the helper joins the
/// namespaces given by path (the user namespace first, so that it owns what is created next;
/// pid and time apply to the helper's children), then clones the init with the new ones.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NamespacePlan {
    /// Namespaces created by the clone of the init (`CLONE_NEWUSER` included when the user
    /// namespace is new, so it owns the others).
    #[serde(with = "super::bits::clone_flags")]
    pub clone_flags: CloneFlags,
    /// Namespaces joined by path, user namespace first.
    pub join: Vec<JoinNs>,
    /// A new cgroup namespace: unshared by the init only once it is in its cgroup, so that
    /// the namespace's root is the container's cgroup.
    pub new_cgroup: bool,
    /// A new time namespace: unshared by the helper, offsets written before the clone.
    pub new_time: bool,
    /// The user namespace is new (the parent writes the id maps).
    pub new_user: bool,
}

impl Default for NamespacePlan {
    fn default() -> Self {
        NamespacePlan {
            clone_flags: CloneFlags::empty(),
            join: Vec::new(),
            new_cgroup: false,
            new_time: false,
            new_user: false,
        }
    }
}

impl NamespacePlan {
    /// Whether the container has a private namespace (new or joined) of `flag`'s type.
    pub fn has(&self, flag: CloneFlags) -> bool {
        self.clone_flags.contains(flag)
            || self.join.iter().any(|j| j.flag == flag)
            || (flag == CloneFlags::CLONE_NEWCGROUP && self.new_cgroup)
            || (flag.bits() == CLONE_NEWTIME && self.new_time)
    }

    /// Whether `flag`'s namespace is newly created for this container.
    pub fn is_new(&self, flag: CloneFlags) -> bool {
        self.clone_flags.contains(flag)
            || (flag == CloneFlags::CLONE_NEWCGROUP && self.new_cgroup)
            || (flag.bits() == CLONE_NEWTIME && self.new_time)
    }

    /// Whether the init runs in a user namespace other than the runtime's (new or joined).
    pub fn in_user_ns(&self) -> bool {
        self.new_user
            || self
                .join
                .iter()
                .any(|j| j.flag == CloneFlags::CLONE_NEWUSER)
    }
}

/// The clone flag of a namespace type.
pub fn flag_of(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(CLONE_NEWTIME),
    }
}

/// The `/proc/<pid>/ns/` file name of a namespace flag.
pub fn proc_name(flag: CloneFlags) -> &'static str {
    match flag {
        f if f == CloneFlags::CLONE_NEWNS => "mnt",
        f if f == CloneFlags::CLONE_NEWCGROUP => "cgroup",
        f if f == CloneFlags::CLONE_NEWUTS => "uts",
        f if f == CloneFlags::CLONE_NEWIPC => "ipc",
        f if f == CloneFlags::CLONE_NEWUSER => "user",
        f if f == CloneFlags::CLONE_NEWPID => "pid",
        f if f == CloneFlags::CLONE_NEWNET => "net",
        _ => "time",
    }
}

/// The `/proc/<pid>/ns/` name of a namespace type given by its flag bits.
pub fn name_of_bits(bits: i32) -> &'static str {
    proc_name(CloneFlags::from_bits_retain(bits))
}

/// The order in which `exec` joins a running container's namespaces: user first (it grants
/// the capabilities needed for the others), mount last (it changes how paths resolve).
pub const JOIN_ORDER: [CloneFlags; 8] = [
    CloneFlags::CLONE_NEWUSER,
    CloneFlags::CLONE_NEWIPC,
    CloneFlags::CLONE_NEWUTS,
    CloneFlags::CLONE_NEWNET,
    CloneFlags::CLONE_NEWCGROUP,
    CloneFlags::from_bits_retain(CLONE_NEWTIME),
    CloneFlags::CLONE_NEWPID,
    CloneFlags::CLONE_NEWNS,
];

/// Builds the namespace plan from `linux.namespaces`, rejecting duplicates and bad paths.
pub fn plan(linux: &Linux) -> Result<NamespacePlan> {
    let mut p = NamespacePlan::default();
    let mut seen = CloneFlags::empty();
    let list = linux.namespaces().as_deref().unwrap_or_default();
    for (i, ns) in list.iter().enumerate() {
        let flag = flag_of(ns.typ());
        if seen.contains(flag) {
            return Err(Error::config(
                format!("linux.namespaces[{i}].type"),
                format!("duplicate namespace {:?}", ns.typ()),
            ));
        }
        seen |= flag;
        match ns.path() {
            Some(path) if !path.as_os_str().is_empty() => {
                let field = format!("linux.namespaces[{i}].path");
                if !path.is_absolute() {
                    return Err(Error::config(
                        field,
                        format!("{} is not an absolute path", path.display()),
                    ));
                }
                let j = JoinNs {
                    flag,
                    path: path.clone(),
                    field,
                };
                if flag == CloneFlags::CLONE_NEWUSER {
                    p.join.insert(0, j);
                } else {
                    p.join.push(j);
                }
            }
            _ => match ns.typ() {
                LinuxNamespaceType::Cgroup => p.new_cgroup = true,
                LinuxNamespaceType::Time => p.new_time = true,
                LinuxNamespaceType::User => {
                    p.new_user = true;
                    p.clone_flags |= flag;
                }
                _ => p.clone_flags |= flag,
            },
        }
    }
    let maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if p.new_user && linux.uid_mappings().as_ref().is_none_or(|m| m.is_empty()) {
        return Err(Error::config(
            "linux.uidMappings",
            "a new user namespace needs uid mappings",
        ));
    }
    if p.new_user && linux.gid_mappings().as_ref().is_none_or(|m| m.is_empty()) {
        return Err(Error::config(
            "linux.gidMappings",
            "a new user namespace needs gid mappings",
        ));
    }
    if maps && !p.new_user {
        return Err(Error::config(
            "linux.uidMappings",
            "id mappings are set but the container has no new user namespace",
        ));
    }
    if linux.time_offsets().as_ref().is_some_and(|m| !m.is_empty()) && !p.new_time {
        return Err(Error::config(
            "linux.timeOffsets",
            "time offsets need a new time namespace",
        ));
    }
    Ok(p)
}

/// The content of a `uid_map`/`gid_map` file for `linux.uidMappings`/`gidMappings`.
pub fn id_map(maps: &[oci_spec::runtime::LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linux(json: &str) -> Linux {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn new_namespaces_go_into_one_clone() {
        let l = linux(
            r#"{"namespaces":[{"type":"pid"},{"type":"network"},{"type":"mount"},{"type":"cgroup"}]}"#,
        );
        let p = plan(&l).unwrap();
        assert_eq!(
            p.clone_flags,
            CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWNS
        );
        assert!(p.new_cgroup);
        assert!(p.has(CloneFlags::CLONE_NEWCGROUP));
        assert!(!p.has(CloneFlags::CLONE_NEWUTS));
    }

    #[test]
    fn duplicates_are_rejected_with_the_field() {
        let l = linux(r#"{"namespaces":[{"type":"pid"},{"type":"pid"}]}"#);
        let e = plan(&l).unwrap_err().to_string();
        assert!(e.contains(": linux.namespaces[1].type: duplicate"), "{e}");
    }

    #[test]
    fn joined_paths_user_first_and_relative_rejected() {
        let l = linux(
            r#"{"namespaces":[{"type":"network","path":"/proc/1/ns/net"},{"type":"user","path":"/proc/1/ns/user"},{"type":"mount"}]}"#,
        );
        let p = plan(&l).unwrap();
        assert_eq!(p.join[0].flag, CloneFlags::CLONE_NEWUSER);
        assert_eq!(p.join[0].field, "linux.namespaces[1].path");
        assert_eq!(p.clone_flags, CloneFlags::CLONE_NEWNS);
        assert!(p.in_user_ns());
        let l = linux(r#"{"namespaces":[{"type":"network","path":"proc/1/ns/net"}]}"#);
        assert!(plan(&l)
            .unwrap_err()
            .to_string()
            .contains("linux.namespaces[0].path"));
    }

    #[test]
    fn user_namespace_needs_mappings_and_mappings_need_it() {
        let l = linux(r#"{"namespaces":[{"type":"user"}]}"#);
        assert!(plan(&l).unwrap_err().to_string().contains("uidMappings"));
        let l = linux(r#"{"uidMappings":[{"containerID":0,"hostID":1000,"size":1}]}"#);
        assert!(plan(&l).is_err());
        let l = linux(
            r#"{"namespaces":[{"type":"user"}],"uidMappings":[{"containerID":0,"hostID":1000,"size":10},{"containerID":10,"hostID":5000,"size":5}],"gidMappings":[{"containerID":0,"hostID":1000,"size":1}]}"#,
        );
        let p = plan(&l).unwrap();
        assert!(p.new_user && p.clone_flags.contains(CloneFlags::CLONE_NEWUSER));
        assert_eq!(
            id_map(l.uid_mappings().as_ref().unwrap()),
            "0 1000 10\n10 5000 5\n"
        );
    }

    #[test]
    fn time_offsets_need_time_namespace() {
        let l = linux(r#"{"timeOffsets":{"monotonic":{"secs":10,"nanosecs":0}}}"#);
        assert!(plan(&l)
            .unwrap_err()
            .to_string()
            .contains("linux.timeOffsets"));
    }
}
