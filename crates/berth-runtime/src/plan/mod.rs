//! `config.json` → [`Plan`]: every spec field validated and translated in one place, from the
//! config and the [`HostFacts`] alone (no I/O beyond resolving the bundle's rootfs path). The
//! plan is immutable once built; `create` executes it and the container's init receives the
//! part it carries out ([`InitPlan`], [`ProcessPlan`], [`SeccompPlan`]).

pub mod attributes;
mod bits;
pub mod capabilities;
pub mod devices;
pub mod host;
pub mod mounts;
pub mod namespaces;
pub mod process;
pub mod resources;
pub mod seccomp;
pub mod spec;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use oci_spec::runtime::{Hook, Hooks, Linux, LinuxIdMapping, LinuxSeccomp, Process, Spec};

pub use devices::DeviceNode;
pub use host::HostFacts;
pub use mounts::MountOptions;
pub use namespaces::NamespacePlan;
pub use process::ProcessPlan;
pub use resources::CgroupPlan;
pub use seccomp::SeccompPlan;

use crate::{Error, Result};

/// The annotation through which `berth image bundle` asks for an overlayfs root: its value is
/// the overlay mount data (`lowerdir=...,upperdir=...,workdir=...`). The init mounts it inside
/// the container's own mount namespace, so it disappears with the container.
pub const OVERLAY_ANNOTATION: &str = "dev.berth.rootfs.overlay";

/// One entry of `mounts`, validated.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MountPlan {
    pub index: usize,
    pub destination: PathBuf,
    pub typ: String,
    pub source: Option<PathBuf>,
    pub options: MountOptions,
    /// For an idmapped mount: the mount's own uid and gid maps, or `None` to use the
    /// container's user namespace.
    pub idmap: Option<Option<(String, String)>>,
    /// A bind mount whose detached tree the parent makes (with its attributes set) and sends
    /// to the init: idmapped mounts, and every bind mount of a container in a user namespace,
    /// whose sources only the runtime (host root) may be able to reach.
    pub from_parent: bool,
    /// Read-only, with later mounts under it: made read-write first and read-only once they
    /// exist (a read-only `/dev` with `/dev/pts` in it).
    pub ro_after_submounts: bool,
}

/// What `create` was asked besides the config.
#[derive(Debug, Clone, Copy)]
pub struct PlanInputs<'a> {
    pub id: &'a str,
    /// The bundle directory, canonical.
    pub bundle: &'a Path,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    /// fds 3.. passed to the container (`--preserve-fds`), besides socket activation's.
    pub preserve_fds: i32,
    pub systemd_cgroup: bool,
    pub host: &'a HostFacts,
}

/// The hook state template: what the runtime-spec "State" of a hook holds besides the status
/// and pid known when the hook runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HookContext {
    pub id: String,
    pub bundle: PathBuf,
    pub annotations: HashMap<String, String>,
}

/// The cgroup facts the init needs for `cgroup` mounts.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CgroupMountInfo {
    /// The container's cgroup, relative to a hierarchy's root.
    pub path: PathBuf,
    /// The host has only the unified hierarchy.
    pub unified: bool,
    /// The container has its own cgroup namespace: hierarchies are mounted afresh.
    pub cgroupns: bool,
}

/// What the container's init does between its clone and `execve`, besides the process part.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InitPlan {
    pub rootfs: PathBuf,
    pub readonly_root: bool,
    /// The container has its own mount namespace. Without one, every mount is made under the
    /// rootfs in the runtime's namespace (and `delete` removes them), and the root is entered
    /// with `chroot`.
    pub mount_ns: bool,
    pub mounts: Vec<MountPlan>,
    /// Propagation of the whole mount namespace (default `rslave`).
    #[serde(with = "bits::ms_flags")]
    pub root_propagation: MsFlags,
    /// The runtime itself runs in a user namespace (rootless podman's): no `mknod` even
    /// without a user namespace of the container's; the host's nodes are bound instead.
    pub runtime_in_user_ns: bool,
    /// Whether `/dev` is the container's own (not bound from the host): then berth creates
    /// the device nodes.
    pub setup_dev: bool,
    /// Whether `/dev` is a filesystem berth mounts (a tmpfs): nodes are made there with
    /// `mknod`, and the `/dev` symlinks are added. On the image's own `/dev` the host's nodes
    /// are bound instead and nothing of the image is replaced.
    pub own_dev: bool,
    pub devices: Vec<DeviceNode>,
    pub masked_paths: Vec<PathBuf>,
    pub readonly_paths: Vec<PathBuf>,
    pub sysctl: Vec<(String, String)>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub overlay: Option<String>,
    pub no_pivot: bool,
    /// The session keyring to join (`_ses.<id>`), unless `--no-new-keyring`.
    pub keyring: Option<String>,
    pub cgroup: CgroupMountInfo,
    pub create_container_hooks: Vec<Hook>,
    pub start_container_hooks: Vec<Hook>,
    pub hook_context: HookContext,
}

/// What `exec` takes from the container's config when no `--process` is given.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ExecDefaults {
    pub process: Option<Process>,
    pub seccomp: Option<LinuxSeccomp>,
    /// The namespace types the container made of its own (`/proc/<pid>/ns` names): `exec`
    /// joins those without comparing them with the caller's (a namespace made for the
    /// container is never the caller's). The other types it joins when the init's namespace
    /// differs from the caller's. `None` (a record from before it was kept): every type is
    /// compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_namespaces: Option<Vec<String>>,
}

/// A validated container configuration, ready for `create`.
#[derive(Debug, Clone)]
pub struct Plan {
    pub id: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub annotations: HashMap<String, String>,
    pub ns: NamespacePlan,
    pub uid_maps: Vec<LinuxIdMapping>,
    pub gid_maps: Vec<LinuxIdMapping>,
    /// `timens_offsets` content for a new time namespace.
    pub time_offsets: Option<String>,
    pub cgroup: CgroupPlan,
    pub hooks: Hooks,
    pub init: InitPlan,
    pub process: ProcessPlan,
    pub seccomp: Option<SeccompPlan>,
    /// fds 3 .. 3+preserve_fds go to the container (`--preserve-fds` and `LISTEN_FDS`).
    pub preserve_fds: i32,
    pub exec_defaults: ExecDefaults,
    /// What was ignored that the user should hear of. The caller logs them as warnings.
    pub warnings: Vec<String>,
    /// What was ignored as a matter of course: syscall names this architecture lacks, which
    /// the usual multi-architecture profiles (Docker's, podman's) always contain. The caller
    /// logs them at debug level (runc too): as warnings on stderr, engines that pass the
    /// runtime's stderr on would show them in every container's output.
    pub notes: Vec<String>,
}

fn absolute_paths(field: &str, list: &Option<Vec<String>>) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for (i, p) in list.as_deref().unwrap_or_default().iter().enumerate() {
        let path = PathBuf::from(p);
        if !path.is_absolute() {
            return Err(Error::config(
                format!("{field}[{i}]"),
                format!("{p} is not an absolute path"),
            ));
        }
        out.push(path);
    }
    Ok(out)
}

fn plan_mounts(spec: &Spec, bundle: &Path) -> Result<Vec<MountPlan>> {
    let mut out = Vec::new();
    for (i, m) in spec
        .mounts()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let field = format!("mounts[{i}]");
        let dest = m.destination();
        if !dest.is_absolute() {
            return Err(Error::config(
                format!("{field}.destination"),
                format!("{} is not an absolute path", dest.display()),
            ));
        }
        let mut options = mounts::parse_options(m.options().as_deref().unwrap_or_default());
        let typ = m.typ().clone().unwrap_or_default();
        if typ == "bind" {
            options.bind = true;
        }
        let source = m.source().as_ref().map(|s| {
            if options.bind && s.is_relative() {
                bundle.join(s)
            } else {
                s.clone()
            }
        });
        if options.bind && source.is_none() {
            return Err(Error::config(
                format!("{field}.source"),
                "a bind mount needs a source",
            ));
        }
        if !options.bind && typ.is_empty() {
            return Err(Error::config(
                format!("{field}.type"),
                "a mount that is not a bind mount needs a type",
            ));
        }
        let own_maps = m.uid_mappings().as_ref().is_some_and(|v| !v.is_empty())
            || m.gid_mappings().as_ref().is_some_and(|v| !v.is_empty());
        let idmap = if options.idmap || own_maps {
            if !options.bind {
                return Err(Error::config(
                    format!("{field}.options"),
                    "idmap is only supported on bind mounts",
                ));
            }
            match (m.uid_mappings(), m.gid_mappings()) {
                (Some(u), Some(g)) if !u.is_empty() && !g.is_empty() => {
                    Some(Some((namespaces::id_map(u), namespaces::id_map(g))))
                }
                _ if own_maps => {
                    return Err(Error::config(
                        format!("{field}.uidMappings"),
                        "an idmapped mount needs both uidMappings and gidMappings",
                    ))
                }
                _ => Some(None),
            }
        } else {
            None
        };
        out.push(MountPlan {
            index: i,
            destination: dest.clone(),
            typ,
            source,
            options,
            from_parent: idmap.is_some(),
            ro_after_submounts: false,
            idmap,
        });
    }
    for i in 0..out.len() {
        let ro = out[i].options.flags.contains(MsFlags::MS_RDONLY);
        let dest = out[i].destination.clone();
        out[i].ro_after_submounts = ro
            && out[i + 1..]
                .iter()
                .any(|m| m.destination != dest && m.destination.starts_with(&dest));
    }
    Ok(out)
}

fn plan_sysctl(linux: &Linux, ns: &NamespacePlan) -> Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = linux
        .sysctl()
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    out.sort();
    for (k, _) in &out {
        let field = format!("linux.sysctl.{k}");
        if k.contains("..") || k.starts_with('/') || k.contains('\0') {
            return Err(Error::config(field, "not a sysctl name"));
        }
        let ipc = k.starts_with("kernel.msg")
            || k.starts_with("kernel.sem")
            || k.starts_with("kernel.shm")
            || k.starts_with("fs.mqueue.");
        if ipc && !ns.has(CloneFlags::CLONE_NEWIPC) {
            return Err(Error::config(field, "needs a private ipc namespace"));
        }
        if k.starts_with("net.") && !ns.has(CloneFlags::CLONE_NEWNET) {
            return Err(Error::config(field, "needs a private network namespace"));
        }
        if (k == "kernel.hostname" || k == "kernel.domainname") && !ns.has(CloneFlags::CLONE_NEWUTS)
        {
            return Err(Error::config(field, "needs a private uts namespace"));
        }
        if !ipc && !k.starts_with("net.") && k != "kernel.hostname" && k != "kernel.domainname" {
            return Err(Error::config(
                field,
                "is not namespaced: it would change the host",
            ));
        }
    }
    Ok(out)
}

fn time_offsets(linux: &Linux) -> Option<String> {
    let offsets = linux.time_offsets().as_ref()?;
    let mut lines: Vec<String> = offsets
        .iter()
        .map(|(clock, o)| {
            format!(
                "{clock} {} {}\n",
                o.secs().unwrap_or(0),
                o.nanosecs().unwrap_or(0)
            )
        })
        .collect();
    lines.sort();
    Some(lines.concat())
}

/// The container's cgroup directory relative to a hierarchy's root, from `linux.cgroupsPath`.
/// `user`: the scope is made by the systemd of this user (a rootless runtime), whose units are
/// below its manager's cgroup, where logind starts it.
fn cgroup_relative(path: &str, id: &str, systemd: bool, user: Option<u32>) -> Result<PathBuf> {
    use berth_cgroups::CgroupsPath;
    let field = |e: berth_cgroups::CgroupError| Error::config("linux.cgroupsPath", e.to_string());
    Ok(
        match CgroupsPath::parse(path, id, systemd).map_err(field)? {
            CgroupsPath::Fs(rel) => rel,
            // systemd places a scope `prefix-name.scope` in the slice's cgroup: `a-b.slice` is
            // `a.slice/a-b.slice`.
            CgroupsPath::Systemd {
                slice,
                prefix,
                name,
            } => {
                let slice = match (slice.is_empty(), user) {
                    (false, _) => slice,
                    (true, None) => "system.slice".to_string(),
                    (true, Some(_)) => "user.slice".to_string(),
                };
                let mut rel = match user {
                    Some(u) => PathBuf::from(format!("user.slice/user-{u}.slice/user@{u}.service")),
                    None => PathBuf::new(),
                };
                let stem = slice.trim_end_matches(".slice");
                let mut acc = String::new();
                for part in stem.split('-') {
                    if !acc.is_empty() {
                        acc.push('-');
                    }
                    acc.push_str(part);
                    rel.push(format!("{acc}.slice"));
                }
                let unit = if prefix.is_empty() {
                    format!("{name}.scope")
                } else {
                    format!("{prefix}-{name}.scope")
                };
                rel.push(unit);
                rel
            }
        },
    )
}

/// Builds the plan for the container from its bundle's spec.
pub fn build(spec: Spec, inp: PlanInputs<'_>) -> Result<Plan> {
    let host = inp.host;
    let bundle = inp.bundle;
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::config("root", "missing"))?;
    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        bundle.join(root.path())
    };
    let rootfs = std::fs::canonicalize(&rootfs)
        .map_err(|e| Error::io("resolve root.path", &rootfs, e).in_field("root.path"))?;
    if !rootfs.is_dir() {
        return Err(Error::config(
            "root.path",
            format!("{} is not a directory", rootfs.display()),
        ));
    }
    // No `linux` section means no namespaces at all (oci-spec's Default would add some).
    let default_linux: Linux = serde_json::from_str("{}").expect("empty linux section");
    let linux = spec.linux().as_ref().unwrap_or(&default_linux);
    let ns = namespaces::plan(linux)?;
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty()) && !ns.has(CloneFlags::CLONE_NEWUTS)
    {
        return Err(Error::config(
            "hostname",
            "setting the hostname needs a private uts namespace",
        ));
    }
    if spec.domainname().as_ref().is_some_and(|h| !h.is_empty())
        && !ns.has(CloneFlags::CLONE_NEWUTS)
    {
        return Err(Error::config(
            "domainname",
            "setting the domainname needs a private uts namespace",
        ));
    }
    let proc = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::config("process", "missing"))?;
    let mut process = process::plan("process", proc, host)?;
    process.attributes = attributes::plan(
        "process",
        proc,
        linux.personality().as_ref(),
        linux.memory_policy().as_ref(),
    )?;
    let mut preserve_fds = inp.preserve_fds;
    // Socket activation: fds handed to the runtime under LISTEN_FDS go to the container, as
    // with runc.
    if host.listen_fds > 0 {
        preserve_fds += host.listen_fds;
        process
            .env
            .retain(|e| !e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID="));
        process.env.push(format!("LISTEN_FDS={}", host.listen_fds));
        process.env.push("LISTEN_PID=1".into());
    }
    let mount_label = linux.mount_label().as_deref().filter(|l| !l.is_empty());
    if mount_label.is_some() && !host.selinux {
        return Err(Error::config(
            "linux.mountLabel",
            "SELinux is not enabled on this host",
        ));
    }
    let mut mounts = plan_mounts(&spec, bundle)?;
    for m in &mut mounts {
        mounts::add_mount_label(&m.typ, m.options.bind, &mut m.options.data, mount_label);
    }
    if let Some(m) = mounts.iter().find(|m| m.idmap == Some(None)) {
        if !ns.new_user {
            return Err(Error::config(
                format!("mounts[{}].options", m.index),
                "an idmapped mount without its own uidMappings needs a new user namespace",
            ));
        }
    }
    // A rootless runtime cannot clone mount trees itself: the init binds them (with only
    // the caller's own access, which is all a rootless runtime has anyway).
    if ns.in_user_ns() && !host.rootless() {
        for m in mounts.iter_mut().filter(|m| m.options.bind) {
            m.from_parent = true;
        }
    }
    let root_propagation = match linux.rootfs_propagation().as_deref() {
        None | Some("") => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        Some(p) => mounts::parse_propagation(p)?,
    };
    let setup_dev = !mounts
        .iter()
        .any(|m| m.destination == Path::new("/dev") && m.options.bind);
    // Nodes are made with mknod only on a /dev that berth mounts itself.
    let own_dev = mounts
        .iter()
        .any(|m| m.destination == Path::new("/dev") && !m.options.bind);
    let devices = devices::plan(linux.devices().as_deref().unwrap_or_default())?;
    let systemd = inp.systemd_cgroup;
    let cgroup_path = match linux.cgroups_path() {
        Some(p) if !p.as_os_str().is_empty() => p.to_string_lossy().into_owned(),
        _ if systemd => format!(":berth:{}", inp.id),
        _ => format!("/berth/{}", inp.id),
    };
    let warnings = Vec::new();
    let mut notes = Vec::new();
    let seccomp = match linux.seccomp() {
        Some(s) => {
            let (plan, w) = seccomp::plan("linux.seccomp", s, process.no_new_privileges)?;
            notes.extend(w);
            Some(plan)
        }
        None => None,
    };
    let annotations = spec.annotations().clone().unwrap_or_default();
    let overlay = annotations.get(OVERLAY_ANNOTATION).cloned();
    let hooks = spec.hooks().clone().unwrap_or_default();
    let hook_context = HookContext {
        id: inp.id.to_string(),
        bundle: bundle.to_path_buf(),
        annotations: annotations.clone(),
    };
    let init = InitPlan {
        rootfs: rootfs.clone(),
        readonly_root: root.readonly().unwrap_or(false),
        mount_ns: ns.has(CloneFlags::CLONE_NEWNS),
        mounts,
        root_propagation,
        runtime_in_user_ns: inp.host.in_user_ns,
        setup_dev,
        own_dev,
        devices,
        masked_paths: absolute_paths("linux.maskedPaths", linux.masked_paths())?,
        readonly_paths: absolute_paths("linux.readonlyPaths", linux.readonly_paths())?,
        sysctl: plan_sysctl(linux, &ns)?,
        hostname: spec.hostname().clone().filter(|h| !h.is_empty()),
        domainname: spec.domainname().clone().filter(|h| !h.is_empty()),
        overlay,
        no_pivot: inp.no_pivot,
        keyring: (!inp.no_new_keyring).then(|| format!("_ses.{}", inp.id)),
        cgroup: CgroupMountInfo {
            path: cgroup_relative(
                &cgroup_path,
                inp.id,
                systemd,
                host.rootless().then_some(host.outer_uid),
            )?,
            unified: host.cgroup_mode() == berth_cgroups::CgroupMode::Unified,
            cgroupns: ns.has(CloneFlags::CLONE_NEWCGROUP),
        },
        create_container_hooks: hooks.create_container().clone().unwrap_or_default(),
        start_container_hooks: hooks.start_container().clone().unwrap_or_default(),
        hook_context,
    };
    let (resources, devices) = resources::for_create(linux.resources().as_ref());
    let exec_namespaces = namespaces::JOIN_ORDER
        .iter()
        .filter(|f| ns.is_new(**f))
        .map(|f| namespaces::proc_name(*f).to_string())
        .collect();
    Ok(Plan {
        id: inp.id.to_string(),
        bundle: bundle.to_path_buf(),
        rootfs,
        annotations,
        uid_maps: linux.uid_mappings().clone().unwrap_or_default(),
        gid_maps: linux.gid_mappings().clone().unwrap_or_default(),
        time_offsets: time_offsets(linux),
        ns,
        cgroup: CgroupPlan {
            path: cgroup_path,
            systemd,
            resources,
            devices,
        },
        hooks,
        init,
        exec_defaults: ExecDefaults {
            process: spec.process().clone(),
            seccomp: linux.seccomp().clone(),
            new_namespaces: Some(exec_namespaces),
        },
        process,
        seccomp,
        preserve_fds,
        warnings,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs<'a>(id: &'a str, bundle: &'a Path, host: &'a HostFacts) -> PlanInputs<'a> {
        PlanInputs {
            id,
            bundle,
            no_pivot: false,
            no_new_keyring: false,
            preserve_fds: 0,
            systemd_cgroup: false,
            host,
        }
    }

    fn bundle_with(config: &str) -> (tempfile::TempDir, Result<Plan>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        let spec = spec::parse(config.as_bytes()).unwrap();
        let host = HostFacts::for_tests();
        let plan = build(spec, inputs("t1", dir.path(), &host));
        (dir, plan)
    }

    const BASE: &str = r#""ociVersion":"1.0.2","root":{"path":"rootfs"},
        "process":{"user":{"uid":0,"gid":0},"cwd":"/","args":["/bin/true"]}"#;

    #[test]
    fn default_spec_plans() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        let host = HostFacts::for_tests();
        let plan = build(spec::default_spec(false), inputs("x", dir.path(), &host)).unwrap();
        assert!(plan
            .ns
            .clone_flags
            .contains(CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS));
        assert_eq!(plan.cgroup.path, "/berth/x");
        assert!(plan.init.setup_dev);
        assert!(plan.init.readonly_root);
        assert!(plan.init.mount_ns);
        assert_eq!(plan.init.mounts[0].destination, Path::new("/proc"));
    }

    #[test]
    fn missing_rootfs_names_root_path() {
        let dir = tempfile::tempdir().unwrap();
        let spec = spec::parse(format!("{{{BASE}}}").as_bytes()).unwrap();
        let host = HostFacts::for_tests();
        let e = build(spec, inputs("x", dir.path(), &host))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("root.path"), "{e}");
    }

    #[test]
    fn relative_mount_destination_is_rejected() {
        let (_d, p) = bundle_with(&format!(
            r#"{{{BASE},"linux":{{"namespaces":[{{"type":"mount"}}]}},"mounts":[{{"destination":"tmp","type":"tmpfs","source":"tmpfs"}}]}}"#
        ));
        assert!(p.unwrap_err().to_string().contains("mounts[0].destination"));
    }

    #[test]
    fn hostname_needs_uts_namespace() {
        let (_d, p) = bundle_with(&format!(r#"{{{BASE},"hostname":"h"}}"#));
        assert!(p.unwrap_err().to_string().contains(": hostname:"));
    }

    #[test]
    fn host_sysctls_are_refused() {
        let (_d, p) = bundle_with(&format!(
            r#"{{{BASE},"linux":{{"namespaces":[{{"type":"network"}}],"sysctl":{{"vm.swappiness":"1"}}}}}}"#
        ));
        assert!(p
            .unwrap_err()
            .to_string()
            .contains("linux.sysctl.vm.swappiness"));
        let (_d, p) = bundle_with(&format!(
            r#"{{{BASE},"linux":{{"namespaces":[{{"type":"network"}}],"sysctl":{{"net.ipv4.ip_forward":"1"}}}}}}"#
        ));
        assert_eq!(
            p.unwrap().init.sysctl,
            vec![("net.ipv4.ip_forward".into(), "1".into())]
        );
    }

    #[test]
    fn relative_bind_source_is_bundle_relative() {
        let (d, p) = bundle_with(&format!(
            r#"{{{BASE},"linux":{{"namespaces":[{{"type":"mount"}}]}},"mounts":[{{"destination":"/data","type":"bind","source":"data","options":["rbind","ro"]}}]}}"#
        ));
        let p = p.unwrap();
        assert_eq!(
            p.init.mounts[0].source.as_deref(),
            Some(d.path().join("data").as_path())
        );
        assert!(p.init.mounts[0].options.recursive);
    }

    #[test]
    fn no_mount_namespace_is_planned_not_refused() {
        let (_d, p) = bundle_with(&format!(
            r#"{{{BASE},"linux":{{"namespaces":[{{"type":"pid"}}]}},"mounts":[{{"destination":"/proc","type":"proc","source":"proc"}}]}}"#
        ));
        let p = p.unwrap();
        assert!(!p.init.mount_ns);
        assert_eq!(p.init.mounts.len(), 1);
    }

    #[test]
    fn socket_activation_fds_and_env() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        let spec = spec::parse(
            format!(r#"{{{BASE},"process":{{"user":{{"uid":0,"gid":0}},"cwd":"/","args":["a"],"env":["LISTEN_FDS=9","A=1"]}}}}"#)
                .as_bytes(),
        )
        .unwrap();
        let mut host = HostFacts::for_tests();
        host.listen_fds = 2;
        let mut inp = inputs("x", dir.path(), &host);
        inp.preserve_fds = 1;
        let p = build(spec, inp).unwrap();
        assert_eq!(p.preserve_fds, 3);
        assert_eq!(p.process.env, ["A=1", "LISTEN_FDS=2", "LISTEN_PID=1"]);
    }

    #[test]
    fn systemd_scope_of_a_rootless_runtime_is_below_the_user_manager() {
        let rel = |path, user| cgroup_relative(path, "c1", true, user).unwrap();
        assert_eq!(
            rel("a-b.slice:p:c1", None),
            Path::new("a.slice/a-b.slice/p-c1.scope")
        );
        assert_eq!(
            rel("user.slice:p:c1", Some(1001)),
            Path::new("user.slice/user-1001.slice/user@1001.service/user.slice/p-c1.scope")
        );
        assert_eq!(
            rel(":berth:c1", Some(1001)),
            Path::new("user.slice/user-1001.slice/user@1001.service/user.slice/berth-c1.scope")
        );
        assert_eq!(
            rel(":berth:c1", None),
            Path::new("system.slice/berth-c1.scope")
        );
    }
}
