//! The processes the shim manages: each container's init and its exec'd processes, their
//! status, exit and stdio, and the table that turns a reaped pid into a process.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::protos::types::task::Status as TaskStatus;

use crate::stdio::{Paths, ProcessIo};

/// Where a process is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    /// containerd's name for it.
    pub fn task_status(self) -> TaskStatus {
        match self {
            Status::Created => TaskStatus::CREATED,
            Status::Running => TaskStatus::RUNNING,
            Status::Paused => TaskStatus::PAUSED,
            Status::Stopped => TaskStatus::STOPPED,
        }
    }
}

/// How and when a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    pub status: u32,
    pub at: SystemTime,
}

impl Exit {
    pub fn timestamp(&self) -> Timestamp {
        timestamp(self.at)
    }
}

/// A protobuf timestamp of `t`.
pub fn timestamp(t: SystemTime) -> Timestamp {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    Timestamp {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
        ..Default::default()
    }
}

#[derive(Debug)]
struct State {
    pid: i32,
    status: Status,
    exit: Option<Exit>,
}

/// One process: a container's init (`exec_id` empty) or an exec'd process.
pub struct Process {
    pub container_id: String,
    pub exec_id: String,
    pub paths: Paths,
    /// The process spec of an exec'd process.
    pub spec: Option<oci_spec::runtime::Process>,
    state: Mutex<State>,
    exited: Condvar,
    io: Mutex<Option<ProcessIo>>,
    /// Held while the process is being started, so that its exit is reported after its start.
    pub lifecycle: Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Process {
    pub fn new(
        container_id: &str,
        exec_id: &str,
        paths: Paths,
        spec: Option<oci_spec::runtime::Process>,
    ) -> Arc<Process> {
        Arc::new(Process {
            container_id: container_id.to_string(),
            exec_id: exec_id.to_string(),
            paths,
            spec,
            state: Mutex::new(State {
                pid: 0,
                status: Status::Created,
                exit: None,
            }),
            exited: Condvar::new(),
            io: Mutex::new(None),
            lifecycle: Mutex::new(()),
        })
    }

    /// The id containerd knows this process by in events: the exec id, or the container's.
    pub fn event_id(&self) -> &str {
        if self.exec_id.is_empty() {
            &self.container_id
        } else {
            &self.exec_id
        }
    }

    pub fn pid(&self) -> i32 {
        lock(&self.state).pid
    }

    pub fn status(&self) -> Status {
        lock(&self.state).status
    }

    pub fn exit(&self) -> Option<Exit> {
        lock(&self.state).exit
    }

    pub fn set_pid(&self, pid: i32) {
        lock(&self.state).pid = pid;
    }

    /// Moves a live process to `status` (not out of Stopped).
    pub fn set_status(&self, status: Status) {
        let mut s = lock(&self.state);
        if s.status != Status::Stopped {
            s.status = status;
        }
    }

    /// Records the exit, runs `report` with it (before any waiter can see it: containerd must
    /// get `TaskExit` before a `Wait` returns and the client goes on to delete), then wakes the
    /// waiters. The stdin keep-alive goes: nobody reads it now. A second exit is ignored.
    pub fn set_exited(&self, status: u32, at: SystemTime, report: impl FnOnce(&Exit)) -> Exit {
        let exit = {
            let mut s = lock(&self.state);
            if let Some(e) = s.exit {
                return e;
            }
            let e = Exit { status, at };
            s.status = Status::Stopped;
            s.exit = Some(e);
            report(&e);
            e
        };
        self.exited.notify_all();
        if let Some(io) = lock(&self.io).as_ref() {
            io.close_stdin();
        }
        exit
    }

    /// Waits for the exit.
    pub fn wait(&self) -> Exit {
        let mut s = lock(&self.state);
        loop {
            if let Some(e) = s.exit {
                return e;
            }
            s = self.exited.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Waits for the exit, up to `timeout`.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<Exit> {
        let s = lock(&self.state);
        let (s, _) = self
            .exited
            .wait_timeout_while(s, timeout, |s| s.exit.is_none())
            .unwrap_or_else(|e| e.into_inner());
        s.exit
    }

    pub fn set_io(&self, io: ProcessIo) {
        *lock(&self.io) = Some(io);
    }

    /// Runs `f` on the stdio, if it is open.
    pub fn with_io<R>(&self, f: impl FnOnce(&ProcessIo) -> R) -> Option<R> {
        lock(&self.io).as_ref().map(f)
    }

    /// Closes what the shim holds of the stdio (at delete).
    pub fn close_io(&self) {
        lock(&self.io).take();
    }
}

/// Turns reaped pids into processes. A process started while its pid is not yet known may exit
/// before it is registered: while any start is in flight, unknown exits are kept and matched at
/// registration.
#[derive(Default)]
pub struct ExitTable {
    inner: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    by_pid: HashMap<i32, Arc<Process>>,
    starting: usize,
    early: Vec<(i32, u32, SystemTime)>,
}

/// A start in flight; ends with [`ExitTable::register`] or [`ExitTable::abandon`].
#[must_use]
pub struct Starting(());

impl ExitTable {
    /// Announces that a process is about to be started.
    pub fn starting(&self) -> Starting {
        lock(&self.inner).starting += 1;
        Starting(())
    }

    fn end(t: &mut Table) {
        t.starting -= 1;
        if t.starting == 0 {
            t.early.clear();
        }
    }

    /// Registers the new `pid` of `p`. Returns its exit if it already happened.
    pub fn register(&self, s: Starting, pid: i32, p: &Arc<Process>) -> Option<(u32, SystemTime)> {
        let Starting(()) = s;
        let mut t = lock(&self.inner);
        let early = t
            .early
            .iter()
            .position(|(q, _, _)| *q == pid)
            .map(|i| t.early.remove(i));
        if early.is_none() {
            t.by_pid.insert(pid, Arc::clone(p));
        }
        Self::end(&mut t);
        early.map(|(_, status, at)| (status, at))
    }

    /// The start failed: no pid to register.
    pub fn abandon(&self, s: Starting) {
        let Starting(()) = s;
        Self::end(&mut lock(&self.inner));
    }

    /// Forgets `pid` (its process is being deleted).
    pub fn forget(&self, pid: i32) {
        lock(&self.inner).by_pid.remove(&pid);
    }

    /// The process that owned the reaped `pid`, if any.
    pub fn exited(&self, pid: i32, status: u32, at: SystemTime) -> Option<Arc<Process>> {
        let mut t = lock(&self.inner);
        let p = t.by_pid.remove(&pid);
        if p.is_none() && t.starting > 0 {
            t.early.push((pid, status, at));
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc() -> Arc<Process> {
        Process::new("c1", "", Paths::default(), None)
    }

    #[test]
    fn an_exit_before_registration_is_kept_while_starting() {
        let t = ExitTable::default();
        let p = proc();
        let s = t.starting();
        let now = SystemTime::now();
        assert!(t.exited(42, 3, now).is_none());
        assert_eq!(t.register(s, 42, &p), Some((3, now)));
        // Registered as exited: a later reap of a recycled 42 is not this process's.
        assert!(t.exited(42, 0, now).is_none());
    }

    #[test]
    fn exits_of_unknown_pids_are_dropped_when_nothing_starts() {
        let t = ExitTable::default();
        let now = SystemTime::now();
        assert!(t.exited(7, 0, now).is_none());
        let p = proc();
        let s = t.starting();
        assert_eq!(t.register(s, 7, &p), None);
        assert!(Arc::ptr_eq(&t.exited(7, 1, now).unwrap(), &p));
    }

    #[test]
    fn wait_returns_the_exit_once() {
        let p = proc();
        assert_eq!(p.wait_timeout(Duration::from_millis(1)), None);
        let q = Arc::clone(&p);
        let h = std::thread::spawn(move || q.wait());
        let mut reported = None;
        let e = p.set_exited(137, SystemTime::now(), |e| reported = Some(*e));
        assert_eq!(reported, Some(e));
        assert_eq!(h.join().unwrap(), e);
        // A second report does not change it, and is not reported.
        let again = p.set_exited(0, SystemTime::now(), |_| panic!("reported twice"));
        assert_eq!(again.status, 137);
        assert_eq!(p.status(), Status::Stopped);
        p.set_status(Status::Running);
        assert_eq!(p.status(), Status::Stopped);
    }
}
