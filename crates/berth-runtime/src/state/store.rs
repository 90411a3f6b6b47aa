//! The state store: one directory per container under the runtime root.
//!
//! A container's directory appears whole or not at all: `create` builds it under a temporary
//! name, locks it, writes `state.json` (status `creating`) and renames it into place with
//! `RENAME_NOREPLACE`, so of two concurrent creates of one id exactly one wins, and a create
//! killed at any later instant leaves a container that `list` shows and `delete -f` removes.
//! `state.json` is written to a temporary file and renamed, so readers never see a partial
//! file; it records the init's start time, so a recycled pid is never taken for the
//! container. Mutating commands hold an exclusive `flock` on the container's directory.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{id, sys, Error, Result};

/// The socket the created init listens on until `start` connects; its presence means
/// "created, not yet started".
pub const START_SOCKET: &str = "exec.sock";
/// The file holding the container's state.
pub const STATE_FILE: &str = "state.json";
/// What `exec` and `delete` need of the container's config (see [`crate::plan::ExecDefaults`]).
pub const CONFIG_FILE: &str = "container.json";
/// Temporary directories of creates in progress start with this.
const NEW_PREFIX: &str = ".new-";

/// How far `create` got, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StoredStatus {
    /// `create` has not finished: the pid may be 0 (no init yet).
    #[default]
    Creating,
    /// `create` finished; the live status comes from the init and the cgroup.
    Created,
}

/// What berth remembers about a container.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub oci_version: String,
    pub id: String,
    #[serde(default)]
    pub status: StoredStatus,
    /// The init's pid (0 until it exists).
    pub pid: i32,
    /// The init's start time in clock ticks since boot (`/proc/<pid>/stat` field 22).
    pub start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    #[serde(default)]
    pub owner: String,
    pub cgroups_path: String,
    /// The cgroup is managed by the systemd driver.
    #[serde(default)]
    pub systemd_cgroup: bool,
    /// Whether the cgroup is berth's to remove at delete.
    #[serde(default)]
    pub own_cgroup: bool,
    /// The container has no mount namespace of its own: its mounts were made under the
    /// rootfs in the runtime's namespace, and `delete` unmounts them.
    #[serde(default)]
    pub host_mounts: bool,
    /// The host's cgroup hierarchies as they were mounted when the container was made:
    /// `exec` finds the init's cgroups through them instead of reading mountinfo. Empty (a
    /// state written before they were recorded): the host's, as the cgroup manager finds
    /// them in mountinfo.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cgroup_mounts: Vec<CgroupMount>,
}

/// A mounted cgroup hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CgroupMount {
    /// Its v1 controllers and name (`cpu`, `cpuacct`; `name=systemd`); none: cgroup2.
    pub controllers: Vec<String>,
    pub mount_point: PathBuf,
}

/// A container's directory under the state root.
#[derive(Debug)]
pub struct ContainerDir {
    pub path: PathBuf,
    /// Held open for the lock; the lock is released when this is dropped.
    lock: Option<File>,
}

fn mkdir_root(root: &Path) -> Result<()> {
    // Only root may read container state: configs carry environments and secrets.
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .map_err(|e| Error::io("mkdir", root, e))
}

impl ContainerDir {
    /// The directory of `id` under `root` (the id is validated).
    pub fn new(root: &Path, id: &str) -> Result<Self> {
        id::validate(id)?;
        Ok(ContainerDir {
            path: root.join(id),
            lock: None,
        })
    }

    /// Creates the container's directory holding `state`, locked; [`Error::Exists`] if the
    /// id is taken (whatever state the other container is in).
    pub fn create(root: &Path, state: &State) -> Result<Self> {
        let id = &state.id;
        let mut dir = Self::new(root, id)?;
        mkdir_root(root)?;
        let tmp = tempfile::Builder::new()
            .prefix(&format!("{NEW_PREFIX}{id}-"))
            .tempdir_in(root)
            .map_err(|e| Error::io("create a directory in", root, e))?
            .keep();
        let mut staged = ContainerDir {
            path: tmp.clone(),
            lock: None,
        };
        let placed = (|| {
            staged.lock()?;
            staged.save(state)?;
            nix::fcntl::renameat2(
                nix::fcntl::AT_FDCWD,
                &tmp,
                nix::fcntl::AT_FDCWD,
                &dir.path,
                nix::fcntl::RenameFlags::RENAME_NOREPLACE,
            )
            .map_err(|e| match e {
                nix::errno::Errno::EEXIST | nix::errno::Errno::ENOTEMPTY => {
                    Error::Exists(id.clone())
                }
                e => Error::sys("rename", &dir.path, e),
            })
        })();
        if let Err(e) = placed {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        dir.lock = staged.lock.take();
        Ok(dir)
    }

    /// Opens an existing container's directory; [`Error::NotExist`] otherwise.
    pub fn open(root: &Path, id: &str) -> Result<Self> {
        let dir = Self::new(root, id)?;
        if !dir.path.is_dir() {
            return Err(Error::NotExist(id.to_string()));
        }
        Ok(dir)
    }

    /// Takes the exclusive lock (blocks while another berth command holds it).
    pub fn lock(&mut self) -> Result<()> {
        let f = File::open(&self.path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::NotExist(self.id())
            } else {
                Error::io("open", &self.path, e)
            }
        })?;
        sys::flock_exclusive(f.as_fd(), true).map_err(|e| Error::sys("flock", &self.path, e))?;
        self.lock = Some(f);
        Ok(())
    }

    /// Releases the lock early (a foreground `run` does not hold it while it waits).
    pub fn unlock(&mut self) {
        self.lock = None;
    }

    fn id(&self) -> String {
        self.path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned()
    }

    /// Reads `state.json`. A directory without one (left by an older berth) reads as a
    /// stopped container with nothing known but its id, so `delete` can remove it.
    pub fn load(&self) -> Result<State> {
        let p = self.path.join(STATE_FILE);
        let data = match std::fs::read(&p) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !self.path.is_dir() {
                    return Err(Error::NotExist(self.id()));
                }
                return Ok(State {
                    id: self.id(),
                    oci_version: oci_spec::runtime::VERSION.to_string(),
                    ..Default::default()
                });
            }
            Err(e) => return Err(Error::io("read", &p, e)),
        };
        serde_json::from_slice(&data).map_err(|e| Error::Parse {
            path: p,
            msg: e.to_string(),
        })
    }

    /// Writes `state.json` atomically.
    pub fn save(&self, state: &State) -> Result<()> {
        let data = serde_json::to_vec(state).map_err(|e| Error::Parse {
            path: self.path.join(STATE_FILE),
            msg: e.to_string(),
        })?;
        self.write_atomic(STATE_FILE, &data)
    }

    /// Writes `name` in the directory through a temporary file and a rename.
    pub fn write_atomic(&self, name: &str, data: &[u8]) -> Result<()> {
        let tmp = self.path.join(format!(".{name}.tmp"));
        let dst = self.path.join(name);
        let mut f = File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
        f.write_all(data).map_err(|e| Error::io("write", &tmp, e))?;
        std::fs::rename(&tmp, &dst).map_err(|e| Error::io("rename", &dst, e))
    }

    /// Reads the file `name` of the directory, if it is there.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let p = self.path.join(name);
        match std::fs::read(&p) {
            Ok(d) => Ok(Some(d)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", &p, e)),
        }
    }

    /// Removes the directory and everything in it.
    pub fn remove(&self) -> Result<()> {
        match std::fs::remove_dir_all(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", &self.path, e)),
        }
    }

    /// The start socket's path.
    pub fn start_socket(&self) -> PathBuf {
        self.path.join(START_SOCKET)
    }
}

/// Ids of the containers under `root`. Temporary directories of creates that died before
/// their container appeared are removed on the way (nothing else refers to them).
pub fn list(root: &Path) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    let rd = match std::fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ids),
        Err(e) => return Err(Error::io("read dir", root, e)),
    };
    for ent in rd.flatten() {
        let name = ent.file_name().to_string_lossy().into_owned();
        if name.starts_with(NEW_PREFIX) {
            sweep_abandoned(&ent.path());
            continue;
        }
        if id::validate(&name).is_ok() && ent.path().is_dir() {
            ids.push(name);
        }
    }
    ids.sort();
    Ok(ids)
}

/// Removes a temporary create directory nobody holds locked.
fn sweep_abandoned(path: &Path) {
    if let Ok(f) = File::open(path) {
        if sys::flock_exclusive(f.as_fd(), false) == Ok(true) {
            let _ = std::fs::remove_dir_all(path);
        }
    }
}

/// The fields of `/proc/<pid>/stat` after the command name: index 0 is the state letter,
/// index 19 the start time.
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// The start time of `pid`, or `None` if there is no such process.
pub fn process_start_time(pid: i32) -> Option<u64> {
    stat_fields(pid)?.get(19)?.parse().ok()
}

/// Whether `pid` is still the process recorded in `state` and has not exited.
pub fn init_alive(state: &State) -> bool {
    if state.pid <= 0 {
        return false;
    }
    match stat_fields(state.pid) {
        Some(f) => {
            f.first().map(String::as_str) != Some("Z")
                && f.get(19).and_then(|t| t.parse().ok()) == Some(state.start_time)
        }
        None => false,
    }
}

/// RFC 3339 UTC timestamp with nanoseconds, as runc prints `created`.
pub fn rfc3339_now() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(d.as_secs() as i64, d.subsec_nanos())
}

/// Formats a Unix time as RFC 3339 UTC.
pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian calendar).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(id: &str) -> State {
        State {
            id: id.into(),
            pid: 42,
            start_time: 7,
            ..Default::default()
        }
    }

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(951782400, 5), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(rfc3339(1795411358, 0), "2026-11-23T05:22:38.000000000Z");
    }

    #[test]
    fn create_twice_fails_and_state_round_trips() {
        let root = tempfile::tempdir().unwrap();
        let d = ContainerDir::create(root.path(), &state("c1")).unwrap();
        assert!(matches!(
            ContainerDir::create(root.path(), &state("c1")),
            Err(Error::Exists(_))
        ));
        let back = ContainerDir::open(root.path(), "c1")
            .unwrap()
            .load()
            .unwrap();
        assert_eq!((back.pid, back.start_time), (42, 7));
        assert_eq!(back.status, StoredStatus::Creating);
        assert_eq!(list(root.path()).unwrap(), vec!["c1".to_string()]);
        d.remove().unwrap();
        assert!(matches!(
            ContainerDir::open(root.path(), "c1"),
            Err(Error::NotExist(_))
        ));
        // Nothing but the root is left: no temporary directory.
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
    }

    #[test]
    fn concurrent_creates_of_one_id_have_one_winner() {
        let root = tempfile::tempdir().unwrap();
        for round in 0..20 {
            let id = format!("race{round}");
            let wins: Vec<bool> = std::thread::scope(|s| {
                let hs: Vec<_> = (0..8)
                    .map(|_| {
                        let (r, id) = (root.path(), id.clone());
                        s.spawn(move || ContainerDir::create(r, &state(&id)).is_ok())
                    })
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap()).collect()
            });
            assert_eq!(wins.iter().filter(|w| **w).count(), 1, "round {round}");
        }
    }

    #[test]
    fn a_directory_without_state_is_a_stopped_container_delete_can_remove() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("c2")).unwrap();
        assert!(matches!(
            ContainerDir::create(root.path(), &state("c2")),
            Err(Error::Exists(_))
        ));
        let d = ContainerDir::open(root.path(), "c2").unwrap();
        assert_eq!(d.load().unwrap().pid, 0);
        assert_eq!(list(root.path()).unwrap(), vec!["c2".to_string()]);
    }

    #[test]
    fn abandoned_temporary_directories_are_swept() {
        let root = tempfile::tempdir().unwrap();
        let t = root.path().join(format!("{NEW_PREFIX}x-abc"));
        std::fs::create_dir(&t).unwrap();
        assert!(list(root.path()).unwrap().is_empty());
        assert!(!t.exists());
    }

    #[test]
    fn invalid_ids_never_touch_the_filesystem() {
        let root = tempfile::tempdir().unwrap();
        let name = format!("berth-id-test-{}", std::process::id());
        assert!(matches!(
            ContainerDir::create(root.path(), &state(&format!("../{name}"))),
            Err(Error::InvalidId { .. })
        ));
        assert!(!root.path().parent().unwrap().join(name).exists());
    }

    #[test]
    fn recycled_pid_is_not_alive() {
        let me = std::process::id() as i32;
        let t = process_start_time(me).unwrap();
        assert!(init_alive(&State {
            pid: me,
            start_time: t,
            ..Default::default()
        }));
        assert!(!init_alive(&State {
            pid: me,
            start_time: t + 1,
            ..Default::default()
        }));
    }
}
