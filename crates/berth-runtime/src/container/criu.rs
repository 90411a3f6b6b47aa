//! What CRIU needs to know of a container, for `checkpoint` and `restore` alike: which of its
//! mounts and namespaces come from outside (CRIU neither dumps nor recreates those; the
//! runtime names them, and binds or hands them over again at restore), its standard fds,
//! where CRIU's log is, and whether CRIU can run at all.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;

use super::Runtime;
use crate::error::CriuError;
use crate::plan::{self, Plan, PlanInputs};
use crate::{Error, Result};

/// The file in the images directory that lists the init's stdio (runc's name and format: a
/// JSON array of the `/proc/<pid>/fd/{0,1,2}` link targets), so that pipes can be handed to
/// the restored process.
pub const DESCRIPTORS: &str = "descriptors.json";

/// CRIU's own configuration file for berth's requests, unless the container's annotation
/// `org.criu.config` names another (or, empty, none).
const CONFIG_FILE: &str = "/etc/criu/berth.conf";
const CONFIG_ANNOTATION: &str = "org.criu.config";

/// The oldest CRIU berth drives: 3.11 has the external network namespaces and configuration
/// files berth relies on (podman asks for the same).
pub const MIN_VERSION: i32 = 31100;

/// The criu binary of `rt`.
pub fn binary(rt: &Runtime) -> PathBuf {
    rt.criu.clone().unwrap_or_else(|| PathBuf::from("criu"))
}

/// CRIU's version, if it runs on this kernel and is recent enough.
pub fn require(rt: &Runtime, op: &'static str) -> Result<berth_criu::rpc::Version> {
    let v = berth_criu::version(&binary(rt)).map_err(|source| {
        Error::Criu(Box::new(CriuError {
            op,
            source,
            log: None,
            errors: Vec::new(),
        }))
    })?;
    if v.number() < MIN_VERSION {
        return Err(Error::Invalid {
            what: op,
            msg: format!("CRIU {v} is too old: berth needs 3.11 or newer"),
        });
    }
    Ok(v)
}

/// The `config_file` option of a request for a container with `annotations`.
pub fn config_file(annotations: &std::collections::HashMap<String, String>) -> Option<String> {
    match annotations.get(CONFIG_ANNOTATION) {
        Some(f) if f.is_empty() => None,
        Some(f) => Some(f.clone()),
        None => Some(CONFIG_FILE.to_string()),
    }
}

/// The container's plan, from its bundle's `config.json` (CRIU needs its mounts, devices
/// and namespaces).
pub fn load_plan(rt: &Runtime, id: &str, bundle: &Path) -> Result<Plan> {
    let (spec, _unknown) = plan::spec::load(bundle)?;
    plan::build(
        spec,
        PlanInputs {
            id,
            bundle,
            no_pivot: false,
            no_new_keyring: false,
            preserve_fds: 0,
            systemd_cgroup: rt.systemd_cgroup,
            host: &rt.host,
        },
    )
}

/// A directory for CRIU (images or work files), made if missing, opened for CRIU to reach
/// through `/proc/<berth>/fd/`.
pub fn open_dir(path: &Path) -> Result<OwnedFd> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| Error::io("mkdir", path, e))?;
    nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::sys("open", path, e))
}

/// A mount of the container that comes from outside its tree: CRIU records `key` (the
/// mount point inside the container) and, at restore, binds `source` (a host path) there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtMount {
    pub key: PathBuf,
    pub source: PathBuf,
}

/// The external mounts of the container `p` describes: bind mounts, the cgroup directories
/// bound without a cgroup namespace, and device nodes bound from the host.
pub fn external_mounts(p: &Plan) -> Vec<ExtMount> {
    let root = &p.init;
    let mut out = Vec::new();
    for m in &root.mounts {
        if m.options.bind {
            if let Some(src) = &m.source {
                out.push(ExtMount {
                    key: m.destination.clone(),
                    source: src.clone(),
                });
            }
        } else if (m.typ == "cgroup" || m.typ == "cgroup2") && !root.cgroup.cgroupns {
            out.extend(cgroup_binds(&m.destination, &root.cgroup));
        }
    }
    // Nodes made with mknod are files on the container's /dev, which CRIU dumps; listing
    // them too is harmless, and covers those bound from the host.
    for d in &root.devices {
        out.push(ExtMount {
            key: d.path.clone(),
            source: d.path.clone(),
        });
    }
    out
}

/// What berth binds for a `cgroup` mount at `dest` without a cgroup namespace: the
/// container's own cgroup directory, of the unified hierarchy or of each v1 one.
fn cgroup_binds(dest: &Path, cg: &plan::CgroupMountInfo) -> Vec<ExtMount> {
    let base = Path::new("/sys/fs/cgroup");
    if cg.unified {
        return vec![ExtMount {
            key: dest.to_path_buf(),
            source: base.join(&cg.path),
        }];
    }
    crate::mountinfo::read()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| {
            (m.fstype == "cgroup" || m.fstype == "cgroup2")
                && m.mount_point.starts_with(base)
                && m.mount_point != base
        })
        .filter_map(|m| {
            let sub = m.mount_point.strip_prefix(base).ok()?.to_path_buf();
            Some(ExtMount {
                key: dest.join(&sub),
                source: m.mount_point.join(&cg.path),
            })
        })
        .collect()
}

/// A namespace the container joined by path.
#[derive(Debug, Clone)]
pub struct JoinedNs {
    /// `net`, `pid`, `ipc`, ...
    pub name: &'static str,
    pub path: PathBuf,
    /// For `net` and `pid`: CRIU's key of the external namespace (runc's keys, so that
    /// images move between the runtimes).
    pub key: Option<&'static str>,
}

/// The namespaces the container joined by path. A network or pid namespace is external to
/// CRIU (recorded by inode, handed over as an fd at restore); the others are joined again.
pub fn joined_namespaces(p: &Plan) -> Result<Vec<JoinedNs>> {
    let mut out = Vec::new();
    for j in &p.ns.join {
        let name = plan::namespaces::proc_name(j.flag);
        let key = if j.flag == CloneFlags::CLONE_NEWNET {
            Some("extRootNetNS")
        } else if j.flag == CloneFlags::CLONE_NEWPID {
            Some("extRootPidNS")
        } else if j.flag == CloneFlags::CLONE_NEWCGROUP || j.flag == CloneFlags::CLONE_NEWUSER {
            return Err(Error::config(
                j.field.clone(),
                format!("CRIU cannot restore into a joined {name} namespace"),
            ));
        } else {
            None
        };
        out.push(JoinedNs {
            name,
            path: j.path.clone(),
            key,
        });
    }
    Ok(out)
}

/// The last error lines of CRIU's log at `log`.
pub fn log_errors(log: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let errors: Vec<String> = text
        .lines()
        .filter(|l| l.contains("Error (") || l.starts_with("Error"))
        .map(|l| l.trim().to_string())
        .collect();
    errors[errors.len().saturating_sub(3)..].to_vec()
}

/// `e`, with CRIU's log at `log` attached when CRIU failed.
pub fn with_log(op: &'static str, log: &Path, e: Error) -> Error {
    match e {
        Error::Criu(mut c) => {
            c.op = op;
            c.errors = log_errors(log);
            c.log = Some(log.to_path_buf());
            Error::Criu(c)
        }
        e => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_file_follows_the_annotation() {
        let mut a = std::collections::HashMap::new();
        assert_eq!(config_file(&a).as_deref(), Some(CONFIG_FILE));
        a.insert(CONFIG_ANNOTATION.to_string(), String::new());
        assert_eq!(config_file(&a), None);
        a.insert(CONFIG_ANNOTATION.to_string(), "/x.conf".into());
        assert_eq!(config_file(&a).as_deref(), Some("/x.conf"));
    }

    #[test]
    fn the_last_errors_of_the_log_are_quoted() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("dump.log");
        std::fs::write(
            &log,
            "(00.001) Version: 3.17.1\n(00.2) Error (criu/a.c:1): one\n(00.3) Warn: w\n\
             (00.4) Error (criu/b.c:2): two\n(00.5) Error (criu/c.c:3): three\n\
             (00.6) Error (criu/d.c:4): four\n",
        )
        .unwrap();
        let e = with_log(
            "checkpoint",
            &log,
            Error::from(berth_criu::Error::Failed {
                request: berth_criu::rpc::ReqType::Dump,
                errno: None,
                message: None,
            }),
        );
        let text = e.to_string();
        assert!(
            text.starts_with("checkpoint: criu failed to dump; "),
            "{text}"
        );
        assert!(!text.contains("one") && text.contains("four"), "{text}");
        assert!(
            text.ends_with(&format!("(log: {})", log.display())),
            "{text}"
        );
    }

    #[test]
    fn cgroup_binds_of_the_unified_hierarchy() {
        let cg = plan::CgroupMountInfo {
            path: "berth/c1".into(),
            unified: true,
            cgroupns: false,
        };
        assert_eq!(
            cgroup_binds(Path::new("/sys/fs/cgroup"), &cg),
            [ExtMount {
                key: "/sys/fs/cgroup".into(),
                source: "/sys/fs/cgroup/berth/c1".into()
            }]
        );
    }
}
