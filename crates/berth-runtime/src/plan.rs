//! `config.json` → [`Plan`]: every spec field validated and translated in one place, no I/O
//! beyond resolving the bundle's rootfs path.

use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use oci_spec::runtime::{Hooks, Linux, Spec};

use crate::devices::{self, DeviceNode};
use crate::mounts::{self, MountOptions};
use crate::namespaces::{self, NamespacePlan};
use crate::process::{self, ProcessPlan};
use crate::{Error, Result};

/// The annotation through which `berth image bundle` asks for an overlayfs root: its value is
/// the overlay mount data (`lowerdir=...,upperdir=...,workdir=...`). The init mounts it inside
/// the container's own mount namespace, so it disappears with the container.
pub const OVERLAY_ANNOTATION: &str = "dev.berth.rootfs.overlay";

/// One entry of `mounts`, validated.
#[derive(Debug, Clone)]
pub struct MountPlan {
    pub index: usize,
    pub destination: PathBuf,
    pub typ: String,
    pub source: Option<PathBuf>,
    pub options: MountOptions,
    /// For an idmapped mount: the mount's own uid and gid maps, or `None` to use the
    /// container's user namespace.
    pub idmap: Option<Option<(String, String)>>,
}

/// A validated container configuration, ready for [`crate::create`].
#[derive(Debug, Clone)]
pub struct Plan {
    pub id: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub readonly_root: bool,
    pub ns: NamespacePlan,
    pub uid_map: Option<String>,
    pub gid_map: Option<String>,
    pub time_offsets: Option<String>,
    pub mounts: Vec<MountPlan>,
    /// Propagation applied to the whole mount namespace first (default `rslave`).
    pub root_propagation: MsFlags,
    /// Whether `/dev` is the container's own (not bind-mounted from the host): then berth
    /// creates the device nodes and symlinks.
    pub setup_dev: bool,
    pub devices: Vec<DeviceNode>,
    pub masked_paths: Vec<PathBuf>,
    pub readonly_paths: Vec<PathBuf>,
    pub sysctl: Vec<(String, String)>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub overlay: Option<String>,
    pub process: ProcessPlan,
    pub hooks: Hooks,
    pub cgroups_path: String,
    pub no_pivot: bool,
    /// Join a new session keyring named after the container (runc's default), so the
    /// container does not share the caller's keys.
    pub new_keyring: bool,
    pub seccomp: Option<crate::seccomp::SeccompPlan>,
    pub spec: Spec,
    /// What was ignored: unknown properties, unknown syscall names. The caller logs them.
    pub warnings: Vec<String>,
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
            idmap,
        });
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

/// Builds the plan for container `id` from the bundle's spec.
pub fn build(id: &str, bundle: &Path, spec: Spec) -> Result<Plan> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::config("root", "missing"))?;
    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        bundle.join(root.path())
    };
    let rootfs = std::fs::canonicalize(&rootfs).map_err(|e| Error::io("root.path", &rootfs, e))?;
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
    let mut process = process::plan("process", proc)?;
    let mount_label = linux.mount_label().as_deref().filter(|l| !l.is_empty());
    if mount_label.is_some() && !crate::lsm::selinux_enabled() {
        return Err(Error::config(
            "linux.mountLabel",
            "SELinux is not enabled on this host",
        ));
    }
    process.attributes = crate::attributes::plan(
        "process",
        proc,
        linux.personality().as_ref(),
        linux.memory_policy().as_ref(),
    )?;
    let mut mounts = plan_mounts(&spec, bundle)?;
    for m in &mut mounts {
        crate::lsm::add_mount_label(&m.typ, m.options.bind, &mut m.options.data, mount_label);
    }
    if !ns.has(CloneFlags::CLONE_NEWNS) && !mounts.is_empty() {
        return Err(Error::config(
            "linux.namespaces",
            "mounts need a private mount namespace",
        ));
    }
    if let Some(m) = mounts.iter().find(|m| m.idmap == Some(None)) {
        if !ns.new_user {
            return Err(Error::config(
                format!("mounts[{}].options", m.index),
                "an idmapped mount without its own uidMappings needs a new user namespace",
            ));
        }
    }
    let root_propagation = match linux.rootfs_propagation().as_deref() {
        None | Some("") => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        Some(p) => mounts::parse_propagation(p)?,
    };
    let setup_dev = !mounts
        .iter()
        .any(|m| m.destination == Path::new("/dev") && m.options.bind);
    let devices = devices::plan(linux.devices().as_deref().unwrap_or_default())?;
    let cgroups_path = match linux.cgroups_path() {
        Some(p) if !p.as_os_str().is_empty() => p.to_string_lossy().into_owned(),
        _ => format!("/berth/{id}"),
    };
    let seccomp = match linux.seccomp() {
        Some(s) => Some(crate::seccomp::plan(s, process.no_new_privileges)?),
        None => None,
    };
    let overlay = spec
        .annotations()
        .as_ref()
        .and_then(|a| a.get(OVERLAY_ANNOTATION))
        .cloned();
    Ok(Plan {
        id: id.to_string(),
        bundle: bundle.to_path_buf(),
        rootfs,
        readonly_root: root.readonly().unwrap_or(false),
        uid_map: linux.uid_mappings().as_ref().map(|m| namespaces::id_map(m)),
        gid_map: linux.gid_mappings().as_ref().map(|m| namespaces::id_map(m)),
        time_offsets: time_offsets(linux),
        sysctl: plan_sysctl(linux, &ns)?,
        ns,
        mounts,
        root_propagation,
        setup_dev,
        devices,
        masked_paths: absolute_paths("linux.maskedPaths", linux.masked_paths())?,
        readonly_paths: absolute_paths("linux.readonlyPaths", linux.readonly_paths())?,
        hostname: spec.hostname().clone().filter(|h| !h.is_empty()),
        domainname: spec.domainname().clone().filter(|h| !h.is_empty()),
        overlay,
        process,
        hooks: spec.hooks().clone().unwrap_or_default(),
        cgroups_path,
        no_pivot: false,
        new_keyring: true,
        warnings: seccomp
            .as_ref()
            .map(|s| s.filter.warnings().to_vec())
            .unwrap_or_default(),
        seccomp,
        spec,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle_with(config: &str) -> (tempfile::TempDir, Result<Plan>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        let spec = crate::spec::parse(config.as_bytes()).unwrap();
        let plan = build("t1", dir.path(), spec);
        (dir, plan)
    }

    const BASE: &str = r#""ociVersion":"1.0.2","root":{"path":"rootfs"},
        "process":{"user":{"uid":0,"gid":0},"cwd":"/","args":["/bin/true"]}"#;

    #[test]
    fn default_spec_plans() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        let plan = build("x", dir.path(), crate::spec::default_spec(false)).unwrap();
        assert!(plan
            .ns
            .clone_flags
            .contains(CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS));
        assert_eq!(plan.cgroups_path, "/berth/x");
        assert!(plan.setup_dev);
        assert!(plan.readonly_root);
        assert_eq!(plan.mounts[0].destination, Path::new("/proc"));
    }

    #[test]
    fn missing_rootfs_names_root_path() {
        let dir = tempfile::tempdir().unwrap();
        let spec = crate::spec::parse(format!("{{{BASE}}}").as_bytes()).unwrap();
        let e = build("x", dir.path(), spec).unwrap_err().to_string();
        assert!(e.starts_with("root.path"), "{e}");
    }

    #[test]
    fn relative_mount_destination_is_rejected() {
        let (_d, p) = bundle_with(&format!(
            r#"{{{BASE},"linux":{{"namespaces":[{{"type":"mount"}}]}},"mounts":[{{"destination":"tmp","type":"tmpfs","source":"tmpfs"}}]}}"#
        ));
        assert!(p
            .unwrap_err()
            .to_string()
            .starts_with("mounts[0].destination"));
    }

    #[test]
    fn hostname_needs_uts_namespace() {
        let (_d, p) = bundle_with(&format!(r#"{{{BASE},"hostname":"h"}}"#));
        assert!(p.unwrap_err().to_string().starts_with("hostname"));
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
            p.unwrap().sysctl,
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
            p.mounts[0].source.as_deref(),
            Some(d.path().join("data").as_path())
        );
        assert!(p.mounts[0].options.recursive);
    }
}
