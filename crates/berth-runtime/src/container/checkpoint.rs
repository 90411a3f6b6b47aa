//! `checkpoint`: CRIU dumps the container's processes (and their namespaces, cgroup and
//! tmpfs contents) into an images directory, through its RPC interface ([`berth_criu`]).
//! Unless asked to leave it running (or only to pre-dump), the container is gone afterwards,
//! as with runc: its processes are killed by CRIU and it is deleted.

use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};

use berth_cgroups::CgroupManager;
use berth_criu::rpc::{self, CgMode, ExtMountMap, ReqType};
use berth_criu::{Setup, Swrk};

use super::{cgroup, criu, Container};
use crate::state::Verb;
use crate::{Error, Result};

/// How CRIU treats the container's cgroups (`--manage-cgroups-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupsMode {
    /// Restore properties only of cgroups CRIU creates (CRIU's default).
    Soft,
    /// Restore every property.
    Full,
    /// Fail unless the cgroups are as dumped.
    Strict,
    /// Leave cgroups alone: the restored processes stay where CRIU runs.
    Ignore,
}

impl CgroupsMode {
    /// Parses runc's names: `soft`, `full`, `strict`, `ignore`.
    pub fn parse(s: &str) -> Result<CgroupsMode> {
        Ok(match s {
            "soft" => CgroupsMode::Soft,
            "full" => CgroupsMode::Full,
            "strict" => CgroupsMode::Strict,
            "ignore" => CgroupsMode::Ignore,
            _ => {
                return Err(Error::Invalid {
                    what: "--manage-cgroups-mode",
                    msg: format!("{s:?}: expected soft, full, strict or ignore"),
                })
            }
        })
    }

    pub(crate) fn rpc(self) -> CgMode {
        match self {
            CgroupsMode::Soft => CgMode::Soft,
            CgroupsMode::Full => CgMode::Full,
            CgroupsMode::Strict => CgMode::Strict,
            CgroupsMode::Ignore => CgMode::Ignore,
        }
    }
}

/// The namespaces `--empty-ns` may name: CRIU recreates them without their contents.
pub fn empty_ns_flag(name: &str) -> Result<u32> {
    match name {
        "network" => Ok(libc::CLONE_NEWNET as u32),
        _ => Err(Error::Invalid {
            what: "--empty-ns",
            msg: format!("namespace {name:?} is not supported (only network)"),
        }),
    }
}

/// Options of `checkpoint` (runc's flags).
#[derive(Debug, Default)]
pub struct CheckpointOptions {
    /// Where the images go (made if missing).
    pub image_path: PathBuf,
    /// Where CRIU's log (`dump.log`) and statistics go; default: the images directory.
    pub work_path: Option<PathBuf>,
    /// A previous pre-dump, relative to the images directory: only memory changed since is
    /// dumped.
    pub parent_path: Option<PathBuf>,
    pub leave_running: bool,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    /// Dump memory only and leave the container running (the first steps of a migration).
    pub pre_dump: bool,
    /// Leave the memory for a lazy-pages daemon to serve at restore.
    pub lazy_pages: bool,
    /// With `lazy_pages`: an fd CRIU writes `\0` to once the pages are ready to be served.
    pub status_fd: Option<RawFd>,
    /// Send the pages to a page server at (address, port).
    pub page_server: Option<(String, i32)>,
    pub auto_dedup: bool,
    pub manage_cgroups_mode: Option<CgroupsMode>,
    /// `CLONE_NEW*` flags of namespaces to restore empty. The network namespace always is, as
    /// in runc: its devices and addresses belong to whoever set them up (a CNI plugin, an
    /// engine), which does it again at restore (prestart hooks run then).
    pub empty_ns: u32,
}

impl Container {
    /// Checkpoints the running (or paused) container into `opts.image_path`. Returns the
    /// warnings of the poststop hooks when the container is deleted afterwards.
    pub fn checkpoint(&self, opts: &CheckpointOptions) -> Result<Vec<String>> {
        self.check(Verb::Checkpoint)?;
        let st = &self.state;
        if st.host_mounts {
            return Err(Error::Invalid {
                what: "checkpoint",
                msg: format!(
                    "{} has no mount namespace of its own; CRIU cannot restore its mounts",
                    st.id
                ),
            });
        }
        let version = criu::require(&self.rt, "checkpoint")?;
        self.rt
            .step(|| format!("checkpoint {}: CRIU {version}, pid {}", st.id, st.pid));
        let p = criu::load_plan(&self.rt, &st.id, &st.bundle)?;
        let images = criu::open_dir(&opts.image_path)?;
        let work_path = opts.work_path.as_deref().unwrap_or(&opts.image_path);
        let work = criu::open_dir(work_path)?;
        let parent = match &opts.parent_path {
            Some(rel) => Some(check_parent(&opts.image_path, rel)?),
            None => None,
        };
        let log_file = if opts.pre_dump {
            "pre-dump.log"
        } else {
            "dump.log"
        };
        let mut o = rpc::Opts {
            images_dir_fd: images.as_raw_fd(),
            work_dir_fd: Some(work.as_raw_fd()),
            log_level: Some(4),
            log_file: Some(log_file.into()),
            pid: Some(st.pid),
            root: Some(st.rootfs.display().to_string()),
            manage_cgroups: Some(opts.manage_cgroups_mode != Some(CgroupsMode::Ignore)),
            manage_cgroups_mode: opts.manage_cgroups_mode.map(|m| m.rpc() as i32),
            notify_scripts: Some(true),
            leave_running: Some(opts.leave_running),
            shell_job: Some(opts.shell_job),
            tcp_established: Some(opts.tcp_established),
            ext_unix_sk: Some(opts.ext_unix_sk),
            file_locks: Some(opts.file_locks),
            empty_ns: Some(opts.empty_ns | libc::CLONE_NEWNET as u32),
            orphan_pts_master: Some(true),
            auto_dedup: Some(opts.auto_dedup),
            lazy_pages: Some(opts.lazy_pages),
            config_file: criu::config_file(&st.annotations),
            parent_img: parent.map(|p| p.display().to_string()),
            track_mem: opts.parent_path.as_ref().map(|_| true),
            ps: opts
                .page_server
                .as_ref()
                .map(|(address, port)| rpc::PageServerInfo {
                    address: Some(address.clone()),
                    port: Some(*port),
                    ..Default::default()
                }),
            ..Default::default()
        };
        for ns in criu::joined_namespaces(&p)? {
            if let Some(key) = ns.key {
                let ino = std::fs::metadata(&ns.path)
                    .map_err(|e| Error::io("stat namespace", &ns.path, e))?;
                use std::os::unix::fs::MetadataExt;
                o.external.push(format!("{}[{}]:{key}", ns.name, ino.ino()));
            }
        }
        // CRIU freezes the tasks through the cgroup freezer (else with ptrace, which a
        // forking task can outrun).
        o.freeze_cgroup = freezer_dir(st).map(|d| d.display().to_string());
        let mut wanted = rpc::Features::default();
        if opts.pre_dump {
            wanted.mem_track = Some(true);
        }
        if opts.lazy_pages {
            wanted.lazy_pages = Some(true);
            o.status_fd = opts.status_fd;
        }
        if wanted != rpc::Features::default() {
            let have = berth_criu::features(&criu::binary(&self.rt), wanted)?;
            if opts.pre_dump && have.mem_track != Some(true) {
                return Err(unsupported("--pre-dump", "memory tracking"));
            }
            if opts.lazy_pages && have.lazy_pages != Some(true) {
                return Err(unsupported("--lazy-pages", "lazy pages (userfaultfd)"));
            }
        }
        if !opts.pre_dump {
            for m in criu::external_mounts(&p) {
                let key = m.key.display().to_string();
                o.ext_mnt.push(ExtMountMap {
                    key: key.clone(),
                    val: key,
                });
            }
            self.write_descriptors(&opts.image_path)?;
        }
        let req = rpc::Req {
            r#type: if opts.pre_dump {
                ReqType::PreDump
            } else {
                ReqType::Dump
            } as i32,
            opts: Some(o),
            ..Default::default()
        };
        let log = work_path.join(log_file);
        let started = std::time::Instant::now();
        let mut swrk = Swrk::start(Setup::new(criu::binary(&self.rt)))?;
        swrk.call::<Error>(&req, |n, _| {
            self.rt.step(|| {
                format!(
                    "checkpoint {}: {}",
                    st.id,
                    n.script.as_deref().unwrap_or("?")
                )
            });
            Ok(())
        })
        .map_err(|e| criu::with_log("checkpoint", &log, e))?;
        // A pre-dump's CRIU waits for the next request and fails at our hang-up.
        if opts.pre_dump {
            let _ = swrk.finish();
        } else {
            swrk.finish_ok()
                .map_err(|e| criu::with_log("checkpoint", &log, e.into()))?;
        }
        self.rt.step(|| {
            format!(
                "checkpoint {}: dumped in {:?} to {}",
                st.id,
                started.elapsed(),
                opts.image_path.display()
            )
        });
        if opts.leave_running || opts.pre_dump {
            return Ok(Vec::new());
        }
        // CRIU killed the processes; what is left of the container goes.
        self.delete(true)
    }

    /// Records the init's stdio for `restore` (see [`criu::DESCRIPTORS`]).
    fn write_descriptors(&self, images: &Path) -> Result<()> {
        let fds: Vec<String> = (0..3)
            .map(|fd| {
                let link = format!("/proc/{}/fd/{fd}", self.state.pid);
                std::fs::read_link(&link)
                    .map(|t| t.display().to_string())
                    .unwrap_or_default()
            })
            .collect();
        let path = images.join(criu::DESCRIPTORS);
        let data = serde_json::to_vec(&fds).map_err(|e| Error::Protocol(e.to_string()))?;
        std::fs::write(&path, data).map_err(|e| Error::io("write", &path, e))
    }
}

/// `--parent-path`: relative to the images directory, and a directory there.
fn check_parent(images: &Path, rel: &Path) -> Result<PathBuf> {
    if rel.is_absolute() {
        return Err(Error::Invalid {
            what: "--parent-path",
            msg: format!("{} must be relative to the images directory", rel.display()),
        });
    }
    let full = images.join(rel);
    match std::fs::metadata(&full) {
        Ok(m) if m.is_dir() => Ok(rel.to_path_buf()),
        Ok(_) => Err(Error::sys(
            "--parent-path",
            full,
            nix::errno::Errno::ENOTDIR,
        )),
        Err(e) => Err(Error::io("--parent-path", full, e)),
    }
}

fn unsupported(flag: &'static str, feature: &str) -> Error {
    Error::Invalid {
        what: flag,
        msg: format!("CRIU or the kernel does not support {feature}"),
    }
}

/// The container's freezer cgroup: v1's freezer directory, or the v2 cgroup.
fn freezer_dir(st: &crate::state::State) -> Option<PathBuf> {
    let m = cgroup::manager(st).ok()?;
    if !m.exists() {
        return None;
    }
    m.paths()
        .into_iter()
        .find(|d| d.join("freezer.state").exists() || d.join("cgroup.freeze").exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_namespaces_by_runc_names() {
        assert_eq!(CgroupsMode::parse("full").unwrap(), CgroupsMode::Full);
        assert_eq!(CgroupsMode::parse("ignore").unwrap().rpc(), CgMode::Ignore);
        assert!(CgroupsMode::parse("loose")
            .unwrap_err()
            .to_string()
            .contains("--manage-cgroups-mode"));
        assert_eq!(empty_ns_flag("network").unwrap(), libc::CLONE_NEWNET as u32);
        assert!(empty_ns_flag("ipc")
            .unwrap_err()
            .to_string()
            .contains("not supported"));
    }

    #[test]
    fn the_parent_path_is_a_relative_directory() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("pre")).unwrap();
        std::fs::write(d.path().join("file"), "").unwrap();
        assert!(check_parent(d.path(), Path::new("pre")).is_ok());
        assert!(check_parent(d.path(), Path::new("/pre"))
            .unwrap_err()
            .to_string()
            .contains("must be relative"));
        assert!(check_parent(d.path(), Path::new("file")).is_err());
        assert!(check_parent(d.path(), Path::new("missing")).is_err());
    }
}
