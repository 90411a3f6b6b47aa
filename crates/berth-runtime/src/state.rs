//! The state store: one directory per container under the runtime root.
//!
//! `state.json` is written to a temporary file and renamed into place, so readers never see a
//! partial file. It records the init's start time, so a recycled pid is never taken for the
//! container. Mutating commands hold an exclusive `flock` on the container's directory.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{id, Error, Result};

/// The socket the created init listens on until `start` connects; its presence means
/// "created, not yet started".
pub const START_SOCKET: &str = "exec.sock";
/// The file holding the container's state.
pub const STATE_FILE: &str = "state.json";
/// A copy of the container's `config.json`, for `exec` and `delete`.
pub const CONFIG_FILE: &str = "config.json";

/// What berth remembers about a container.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub oci_version: String,
    pub id: String,
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
    /// Whether the cgroup is berth's to remove at delete.
    #[serde(default)]
    pub own_cgroup: bool,
}

/// The status of a container, as `state` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// A container's directory under the state root.
#[derive(Debug)]
pub struct ContainerDir {
    pub path: PathBuf,
    /// Held open for the lock; the lock is released when this is dropped.
    lock: Option<File>,
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

    /// Creates the directory; fails with [`Error::Exists`] if the container exists.
    pub fn create(root: &Path, id: &str) -> Result<Self> {
        let mut dir = Self::new(root, id)?;
        // Only root may read container state: configs carry environments and secrets.
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .map_err(|e| Error::io("mkdir", root, e))?;
        match std::fs::DirBuilder::new().mode(0o700).create(&dir.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // A directory without state.json that nobody holds locked is what a crashed
                // create left behind: take it over instead of refusing the id forever.
                if dir.path.join(STATE_FILE).exists() || !dir.try_lock()? {
                    return Err(Error::Exists(id.to_string()));
                }
                return Ok(dir);
            }
            Err(e) => return Err(Error::io("mkdir", &dir.path, e)),
        }
        dir.lock()?;
        Ok(dir)
    }

    /// Opens an existing container's directory; [`Error::NotExist`] otherwise.
    pub fn open(root: &Path, id: &str) -> Result<Self> {
        let dir = Self::new(root, id)?;
        if !dir.path.join(STATE_FILE).exists() {
            return Err(Error::NotExist(id.to_string()));
        }
        Ok(dir)
    }

    /// Takes the exclusive lock (blocks while another berth command holds it).
    pub fn lock(&mut self) -> Result<()> {
        let f = File::open(&self.path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::NotExist(self.path.display().to_string())
            } else {
                Error::io("open", &self.path, e)
            }
        })?;
        // SAFETY: flock on an fd we own; no memory is passed.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(Error::sys("flock", &self.path, nix::errno::Errno::last()));
        }
        self.lock = Some(f);
        Ok(())
    }

    /// Takes the lock if nobody holds it; false if somebody does.
    fn try_lock(&mut self) -> Result<bool> {
        let f = File::open(&self.path).map_err(|e| Error::io("open", &self.path, e))?;
        // SAFETY: flock on an fd we own; no memory is passed.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Ok(false);
        }
        self.lock = Some(f);
        Ok(true)
    }

    /// Reads `state.json`.
    pub fn load(&self) -> Result<State> {
        let p = self.path.join(STATE_FILE);
        let data = std::fs::read(&p).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::NotExist(
                    self.path
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned(),
                )
            } else {
                Error::io("read", &p, e)
            }
        })?;
        serde_json::from_slice(&data).map_err(|e| Error::Parse {
            path: p,
            msg: e.to_string(),
        })
    }

    /// Writes `state.json` atomically.
    pub fn save(&self, state: &State) -> Result<()> {
        let data = serde_json::to_vec(state).map_err(|e| Error::Other(e.to_string()))?;
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

/// Ids of the containers under `root`.
pub fn list(root: &Path) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    let rd = match std::fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ids),
        Err(e) => return Err(Error::io("read dir", root, e)),
    };
    for ent in rd.flatten() {
        let name = ent.file_name().to_string_lossy().into_owned();
        if id::validate(&name).is_ok() && ent.path().join(STATE_FILE).exists() {
            ids.push(name);
        }
    }
    ids.sort();
    Ok(ids)
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

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(951782400, 5), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(rfc3339(1795411358, 0), "2026-11-23T05:22:38.000000000Z");
    }

    #[test]
    fn create_twice_fails_and_state_round_trips() {
        let root = tempfile::tempdir().unwrap();
        let d = ContainerDir::create(root.path(), "c1").unwrap();
        assert!(matches!(
            ContainerDir::create(root.path(), "c1"),
            Err(Error::Exists(_))
        ));
        let st = State {
            id: "c1".into(),
            pid: 42,
            start_time: 7,
            ..Default::default()
        };
        d.save(&st).unwrap();
        let back = ContainerDir::open(root.path(), "c1")
            .unwrap()
            .load()
            .unwrap();
        assert_eq!((back.pid, back.start_time), (42, 7));
        assert_eq!(list(root.path()).unwrap(), vec!["c1".to_string()]);
        d.remove().unwrap();
        assert!(matches!(
            ContainerDir::open(root.path(), "c1"),
            Err(Error::NotExist(_))
        ));
    }

    #[test]
    fn a_crashed_create_does_not_block_the_id() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("c2")).unwrap();
        let d = ContainerDir::create(root.path(), "c2").unwrap();
        // While the new owner holds the lock, the id is taken.
        assert!(matches!(
            ContainerDir::create(root.path(), "c2"),
            Err(Error::Exists(_))
        ));
        drop(d);
    }

    #[test]
    fn invalid_ids_never_touch_the_filesystem() {
        let root = tempfile::tempdir().unwrap();
        let name = format!("berth-id-test-{}", std::process::id());
        assert!(matches!(
            ContainerDir::create(root.path(), &format!("../{name}")),
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
