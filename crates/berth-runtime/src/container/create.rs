//! `create` (and the first half of `run`): record the container, make its cgroup, start its
//! init and drive it until it is ready (see `spawn::sync` for the protocol).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_cgroups::{CgroupManager, Manager};
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use oci_spec::runtime::Hook;
use serde::{Deserialize, Serialize};

use super::{cgroup, write_pid_file, Container, Runtime};
use crate::plan::{self, ExecDefaults, Plan, PlanInputs};
use crate::spawn::job::{ConsoleMode, FdRole, InitJob, Job, Kind, StartMode};
use crate::spawn::sync::Msg;
use crate::spawn::{self, Spawned, Stdio};
use crate::state::oci::{agent_state, hook_state};
use crate::state::store::{self, CONFIG_FILE, START_SOCKET};
use crate::state::{ContainerDir, State, StoredStatus};
use crate::{hooks, procfs, sys, Error, Result};

/// Where the pty master goes when `process.terminal` is set.
#[derive(Debug, Clone, Default)]
pub enum Console {
    /// No console: a terminal is refused.
    #[default]
    None,
    /// Send it over this unix socket (`--console-socket`).
    Socket(PathBuf),
    /// Return it to the caller ([`Created::master`]).
    Return,
}

/// Options of `create` and `run`.
#[derive(Debug, Default)]
pub struct CreateOptions {
    pub id: String,
    pub bundle: PathBuf,
    pub console: Console,
    pub pid_file: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    /// fds 3 .. 3+preserve_fds of the caller go to the container process.
    pub preserve_fds: i32,
    /// The process's stdin, stdout and stderr (default: the caller's).
    pub stdio: Stdio,
}

/// A created container.
#[derive(Debug)]
pub struct Created {
    pub container: Container,
    /// The pty master, with [`Console::Return`].
    pub master: Option<OwnedFd>,
    /// What was ignored or noticed (unknown config properties, a busy cgroup).
    pub warnings: Vec<String>,
}

/// What `start`, `exec` and `delete` need of the container's config, kept beside its state.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Recorded {
    pub exec: ExecDefaults,
    pub poststart: Vec<Hook>,
    pub poststop: Vec<Hook>,
}

impl Recorded {
    /// Reads the container's record.
    pub fn load(dir: &ContainerDir) -> Result<Recorded> {
        match dir.read(CONFIG_FILE)? {
            Some(d) => serde_json::from_slice(&d).map_err(|e| Error::Parse {
                path: dir.path.join(CONFIG_FILE),
                msg: e.to_string(),
            }),
            None => Ok(Recorded::default()),
        }
    }
}

/// What a failed create undoes: the process, the cgroup, host mounts and the record.
#[derive(Default)]
struct Undo {
    child: Option<Spawned>,
    cgroup: Option<Manager>,
    host_mounts: Option<PathBuf>,
}

impl Undo {
    fn run(self, dir: &ContainerDir) {
        if let Some(c) = &self.child {
            c.kill();
        }
        if let Some(m) = self.cgroup {
            let _ = m.destroy();
        }
        if let Some(rootfs) = self.host_mounts {
            let _ = super::delete::unmount_under(&rootfs);
        }
        let _ = dir.remove();
    }
}

/// A created container whose init waits on its channel (`run`).
pub(crate) struct Pending {
    pub created: Created,
    pub init: Spawned,
    pub hook_context: crate::plan::HookContext,
    pub poststart: Vec<Hook>,
}

impl Runtime {
    /// `create`: sets the container up; its init waits for `start`. On failure nothing is
    /// left behind (process, cgroup, mounts, state).
    pub fn create(&self, opts: CreateOptions) -> Result<Created> {
        create(self, opts, StartMode::Socket).map(|p| p.created)
    }
}

pub(crate) fn create(rt: &Runtime, opts: CreateOptions, start: StartMode) -> Result<Pending> {
    crate::id::validate(&opts.id)?;
    let bundle = std::fs::canonicalize(&opts.bundle)
        .map_err(|e| Error::io("open the bundle", &opts.bundle, e))?;
    let (spec, unknown) = plan::spec::load(&bundle)?;
    let p = plan::build(
        spec,
        PlanInputs {
            id: &opts.id,
            bundle: &bundle,
            no_pivot: opts.no_pivot,
            no_new_keyring: opts.no_new_keyring,
            preserve_fds: opts.preserve_fds,
            systemd_cgroup: rt.systemd_cgroup,
            host: &rt.host,
        },
    )?;
    rt.step(|| {
        format!(
            "create {}: config planned: rootfs {}, {} mounts, cgroup {}",
            opts.id,
            p.rootfs.display(),
            p.init.mounts.len(),
            p.cgroup.path
        )
    });
    let mut warnings: Vec<String> = unknown
        .into_iter()
        .map(|f| format!("config.json: unknown property {f} ignored"))
        .collect();
    warnings.extend(p.warnings.iter().cloned());
    for note in &p.notes {
        rt.step(|| format!("create {}: {note}", opts.id));
    }
    let console_mode = match (p.process.terminal, &opts.console) {
        (false, _) => ConsoleMode::None,
        (true, Console::Socket(_)) => ConsoleMode::Socket,
        (true, Console::Return) => ConsoleMode::Return,
        (true, Console::None) => {
            return Err(Error::config(
                "process.terminal",
                "a terminal needs --console-socket",
            ))
        }
    };
    // Everything that can be checked is checked before the first side effect.
    let ns_fds = open_namespaces(&p)?;
    let target = cgroup::check_target(&opts.id, &p.cgroup, &p.annotations)?;
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
        // Recorded before the cgroup exists: a create killed while making it leaves one
        // that `delete` removes (removing a missing cgroup is no error).
        own_cgroup: true,
        host_mounts: !p.init.mount_ns,
        cgroup_mounts: cgroup::mounts_now().unwrap_or_default(),
    };
    let dir = ContainerDir::create(&rt.root, &state)?;
    rt.step(|| format!("create {}: recorded in {}", opts.id, dir.path.display()));
    let mut undo = Undo {
        host_mounts: (!p.init.mount_ns).then(|| p.rootfs.clone()),
        ..Undo::default()
    };
    let console = ConsoleSetup {
        mode: console_mode,
        socket: match &opts.console {
            Console::Socket(path) => Some(path.as_path()),
            _ => None,
        },
    };
    let keep_cgroup = target.existed;
    match setup(
        rt,
        &opts,
        &p,
        &dir,
        &mut state,
        target.manager,
        ns_fds,
        console,
        start,
        &mut undo,
        &mut warnings,
    ) {
        Ok(master) => {
            let init = undo.child.take().expect("spawned");
            let container = Container {
                dir: ContainerDir::new(&rt.root, &opts.id)?,
                state,
                rt: rt.clone(),
            };
            // The lock is released with `dir`; in `run` the caller holds none while it waits.
            drop(dir);
            Ok(Pending {
                created: Created {
                    container,
                    master,
                    warnings,
                },
                init,
                hook_context: p.init.hook_context.clone(),
                poststart: p.hooks.poststart().clone().unwrap_or_default(),
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

/// The console of the new container.
#[derive(Clone, Copy)]
struct ConsoleSetup<'a> {
    mode: ConsoleMode,
    socket: Option<&'a Path>,
}

/// Opens the namespaces joined by path, checking each is a namespace of its type.
fn open_namespaces(p: &Plan) -> Result<Vec<(i32, OwnedFd)>> {
    const NSFS_MAGIC: i64 = 0x6e73_6673;
    let mut out = Vec::new();
    for j in &p.ns.join {
        let field = || j.field.clone();
        let fd = nix::fcntl::open(&j.path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|e| Error::sys("open namespace", &j.path, e).in_field(field()))?;
        let st = nix::sys::statfs::fstatfs(&fd)
            .map_err(|e| Error::sys("fstatfs", &j.path, e).in_field(field()))?;
        if st.filesystem_type().0 as i64 != NSFS_MAGIC {
            return Err(Error::config(
                field(),
                format!("{} is not a namespace file", j.path.display()),
            ));
        }
        // NS_GET_NSTYPE: the namespace must be of the listed type.
        let kind = sys::ns_type(fd.as_fd()).map_err(|e| Error::sys("NS_GET_NSTYPE", &j.path, e))?;
        if kind != j.flag.bits() {
            return Err(Error::config(
                field(),
                format!(
                    "{} is a {} namespace, not a {} one",
                    j.path.display(),
                    crate::plan::namespaces::name_of_bits(kind),
                    crate::plan::namespaces::proc_name(j.flag)
                ),
            ));
        }
        out.push((j.flag.bits(), fd));
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn setup(
    rt: &Runtime,
    opts: &CreateOptions,
    p: &Plan,
    dir: &ContainerDir,
    state: &mut State,
    manager: Manager,
    ns_fds: Vec<(i32, OwnedFd)>,
    console: ConsoleSetup<'_>,
    start: StartMode,
    undo: &mut Undo,
    warnings: &mut Vec<String>,
) -> Result<Option<OwnedFd>> {
    let hooks_ctx = &p.init.hook_context;
    let recorded = Recorded {
        exec: p.exec_defaults.clone(),
        poststart: p.hooks.poststart().clone().unwrap_or_default(),
        poststop: p.hooks.poststop().clone().unwrap_or_default(),
    };
    dir.write_atomic(
        CONFIG_FILE,
        &serde_json::to_vec(&recorded).map_err(|e| Error::Protocol(e.to_string()))?,
    )?;
    // `run` from a single-threaded caller may fork the init itself (see `Runtime::fork_init`);
    // otherwise the helper execs while we make the cgroup. Either joins the cgroup before the
    // init runs anything of the container (the helper before it clones the init, so the init
    // is born in it): no window in which the container runs unlimited.
    let fork = rt.fork_init
        && start == StartMode::Channel
        && rt.init_binary.is_none()
        && spawn::can_fork_init(&p.ns);
    let helper = match fork {
        true => None,
        false => Some(spawn::start(
            p.preserve_fds,
            &opts.stdio,
            rt.init_binary.as_deref(),
        )?),
    };
    let abandon = |h: Option<spawn::Helper>| h.map(spawn::Helper::abandon);
    undo.cgroup = Some(manager.clone());
    // systemd makes its scope around a process: the init, once it exists (below).
    let mut skipped = false;
    let placement = if manager.needs_pid_to_create() {
        cgroup::Placement::default()
    } else {
        match cgroup::prepare(&manager, &p.cgroup) {
            Ok(pl) => pl,
            // Rootless without a delegated cgroup: as runc, go on without one, unless limits
            // were asked for.
            Err(e) if rt.host.rootless() && cgroup::is_permission(&e) => {
                if cgroup::limits_requested(&p.cgroup.resources) {
                    abandon(helper);
                    return Err(e.in_field("linux.resources"));
                }
                // runc says nothing; the user should know that nothing limits it.
                warnings.push(format!(
                    "no cgroup for the container (rootless, not allowed: {e}): it runs in its \
                     caller's cgroup"
                ));
                skipped = true;
                undo.cgroup = None;
                state.own_cgroup = false;
                dir.save(state)?;
                cgroup::Placement::default()
            }
            Err(e) => {
                abandon(helper);
                return Err(e);
            }
        }
    };
    let mut roles = Vec::new();
    let mut fds: Vec<OwnedFd> = Vec::new();
    if let (ConsoleMode::Socket, Some(path)) = (console.mode, console.socket) {
        let s = std::os::unix::net::UnixStream::connect(path)
            .map_err(|e| Error::io("connect console socket", path, e))?;
        roles.push(FdRole::Console);
        fds.push(OwnedFd::from(s));
    }
    if start == StartMode::Socket {
        // A short path through our fd of the directory: socket paths are limited to 108 bytes.
        let d = nix::fcntl::open(&dir.path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|e| Error::sys("open", &dir.path, e))?;
        let path = format!("/proc/self/fd/{}/{START_SOCKET}", d.as_raw_fd());
        let l = std::os::unix::net::UnixListener::bind(&path)
            .map_err(|e| Error::io("listen", dir.start_socket(), e))?;
        roles.push(FdRole::StartListener);
        fds.push(OwnedFd::from(l));
    }
    let trees = if spawn::trees::wanted(&p.init) {
        let (a, b) = nix::sys::socket::socketpair(
            nix::sys::socket::AddressFamily::Unix,
            nix::sys::socket::SockType::SeqPacket,
            None,
            nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|e| Error::call("socketpair", e))?;
        roles.push(FdRole::Idmap);
        fds.push(b);
        Some(a)
    } else {
        None
    };
    let placed = placement.is_complete();
    for t in placement.tasks {
        roles.push(FdRole::CgroupProcs);
        fds.push(t);
    }
    if let Some(into) = placement.into {
        roles.push(FdRole::CgroupDir);
        fds.push(into);
    }
    for (flag, fd) in ns_fds {
        roles.push(FdRole::Namespace(flag));
        fds.push(fd);
    }
    // The binary the container must never execute: the view's, or (forked) our own.
    let runtime = match helper {
        Some(_) => spawn::view::of(rt.init_binary.as_deref())?.identity,
        None => crate::setup::exe_guard::runtime_identity(),
    };
    let job = Job {
        parent_pid: std::process::id() as i32,
        kind: Kind::Init(Box::new(InitJob {
            init: p.init.clone(),
            ns: p.ns.clone(),
            time_offsets: p.time_offsets.clone(),
            start,
            runtime_hooks: p.hooks.prestart().as_ref().is_some_and(|h| !h.is_empty())
                || p.hooks
                    .create_runtime()
                    .as_ref()
                    .is_some_and(|h| !h.is_empty()),
        })),
        process: p.process.clone(),
        seccomp: p.seccomp.clone(),
        console: console.mode,
        preserve_fds: p.preserve_fds,
        runtime,
        fds: roles,
        process_field: "process".into(),
    };
    let (spawned, how) = match helper {
        Some(h) => (h.launch(&job, fds)?.0, "by the helper"),
        None => (spawn::fork_init(&job, fds, &opts.stdio)?, "forked"),
    };
    let child = undo.child.insert(spawned);
    let pid = child.pid.as_raw();
    rt.step(|| format!("create {}: init started ({how}), pid {pid}", opts.id));
    state.pid = pid;
    state.start_time = store::process_start_time(pid).ok_or(Error::InitDied("setup"))?;
    dir.save(state)?;
    let chan = &child.chan;
    if p.ns.new_user {
        write_id_maps(p, pid, &rt.host)?;
    }
    if let Some(sock) = &trees {
        spawn::trees::send_trees(&p.init, pid, sock)?;
    }
    if manager.needs_pid_to_create() {
        rt.step(|| format!("create {}: systemd scope for pid {pid}", opts.id));
        if let Err(e) = manager.create_with_pid(pid, &p.cgroup.resources) {
            // Another container's scope: not ours to stop on the way out.
            if e.is_in_use() {
                undo.cgroup = None;
            }
            return Err(e.into());
        }
    } else if !placed && !skipped {
        // A driver that could not give us its cgroup's files: the process is moved in from
        // here, before it runs anything of the container.
        manager.add_task(pid)?;
    }
    chan.send(Msg::Go)?;
    let mut master = None;
    loop {
        match chan.expect(|_| true, "setup")? {
            Msg::Ready => {
                rt.step(|| format!("create {}: init ready", opts.id));
                break;
            }
            Msg::Hooks => {
                rt.step(|| format!("create {}: prestart and createRuntime hooks", opts.id));
                let st = hook_state(hooks_ctx, "creating", pid);
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
                )?;
                chan.send(Msg::HooksDone)?;
            }
            Msg::Console(fd) => master = Some(fd),
            Msg::Devices(wait) => {
                // Rootless, the device rules are tried and their failure ignored (as runc): an
                // unprivileged user may not attach the BPF program of a v2 cgroup, and its
                // container cannot make device nodes anyway.
                let applied = match skipped {
                    true => Ok(()),
                    false => cgroup::apply_devices(&manager, &p.cgroup.devices),
                };
                match applied {
                    Ok(()) => {}
                    Err(e) if rt.host.rootless() => {
                        rt.step(|| format!("create {}: no device rules (rootless): {e}", opts.id));
                    }
                    Err(e) => return Err(e),
                }
                if wait {
                    chan.send(Msg::DevicesDone)?;
                }
            }
            Msg::Seccomp(n) => {
                hand_to_agent(
                    p.seccomp.as_ref(),
                    hooks_ctx,
                    child,
                    n,
                    (oci_spec::runtime::ContainerState::Creating, pid),
                )?;
                chan.send(Msg::SeccompDone)?;
            }
            m => return Err(Error::Protocol(format!("unexpected {m:?} during setup"))),
        }
    }
    // `create`: set up, waiting for `start`. `run` records the change only once its init has
    // exec'd the container's program (`run.rs`): until then the container is "creating", and
    // `exec` refuses to join it (a forked init still runs the runtime binary).
    if start == StartMode::Socket {
        state.status = StoredStatus::Created;
        dir.save(state)?;
    }
    if let Some(pf) = &opts.pid_file {
        write_pid_file(pf, pid)?;
    }
    Ok(master)
}

/// Writes the init's uid and gid maps: directly as root, or for a single mapping of the
/// caller's own id; other maps of an unprivileged caller go through the setuid helpers
/// `newuidmap`/`newgidmap` (package uidmap), which check /etc/subuid and /etc/subgid.
fn write_id_maps(p: &Plan, pid: i32, host: &crate::plan::HostFacts) -> Result<()> {
    use crate::plan::namespaces::id_map;
    let own = |maps: &[oci_spec::runtime::LinuxIdMapping], id: u32| {
        maps.len() == 1 && maps[0].size() == 1 && maps[0].host_id() == id
    };
    let write = |file: &str, data: &str, field: &'static str| {
        procfs::write_checked(Path::new(&format!("/proc/{pid}/{file}")), data.as_bytes())
            .map_err(|e| e.in_field(field))
    };
    if !host.rootless() || own(&p.uid_maps, host.euid) {
        write("uid_map", &id_map(&p.uid_maps), "linux.uidMappings")?;
    } else {
        helper_map("newuidmap", pid, &p.uid_maps, "linux.uidMappings")?;
    }
    let egid = nix::unistd::getegid().as_raw();
    if !host.rootless() {
        write("gid_map", &id_map(&p.gid_maps), "linux.gidMappings")
    } else if own(&p.gid_maps, egid) {
        // Without privilege, a gid map needs setgroups denied first.
        write("setgroups", "deny", "linux.gidMappings")?;
        write("gid_map", &id_map(&p.gid_maps), "linux.gidMappings")
    } else {
        helper_map("newgidmap", pid, &p.gid_maps, "linux.gidMappings")
    }
}

/// Runs `newuidmap`/`newgidmap` for `pid` with `maps`.
fn helper_map(
    tool: &'static str,
    pid: i32,
    maps: &[oci_spec::runtime::LinuxIdMapping],
    field: &'static str,
) -> Result<()> {
    let mut cmd = std::process::Command::new(tool);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([
            m.container_id().to_string(),
            m.host_id().to_string(),
            m.size().to_string(),
        ]);
    }
    let out = cmd
        .output()
        .map_err(|e| Error::io("run", tool, e).in_field(field))?;
    if !out.status.success() {
        return Err(Error::Invalid {
            what: tool,
            msg: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        }
        .in_field(field));
    }
    Ok(())
}

/// Copies the child's seccomp notify listener (fd `n` in it) and hands it to the agent with
/// the container's state.
pub(crate) fn hand_to_agent(
    seccomp: Option<&crate::plan::SeccompPlan>,
    ctx: &crate::plan::HookContext,
    child: &Spawned,
    n: i32,
    status: (oci_spec::runtime::ContainerState, i32),
) -> Result<()> {
    let Some((path, meta)) = seccomp.and_then(|s| s.listener.as_ref()) else {
        return Err(Error::Protocol("a seccomp listener without NOTIFY".into()));
    };
    let fd = sys::pidfd::getfd(child.pidfd.as_fd(), n)
        .map_err(|e| Error::call("pidfd_getfd (the seccomp listener)", e))?;
    // The state is the container's (its init's pid); the process is the one just made.
    let st = agent_state(ctx, status.0, status.1);
    let msg = berth_seccomp::notify::process_state(&st, child.pid.as_raw(), meta.as_deref());
    berth_seccomp::notify::send_to_listener(path, fd.as_fd(), &msg).map_err(Error::SeccompAgent)
}
