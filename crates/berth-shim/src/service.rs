//! The task service: containerd's task API (v2, over ttrpc) for the containers of this shim.
//! One shim serves one container, or every container of a pod when CRI groups them.
//!
//! The framework's reaper thread waits for every child of the shim (the shim is their
//! subreaper) and hands each exit to this service's exit thread, which finds the process by
//! its pid ([`ExitTable`]), records the exit, wakes `Wait` and publishes `TaskExit`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use containerd_shim::api;
use containerd_shim::monitor::{monitor_subscribe, Subject, Topic};
use containerd_shim::protos::events::task::{
    TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskIO, TaskPaused,
    TaskResumed, TaskStart,
};
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::Message;
use containerd_shim::protos::shim::oci::ProcessDetails;
use containerd_shim::protos::types::task::ProcessInfo;
use containerd_shim::{ExitSignal, TtrpcContext, TtrpcResult};
use log::{info, warn};
use nix::sys::signal::Signal;

use crate::error::{Error, Result};
use crate::events::Publisher;
use crate::options::{self, BundleRecord};
use crate::process::{Exit, ExitTable, Process, Status};
use crate::rootfs::RootfsMount;
use crate::runtime::{CreateOptions, Runtime};
use crate::stdio::Paths;
use crate::{metrics, oom};

/// How long `Delete` of a never-started container waits for its killed init to be reaped.
const REAP_WAIT: Duration = Duration::from_secs(5);

/// One container of this shim.
struct Container {
    id: String,
    bundle: PathBuf,
    runtime: Runtime,
    rootfs_mounted: bool,
    init: Arc<Process>,
    execs: Mutex<HashMap<String, Arc<Process>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Container {
    fn exec(&self, exec_id: &str) -> Result<Arc<Process>> {
        lock(&self.execs)
            .get(exec_id)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("process {exec_id} of container {}", self.id)))
    }

    fn process(&self, exec_id: &str) -> Result<Arc<Process>> {
        if exec_id.is_empty() {
            Ok(Arc::clone(&self.init))
        } else {
            self.exec(exec_id)
        }
    }
}

struct Inner {
    namespace: String,
    exit: Arc<ExitSignal>,
    containers: Mutex<HashMap<String, Arc<Container>>>,
    table: ExitTable,
    events: Arc<Publisher>,
    oom: oom::Monitor,
}

/// The ttrpc task service.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

impl Service {
    /// The service of a shim in `namespace`; starts the exit thread.
    pub fn new(namespace: &str, events: Arc<Publisher>, exit: Arc<ExitSignal>) -> Service {
        let inner = Arc::new(Inner {
            namespace: namespace.to_string(),
            exit,
            containers: Mutex::default(),
            table: ExitTable::default(),
            oom: oom::Monitor::new(Arc::clone(&events)),
            events,
        });
        // Subscribed before any child exists, so that no exit is missed.
        match monitor_subscribe(Topic::All) {
            Ok(sub) => {
                let weak = Arc::downgrade(&inner);
                let spawned = std::thread::Builder::new()
                    .name("exits".into())
                    .spawn(move || {
                        for ev in sub.rx.iter() {
                            let Some(inner) = weak.upgrade() else { return };
                            if let Subject::Pid(pid) = ev.subject {
                                inner.on_exit(pid, ev.exit_code as u32);
                            }
                        }
                    });
                if let Err(e) = spawned {
                    warn!("cannot start the exit thread: {e}");
                }
            }
            Err(e) => warn!("cannot subscribe to exits: {e}"),
        }
        Service { inner }
    }
}

impl Inner {
    fn container(&self, id: &str) -> Result<Arc<Container>> {
        lock(&self.containers)
            .get(id)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("container {id}")))
    }

    fn on_exit(&self, pid: i32, status: u32) {
        let at = SystemTime::now();
        if let Some(p) = self.table.exited(pid, status, at) {
            self.report_exit(&p, pid, status, at);
        }
    }

    /// Records the exit of `p` and tells containerd; after its start was reported.
    fn report_exit(&self, p: &Arc<Process>, pid: i32, status: u32, at: SystemTime) {
        let _started = lock(&p.lifecycle);
        p.set_exited(status, at, |e| {
            self.events.publish(TaskExit {
                container_id: p.container_id.clone(),
                id: p.event_id().to_string(),
                pid: pid as u32,
                exit_status: e.status,
                exited_at: Some(e.timestamp()).into(),
                ..Default::default()
            })
        });
    }

    fn create(&self, req: api::CreateTaskRequest) -> Result<api::CreateTaskResponse> {
        let id = req.id.clone();
        if lock(&self.containers).contains_key(&id) {
            return Err(Error::AlreadyExists(format!("container {id}")));
        }
        if !req.checkpoint.is_empty() || !req.parent_checkpoint.is_empty() {
            return Err(Error::Unimplemented(
                "restore from a checkpoint is not supported by berth".into(),
            ));
        }
        let opts = options::parse(req.options.as_ref())?;
        let bundle = PathBuf::from(&req.bundle);
        let rootfs: Vec<RootfsMount> = req
            .rootfs
            .iter()
            .map(|m| RootfsMount {
                typ: m.type_.clone(),
                source: m.source.clone(),
                options: m.options.clone(),
            })
            .collect();
        let record = BundleRecord::new(&opts, &bundle, &self.namespace, !rootfs.is_empty());
        record.save(&bundle)?;
        let paths = Paths {
            stdin: req.stdin.clone(),
            stdout: req.stdout.clone(),
            stderr: req.stderr.clone(),
            terminal: req.terminal,
        };
        let (stdio, mut io) = paths.open(&self.namespace, &id)?;
        let mut runtime = Runtime::new(record.root.clone());
        let init = Process::new(&id, "", paths, None);
        let starting = self.table.starting();
        let spawned = runtime.create(CreateOptions {
            id: &id,
            bundle: &bundle,
            rootfs: &rootfs,
            terminal: req.terminal,
            no_pivot: opts.no_pivot,
            no_new_keyring: opts.no_new_keyring,
            systemd_cgroup: opts.systemd_cgroup,
            stdio,
        });
        let spawned = match spawned {
            Ok(s) => s,
            Err(e) => {
                self.table.abandon(starting);
                return Err(e);
            }
        };
        for w in &spawned.warnings {
            warn!("{id}: {w}");
        }
        let pid = spawned.pid;
        init.set_pid(pid);
        if let Some(master) = spawned.master {
            if let Err(e) = io.attach_console(master, &init.paths) {
                self.table.abandon(starting);
                let mounted = record.rootfs_mounted.then(|| bundle.join("rootfs"));
                let _ = runtime.delete(&id, true, mounted.as_deref());
                return Err(e);
            }
        }
        init.set_io(io);
        let c = Arc::new(Container {
            id: id.clone(),
            bundle,
            runtime,
            rootfs_mounted: record.rootfs_mounted,
            init: Arc::clone(&init),
            execs: Mutex::default(),
        });
        lock(&self.containers).insert(id.clone(), c);
        self.events.publish(TaskCreate {
            container_id: id.clone(),
            bundle: req.bundle.clone(),
            rootfs: req.rootfs.clone(),
            io: Some(TaskIO {
                stdin: req.stdin.clone(),
                stdout: req.stdout.clone(),
                stderr: req.stderr.clone(),
                terminal: req.terminal,
                ..Default::default()
            })
            .into(),
            checkpoint: req.checkpoint.clone(),
            pid: pid as u32,
            ..Default::default()
        });
        if let Some((status, at)) = self.table.register(starting, pid, &init) {
            self.report_exit(&init, pid, status, at);
        }
        info!("created {id}, init pid {pid}");
        Ok(api::CreateTaskResponse {
            pid: pid as u32,
            ..Default::default()
        })
    }

    fn start(&self, req: api::StartRequest) -> Result<api::StartResponse> {
        let c = self.container(&req.id)?;
        if req.exec_id.is_empty() {
            let init = &c.init;
            let started = lock(&init.lifecycle);
            match init.status() {
                Status::Created => {}
                Status::Stopped => {
                    return Err(Error::FailedPrecondition(format!(
                        "container {} has stopped",
                        c.id
                    )))
                }
                _ => {
                    return Err(Error::FailedPrecondition(format!(
                        "container {} is already started",
                        c.id
                    )))
                }
            }
            for w in c.runtime.start(&c.id)? {
                warn!("{}: {w}", c.id);
            }
            init.set_status(Status::Running);
            let pid = init.pid();
            self.events.publish(TaskStart {
                container_id: c.id.clone(),
                pid: pid as u32,
                ..Default::default()
            });
            drop(started);
            match c.runtime.oom_watcher(&c.id) {
                Ok(w) => self.oom.add(&c.id, w),
                Err(e) => info!("{}: no OOM events: {e}", c.id),
            }
            return Ok(api::StartResponse {
                pid: pid as u32,
                ..Default::default()
            });
        }
        let p = c.exec(&req.exec_id)?;
        let started = lock(&p.lifecycle);
        if p.status() != Status::Created {
            return Err(Error::FailedPrecondition(format!(
                "process {} is already started",
                req.exec_id
            )));
        }
        if c.init.status() == Status::Stopped {
            return Err(Error::FailedPrecondition(format!(
                "container {} is not running",
                c.id
            )));
        }
        let spec = p.spec.clone().unwrap_or_default();
        let (stdio, mut io) = p.paths.open(&self.namespace, &c.id)?;
        let starting = self.table.starting();
        let spawned = match c.runtime.exec(&c.id, spec, p.paths.terminal, stdio) {
            Ok(s) => s,
            Err(e) => {
                self.table.abandon(starting);
                // A process that never started is done, as in runc's shim: containerd deletes
                // a failed exec with a kill and waits for its exit (CRI: up to a minute).
                p.set_exited(255, SystemTime::now(), |_| {});
                return Err(e);
            }
        };
        let pid = spawned.pid;
        p.set_pid(pid);
        if let Some(master) = spawned.master {
            if let Err(e) = io.attach_console(master, &p.paths) {
                warn!("{}/{}: console: {e}", c.id, req.exec_id);
            }
        }
        p.set_io(io);
        p.set_status(Status::Running);
        self.events.publish(TaskExecStarted {
            container_id: c.id.clone(),
            exec_id: req.exec_id.clone(),
            pid: pid as u32,
            ..Default::default()
        });
        drop(started);
        if let Some((status, at)) = self.table.register(starting, pid, &p) {
            self.report_exit(&p, pid, status, at);
        }
        Ok(api::StartResponse {
            pid: pid as u32,
            ..Default::default()
        })
    }

    fn delete(&self, req: api::DeleteRequest) -> Result<api::DeleteResponse> {
        let c = self.container(&req.id)?;
        if !req.exec_id.is_empty() {
            let p = c.exec(&req.exec_id)?;
            if matches!(p.status(), Status::Running | Status::Paused) {
                return Err(Error::FailedPrecondition(format!(
                    "process {} is still running",
                    req.exec_id
                )));
            }
            lock(&c.execs).remove(&req.exec_id);
            p.close_io();
            return Ok(response(p.pid(), p.exit()));
        }
        let status = c.init.status();
        if matches!(status, Status::Running | Status::Paused) {
            return Err(Error::FailedPrecondition(format!(
                "container {} is still running",
                c.id
            )));
        }
        self.oom.remove(&c.id);
        let rootfs = c.rootfs_mounted.then(|| c.bundle.join("rootfs"));
        c.runtime
            .delete(&c.id, status == Status::Created, rootfs.as_deref())?;
        // A created init is killed by the delete: its exit comes through the reaper.
        let exit = c.init.exit().or_else(|| c.init.wait_timeout(REAP_WAIT));
        let pid = c.init.pid();
        if exit.is_none() {
            self.table.forget(pid);
        }
        c.init.close_io();
        for p in lock(&c.execs).drain().map(|(_, p)| p) {
            p.close_io();
        }
        lock(&self.containers).remove(&c.id);
        let r = response(pid, exit);
        self.events.publish(TaskDelete {
            container_id: c.id.clone(),
            pid: r.pid,
            exit_status: r.exit_status,
            exited_at: r.exited_at.clone(),
            id: c.id.clone(),
            ..Default::default()
        });
        info!("deleted {}", c.id);
        Ok(r)
    }

    fn kill(&self, req: api::KillRequest) -> Result<()> {
        let c = self.container(&req.id)?;
        let signal = Signal::try_from(req.signal as i32)
            .map_err(|_| Error::invalid("signal", format!("{} is not a signal", req.signal)))?;
        let finished = || Error::NotFound("process already finished".into());
        if req.exec_id.is_empty() {
            if c.init.status() == Status::Stopped && !req.all {
                return Err(finished());
            }
            return match c.runtime.kill(&c.id, signal, req.all) {
                Err(Error::Runtime {
                    source: berth_runtime::Error::WrongState { .. },
                    ..
                }) => Err(finished()),
                r => r,
            };
        }
        let p = c.exec(&req.exec_id)?;
        if p.status() != Status::Running {
            return Err(finished());
        }
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(p.pid()), signal).map_err(|e| {
            if e == nix::errno::Errno::ESRCH {
                finished()
            } else {
                Error::sys("kill", e)
            }
        })
    }

    fn exec(&self, req: api::ExecProcessRequest) -> Result<()> {
        let c = self.container(&req.id)?;
        if c.init.status() == Status::Stopped {
            return Err(Error::FailedPrecondition(format!(
                "container {} is not running",
                c.id
            )));
        }
        let spec = req
            .spec
            .as_ref()
            .ok_or_else(|| Error::invalid("spec", "missing"))?;
        let process: oci_spec::runtime::Process = serde_json::from_slice(&spec.value)
            .map_err(|e| Error::invalid("spec", format!("not an OCI process: {e}")))?;
        let paths = Paths {
            stdin: req.stdin.clone(),
            stdout: req.stdout.clone(),
            stderr: req.stderr.clone(),
            terminal: req.terminal,
        };
        {
            let mut execs = lock(&c.execs);
            if execs.contains_key(&req.exec_id) {
                return Err(Error::AlreadyExists(format!("process {}", req.exec_id)));
            }
            let p = Process::new(&c.id, &req.exec_id, paths, Some(process));
            execs.insert(req.exec_id.clone(), p);
        }
        self.events.publish(TaskExecAdded {
            container_id: c.id.clone(),
            exec_id: req.exec_id.clone(),
            ..Default::default()
        });
        Ok(())
    }

    fn state(&self, req: api::StateRequest) -> Result<api::StateResponse> {
        let c = self.container(&req.id)?;
        let p = c.process(&req.exec_id)?;
        let exit = p.exit();
        Ok(api::StateResponse {
            id: p.event_id().to_string(),
            bundle: c.bundle.display().to_string(),
            pid: p.pid() as u32,
            status: p.status().task_status().into(),
            stdin: p.paths.stdin.clone(),
            stdout: p.paths.stdout.clone(),
            stderr: p.paths.stderr.clone(),
            terminal: p.paths.terminal,
            exit_status: exit.map(|e| e.status).unwrap_or(0),
            exited_at: exit.map(|e| e.timestamp()).into(),
            exec_id: req.exec_id.clone(),
            ..Default::default()
        })
    }

    fn pids(&self, req: api::PidsRequest) -> Result<api::PidsResponse> {
        let c = self.container(&req.id)?;
        let execs: HashMap<i32, String> = lock(&c.execs)
            .values()
            .map(|p| (p.pid(), p.exec_id.clone()))
            .collect();
        let mut processes = Vec::new();
        for pid in c.runtime.pids(&c.id)? {
            let info = match execs.get(&pid) {
                Some(exec_id) => {
                    let d = ProcessDetails {
                        exec_id: exec_id.clone(),
                        ..Default::default()
                    };
                    Some(Any {
                        type_url: "containerd.runc.v1.ProcessDetails".into(),
                        value: d
                            .write_to_bytes()
                            .map_err(|e| Error::invalid("pids", e.to_string()))?,
                        ..Default::default()
                    })
                }
                None => None,
            };
            processes.push(ProcessInfo {
                pid: pid as u32,
                info: info.into(),
                ..Default::default()
            });
        }
        Ok(api::PidsResponse {
            processes,
            ..Default::default()
        })
    }

    fn pause(&self, id: &str) -> Result<()> {
        let c = self.container(id)?;
        if c.init.status() != Status::Running {
            return Err(Error::FailedPrecondition(format!(
                "container {id} is not running"
            )));
        }
        c.runtime.pause(id)?;
        c.init.set_status(Status::Paused);
        self.events.publish(TaskPaused {
            container_id: id.to_string(),
            ..Default::default()
        });
        Ok(())
    }

    fn resume(&self, id: &str) -> Result<()> {
        let c = self.container(id)?;
        if c.init.status() != Status::Paused {
            return Err(Error::FailedPrecondition(format!(
                "container {id} is not paused"
            )));
        }
        c.runtime.resume(id)?;
        c.init.set_status(Status::Running);
        self.events.publish(TaskResumed {
            container_id: id.to_string(),
            ..Default::default()
        });
        Ok(())
    }

    fn update(&self, req: api::UpdateTaskRequest) -> Result<()> {
        let c = self.container(&req.id)?;
        let any = req
            .resources
            .as_ref()
            .ok_or_else(|| Error::invalid("resources", "missing"))?;
        let resources: oci_spec::runtime::LinuxResources = serde_json::from_slice(&any.value)
            .map_err(|e| Error::invalid("resources", format!("not OCI linux resources: {e}")))?;
        c.runtime.update(&c.id, resources)
    }

    fn stats(&self, id: &str) -> Result<api::StatsResponse> {
        let c = self.container(id)?;
        let (stats, version) = c.runtime.stats(id)?;
        Ok(api::StatsResponse {
            stats: Some(metrics::to_any(&stats, version)?).into(),
            ..Default::default()
        })
    }
}

fn response(pid: i32, exit: Option<Exit>) -> api::DeleteResponse {
    api::DeleteResponse {
        pid: pid.max(0) as u32,
        exit_status: exit.map(|e| e.status).unwrap_or(0),
        exited_at: exit.map(|e| e.timestamp()).into(),
        ..Default::default()
    }
}

/// Logs a failed request once, where it is answered. Hands the memory the request used back
/// to the kernel: a shim sits idle for most of its life.
fn answer<T>(what: &str, id: &str, r: Result<T>) -> TtrpcResult<T> {
    // SAFETY: malloc_trim only releases free heap pages.
    unsafe { libc::malloc_trim(0) };
    r.map_err(|e| {
        info!("{what} {id}: {e}");
        e.into()
    })
}

impl containerd_shim::Task for Service {
    fn state(
        &self,
        _ctx: &TtrpcContext,
        req: api::StateRequest,
    ) -> TtrpcResult<api::StateResponse> {
        let id = req.id.clone();
        answer("state", &id, self.inner.state(req))
    }

    fn create(
        &self,
        _ctx: &TtrpcContext,
        req: api::CreateTaskRequest,
    ) -> TtrpcResult<api::CreateTaskResponse> {
        let id = req.id.clone();
        answer("create", &id, self.inner.create(req))
    }

    fn start(
        &self,
        _ctx: &TtrpcContext,
        req: api::StartRequest,
    ) -> TtrpcResult<api::StartResponse> {
        let id = req.id.clone();
        answer("start", &id, self.inner.start(req))
    }

    fn delete(
        &self,
        _ctx: &TtrpcContext,
        req: api::DeleteRequest,
    ) -> TtrpcResult<api::DeleteResponse> {
        let id = req.id.clone();
        answer("delete", &id, self.inner.delete(req))
    }

    fn pids(&self, _ctx: &TtrpcContext, req: api::PidsRequest) -> TtrpcResult<api::PidsResponse> {
        let id = req.id.clone();
        answer("pids", &id, self.inner.pids(req))
    }

    fn pause(&self, _ctx: &TtrpcContext, req: api::PauseRequest) -> TtrpcResult<api::Empty> {
        answer("pause", &req.id, self.inner.pause(&req.id)).map(|()| api::Empty::new())
    }

    fn resume(&self, _ctx: &TtrpcContext, req: api::ResumeRequest) -> TtrpcResult<api::Empty> {
        answer("resume", &req.id, self.inner.resume(&req.id)).map(|()| api::Empty::new())
    }

    fn checkpoint(
        &self,
        _ctx: &TtrpcContext,
        req: api::CheckpointTaskRequest,
    ) -> TtrpcResult<api::Empty> {
        answer(
            "checkpoint",
            &req.id,
            Err(Error::Unimplemented(
                "checkpoint is not supported by berth".into(),
            )),
        )
    }

    fn kill(&self, _ctx: &TtrpcContext, req: api::KillRequest) -> TtrpcResult<api::Empty> {
        let id = req.id.clone();
        answer("kill", &id, self.inner.kill(req)).map(|()| api::Empty::new())
    }

    fn exec(&self, _ctx: &TtrpcContext, req: api::ExecProcessRequest) -> TtrpcResult<api::Empty> {
        let id = req.id.clone();
        answer("exec", &id, self.inner.exec(req)).map(|()| api::Empty::new())
    }

    fn resize_pty(
        &self,
        _ctx: &TtrpcContext,
        req: api::ResizePtyRequest,
    ) -> TtrpcResult<api::Empty> {
        let r = self
            .inner
            .container(&req.id)
            .and_then(|c| c.process(&req.exec_id))
            .and_then(|p| {
                p.with_io(|io| io.resize(req.width, req.height))
                    .unwrap_or_else(|| {
                        Err(Error::FailedPrecondition(
                            "the process has no terminal".into(),
                        ))
                    })
            });
        answer("resize pty", &req.id, r).map(|()| api::Empty::new())
    }

    fn close_io(&self, _ctx: &TtrpcContext, req: api::CloseIORequest) -> TtrpcResult<api::Empty> {
        let r = self
            .inner
            .container(&req.id)
            .and_then(|c| c.process(&req.exec_id))
            .map(|p| {
                if req.stdin {
                    p.with_io(|io| io.close_stdin());
                }
            });
        answer("close io", &req.id, r).map(|()| api::Empty::new())
    }

    fn update(&self, _ctx: &TtrpcContext, req: api::UpdateTaskRequest) -> TtrpcResult<api::Empty> {
        let id = req.id.clone();
        answer("update", &id, self.inner.update(req)).map(|()| api::Empty::new())
    }

    fn wait(&self, _ctx: &TtrpcContext, req: api::WaitRequest) -> TtrpcResult<api::WaitResponse> {
        let p = self
            .inner
            .container(&req.id)
            .and_then(|c| c.process(&req.exec_id));
        let p = answer("wait", &req.id, p)?;
        let e = p.wait();
        Ok(api::WaitResponse {
            exit_status: e.status,
            exited_at: Some(e.timestamp()).into(),
            ..Default::default()
        })
    }

    fn stats(
        &self,
        _ctx: &TtrpcContext,
        req: api::StatsRequest,
    ) -> TtrpcResult<api::StatsResponse> {
        answer("stats", &req.id, self.inner.stats(&req.id))
    }

    fn connect(
        &self,
        _ctx: &TtrpcContext,
        req: api::ConnectRequest,
    ) -> TtrpcResult<api::ConnectResponse> {
        let task_pid = self
            .inner
            .container(&req.id)
            .map(|c| c.init.pid().max(0) as u32)
            .unwrap_or(0);
        Ok(api::ConnectResponse {
            shim_pid: std::process::id(),
            task_pid,
            version: env!("CARGO_PKG_VERSION").to_string(),
            ..Default::default()
        })
    }

    fn shutdown(&self, _ctx: &TtrpcContext, _req: api::ShutdownRequest) -> TtrpcResult<api::Empty> {
        // A pod's shim lives until its last container is deleted.
        if lock(&self.inner.containers).is_empty() {
            self.inner.exit.signal();
        }
        Ok(api::Empty::new())
    }
}
