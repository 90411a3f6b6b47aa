//! The crate's error type: every variant names the operation and the path
//! (or the spec field) it concerns, so callers can print it once, as is.

use std::path::{Path, PathBuf};

use nix::errno::Errno;

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, CgroupError>;

/// Everything that can go wrong while managing a container's cgroup.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A file operation on the cgroup filesystem failed.
    #[error("{op} `{path}`: {source}")]
    Io {
        /// What was attempted (`write`, `read`, `mkdir`, ...).
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error (carries the errno).
        #[source]
        source: std::io::Error,
    },
    /// A system call (bpf, eventfd, ...) failed.
    #[error("{op} `{path}`: {errno}")]
    Sys {
        /// The system call or step that failed.
        op: &'static str,
        /// The cgroup path concerned.
        path: PathBuf,
        /// The errno returned by the kernel.
        errno: Errno,
    },
    /// `linux.cgroupsPath` cannot be used.
    #[error("invalid linux.cgroupsPath `{path}`: {reason}")]
    InvalidPath {
        /// The value as given in the spec.
        path: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A spec field has a value that is invalid in itself.
    #[error("{field}: invalid value: {reason}")]
    InvalidValue {
        /// The spec field, e.g. `linux.resources.memory.swap`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The kernel refused the device-filter eBPF program.
    #[error("bpf(BPF_PROG_LOAD) for `{path}`: {errno}: verifier log: {log}")]
    BpfLoad {
        /// The cgroup directory.
        path: PathBuf,
        /// The errno returned by the kernel.
        errno: Errno,
        /// The verifier's explanation.
        log: String,
    },
    /// A spec field that this host (kernel, mounted controllers, cgroup
    /// version) cannot honour.
    #[error("{field}: {reason}")]
    Unsupported {
        /// The spec field, e.g. `linux.resources.network.classID`.
        field: String,
        /// Why it cannot be honoured, e.g. `net_cls controller not mounted`.
        reason: String,
    },
    /// Setting a spec field failed; wraps the failing file operation.
    #[error("{field}: {source}")]
    Field {
        /// The spec field being applied.
        field: String,
        /// The failing operation.
        #[source]
        source: Box<CgroupError>,
    },
    /// A cgroup file did not have the expected format.
    #[error("parse `{path}`: {reason}")]
    Parse {
        /// The file that was read.
        path: PathBuf,
        /// What could not be parsed.
        reason: String,
    },
    /// The kernel did not reach the requested state in time.
    #[error("timed out waiting for {what} in `{path}`")]
    Timeout {
        /// The awaited condition (`FROZEN`, `empty cgroup`, ...).
        what: &'static str,
        /// The cgroup directory.
        path: PathBuf,
    },
    /// A level of the container's cgroup path exists and is not a directory
    /// (e.g. `linux.cgroupsPath` `/cgroup.procs/c1`).
    #[error("linux.cgroupsPath: `{path}` is not a directory, so no cgroup can be made there")]
    NotADirectory {
        /// The level that is a file.
        path: PathBuf,
    },
    /// The container's cgroup (or a parent of it) exists and is frozen: a
    /// container started in it would hang before its first instruction.
    #[error("container's cgroup is frozen: `{path}` is {state}; thaw it or use another linux.cgroupsPath")]
    Frozen {
        /// The frozen cgroup directory.
        path: PathBuf,
        /// `FROZEN` or `FREEZING`.
        state: &'static str,
    },
    /// No cgroup hierarchy is mounted where a container's cgroup must go.
    #[error("no cgroup hierarchy is mounted under `{root}` (per /proc/self/mountinfo)")]
    NoHierarchy {
        /// The cgroup mount root.
        root: PathBuf,
    },
    /// A process that joins by itself ([`crate::Manager::join_self`]) has
    /// more than one thread: only the calling thread would move.
    #[error("joining the container's cgroup: the process has {threads} threads, and only one would move")]
    MultiThreaded {
        /// The thread count from `/proc/self/stat`.
        threads: u64,
    },
    /// The systemd driver's D-Bus side failed (boxed: zbus errors are big).
    #[error(transparent)]
    Systemd(Box<crate::systemd::SystemdError>),
    /// An operation that does not exist for this cgroup version.
    #[error("{op} is not available with cgroup {version}")]
    WrongVersion {
        /// The operation that was requested.
        op: &'static str,
        /// The cgroup version in use (`v1` or `v2`).
        version: &'static str,
    },
}

impl CgroupError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CgroupError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn sys(op: &'static str, path: &Path, errno: Errno) -> Self {
        CgroupError::Sys {
            op,
            path: path.to_path_buf(),
            errno,
        }
    }

    pub(crate) fn unsupported(field: impl Into<String>, reason: impl Into<String>) -> Self {
        CgroupError::Unsupported {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        CgroupError::InvalidValue {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The systemd driver found the container's scope live before it
    /// made it ([`crate::systemd::SystemdError::InUse`]): the cgroup is
    /// not the failed container's to remove.
    pub fn is_in_use(&self) -> bool {
        matches!(self, CgroupError::Systemd(e) if matches!(**e, crate::systemd::SystemdError::InUse { .. }))
    }

    /// Attaches the spec field being applied, unless the error already names one.
    pub(crate) fn in_field(self, field: impl Into<String>) -> Self {
        match self {
            e @ (CgroupError::Field { .. }
            | CgroupError::Unsupported { .. }
            | CgroupError::InvalidValue { .. }) => e,
            e => CgroupError::Field {
                field: field.into(),
                source: Box::new(e),
            },
        }
    }

    /// The errno behind this error, if it came from the kernel.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            CgroupError::Io { source, .. } => source.raw_os_error().map(Errno::from_raw),
            CgroupError::Sys { errno, .. } | CgroupError::BpfLoad { errno, .. } => Some(*errno),
            CgroupError::Field { source, .. } => source.errno(),
            _ => None,
        }
    }
}
