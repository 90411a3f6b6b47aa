//! `features`: what this build and this kernel support, probed rather than hard-coded.

use std::path::Path;

use crate::plan::mounts;

const MOUNT_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "idmap",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "ratime",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "ridmap",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "tmpcopyup",
    "unbindable",
];

/// The namespace types present in `/proc/self/ns`.
fn namespaces() -> Vec<&'static str> {
    [
        ("cgroup", "cgroup"),
        ("ipc", "ipc"),
        ("mount", "mnt"),
        ("network", "net"),
        ("pid", "pid"),
        ("user", "user"),
        ("uts", "uts"),
        ("time", "time"),
    ]
    .into_iter()
    .filter(|(_, f)| Path::new("/proc/self/ns").join(f).exists())
    .map(|(n, _)| n)
    .collect()
}

fn capabilities() -> Vec<String> {
    let last: u8 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40);
    caps::all()
        .into_iter()
        .filter(|c| c.index() <= last)
        .map(|c| c.to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The `linux.cgroup` part: probed from the host's cgroup mounts.
fn cgroup() -> serde_json::Value {
    let mode = berth_cgroups::detect().ok();
    let v2 = matches!(mode, Some(berth_cgroups::CgroupMode::Unified));
    serde_json::json!({
        "v1": !v2,
        "v2": v2,
        "mode": mode.map(|m| m.as_str()),
        "systemd": berth_cgroups::systemd::probe(berth_cgroups::systemd::Instance::System).is_some(),
        "systemdUser": berth_cgroups::systemd::probe(berth_cgroups::systemd::Instance::User).is_some(),
        "rdma": std::path::Path::new("/sys/fs/cgroup/rdma").exists() || v2,
    })
}

/// What an unprivileged user can run here: user namespaces, and the id-map helpers for more
/// than one id.
fn rootless() -> serde_json::Value {
    let max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let clone_ok = std::fs::read_to_string("/proc/sys/kernel/unprivileged_userns_clone")
        .map(|s| s.trim() != "0")
        .unwrap_or(true);
    let helper = |name: &str| {
        std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
    };
    serde_json::json!({
        "enabled": max > 0 && clone_ok,
        "idMapHelpers": helper("newuidmap") && helper("newgidmap"),
    })
}

/// CRIU's version if checkpoint and restore work here: the criu binary `bin` (a name is
/// looked up in `PATH`) is recent enough and answers a feature check, which it does only
/// once it has examined this kernel (as a dump would). CRIU caches what it learns of the
/// kernel in `/run/criu.kdat`, so the question is cheap after the first time.
pub fn criu(bin: &Path) -> Option<String> {
    let v = berth_criu::version(bin).ok()?;
    (v.number() >= crate::container::criu_min_version() && berth_criu::usable(bin).is_ok())
        .then(|| v.to_string())
}

/// The features document (runtime-spec features.md), probed from this host, with `criu`
/// in `PATH` as the checkpoint binary.
pub fn document() -> serde_json::Value {
    document_with_criu(Path::new("criu"))
}

/// [`document`], with checkpoint and restore judged by the criu binary `criu_bin` (runc's
/// `--criu`).
pub fn document_with_criu(criu_bin: &Path) -> serde_json::Value {
    let (cgroup, seccomp) = (cgroup(), seccomp());
    let criu = criu(criu_bin);
    let mut annotations = serde_json::json!({
        "io.github.berth.version": env!("CARGO_PKG_VERSION"),
        "io.github.berth.checkpoint.enabled": criu.is_some().to_string(),
    });
    if let Some(v) = criu {
        annotations["io.github.berth.criu.version"] = v.into();
    }
    debug_assert!(MOUNT_OPTIONS
        .iter()
        .all(|o| !mounts::parse_options(&[o.to_string()])
            .data
            .iter()
            .any(|d| d == o)));
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": oci_spec::runtime::VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": MOUNT_OPTIONS,
        "linux": {
            "namespaces": namespaces(),
            "capabilities": capabilities(),
            "cgroup": cgroup,
            "seccomp": seccomp,
            "apparmor": { "enabled": Path::new("/sys/kernel/security/apparmor").exists() },
            "selinux": { "enabled": Path::new("/sys/fs/selinux/enforce").exists() },
            "intelRdt": { "enabled": false },
            "mountExtensions": { "idmap": { "enabled": true } },
            "rootless": rootless(),
            "memoryPolicy": {
                "modes": ["MPOL_DEFAULT", "MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE", "MPOL_PREFERRED", "MPOL_PREFERRED_MANY", "MPOL_LOCAL"],
                "flags": ["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES"],
            },
        },
        "annotations": annotations,
    })
}

/// The `linux.seccomp` part of `features`: what berth-seccomp compiles, filtered by what the
/// kernel says it supports (`/proc/sys/kernel/seccomp/actions_avail`).
pub fn seccomp() -> serde_json::Value {
    let avail =
        std::fs::read_to_string("/proc/sys/kernel/seccomp/actions_avail").unwrap_or_default();
    let kernel: Vec<&str> = avail.split_whitespace().collect();
    let actions: Vec<&str> = [
        ("SCMP_ACT_ALLOW", "allow"),
        ("SCMP_ACT_ERRNO", "errno"),
        ("SCMP_ACT_KILL", "kill_thread"),
        ("SCMP_ACT_KILL_THREAD", "kill_thread"),
        ("SCMP_ACT_KILL_PROCESS", "kill_process"),
        ("SCMP_ACT_LOG", "log"),
        ("SCMP_ACT_NOTIFY", "user_notif"),
        ("SCMP_ACT_TRACE", "trace"),
        ("SCMP_ACT_TRAP", "trap"),
    ]
    .into_iter()
    .filter(|(_, k)| kernel.is_empty() || kernel.contains(k))
    .map(|(a, _)| a)
    .collect();
    serde_json::json!({
        "enabled": std::path::Path::new("/proc/sys/kernel/seccomp").exists(),
        "actions": actions,
        "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
        "archs": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
        "knownFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "supportedFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_listed_mount_option_is_understood() {
        for o in super::MOUNT_OPTIONS {
            let m = crate::plan::mounts::parse_options(&[o.to_string()]);
            assert!(m.data.is_empty(), "{o} is treated as fs data");
        }
    }

    #[test]
    fn probes_this_kernel() {
        let d = super::document();
        let ns = d["linux"]["namespaces"].as_array().unwrap();
        assert!(ns.iter().any(|n| n == "pid"));
        assert!(d["linux"]["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "CAP_SYS_ADMIN"));
    }
}
