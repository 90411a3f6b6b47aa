//! The engine's error type: each variant names the flag, container, file or plugin involved.

use std::path::PathBuf;

/// Result with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A command-line value is invalid: `flag` is spelt as the user typed it (`--memory`).
    #[error("{flag} `{value}`: {reason}")]
    Flag {
        flag: &'static str,
        value: String,
        reason: String,
    },
    /// An I/O operation on a path failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A system call on a path failed.
    #[error("{op} {}: {errno}", path.display())]
    Sys {
        op: &'static str,
        path: PathBuf,
        errno: nix::errno::Errno,
    },
    /// The image store failed.
    #[error(transparent)]
    Store(#[from] berth_image::store::StoreError),
    /// Pulling (or unpacking) the image failed.
    #[error(transparent)]
    Pull(#[from] berth_image::pull::PullError),
    /// Reading the image's users, or writing the bundle, failed.
    #[error(transparent)]
    Bundle(#[from] berth_image::bundle::BundleError),
    /// The image reference does not parse.
    #[error(transparent)]
    Reference(#[from] berth_image::reference::ReferenceError),
    /// The runtime library failed an operation on a container.
    #[error("{op}: {source}")]
    Runtime {
        op: &'static str,
        #[source]
        source: berth_runtime::Error,
    },
    /// A CNI plugin failed.
    #[error("CNI {command} with plugin `{plugin}`: {msg}")]
    Cni {
        plugin: String,
        command: &'static str,
        msg: String,
    },
    /// The network configuration is unusable.
    #[error("network config {}: {reason}", path.display())]
    NetworkConfig { path: PathBuf, reason: String },
    /// A seccomp profile could not be loaded.
    #[error("seccomp profile {}: {reason}", path.display())]
    Seccomp { path: PathBuf, reason: String },
    /// No container has this name or id (prefix).
    #[error("no such container: {0}")]
    NoSuchContainer(String),
    /// An id prefix names several containers.
    #[error("`{input}` matches several containers: {matches}")]
    Ambiguous { input: String, matches: String },
    /// A container with this name exists.
    #[error("the name `{name}` is in use by container {id}")]
    NameInUse { name: String, id: String },
    /// The container is not in a state that allows the operation.
    #[error("container {name}: {msg}")]
    State { name: String, msg: String },
    /// A volume operation was refused or failed.
    #[error("volume `{name}`: {reason}")]
    Volume { name: String, reason: String },
    /// A record, plan or message did not (de)serialise.
    #[error("{what} {}: {reason}", path.display())]
    Corrupt {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    /// The monitor and the client disagree on their protocol.
    #[error("monitor protocol: {0}")]
    Protocol(String),
    /// The monitor reported a failure (its message, already formatted).
    #[error("{0}")]
    Monitor(String),
}

impl Error {
    /// A failed I/O operation on `path`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// A failed syscall on `path`.
    pub fn sys(op: &'static str, path: impl Into<PathBuf>, errno: nix::errno::Errno) -> Error {
        Error::Sys {
            op,
            path: path.into(),
            errno,
        }
    }

    /// A bad value of a flag.
    pub fn flag(flag: &'static str, value: &str, reason: impl Into<String>) -> Error {
        Error::Flag {
            flag,
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// The exit status `image run` reports for this error, as docker does: 127 when the
    /// command was not found, 126 when it could not be executed, 125 for everything else.
    pub fn exit_code(&self) -> i32 {
        let msg = self.to_string().to_ascii_lowercase();
        if !msg.contains("exec") {
            125
        } else if msg.contains("no such file or directory") || msg.contains("enoent") {
            127
        } else if msg.contains("permission denied") || msg.contains("eacces") {
            126
        } else {
            125
        }
    }
}
