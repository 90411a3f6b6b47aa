//! berth-engine: `docker run` for berth. Containers from stored images, with a network, volumes,
//! logs and a monitor process, built from berth-image (the image store) and berth-runtime (the
//! OCI runtime library).
//!
//! # The life of `berth image run`
//!
//! ```text
//!  image run (client)                 monitor (`berth image monitor`)          container
//!  ------------------                 -------------------------------          ---------
//!  parse flags → RunOptions
//!  image present? else pull
//!  plan::build: spec from the image
//!    config and the flags (no I/O
//!    but reading the image)
//!  spawn the monitor (setsid) ───────► protect itself (read-only exe view)
//!  send the RunPlan ─────────────────► launch: record, hold on the image, volumes,
//!                                        netns + CNI ADD,
//!                                        /etc/hosts…, bundle, runtime create ──► init waits
//!                                        runtime start ───────────────────────► execve
//!  ◄──────────── Started (+ stdio fds) ◄ (on any failure: teardown, Failed)
//!  -d: print the id, exit               -d: stdout/stderr → the log file
//!  else relay stdio (and log it),       waitpid(init) → exit code, OOM?
//!    forward signals                    record the exit; CNI DEL, netns unpinned;
//!  ◄──────────────────────── Exited(code)  --rm: runtime delete, record, anon volumes
//! ```
//!
//! The image's layer directories are the overlay's lower dirs, shared with the store: the
//! container registers a hold on its image in the store ([`berth_image::store::Hold`]) so
//! that `image gc` keeps them, named or not, until the container is removed. The client holds
//! the store's writer lock from before it reads the image until the monitor reports back, so
//! a gc cannot remove the image between that read and the hold.
//!
//! The monitor is the container init's parent (the runtime library clones the init from its
//! caller), so it alone can wait for the exit status; it is a fresh `berth` process rather
//! than a fork of the client, so that it outlives the client with nothing of it (threads,
//! locks, fds) and can be found by its socket. A foreground container lives as long as its client:
//! when the client dies (even by SIGKILL), the monitor sees its socket close, kills the
//! container and cleans up. When the monitor itself dies, the next engine command finds its
//! records orphaned ([`teardown::reconcile`]) and finishes the job.
//!
//! # Where things live
//!
//! Under the image store (`--store`): `containers/<id>/` (the [`record`], the bundle with the
//! overlay's upper and work dirs, the log, `hosts`/`hostname`/`resolv.conf`, the pinned network
//! namespace), `volumes/<name>/_data` ([`volumes`]) and `networks/` (the CNI config and host-local's
//! IP leases, [`network`]). The runtime's own state is under `--root` as for every berth
//! container, so `berth list` and `berth state` show these too.
//!
//! Every call into berth-runtime is in [`runtime`], the one adapter module.

pub mod capabilities;
pub mod client;
pub mod error;
pub mod exec;
pub mod launch;
pub mod logs;
pub mod monitor;
pub mod mounts;
pub mod network;
pub mod options;
pub mod plan;
pub mod ports;
pub mod ps;
pub mod record;
pub mod relay;
pub mod runtime;
pub mod seccomp;
pub mod spec;
pub mod stop;
pub mod teardown;
pub mod user;
pub mod volumes;

pub use error::{Error, Result};

use std::path::{Path, PathBuf};

/// Where an engine keeps its state: the image store (records, volumes, networks live beside
/// the images) and the runtime's state root.
#[derive(Debug, Clone)]
pub struct Engine {
    store: PathBuf,
    runtime_root: PathBuf,
}

impl Engine {
    /// An engine over the store at `store` (created if missing) and the runtime state root
    /// `runtime_root`.
    pub fn new(store: &Path, runtime_root: &Path) -> Result<Engine> {
        std::fs::create_dir_all(store).map_err(|e| Error::io("create", store, e))?;
        let store = std::fs::canonicalize(store).map_err(|e| Error::io("resolve", store, e))?;
        for d in ["containers", "volumes", "networks"] {
            let p = store.join(d);
            std::fs::create_dir_all(&p).map_err(|e| Error::io("create", &p, e))?;
        }
        let runtime_root = if runtime_root.is_absolute() {
            runtime_root.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|e| Error::io("resolve", runtime_root, e))?
                .join(runtime_root)
        };
        Ok(Engine {
            store,
            runtime_root,
        })
    }

    /// The image store directory (absolute).
    pub fn store(&self) -> &Path {
        &self.store
    }

    /// The runtime's state root (absolute).
    pub fn runtime_root(&self) -> &Path {
        &self.runtime_root
    }

    /// The image store the engine's containers run images from.
    pub fn image_store(&self) -> Result<berth_image::store::Store> {
        Ok(berth_image::store::Store::open(&self.store)?)
    }

    /// `containers/`: one directory per container record.
    pub fn containers_dir(&self) -> PathBuf {
        self.store.join("containers")
    }

    /// The directory of container `id`.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.containers_dir().join(id)
    }

    /// `volumes/`: one directory per named volume.
    pub fn volumes_dir(&self) -> PathBuf {
        self.store.join("volumes")
    }

    /// `networks/`: CNI configuration and IPAM state.
    pub fn networks_dir(&self) -> PathBuf {
        self.store.join("networks")
    }
}
