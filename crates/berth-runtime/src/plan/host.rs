//! Facts about the host that planning depends on, gathered once and passed in: planning itself
//! stays a pure function of the config and these facts.

use std::sync::OnceLock;

/// What the plan needs to know about the host and the caller.
#[derive(Debug, Clone)]
pub struct HostFacts {
    /// The runtime's capability bounding set (what can be granted at all), as a bit mask.
    pub bounding: u64,
    /// How the host mounts cgroups; `None` until asked for (see [`HostFacts::cgroup_mode`]):
    /// it takes a read of mountinfo that `exec` and the other verbs on a running container
    /// do without.
    cgroup_mode: Option<berth_cgroups::CgroupMode>,
    /// Whether AppArmor and SELinux are enabled.
    pub apparmor: bool,
    pub selinux: bool,
    /// The effective uid of the runtime.
    pub euid: u32,
    /// The uid that `euid` is in the parent user namespace: not `euid` when the runtime runs in
    /// a user namespace (rootless podman runs it as uid 0 in the user's namespace).
    pub outer_uid: u32,
    /// Whether the runtime runs in a user namespace other than the host's (its uid map is not
    /// the identity of all ids), where `mknod` is refused even to root.
    pub in_user_ns: bool,
    /// Socket activation: fds 3.. handed to the runtime under `LISTEN_FDS` go to the container
    /// as well (the caller reads its own environment; the library never does).
    pub listen_fds: i32,
}

impl HostFacts {
    /// Probes this host (cached: a host does not change under a running program). The caller
    /// sets `listen_fds` itself.
    pub fn probe() -> HostFacts {
        static CACHE: OnceLock<HostFacts> = OnceLock::new();
        CACHE
            .get_or_init(|| {
                let bounding = crate::sys::attrs::bounding_set();
                let euid = nix::unistd::geteuid().as_raw();
                // One read answers both: who we are outside, and whether there is an outside.
                let uid_map = std::fs::read_to_string("/proc/self/uid_map").ok();
                HostFacts {
                    bounding,
                    cgroup_mode: None,
                    apparmor: apparmor_enabled(),
                    selinux: std::path::Path::new("/sys/fs/selinux/enforce").exists(),
                    euid,
                    outer_uid: uid_map
                        .as_deref()
                        .and_then(|m| map_id(m, euid))
                        .unwrap_or(euid),
                    in_user_ns: uid_map.as_deref().is_some_and(|m| {
                        m.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"]
                    }),
                    listen_fds: 0,
                }
            })
            .clone()
    }

    /// How the host mounts cgroups (read on the first call in the process, then cached).
    pub fn cgroup_mode(&self) -> berth_cgroups::CgroupMode {
        self.cgroup_mode.unwrap_or_else(|| {
            berth_cgroups::detect().unwrap_or(berth_cgroups::CgroupMode::Unified)
        })
    }

    /// Whether the runtime runs without the host's root privileges: as another user, or as
    /// root of a user namespace that a user made (as runc, which then skips the cgroups it
    /// cannot write and uses the user's systemd and `$XDG_RUNTIME_DIR`).
    pub fn rootless(&self) -> bool {
        self.euid != 0 || self.outer_uid != 0
    }
}

/// `id` through the lines `inside outside count` of an id map.
fn map_id(map: &str, id: u32) -> Option<u32> {
    map.lines().find_map(|l| {
        let f: Vec<u64> = l
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        let [inside, outside, count] = f[..] else {
            return None;
        };
        let id = u64::from(id);
        (id >= inside && id - inside < count)
            .then(|| u32::try_from(outside + id - inside).ok())
            .flatten()
    })
}

fn apparmor_enabled() -> bool {
    std::path::Path::new("/sys/kernel/security/apparmor").exists()
        && std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
            .is_ok_and(|s| s.trim() == "Y")
}

#[cfg(test)]
impl HostFacts {
    /// Facts of an imaginary root-run v2 host with every capability, for plan tests.
    pub fn for_tests() -> HostFacts {
        HostFacts {
            bounding: u64::MAX,
            cgroup_mode: Some(berth_cgroups::CgroupMode::Unified),
            apparmor: false,
            selinux: false,
            euid: 0,
            outer_uid: 0,
            in_user_ns: false,
            listen_fds: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_id_translates_through_the_right_line() {
        let initial = "         0          0 4294967295\n";
        assert_eq!(map_id(initial, 0), Some(0));
        assert_eq!(map_id(initial, 1000), Some(1000));
        // Rootless podman's namespace: root is the user, the rest its subordinate range.
        let podman = "         0       1001          1\n         1     100000      65536\n";
        assert_eq!(map_id(podman, 0), Some(1001));
        assert_eq!(map_id(podman, 1), Some(100000));
        assert_eq!(map_id(podman, 65536), Some(165535));
        assert_eq!(map_id(podman, 65537), None);
    }

    #[test]
    fn root_of_a_users_namespace_is_rootless() {
        let mut h = HostFacts::for_tests();
        assert!(!h.rootless());
        h.outer_uid = 1001;
        assert!(h.rootless());
        h.outer_uid = 0;
        h.euid = 1001;
        assert!(h.rootless());
    }
}
