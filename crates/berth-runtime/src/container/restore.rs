//! `restore`: a container recreated from CRIU's images, under the id and bundle given (the
//! checkpointed one's or a new one). berth records it, makes its cgroup (limits from the
//! bundle's config) and runs CRIU there; CRIU rebuilds the namespaces, mounts and
//! processes, and the restored init is the caller's child (`rst_sibling`), as the init of a
//! created container is.
//!
//! ```text
//!  berth                                          criu swrk (in the new cgroup, in a mount
//!  ─────                                          namespace of its own: the rootfs bound at
//!  record the container (creating), its cgroup      <state>/criu-root)
//!  mount points in the rootfs
//!  RESTORE{root, external mounts/ns, fds} ──────▶ namespaces made
//!                          ◀───────────────────── setup-namespaces(pid): prestart and
//!                                                   createRuntime hooks run
//!                          ◀───────────────────── orphan-pts-master + fd: the new pty's
//!                                                   master, to the console socket
//!                          ◀───────────────────── post-restore(pid): record pid and start
//!                                                   time (running), device rules
//!                          ◀───────────────────── RESTORE{pid}; tasks resumed, criu exits
//!  pid file
//! ```

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_cgroups::{CgroupManager, Manager};
use berth_criu::rpc::{self, ExtMountMap, InheritFd, JoinNamespace, ReqType};
use berth_criu::{CgroupYard, Io, RootMount, Setup, Swrk};
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use super::checkpoint::CgroupsMode;
use super::create::Recorded;
use super::{cgroup, criu, write_pid_file, Console, Container, Runtime};
use crate::plan::Plan;
use crate::spawn::Stdio;
use crate::state::oci::hook_state;
use crate::state::{store, ContainerDir, State, StoredStatus};
use crate::{hooks, sys, Error, Result};

/// Options of `restore` (runc's flags).
#[derive(Debug, Default)]
pub struct RestoreOptions {
    pub id: String,
    pub bundle: PathBuf,
    /// The images of a `checkpoint`.
    pub image_path: PathBuf,
    /// Where CRIU's log (`restore.log`) goes; default: the images directory.
    pub work_path: Option<PathBuf>,
    /// Where the master of a terminal goes (`process.terminal`).
    pub console: Console,
    pub pid_file: Option<PathBuf>,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    pub auto_dedup: bool,
    pub lazy_pages: bool,
    pub manage_cgroups_mode: Option<CgroupsMode>,
    /// `CLONE_NEW*` flags of namespaces restored empty (the network one always is).
    pub empty_ns: u32,
    /// `TYPE:NAME` of the LSM profile for the restored processes.
    pub lsm_profile: Option<String>,
    pub lsm_mount_context: Option<String>,
    /// The stdio the restored process gets where it had pipes (default: the caller's).
    pub stdio: Stdio,
}

/// A restored container.
#[derive(Debug)]
pub struct Restored {
    pub container: Container,
    /// The restored init (a child of the caller).
    pub pid: i32,
    /// The pty master, with [`Console::Return`].
    pub master: Option<OwnedFd>,
    pub warnings: Vec<String>,
}

/// What a failed restore undoes.
#[derive(Default)]
struct Undo {
    cgroup: Option<Manager>,
    pid: Option<i32>,
}

impl Undo {
    fn run(self, dir: &ContainerDir) {
        if let Some(m) = &self.cgroup {
            let _ = m.kill_all(nix::sys::signal::Signal::SIGKILL);
        }
        if let Some(pid) = self.pid {
            if let Ok(fd) = sys::pidfd::open(pid) {
                let _ = sys::pidfd::send_signal(fd.as_fd(), libc::SIGKILL);
                sys::pidfd::wait_exit(fd.as_fd(), 10_000);
            }
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        }
        if let Some(m) = self.cgroup {
            let _ = m.destroy();
        }
        let _ = dir.remove();
    }
}

impl Runtime {
    /// `restore`: the container checkpointed into `opts.image_path`, running again as
    /// `opts.id`. On failure nothing is left (processes, cgroup, state).
    pub fn restore(&self, opts: RestoreOptions) -> Result<Restored> {
        crate::id::validate(&opts.id)?;
        let bundle = std::fs::canonicalize(&opts.bundle)
            .map_err(|e| Error::io("open the bundle", &opts.bundle, e))?;
        let p = criu::load_plan(self, &opts.id, &bundle)?;
        if p.process.terminal && matches!(opts.console, Console::None) {
            return Err(Error::config(
                "process.terminal",
                "a terminal needs --console-socket",
            ));
        }
        if !p.init.mount_ns {
            return Err(Error::config(
                "linux.namespaces",
                "restore needs a mount namespace (CRIU rebuilds the container's mounts in one)",
            ));
        }
        let version = criu::require(self, "restore")?;
        self.step(|| format!("restore {}: CRIU {version}", opts.id));
        let target = cgroup::check_target(&opts.id, &p.cgroup, &p.annotations)?;
        let mut warnings: Vec<String> = p.warnings.clone();
        for note in &p.notes {
            self.step(|| format!("restore {}: {note}", opts.id));
        }
        warnings.extend(target.warning.clone());
        let mut state = State {
            oci_version: oci_spec::runtime::VERSION.to_string(),
            id: opts.id.clone(),
            status: StoredStatus::Creating,
            pid: 0,
            start_time: 0,
            bundle: bundle.clone(),
            rootfs: p.rootfs.clone(),
            created: store::rfc3339_now(),
            annotations: p.annotations.clone(),
            owner: String::new(),
            cgroups_path: p.cgroup.path.clone(),
            systemd_cgroup: p.cgroup.systemd,
            own_cgroup: true,
            host_mounts: false,
            cgroup_mounts: super::cgroup::mounts_now().unwrap_or_default(),
        };
        let dir = ContainerDir::create(&self.root, &state)?;
        let mut undo = Undo::default();
        let keep_cgroup = target.existed;
        let r = restore(self, &opts, &p, &dir, &mut state, target.manager, &mut undo);
        for d in [CRIU_ROOT, CRIU_YARD] {
            let _ = std::fs::remove_dir(dir.path.join(d));
        }
        match r {
            Ok((pid, master)) => {
                let container = Container {
                    dir: ContainerDir::new(&self.root, &opts.id)?,
                    state,
                    rt: self.clone(),
                };
                Ok(Restored {
                    container,
                    pid,
                    master,
                    warnings,
                })
            }
            Err(e) => {
                if keep_cgroup {
                    undo.cgroup = None;
                }
                undo.run(&dir);
                Err(e)
            }
        }
    }
}

/// The directories (in the state directory) where CRIU, in its own mount namespace, sees the
/// rootfs and the cgroup hierarchies (see [`berth_criu::mntns`]).
const CRIU_ROOT: &str = "criu-root";
const CRIU_YARD: &str = "criu-yard";

fn restore(
    rt: &Runtime,
    opts: &RestoreOptions,
    p: &Plan,
    dir: &ContainerDir,
    state: &mut State,
    manager: Manager,
    undo: &mut Undo,
) -> Result<(i32, Option<OwnedFd>)> {
    let id = &opts.id;
    dir.write_atomic(
        crate::state::store::CONFIG_FILE,
        &serde_json::to_vec(&Recorded {
            exec: p.exec_defaults.clone(),
            poststart: p.hooks.poststart().clone().unwrap_or_default(),
            poststop: p.hooks.poststop().clone().unwrap_or_default(),
        })
        .map_err(|e| Error::Protocol(e.to_string()))?,
    )?;
    undo.cgroup = Some(manager.clone());
    let systemd = manager.needs_pid_to_create();
    if !systemd {
        // The limits are in place before CRIU puts a process there; the device rules wait
        // until CRIU has made the nodes of the container's /dev.
        drop(cgroup::prepare(&manager, &p.cgroup)?);
    }
    let images = criu::open_dir(&opts.image_path)?;
    let work_path = opts.work_path.as_deref().unwrap_or(&opts.image_path);
    let work = criu::open_dir(work_path)?;
    if p.init.overlay.is_none() {
        make_mount_points(p)?;
    }
    let root = dir.path.join(CRIU_ROOT);
    let yard = dir.path.join(CRIU_YARD);
    for d in [&root, &yard] {
        std::fs::create_dir(d).map_err(|e| Error::io("mkdir", d, e))?;
    }
    let manage = opts.manage_cgroups_mode != Some(CgroupsMode::Ignore);
    let mut o = rpc::Opts {
        images_dir_fd: images.as_raw_fd(),
        work_dir_fd: Some(work.as_raw_fd()),
        log_level: Some(4),
        log_file: Some("restore.log".into()),
        root: Some(root.display().to_string()),
        rst_sibling: Some(true),
        evasive_devices: Some(true),
        manage_cgroups: Some(manage),
        manage_cgroups_mode: opts.manage_cgroups_mode.map(|m| m.rpc() as i32),
        cgroup_yard: manage.then(|| yard.display().to_string()),
        notify_scripts: Some(true),
        shell_job: Some(opts.shell_job),
        tcp_established: Some(opts.tcp_established),
        ext_unix_sk: Some(opts.ext_unix_sk),
        file_locks: Some(opts.file_locks),
        empty_ns: Some(opts.empty_ns | libc::CLONE_NEWNET as u32),
        orphan_pts_master: Some(true),
        auto_dedup: Some(opts.auto_dedup),
        lazy_pages: Some(opts.lazy_pages),
        lsm_profile: opts.lsm_profile.clone(),
        lsm_mount_context: opts.lsm_mount_context.clone(),
        config_file: criu::config_file(&p.annotations),
        ..Default::default()
    };
    for m in criu::external_mounts(p) {
        o.ext_mnt.push(ExtMountMap {
            key: m.key.display().to_string(),
            val: m.source.display().to_string(),
        });
    }
    // The joined network and pid namespaces are handed to CRIU as fds 4, 5, ...
    let mut extra = Vec::new();
    for ns in criu::joined_namespaces(p)? {
        match ns.key {
            Some(key) => {
                let fd =
                    nix::fcntl::open(&ns.path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
                        .map_err(|e| Error::sys("open namespace", &ns.path, e))?;
                o.inherit_fd.push(InheritFd {
                    key: key.into(),
                    fd: 4 + extra.len() as i32,
                });
                extra.push(fd);
            }
            None => o.join_ns.push(JoinNamespace {
                ns: ns.name.into(),
                ns_file: ns.path.display().to_string(),
                extra_opt: None,
            }),
        }
    }
    // The init's pipes (as it had them at checkpoint) become the stdio given here.
    for (fd, name) in descriptors(&opts.image_path)?.iter().enumerate() {
        if name.starts_with("pipe:") {
            o.inherit_fd.push(InheritFd {
                key: name.clone(),
                fd: fd as i32,
            });
        }
    }
    let io = |fd: &Option<OwnedFd>| -> Result<Io> {
        Ok(match fd {
            Some(f) => Io::Fd(
                f.try_clone()
                    .map_err(|e| Error::io("dup", "the restored process's stdio", e))?,
            ),
            None => Io::Inherit,
        })
    };
    let setup = Setup {
        binary: criu::binary(rt),
        stdin: io(&opts.stdio.stdin)?,
        stdout: io(&opts.stdio.stdout)?,
        stderr: io(&opts.stdio.stderr)?,
        extra_fds: extra,
        root: Some(RootMount {
            target: root.clone(),
            source: p.rootfs.clone(),
            overlay: p.init.overlay.clone(),
        }),
        cgroup_yard: manage
            .then(|| CgroupYard::of_self(yard.clone()))
            .transpose()?,
    };
    let log = work_path.join("restore.log");
    let started = std::time::Instant::now();
    let mut swrk = Swrk::start(setup)?;
    let criu_pid = swrk.pid();
    if systemd {
        manager.create_with_pid(criu_pid, &p.cgroup.resources)?;
    } else {
        manager.add_task(criu_pid)?;
    }
    // CRIU moves the restored tasks from the checkpointed container's cgroup into the one
    // it is given per hierarchy (cgroup v2's is the controller ""): CRIU's own, the new
    // container's. Without it a copy restored under a new id would join the original's.
    o.cg_root = cgroup_roots(criu_pid)?;
    let req = rpc::Req {
        r#type: ReqType::Restore as i32,
        opts: Some(o),
        ..Default::default()
    };
    let mut master = None;
    let resp = swrk
        .call::<Error>(&req, |n, fds| {
            let script = n.script.as_deref().unwrap_or("");
            rt.step(|| format!("restore {id}: {script}"));
            match script {
                "setup-namespaces" => {
                    let st = hook_state(&p.init.hook_context, "creating", n.pid.unwrap_or(0));
                    hooks::run(
                        "prestart",
                        p.hooks.prestart().as_deref().unwrap_or_default(),
                        &st,
                        None,
                    )?;
                    hooks::run(
                        "createRuntime",
                        p.hooks.create_runtime().as_deref().unwrap_or_default(),
                        &st,
                        None,
                    )
                }
                "orphan-pts-master" => {
                    let fd = fds.into_iter().next().ok_or_else(|| {
                        Error::Protocol("orphan-pts-master without its fd".into())
                    })?;
                    console(&opts.console, fd, &mut master)
                }
                "post-restore" => {
                    let pid = n.pid.unwrap_or(0);
                    undo.pid = Some(pid);
                    state.pid = pid;
                    state.start_time =
                        store::process_start_time(pid).ok_or(Error::InitDied("restore"))?;
                    state.status = StoredStatus::Created;
                    dir.save(state)?;
                    cgroup::apply_devices(&manager, &p.cgroup.devices)
                }
                _ => Ok(()),
            }
        })
        .map_err(|e| criu::with_log("restore", &log, e))?;
    swrk.finish_ok()
        .map_err(|e| criu::with_log("restore", &log, e.into()))?;
    let pid = resp.restore.map(|r| r.pid).unwrap_or(state.pid);
    if state.pid != pid || state.status != StoredStatus::Created {
        // A CRIU that did not notify post-restore.
        undo.pid = Some(pid);
        state.pid = pid;
        state.start_time = store::process_start_time(pid).ok_or(Error::InitDied("restore"))?;
        state.status = StoredStatus::Created;
        dir.save(state)?;
    }
    rt.step(|| format!("restore {id}: pid {pid}, in {:?}", started.elapsed()));
    if let Some(pf) = &opts.pid_file {
        write_pid_file(pf, pid)?;
    }
    Ok((pid, master))
}

/// Hands the restored terminal's master to where `console` says.
fn console(console: &Console, fd: OwnedFd, master: &mut Option<OwnedFd>) -> Result<()> {
    match console {
        Console::Socket(path) => {
            let s = std::os::unix::net::UnixStream::connect(path)
                .map_err(|e| Error::io("connect console socket", path, e))?;
            sys::fdpass::send(s.as_fd(), b"/dev/ptmx", &[fd.as_raw_fd()])
                .map_err(|e| Error::call("send the console over the console socket", e))
        }
        Console::Return => {
            *master = Some(fd);
            Ok(())
        }
        Console::None => Err(Error::config(
            "process.terminal",
            "the checkpointed process has a terminal: restore needs --console-socket",
        )),
    }
}

/// The stdio targets recorded at checkpoint (none: an image of another tool).
fn descriptors(images: &Path) -> Result<Vec<String>> {
    let path = images.join(criu::DESCRIPTORS);
    match std::fs::read(&path) {
        Ok(d) => serde_json::from_slice(&d).map_err(|e| Error::Parse {
            path,
            msg: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io("read", &path, e)),
    }
}

/// The cgroup of each hierarchy `pid` is in, as CRIU's restore roots.
fn cgroup_roots(pid: i32) -> Result<Vec<rpc::CgroupRoot>> {
    let path = format!("/proc/{pid}/cgroup");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctrl, cg) = (f.next()?, f.next()?, f.next()?);
            Some(rpc::CgroupRoot {
                ctrl: Some(ctrl.to_string()),
                path: cg.to_string(),
            })
        })
        .collect())
}

/// Creates the mount points of the config's mounts that are not on a tmpfs of the
/// container (CRIU restores a tmpfs with its contents): for a checkpoint restored on a
/// fresh copy of the rootfs. Paths resolve inside the rootfs.
fn make_mount_points(p: &Plan) -> Result<()> {
    let root = nix::fcntl::open(
        &p.rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::sys("open", &p.rootfs, e))?;
    let tmpfs: Vec<&Path> = p
        .init
        .mounts
        .iter()
        .filter(|m| m.typ == "tmpfs")
        .map(|m| m.destination.as_path())
        .collect();
    for m in &p.init.mounts {
        let on_tmpfs = tmpfs
            .iter()
            .any(|t| m.destination.starts_with(t) && m.destination != *t);
        if on_tmpfs || m.typ == "cgroup" || m.typ == "cgroup2" {
            continue;
        }
        let file = m.options.bind
            && m.source
                .as_ref()
                .is_some_and(|s| s.metadata().is_ok_and(|md| !md.is_dir()));
        crate::setup::resolve::mkdir_all_in_root(root.as_fd(), &m.destination, file)
            .map_err(|e| e.in_field(format!("mounts[{}]", m.index)))?;
    }
    Ok(())
}
