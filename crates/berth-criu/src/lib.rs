//! berth-criu: a client of CRIU's RPC interface. CRIU runs as `criu swrk <fd>`, a child
//! that serves requests (protobuf messages, [`rpc`]) on a socket; [`Swrk`] is one such
//! session, and [`version`] and [`features`] the small questions a runtime asks before it
//! checkpoints or restores.

pub mod mntns;
pub mod rpc;
mod swrk;

use std::path::{Path, PathBuf};

pub use mntns::{CgroupYard, RootMount};
pub use swrk::{Io, Setup, Swrk};

use rpc::ReqType;

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong talking to CRIU.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The criu binary could not be started.
    #[error("start `{} swrk`: {source}", binary.display())]
    Start {
        binary: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A system call of the session failed.
    #[error("{op}: {errno}")]
    Sys {
        op: &'static str,
        #[source]
        errno: nix::errno::Errno,
    },
    /// CRIU sent something that is not a `criu_resp`.
    #[error("criu sent a malformed response: {0}")]
    Decode(#[from] prost::DecodeError),
    /// CRIU exited (or closed its socket) before it answered.
    #[error("`{} swrk` exited ({status}) before it answered{}", binary.display(), quote(stderr))]
    Exited {
        binary: PathBuf,
        status: String,
        /// The last lines of its stderr, when captured.
        stderr: String,
    },
    /// CRIU answered that the request failed.
    #[error("criu failed to {}{}{}", what(*request), errno.map(|e| format!(" (errno {e}: {})", nix::errno::Errno::from_raw(e).desc())).unwrap_or_default(), message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Failed {
        request: ReqType,
        errno: Option<i32>,
        message: Option<String>,
    },
    /// CRIU answered a different request.
    #[error("criu answered {got:?} to a {sent:?} request")]
    Unexpected { sent: ReqType, got: ReqType },
}

fn quote(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(": {stderr}")
    }
}

fn what(t: ReqType) -> &'static str {
    match t {
        ReqType::Dump => "dump",
        ReqType::PreDump | ReqType::SinglePreDump => "pre-dump",
        ReqType::Restore => "restore",
        ReqType::Check => "check",
        ReqType::Version => "report its version",
        ReqType::FeatureCheck => "check features",
        ReqType::Notify => "handle a notification",
        _ => "serve the request",
    }
}

/// Asks `binary` for its version (a `VERSION` request: CRIU must start on this kernel to
/// answer, which is what clients such as podman take for "CRIU works").
pub fn version(binary: &Path) -> Result<rpc::Version> {
    let mut s = Swrk::start(Setup::new(binary))?;
    let resp = s.call::<Error>(&swrk::simple(ReqType::Version), |_, _| Ok(()))?;
    s.finish_ok()?;
    resp.version.ok_or(Error::Unexpected {
        sent: ReqType::Version,
        got: ReqType::Empty,
    })
}

/// Whether CRIU can work on this kernel: a `FEATURE_CHECK` request, which CRIU answers
/// only after it has examined the kernel as a dump does (and cached what it found in
/// `/run/criu.kdat`, so asking again is cheap). A `VERSION` request is not enough: CRIU
/// answers it without looking at the kernel, and does so on kernels it cannot dump on.
pub fn usable(binary: &Path) -> Result<()> {
    features(binary, rpc::Features::default()).map(drop)
}

/// Which of `wanted` CRIU and the kernel support (a `FEATURE_CHECK` request).
pub fn features(binary: &Path, wanted: rpc::Features) -> Result<rpc::Features> {
    let mut s = Swrk::start(Setup::new(binary))?;
    let req = rpc::Req {
        features: Some(wanted),
        ..swrk::simple(ReqType::FeatureCheck)
    };
    let resp = s.call::<Error>(&req, |_, _| Ok(()))?;
    s.finish_ok()?;
    Ok(resp.features.unwrap_or_default())
}
