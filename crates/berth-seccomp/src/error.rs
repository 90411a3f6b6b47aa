//! Errors of this crate. Validation errors carry the JSON path of the
//! offending field (`linux.seccomp.syscalls[3].args[0].op`) so the runtime can
//! print them as they are.

use std::path::PathBuf;

use nix::errno::Errno;

/// Everything that can go wrong while compiling, installing or handing over
/// a seccomp filter.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A string field holds a value this runtime does not know.
    #[error("{field}: unknown {kind} \"{value}\"")]
    UnknownValue {
        /// JSON path of the field, e.g. `linux.seccomp.flags[1]`.
        field: String,
        /// What the field names: `action`, `operator`, `architecture`, `flag`.
        kind: &'static str,
        /// The value found.
        value: String,
    },

    /// A field is well-formed JSON but breaks a rule of the spec.
    #[error("{field}: {reason}")]
    Invalid {
        /// JSON path of the field.
        field: String,
        /// Why it is rejected.
        reason: String,
    },

    /// The JSON does not have the shape of `linux.seccomp`.
    #[error("{field}: {source}")]
    Json {
        /// JSON path of the object that failed to parse.
        field: String,
        /// The parser's message.
        #[source]
        source: serde_json::Error,
    },

    /// The compiled program is longer than the kernel accepts.
    #[error(
        "linux.seccomp: filter needs {len} BPF instructions, the kernel accepts at most {max}"
    )]
    TooLarge {
        /// Instructions generated.
        len: usize,
        /// `BPF_MAXINSNS`.
        max: usize,
    },

    /// `seccomp(SECCOMP_SET_MODE_FILTER)` failed.
    #[error("seccomp(SECCOMP_SET_MODE_FILTER, flags={flags:#x}): {errno}")]
    Install {
        /// The flags passed.
        flags: libc::c_ulong,
        /// errno of the call.
        errno: Errno,
    },

    /// A step of sending the notify fd to `listenerPath` failed.
    #[error("{op} `{path}`: {errno}")]
    Listener {
        /// The operation: `socket`, `connect`, `sendmsg`.
        op: &'static str,
        /// `linux.seccomp.listenerPath`.
        path: PathBuf,
        /// errno of the call.
        errno: Errno,
    },

    /// The container process state could not be serialised.
    #[error("encode container process state: {0}")]
    EncodeState(#[source] serde_json::Error),

    /// An ioctl on the notify fd failed.
    #[error("{op} on seccomp notify fd: {errno}")]
    Notify {
        /// The ioctl: `SECCOMP_IOCTL_NOTIF_RECV`, `SECCOMP_IOCTL_NOTIF_SEND`.
        op: &'static str,
        /// errno of the call.
        errno: Errno,
    },
}

impl Error {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
