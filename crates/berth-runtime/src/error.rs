//! The runtime's errors: each variant names the operation and the path or field involved, and
//! keeps its cause (`errno`, the I/O error, the cgroup or seccomp error) as its source.

use std::path::PathBuf;

use nix::errno::Errno;

use crate::state::{Status, Verb};

/// Result with the runtime's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of the runtime library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call on a path failed.
    #[error("{op} `{}`: {errno}", path.display())]
    Sys {
        op: &'static str,
        path: PathBuf,
        #[source]
        errno: Errno,
    },
    /// A system call without a path failed.
    #[error("{op}: {errno}")]
    Call {
        op: &'static str,
        #[source]
        errno: Errno,
    },
    /// An I/O operation on a path failed.
    #[error("{op} `{}`: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The configuration is invalid; `field` is its JSON path (`linux.namespaces[2].type`).
    #[error("invalid configuration: {field}: {msg}")]
    Config { field: String, msg: String },
    /// Applying a configuration field failed; `field` is its JSON path.
    #[error("{field}: {source}")]
    Field {
        field: String,
        #[source]
        source: Box<Error>,
    },
    /// `config.json` (or another JSON input) could not be parsed.
    #[error("invalid configuration: parse `{}`: {msg}", path.display())]
    Parse { path: PathBuf, msg: String },
    /// The container id is invalid.
    #[error("invalid container id {id:?}: {msg}")]
    InvalidId { id: String, msg: &'static str },
    /// No container with this id.
    #[error("container {0} does not exist")]
    NotExist(String),
    /// A container with this id exists already.
    #[error("container ID already exists: {0}")]
    Exists(String),
    /// The container's status does not allow the verb.
    #[error("{}", crate::state::status::refusal(*verb, id, *status))]
    WrongState {
        verb: Verb,
        id: String,
        status: Status,
    },
    /// An error the container's init (or an exec'd process) met, reported over the sync
    /// channel.
    #[error("{0}")]
    Init(#[from] crate::spawn::sync::ChildError),
    /// The container's init went away without a word.
    #[error("container init exited during {0}")]
    InitDied(&'static str),
    /// The parent/child protocol was violated (a bug, or a process that is not berth's).
    #[error("sync protocol: {0}")]
    Protocol(String),
    /// A lifecycle hook failed.
    #[error("{hook} hook #{index} ({}): {msg}", path.display())]
    Hook {
        hook: &'static str,
        index: usize,
        path: PathBuf,
        msg: String,
    },
    /// A `mounts` entry could not be set up.
    #[error("mounts[{index}] ({}): {source}", destination.display())]
    Mount {
        index: usize,
        destination: PathBuf,
        #[source]
        source: Box<Error>,
    },
    /// The process's executable could not be found or run (runc's wording, which dockerd
    /// matches to choose exit code 127 over 126).
    #[error("exec: {0}")]
    Exec(String),
    /// The container would execute the runtime binary (CVE-2019-5736).
    #[error("exec: {0} resolves to the runtime binary; refusing to run it inside the container")]
    RuntimeBinary(String),
    /// A path in the container's root filesystem that berth refuses to use.
    #[error("{} in the container's rootfs: {msg}", path.display())]
    UnsafePath { path: PathBuf, msg: &'static str },
    /// A path in the rootfs is a symlink to something that is not in the rootfs; berth
    /// creates mount points, not symlink targets.
    #[error("{} in the container's rootfs is a symlink to {}, which does not exist there", path.display(), target.display())]
    DanglingSymlink { path: PathBuf, target: PathBuf },
    /// A cgroup operation failed.
    #[error(transparent)]
    Cgroup(#[from] berth_cgroups::CgroupError),
    /// Compiling or loading the seccomp filter failed.
    #[error("linux.seccomp: {0}")]
    Seccomp(#[from] berth_seccomp::Error),
    /// The seccomp agent could not be reached or did not take the notify fd.
    #[error("failed to connect with seccomp agent specified in linux.seccomp.listenerPath: {0}")]
    SeccompAgent(#[source] berth_seccomp::Error),
    /// CRIU failed to checkpoint or restore (or cannot run here).
    #[error(transparent)]
    Criu(Box<CriuError>),
    /// A bad argument of the library's own API (a signal name, a duration, ...).
    #[error("{what}: {msg}")]
    Invalid { what: &'static str, msg: String },
}

/// What CRIU said when `checkpoint` or `restore` (`op`) failed: `log` is its log file, and
/// `errors` the last error lines in it.
#[derive(Debug, thiserror::Error)]
#[error("{op}: {source}{}", criu_log(log.as_deref(), errors))]
pub struct CriuError {
    pub op: &'static str,
    #[source]
    pub source: berth_criu::Error,
    pub log: Option<PathBuf>,
    pub errors: Vec<String>,
}

/// The end of a CRIU error's message: what its log says, and where the log is.
fn criu_log(log: Option<&std::path::Path>, errors: &[String]) -> String {
    let mut out = String::new();
    for e in errors {
        out.push_str("; ");
        out.push_str(e);
    }
    if let Some(l) = log {
        out.push_str(&format!(" (log: {})", l.display()));
    }
    out
}

impl From<berth_criu::Error> for Error {
    fn from(source: berth_criu::Error) -> Self {
        Error::Criu(Box::new(CriuError {
            op: "criu",
            source,
            log: None,
            errors: Vec::new(),
        }))
    }
}

impl Error {
    /// A failed syscall on `path`.
    pub fn sys(op: &'static str, path: impl Into<PathBuf>, errno: Errno) -> Self {
        Error::Sys {
            op,
            path: path.into(),
            errno,
        }
    }

    /// A failed syscall that has no path.
    pub fn call(op: &'static str, errno: Errno) -> Self {
        Error::Call { op, errno }
    }

    /// A failed I/O operation on `path`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// An invalid configuration field.
    pub fn config(field: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Config {
            field: field.into(),
            msg: msg.into(),
        }
    }

    /// `self`, as the failure of applying the configuration field `field`.
    pub fn in_field(self, field: impl Into<String>) -> Self {
        Error::Field {
            field: field.into(),
            source: Box::new(self),
        }
    }

    /// The errno behind this error, if one is known.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Sys { errno, .. } | Error::Call { errno, .. } => Some(*errno),
            Error::Io { source, .. } => source.raw_os_error().map(Errno::from_raw),
            Error::Field { source, .. } | Error::Mount { source, .. } => source.errno(),
            Error::Init(e) => e.errno.map(Errno::from_raw),
            Error::Cgroup(e) => e.errno(),
            _ => None,
        }
    }

    /// Whether this is "no such container".
    pub fn is_not_exist(&self) -> bool {
        matches!(self, Error::NotExist(_))
    }
}
