//! The shim's error type: each variant names the operation and the path, field or process, and
//! maps to the ttrpc status code containerd expects (NotFound for "no such process", ...).

use std::path::PathBuf;

use containerd_shim::protos::ttrpc;

/// Result with the shim's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of the shim.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The runtime library failed.
    #[error("{op}: {source}")]
    Runtime {
        op: &'static str,
        #[source]
        source: berth_runtime::Error,
    },
    /// An I/O operation on a path failed.
    #[error("{op} `{}`: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A cgroup operation failed.
    #[error("{op}: {source}")]
    Cgroup {
        op: &'static str,
        #[source]
        source: berth_cgroups::CgroupError,
    },
    /// A system call failed.
    #[error("{op}: {errno}")]
    Sys {
        op: &'static str,
        errno: nix::errno::Errno,
    },
    /// The helper process that runs a runtime operation failed; `msg` is its error.
    #[error("{op}: {msg}")]
    Helper { op: &'static str, msg: String },
    /// A request field is malformed; `field` names it.
    #[error("{field}: {msg}")]
    InvalidArgument { field: String, msg: String },
    /// No container or process with this id.
    #[error("{0}: not found")]
    NotFound(String),
    /// The container or process already exists.
    #[error("{0}: already exists")]
    AlreadyExists(String),
    /// The process is not in a state that allows the operation.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The request asks for something berth does not do.
    #[error("{0}")]
    Unimplemented(String),
}

impl Error {
    /// A failed I/O operation on `path`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// A failed system call.
    pub fn sys(op: &'static str, errno: nix::errno::Errno) -> Self {
        Error::Sys { op, errno }
    }

    /// A runtime library error in `op`.
    pub fn runtime(op: &'static str) -> impl FnOnce(berth_runtime::Error) -> Error {
        move |source| Error::Runtime { op, source }
    }

    /// A cgroup error in `op`.
    pub fn cgroup(op: &'static str) -> impl FnOnce(berth_cgroups::CgroupError) -> Error {
        move |source| Error::Cgroup { op, source }
    }

    /// A malformed request field.
    pub fn invalid(field: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::InvalidArgument {
            field: field.into(),
            msg: msg.into(),
        }
    }

    fn code(&self) -> ttrpc::Code {
        match self {
            Error::NotFound(_) => ttrpc::Code::NOT_FOUND,
            Error::AlreadyExists(_) => ttrpc::Code::ALREADY_EXISTS,
            Error::FailedPrecondition(_) => ttrpc::Code::FAILED_PRECONDITION,
            Error::InvalidArgument { .. } => ttrpc::Code::INVALID_ARGUMENT,
            Error::Unimplemented(_) => ttrpc::Code::UNIMPLEMENTED,
            Error::Runtime {
                source: berth_runtime::Error::NotExist(_),
                ..
            } => ttrpc::Code::NOT_FOUND,
            _ => ttrpc::Code::UNKNOWN,
        }
    }
}

impl From<Error> for ttrpc::Error {
    fn from(e: Error) -> Self {
        ttrpc::Error::RpcStatus(ttrpc::get_status(e.code(), e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_reach_containerd() {
        let status = |e: Error| match ttrpc::Error::from(e) {
            ttrpc::Error::RpcStatus(s) => (s.code(), s.message().to_string()),
            other => panic!("not a status: {other:?}"),
        };
        let (code, msg) = status(Error::NotFound("process e1".into()));
        assert_eq!(code, ttrpc::Code::NOT_FOUND);
        assert_eq!(msg, "process e1: not found");
        let (code, msg) = status(Error::invalid("spec", "not JSON"));
        assert_eq!(code, ttrpc::Code::INVALID_ARGUMENT);
        assert_eq!(msg, "spec: not JSON");
        let (code, _) = status(Error::Runtime {
            op: "kill",
            source: berth_runtime::Error::NotExist("c1".into()),
        });
        assert_eq!(code, ttrpc::Code::NOT_FOUND);
    }
}
