//! The container's `config.json`: the runtime spec's defaults (the mounts, masked and
//! read-only paths every engine uses), the image's process as the flags changed it, Docker's
//! capabilities and seccomp profile, the namespaces the network mode wants, the mounts and
//! the resource limits. Pure: no I/O.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use berth_image::bundle::ResolvedUser;
use oci_spec::runtime::{
    LinuxCpu, LinuxMemory, LinuxNamespace, LinuxNamespaceType, LinuxPids, LinuxResources,
    LinuxSeccomp, Mount, Process, Root, Spec, User,
};

use crate::options::NetworkMode;

/// Everything the spec is made of.
#[derive(Debug, Clone)]
pub struct SpecInput {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub user: ResolvedUser,
    pub tty: bool,
    /// `None`: the host's UTS namespace (`--network host` without `--hostname`).
    pub hostname: Option<String>,
    pub network: NetworkMode,
    /// The pinned network namespace to join (not for `host`).
    pub netns: PathBuf,
    pub capabilities: BTreeSet<String>,
    pub seccomp: Option<LinuxSeccomp>,
    pub no_new_privileges: bool,
    pub readonly_root: bool,
    /// The user's mounts (volumes, binds, tmpfs), in the order given.
    pub mounts: Vec<Mount>,
    /// `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`: the files to bind over them.
    pub etc_files: Vec<(PathBuf, PathBuf)>,
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub pids_limit: Option<i64>,
    pub annotations: HashMap<String, String>,
}

fn bind(dst: &Path, src: &Path, ro: bool) -> Mount {
    let mut m = Mount::default();
    m.set_destination(dst.to_path_buf());
    m.set_typ(Some("bind".into()));
    m.set_source(Some(src.to_path_buf()));
    let mut o = vec!["rbind".to_string(), "rprivate".into()];
    if ro {
        o.push("ro".into());
    }
    m.set_options(Some(o));
    m
}

/// How deep a path is: parents are mounted before their children.
fn depth(p: &Path) -> usize {
    p.components().count()
}

/// Builds the spec.
pub fn build(i: &SpecInput) -> Spec {
    let mut spec = Spec::default();
    let mut process = Process::default();
    process.set_terminal(Some(i.tty));
    process.set_args(Some(i.args.clone()));
    process.set_env(Some(i.env.clone()));
    process.set_cwd(PathBuf::from(&i.cwd));
    let mut user = User::default();
    user.set_uid(i.user.uid);
    user.set_gid(i.user.gid);
    if !i.user.additional_gids.is_empty() {
        user.set_additional_gids(Some(i.user.additional_gids.clone()));
    }
    process.set_user(user);
    process.set_capabilities(Some(crate::capabilities::linux_capabilities(
        &i.capabilities,
    )));
    process.set_no_new_privileges(Some(i.no_new_privileges));
    // The engines set no rlimits: the container inherits berth's.
    process.set_rlimits(None);
    spec.set_process(Some(process));

    let mut root = Root::default();
    root.set_path(PathBuf::from("rootfs"));
    root.set_readonly(Some(i.readonly_root));
    spec.set_root(Some(root));
    spec.set_hostname(i.hostname.clone());

    // The defaults' mounts, then the /etc files unless the user mounts over them, then the
    // user's mounts, parents before children (a stable sort keeps the given order otherwise).
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    for (dst, src) in &i.etc_files {
        if !i.mounts.iter().any(|m| m.destination() == dst) {
            mounts.push(bind(dst, src, false));
        }
    }
    let mut user_mounts = i.mounts.clone();
    user_mounts.sort_by_key(|m| depth(m.destination()));
    mounts.extend(user_mounts);
    spec.set_mounts(Some(mounts));

    let mut linux = spec.linux().clone().unwrap_or_default();
    let mut namespaces = Vec::new();
    for typ in [
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Cgroup,
    ] {
        let mut ns = LinuxNamespace::default();
        ns.set_typ(typ);
        namespaces.push(ns);
    }
    if i.hostname.is_some() {
        let mut ns = LinuxNamespace::default();
        ns.set_typ(LinuxNamespaceType::Uts);
        namespaces.push(ns);
    }
    if i.network != NetworkMode::Host {
        let mut ns = LinuxNamespace::default();
        ns.set_typ(LinuxNamespaceType::Network);
        ns.set_path(Some(i.netns.clone()));
        namespaces.push(ns);
    }
    linux.set_namespaces(Some(namespaces));
    linux.set_seccomp(i.seccomp.clone());

    let mut resources: LinuxResources = linux.resources().clone().unwrap_or_default();
    if i.memory.is_some() || i.memory_swap.is_some() {
        let mut m = LinuxMemory::default();
        m.set_limit(i.memory);
        m.set_swap(i.memory_swap);
        resources.set_memory(Some(m));
    }
    if let Some(q) = i.cpu_quota {
        let mut c = LinuxCpu::default();
        c.set_quota(Some(q));
        c.set_period(Some(crate::options::CPU_PERIOD));
        resources.set_cpu(Some(c));
    }
    if let Some(p) = i.pids_limit {
        let mut pids = LinuxPids::default();
        pids.set_limit(p);
        resources.set_pids(Some(pids));
    }
    linux.set_resources(Some(resources));
    spec.set_linux(Some(linux));
    spec.set_annotations(Some(i.annotations.clone()));
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> SpecInput {
        SpecInput {
            args: vec!["sh".into()],
            env: vec!["PATH=/bin".into()],
            cwd: "/".into(),
            user: ResolvedUser {
                uid: 1,
                gid: 2,
                additional_gids: vec![3],
                username: None,
                home: None,
            },
            tty: true,
            hostname: Some("h".into()),
            network: NetworkMode::Bridge,
            netns: "/s/containers/x/netns".into(),
            capabilities: crate::capabilities::DEFAULT
                .iter()
                .map(|s| s.to_string())
                .collect(),
            seccomp: None,
            no_new_privileges: true,
            readonly_root: true,
            mounts: vec![
                bind(Path::new("/a/b"), Path::new("/v2"), true),
                bind(Path::new("/a"), Path::new("/v1"), false),
                bind(Path::new("/etc/hosts"), Path::new("/mine"), false),
            ],
            etc_files: vec![
                ("/etc/hosts".into(), "/c/hosts".into()),
                ("/etc/hostname".into(), "/c/hostname".into()),
            ],
            memory: Some(64 << 20),
            memory_swap: None,
            cpu_quota: Some(50_000),
            pids_limit: Some(10),
            annotations: HashMap::new(),
        }
    }

    #[test]
    fn process_namespaces_mounts_and_limits() {
        let s = build(&input());
        let p = s.process().as_ref().unwrap();
        assert_eq!(p.terminal(), Some(true));
        assert_eq!((p.user().uid(), p.user().gid()), (1, 2));
        assert_eq!(p.no_new_privileges(), Some(true));
        assert_eq!(
            p.capabilities()
                .as_ref()
                .unwrap()
                .bounding()
                .as_ref()
                .unwrap()
                .len(),
            crate::capabilities::DEFAULT.len()
        );
        assert!(s.root().as_ref().unwrap().readonly().unwrap());
        let ns = s.linux().as_ref().unwrap().namespaces().as_ref().unwrap();
        let net = ns
            .iter()
            .find(|n| n.typ() == LinuxNamespaceType::Network)
            .unwrap();
        assert_eq!(
            net.path().as_deref(),
            Some(Path::new("/s/containers/x/netns"))
        );
        assert!(ns.iter().any(|n| n.typ() == LinuxNamespaceType::Uts));
        let dsts: Vec<PathBuf> = s
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| m.destination().clone())
            .collect();
        let pos = |d: &str| dsts.iter().position(|x| x == Path::new(d)).unwrap();
        assert!(pos("/proc") < pos("/etc/hostname"));
        assert!(pos("/a") < pos("/a/b"), "parents before children: {dsts:?}");
        // The user's own /etc/hosts replaces the engine's.
        assert_eq!(
            dsts.iter()
                .filter(|d| d == &Path::new("/etc/hosts"))
                .count(),
            1
        );
        let r = s.linux().as_ref().unwrap().resources().as_ref().unwrap();
        assert_eq!(r.memory().as_ref().unwrap().limit(), Some(64 << 20));
        assert_eq!(r.cpu().as_ref().unwrap().quota(), Some(50_000));
        assert_eq!(r.pids().as_ref().unwrap().limit(), 10);
    }

    #[test]
    fn host_network_shares_the_hosts_namespaces() {
        let mut i = input();
        i.network = NetworkMode::Host;
        i.hostname = None;
        let s = build(&i);
        let ns = s.linux().as_ref().unwrap().namespaces().as_ref().unwrap();
        assert!(!ns.iter().any(|n| matches!(
            n.typ(),
            LinuxNamespaceType::Network | LinuxNamespaceType::Uts
        )));
        assert!(s.hostname().is_none());
    }
}
