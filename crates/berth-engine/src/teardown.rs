//! Undoing a container, driven by its record: whatever the record says exists is removed,
//! each step written back as done, so a teardown can be repeated or finished by another
//! process. Used by the monitor (after an exit, after a failed start, for `--rm`), by
//! `rm`, and by [`reconcile`], which finishes what a dead monitor left.

use std::time::{Duration, Instant};

use crate::record::{Lock, State};
use crate::runtime::{self, Status};
use crate::{Engine, Error, Result};

impl Engine {
    /// Serialises teardowns of one container (a separate lock from the record's, which
    /// every step takes on its own).
    fn lock_teardown(&self, id: &str) -> Result<Option<Lock>> {
        if !self.container_dir(id).is_dir() {
            return Ok(None);
        }
        let l = crate::record::lock_path(&self.container_dir(id).join("teardown.lock"))?;
        Ok(Some(l))
    }
}

/// After the container's process exited: its network is taken down (the address goes back
/// to the pool); with `--rm`, everything goes.
pub fn after_exit(engine: &Engine, id: &str) -> Result<()> {
    let Some(r) = engine.try_load(id)? else {
        return Ok(());
    };
    if r.auto_remove {
        return remove(engine, id, true);
    }
    let Some(_l) = engine.lock_teardown(id)? else {
        return Ok(());
    };
    crate::network::teardown(engine, id)
}

/// Removes container `id` entirely: kills what still runs, deletes it from the runtime,
/// takes its network down, removes its directory (bundle, log, record) and, with
/// `anonymous_volumes`, the volumes made for it.
pub fn remove(engine: &Engine, id: &str, anonymous_volumes: bool) -> Result<()> {
    let Some(_l) = engine.lock_teardown(id)? else {
        return Ok(());
    };
    let dir = engine.container_dir(id);
    let Some(r) = engine.try_load(id)? else {
        // A directory whose first record was never written.
        return match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io("remove", &dir, e)),
            _ => release_hold(engine, id),
        };
    };
    if r.runtime_created {
        runtime::delete(&r.runtime_root, id)?;
        engine.update(id, |r| r.runtime_created = false)?;
    }
    crate::network::teardown(engine, id)?;
    remove_dir(&dir)?;
    // Only now: while the bundle exists, its overlay may still be mounted.
    release_hold(engine, id)?;
    if anonymous_volumes {
        for v in r.volumes.iter().filter(|v| v.anonymous) {
            engine.volume_remove(&v.name, true)?;
        }
    }
    Ok(())
}

/// Releases the container's hold on its image (see [`crate::launch`]): `image gc` may then
/// remove the image's layers, if nothing else refers to them.
fn release_hold(engine: &Engine, id: &str) -> Result<()> {
    let bundle = engine.container_dir(id).join("bundle");
    engine.image_store()?.release_hold(&bundle)?;
    Ok(())
}

/// Removes a container's directory. The kernel releases an exited container's mount
/// namespace (and with it the overlay over `upper`/`work`) asynchronously, so a removal
/// that races it finds a directory not yet empty or busy: it is retried for a while, and a
/// final failure names what is left.
fn remove_dir(dir: &std::path::Path) -> Result<()> {
    let start = Instant::now();
    loop {
        let e = match std::fs::remove_dir_all(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => e,
        };
        let transient = matches!(e.raw_os_error(), Some(libc::ENOTEMPTY) | Some(libc::EBUSY));
        if !transient || start.elapsed() > Duration::from_secs(5) {
            let left: Vec<String> = walkdir_names(dir).into_iter().take(8).collect();
            return Err(Error::io(
                "remove",
                dir,
                std::io::Error::new(e.kind(), format!("{e} (left: {})", left.join(", "))),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The paths under `dir`, relative to it (for an error message).
fn walkdir_names(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for ent in rd.flatten() {
            let p = ent.path();
            out.push(p.strip_prefix(dir).unwrap_or(&p).display().to_string());
            if ent.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(p);
            }
        }
    }
    out
}

/// Whether the container may still produce output or exit: its monitor lives, or (with
/// the monitor gone) the runtime still sees its process.
pub fn is_live(engine: &Engine, id: &str) -> Result<bool> {
    let Some(r) = engine.try_load(id)? else {
        return Ok(false);
    };
    if r.state == State::Exited {
        return Ok(false);
    }
    if r.monitor.is_some_and(|m| m.alive()) {
        return Ok(true);
    }
    let (s, _) = runtime::status(&r.runtime_root, id);
    Ok(matches!(
        s,
        Status::Running | Status::Paused | Status::Created
    ))
}

/// Finishes the records of dead monitors: a container still being set up is removed (a
/// failed run); one whose process has exited is marked exited (its code unknown) and torn
/// down as its monitor would have. A container still running without a monitor is left
/// alone: `stop` and `rm -f` work on it. Every record is tried; the first error is returned.
pub fn reconcile(engine: &Engine) -> Result<()> {
    let mut first = None;
    for r in engine.records()? {
        if let Err(e) = reconcile_one(engine, r) {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

fn reconcile_one(engine: &Engine, r: crate::record::Record) -> Result<()> {
    if r.state == State::Exited && r.monitor.is_none() {
        return Ok(());
    }
    if r.monitor.is_some_and(|m| m.alive()) {
        return Ok(());
    }
    match r.state {
        State::Creating => remove(engine, &r.id, true),
        State::Running => {
            let (s, _) = runtime::status(&r.runtime_root, &r.id);
            if matches!(s, Status::Running | Status::Paused | Status::Created) {
                return Ok(());
            }
            engine.update(&r.id, |r| {
                r.state = State::Exited;
                r.finished_unix.get_or_insert_with(crate::record::now_unix);
            })?;
            after_exit(engine, &r.id)?;
            engine.update(&r.id, |r| r.monitor = None).map(|_| ())
        }
        State::Exited => {
            after_exit(engine, &r.id)?;
            engine.update(&r.id, |r| r.monitor = None).map(|_| ())
        }
    }
}

/// Waits until the container's exit has been handled (by its monitor, or here when the
/// monitor is gone): the record is gone or marked exited with nobody working on it.
pub fn wait_finished(engine: &Engine, id: &str, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    loop {
        let Some(r) = engine.try_load(id)? else {
            return Ok(());
        };
        if r.state == State::Exited && r.monitor.is_none() {
            return Ok(());
        }
        if !r.monitor.is_some_and(|m| m.alive()) {
            reconcile(engine)?;
            if !is_live(engine, id)? {
                return Ok(());
            }
        }
        if start.elapsed() > timeout {
            return Err(Error::State {
                name: r.name,
                msg: format!(
                    "its exit was not handled within {}s (see {})",
                    timeout.as_secs(),
                    engine.container_dir(id).join("monitor.log").display()
                ),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
