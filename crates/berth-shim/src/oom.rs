//! OOM kills in the containers of this shim, reported as `TaskOOM` events. One thread polls
//! the watchers of every running container (v1: an eventfd on `memory.oom_control`; v2:
//! inotify on `memory.events`), woken through a pipe when the set changes.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use berth_cgroups::{OomEvent, OomWatcher};
use containerd_shim::protos::events::task::TaskOOM;
use log::warn;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::events::Publisher;

#[derive(Default)]
struct Watched {
    list: Vec<(String, OomWatcher)>,
    /// The write end of the wake pipe, once the thread runs.
    wake: Option<OwnedFd>,
}

/// The OOM monitor of one shim.
pub struct Monitor {
    watched: Arc<Mutex<Watched>>,
    publisher: Arc<Publisher>,
}

fn lock(m: &Mutex<Watched>) -> MutexGuard<'_, Watched> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Monitor {
    pub fn new(publisher: Arc<Publisher>) -> Monitor {
        Monitor {
            watched: Arc::default(),
            publisher,
        }
    }

    /// Watches container `id`; starts the thread on first use.
    pub fn add(&self, id: &str, watcher: OomWatcher) {
        let mut w = lock(&self.watched);
        w.list.push((id.to_string(), watcher));
        if w.wake.is_none() {
            match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK) {
                Ok((r, wr)) => {
                    let watched = Arc::clone(&self.watched);
                    let publisher = Arc::clone(&self.publisher);
                    let spawned = std::thread::Builder::new()
                        .name("oom".into())
                        .spawn(move || run(&watched, &publisher, r));
                    match spawned {
                        Ok(_) => w.wake = Some(wr),
                        Err(e) => warn!("cannot start the OOM thread: {e}"),
                    }
                }
                Err(e) => warn!("OOM wake pipe: {e}"),
            }
        }
        wake(&w);
    }

    /// Stops watching container `id`.
    pub fn remove(&self, id: &str) {
        let mut w = lock(&self.watched);
        w.list.retain(|(c, _)| c != id);
        wake(&w);
    }
}

fn wake(w: &Watched) {
    if let Some(fd) = &w.wake {
        let _ = nix::unistd::write(fd, b"x");
    }
}

fn run(watched: &Mutex<Watched>, publisher: &Publisher, wake_r: OwnedFd) {
    loop {
        // Which watchers are ready; the lock is not held while sleeping in poll, so the fds
        // are duplicated for it.
        let fds: Vec<(String, OwnedFd)> = lock(watched)
            .list
            .iter()
            .filter_map(|(id, w)| w.as_fd().try_clone_to_owned().ok().map(|f| (id.clone(), f)))
            .collect();
        let mut pfds = vec![PollFd::new(wake_r.as_fd(), PollFlags::POLLIN)];
        pfds.extend(
            fds.iter()
                .map(|(_, f)| PollFd::new(f.as_fd(), PollFlags::POLLIN)),
        );
        match poll(&mut pfds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                warn!("OOM poll: {e}");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        }
        let ready: Vec<String> = pfds[1..]
            .iter()
            .zip(&fds)
            .filter(|(p, _)| p.any().unwrap_or(false))
            .map(|(_, (id, _))| id.clone())
            .collect();
        if pfds[0].any().unwrap_or(false) {
            let mut buf = [0u8; 64];
            while matches!(nix::unistd::read(&wake_r, &mut buf), Ok(n) if n > 0) {}
        }
        drop(pfds);
        drop(fds);
        let mut w = lock(watched);
        let mut gone = Vec::new();
        for id in ready {
            let Some((_, watcher)) = w.list.iter_mut().find(|(c, _)| *c == id) else {
                continue;
            };
            match watcher.wait(Some(Duration::ZERO)) {
                Ok(OomEvent::Oom) => publisher.publish(TaskOOM {
                    container_id: id.clone(),
                    ..Default::default()
                }),
                Ok(OomEvent::Timeout) => {}
                Ok(OomEvent::CgroupGone) => gone.push(id),
                Err(e) => {
                    warn!("OOM watch of {id}: {e}");
                    gone.push(id);
                }
            }
        }
        w.list.retain(|(c, _)| !gone.contains(c));
    }
}
