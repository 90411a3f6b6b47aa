//! Facts about the host that planning depends on, gathered once and passed in: planning itself
//! stays a pure function of the config and these facts.

use std::sync::OnceLock;

/// What the plan needs to know about the host and the caller.
#[derive(Debug, Clone)]
pub struct HostFacts {
    /// The runtime's capability bounding set (what can be granted at all), as a bit mask.
    pub bounding: u64,
    /// How the host mounts cgroups.
    pub cgroup_mode: berth_cgroups::CgroupMode,
    /// Whether AppArmor and SELinux are enabled.
    pub apparmor: bool,
    pub selinux: bool,
    /// The effective uid of the runtime (non-zero: rootless).
    pub euid: u32,
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
                let bounding = caps::read(None, caps::CapSet::Bounding)
                    .map(|s| s.iter().fold(0u64, |m, c| m | c.bitmask()))
                    .unwrap_or(0);
                HostFacts {
                    bounding,
                    cgroup_mode: berth_cgroups::detect()
                        .unwrap_or(berth_cgroups::CgroupMode::Unified),
                    apparmor: apparmor_enabled(),
                    selinux: std::path::Path::new("/sys/fs/selinux/enforce").exists(),
                    euid: nix::unistd::geteuid().as_raw(),
                    listen_fds: 0,
                }
            })
            .clone()
    }

    /// Whether the runtime runs without root privileges.
    pub fn rootless(&self) -> bool {
        self.euid != 0
    }
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
            cgroup_mode: berth_cgroups::CgroupMode::Unified,
            apparmor: false,
            selinux: false,
            euid: 0,
            listen_fds: 0,
        }
    }
}
