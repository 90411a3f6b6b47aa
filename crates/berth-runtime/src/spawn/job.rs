//! What the parent hands its helper process: the part of the plan the child carries out, and
//! the roles of the fds sent along (in order).

use serde::{Deserialize, Serialize};

use crate::plan::{InitPlan, NamespacePlan, ProcessPlan, SeccompPlan};
use crate::setup::exe_guard::Identity;

/// The two kinds of process berth puts into a container; they share one setup pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Kind {
    /// The container's init (`create`, `run`).
    Init(Box<InitJob>),
    /// A process joining a running container (`exec`).
    Exec,
}

/// How the init learns that it may exec the container process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StartMode {
    /// `create`: `start` connects to the listening socket sent along.
    Socket,
    /// `run`: the parent sends `Start` over the channel.
    Channel,
}

/// Where the pty master goes when the process has a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConsoleMode {
    None,
    /// Over the console socket sent along (`--console-socket`).
    Socket,
    /// Back to the parent over the channel (`run -t`, `exec -t`, a shim).
    Return,
}

/// The init's part of a job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InitJob {
    pub init: InitPlan,
    pub ns: NamespacePlan,
    pub time_offsets: Option<String>,
    pub start: StartMode,
    /// The parent runs prestart/createRuntime hooks: the init asks for them.
    pub runtime_hooks: bool,
}

/// The roles of the fds sent with the job, in the order they are attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FdRole {
    /// The connected console socket.
    Console,
    /// The listening start socket (`create`).
    StartListener,
    /// Where idmapped mount trees arrive, in mount order.
    Idmap,
    /// A v2 cgroup directory to be born into (`CLONE_INTO_CGROUP`).
    CgroupDir,
    /// A `cgroup.procs` file to join before the clone (exec, v1 and hybrid hierarchies).
    CgroupProcs,
    /// A namespace to join (its `CLONE_NEW*` flag), in joining order.
    Namespace(i32),
}

/// The job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    /// The parent's pid: the helper dies if it is not its parent any more.
    pub parent_pid: i32,
    pub kind: Kind,
    pub process: ProcessPlan,
    pub seccomp: Option<SeccompPlan>,
    pub console: ConsoleMode,
    /// fds 3 .. 3+preserve_fds go to the container process.
    pub preserve_fds: i32,
    /// The runtime binary, which the container must never execute.
    pub runtime: Option<Identity>,
    /// The roles of the attached fds.
    pub fds: Vec<FdRole>,
    /// Exec: the JSON path of the process, for errors (`process`, `--process`).
    pub process_field: String,
}
