//! The runtime's error type: each variant names the operation and the path or field involved.

use std::path::PathBuf;

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
        errno: nix::errno::Errno,
    },
    /// A system call without a path failed.
    #[error("{op}: {errno}")]
    Call {
        op: &'static str,
        errno: nix::errno::Errno,
    },
    /// An I/O operation on a path failed.
    #[error("{op} `{}`: {cause}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },
    /// The configuration is invalid; `field` is its JSON path (e.g. `linux.namespaces[2].type`).
    #[error("{field}: {msg}")]
    Config { field: String, msg: String },
    /// `config.json` could not be parsed.
    #[error("parse `{}`: {msg}", path.display())]
    Parse { path: PathBuf, msg: String },
    /// The container id is invalid.
    #[error("invalid container id {id:?}: {msg}")]
    InvalidId { id: String, msg: &'static str },
    /// No container with this id.
    #[error("container does not exist")]
    NotExist(String),
    /// A container with this id exists already.
    #[error("container with id exists: {0}")]
    Exists(String),
    /// The container is not in a state that allows the operation.
    #[error("{0}")]
    State(String),
    /// An error reported by the container's init over the sync channel.
    #[error("{0}")]
    Init(String),
    /// A lifecycle hook failed.
    #[error("{hook} hook #{index} ({}): {msg}", path.display())]
    Hook {
        hook: &'static str,
        index: usize,
        path: PathBuf,
        msg: String,
    },
    /// Something else, already described.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// A failed syscall on `path`.
    pub fn sys(op: &'static str, path: impl Into<PathBuf>, errno: nix::errno::Errno) -> Self {
        Error::Sys {
            op,
            path: path.into(),
            errno,
        }
    }

    /// A failed syscall that has no path.
    pub fn call(op: &'static str, errno: nix::errno::Errno) -> Self {
        Error::Call { op, errno }
    }

    /// A failed I/O operation on `path`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            cause: source,
        }
    }

    /// An invalid configuration field.
    pub fn config(field: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Config {
            field: field.into(),
            msg: msg.into(),
        }
    }
}
