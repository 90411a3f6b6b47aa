//! `image run`, the client side: the image (pulled if missing), the plan, the monitor, and
//! for an attached container the relay of its stdio until the monitor reports the exit.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use berth_image::progress::Progress;
use berth_image::pull::{fetch_layers, PullOptions};
use berth_image::reference::Reference;
use berth_image::store::{Store, StoreError};

use crate::monitor::proto::{self, Attached, Msg};
use crate::options::RunOptions;
use crate::plan::{self, ImageInfo};
use crate::relay::{self, Ends, Exit};
use crate::{teardown, Engine, Error, Result};

/// The store's image `reference`, pulled first if the store does not have it, with every
/// layer unpacked.
pub fn ensure_image(
    store: &Store,
    reference: &str,
    insecure: bool,
    progress: &Progress,
) -> Result<ImageInfo> {
    match store.resolve(reference) {
        Ok(_) => {}
        Err(StoreError::NotFound(_)) => {
            let r = Reference::parse(reference)?;
            progress.line(&format!("{r}: not in the store, pulling"));
            let opts = PullOptions {
                platform: berth_image::manifest::Platform::host(),
                insecure,
            };
            berth_image::pull::pull(store, &r, &opts, progress)?;
        }
        Err(e) => return Err(e.into()),
    }
    let entry = store.resolve(reference)?;
    let image = store.load_image(&entry.manifest.digest)?;
    if image
        .config
        .rootfs
        .diff_ids
        .iter()
        .any(|d| !store.has_layer(d))
    {
        let _writer = store.writer_lock()?;
        // Layers gc removed, or imported only as blobs, are unpacked now.
        fetch_layers(store, None, &image.manifest, &image.config, progress)?;
    }
    ImageInfo::load(store, reference)
}

/// How `image run` ended.
pub enum Outcome {
    /// `-d`: the container runs; its id.
    Detached(String),
    /// The container's exit code.
    Exited(i32),
}

/// Starts the monitor (`berth --root ROOT image --store STORE monitor`) in a session of its
/// own, with its end of the socket on fd 3.
fn spawn_monitor(engine: &Engine, theirs: &UnixStream) -> Result<std::process::Child> {
    let fd = theirs.as_raw_fd();
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg("--root")
        .arg(engine.runtime_root())
        .args(["image", "--store"])
        .arg(engine.store())
        .arg("monitor")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: between fork and exec only async-signal-safe calls: setsid, and dup2 of a
    // descriptor we own onto fd 3 (which also clears its close-on-exec flag).
    unsafe {
        cmd.pre_exec(move || {
            libc::setsid();
            if libc::dup2(fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
        .map_err(|e| Error::io("start the monitor", "/proc/self/exe", e))
}

/// Runs a container as `docker run` does.
pub fn run(engine: &Engine, o: &RunOptions, progress: &Progress) -> Result<Outcome> {
    // Finishing what dead monitors left is best effort here: it must not stop a new run.
    let _ = teardown::reconcile(engine);
    let store = Store::open(engine.store())?;
    // Held until the monitor has registered the container's hold on the image (or failed):
    // an `image gc` (which takes it exclusively) cannot remove the image's layers between
    // their check here and the hold.
    let writer = store.writer_lock()?;
    let image = ensure_image(&store, &o.image, o.insecure, progress)?;
    let plan = plan::build(engine, &image, o)?;
    if let Some(other) = engine
        .records()?
        .into_iter()
        .find(|r| r.name == plan.record.name)
    {
        return Err(Error::NameInUse {
            name: other.name,
            id: other.id,
        });
    }
    let (ours, theirs) = UnixStream::pair().map_err(|e| Error::io("socketpair", "monitor", e))?;
    let mut monitor = spawn_monitor(engine, &theirs)?;
    drop(theirs);
    let interactive = plan.stdio.interactive;
    let id = plan.record.id.clone();
    proto::send(&ours, &Msg::Plan(Box::new(plan)), &[])?;
    let reply = proto::recv(&ours);
    drop(writer);
    let (msg, mut fds) = match reply? {
        Some(m) => m,
        None => {
            let _ = monitor.wait();
            return Err(Error::Monitor(
                "the monitor exited before it started the container".into(),
            ));
        }
    };
    let (pid, attached) = match msg {
        Msg::Started {
            pid,
            attached,
            warnings,
            ..
        } => {
            for w in warnings {
                progress.line(&format!("warning: {w}"));
            }
            (pid, attached)
        }
        Msg::Failed { error } => {
            let _ = monitor.wait();
            return Err(Error::Monitor(error));
        }
        m => return Err(Error::Protocol(format!("unexpected {m:?}"))),
    };
    if attached == Attached::None {
        return Ok(Outcome::Detached(id));
    }
    let take = |fds: &mut Vec<OwnedFd>| {
        if fds.is_empty() {
            None
        } else {
            Some(fds.remove(0))
        }
    };
    let ends = match attached {
        Attached::Tty => {
            let master = take(&mut fds).ok_or_else(|| Error::Protocol("no pty master".into()))?;
            let dup = master
                .try_clone()
                .map_err(|e| Error::io("dup", "pty master", e))?;
            Ends {
                stdin: Some(dup),
                stdout: Some(master),
                stderr: None,
                tty: true,
            }
        }
        Attached::Pipes { stdin } => {
            let i = if stdin { take(&mut fds) } else { None };
            Ends {
                stdin: i,
                stdout: take(&mut fds),
                stderr: take(&mut fds),
                tty: false,
            }
        }
        Attached::None => unreachable!("handled above"),
    };
    let log = crate::logs::LogWriter::open(&engine.log_path(&id)).ok();
    let relayed = relay::relay(ends, pid, Exit::Monitor(&ours), log, interactive);
    if relayed.is_err() {
        // The monitor is gone without reporting the exit: the container must not outlive
        // its client; stopping it also finishes what the monitor would have done.
        let _ = crate::stop::stop(engine, &id, Some(0));
    }
    let _ = monitor.wait();
    Ok(Outcome::Exited(relayed?))
}
