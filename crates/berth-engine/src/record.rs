//! Container records: what the engine knows about a container beyond the runtime's state
//! (its name, image, network, volumes, monitor, exit), in `containers/<id>/record.json`.
//!
//! Records are written to a temporary file and renamed. Changes to one record hold its lock
//! (`containers/<id>/lock`); name allocation and the peers' `/etc/hosts` hold the engine lock
//! (`containers/.lock`). Every step of setting a container up is written down before it is
//! taken, so [`crate::teardown`] can undo exactly what exists, whoever runs it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::mounts::MountRequest;
use crate::options::NetworkMode;
use crate::ports::PortMapping;
use crate::{Engine, Error, Result};

const RECORD: &str = "record.json";

/// Where a container is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Being set up by its monitor.
    Creating,
    /// Its process was started.
    Running,
    /// Its process has exited (the exit code is known unless its monitor died first).
    Exited,
}

/// A process identified beyond its pid (a recycled pid has another start time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub pid: i32,
    pub start_time: u64,
}

impl Owner {
    /// This process.
    pub fn me() -> Owner {
        let pid = std::process::id() as i32;
        Owner {
            pid,
            start_time: proc_stat(pid).map(|(_, t)| t).unwrap_or(0),
        }
    }

    /// Whether the process still runs (and is not a zombie).
    pub fn alive(&self) -> bool {
        matches!(proc_stat(self.pid), Some((state, t)) if state != 'Z' && state != 'X' && t == self.start_time)
    }
}

/// The state letter and start time of `pid`, from `/proc/<pid>/stat`.
fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some((
        fields.first()?.chars().next()?,
        fields.get(19)?.parse().ok()?,
    ))
}

/// The network side of a container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Network {
    pub mode: NetworkMode,
    pub ports: Vec<PortMapping>,
    /// A network namespace is pinned at `containers/<id>/netns`.
    pub netns: bool,
    /// CNI ADD was issued (so DEL is due, even if ADD failed half-way).
    pub attached: bool,
    /// The container's address on the bridge, without the prefix length.
    pub ip: Option<String>,
    pub gateway: Option<String>,
    pub mac: Option<String>,
    /// The bridge plugin's result, handed to DEL as `prevResult`.
    pub cni_result: Option<serde_json::Value>,
}

/// A named volume a container uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeUse {
    pub name: String,
    /// Made for this container (`-v /dst`): removed with it.
    pub anonymous: bool,
}

/// One container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub name: String,
    /// The image's stored name and manifest digest.
    pub image: String,
    pub image_digest: String,
    /// What runs (entrypoint and command), for `ps`.
    pub command: Vec<String>,
    pub created: String,
    pub created_unix: i64,
    /// The runtime's state root this container lives in.
    pub runtime_root: PathBuf,
    pub auto_remove: bool,
    pub detach: bool,
    pub tty: bool,
    pub stop_signal: String,
    pub stop_timeout: u64,
    pub hostname: String,
    pub network: Network,
    pub volumes: Vec<VolumeUse>,
    /// The mounts it was created with (for `ps --format json`).
    pub mounts: Vec<MountRequest>,
    pub state: State,
    /// The monitor that owns it, while there is one.
    pub monitor: Option<Owner>,
    /// The runtime created it (so the runtime must delete it).
    pub runtime_created: bool,
    pub pid: Option<i32>,
    pub started_unix: Option<i64>,
    pub finished_unix: Option<i64>,
    /// `None` while running, or when its monitor died before it could see the exit.
    pub exit_code: Option<i32>,
    pub oom_killed: bool,
}

/// Seconds since the epoch.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `n` random bytes as hex, from the kernel.
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    if let Ok(mut f) = File::open("/dev/urandom") {
        let _ = f.read_exact(&mut buf);
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// An exclusive flock, released on drop.
pub struct Lock(#[allow(dead_code)] Flock<File>);

/// Takes an exclusive lock on the file at `path` (created if missing).
pub fn lock_path(path: &Path) -> Result<Lock> {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| Error::io("open lock", path, e))?;
    Flock::lock(f, FlockArg::LockExclusive)
        .map(Lock)
        .map_err(|(_, errno)| Error::sys("flock", path, errno))
}

impl Engine {
    /// The engine-wide lock: names, and every container's `/etc/hosts`.
    pub fn lock(&self) -> Result<Lock> {
        lock_path(&self.containers_dir().join(".lock"))
    }

    /// The lock of container `id`.
    pub fn lock_record(&self, id: &str) -> Result<Lock> {
        lock_path(&self.container_dir(id).join("lock"))
    }

    /// Ids of every record.
    pub fn record_ids(&self) -> Result<Vec<String>> {
        let dir = self.containers_dir();
        let mut ids = Vec::new();
        for e in std::fs::read_dir(&dir).map_err(|e| Error::io("read directory", &dir, e))? {
            let e = e.map_err(|e| Error::io("read directory", &dir, e))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') && e.path().join(RECORD).is_file() {
                ids.push(name);
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Every record. Ones that vanish while being read are skipped, and so are ones that do
    /// not parse: one damaged file must not stop every command (it is left for a human).
    pub fn records(&self) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        for id in self.record_ids()? {
            if let Ok(Some(r)) = self.try_load(&id) {
                out.push(r);
            }
        }
        out.sort_by_key(|r| std::cmp::Reverse(r.created_unix));
        Ok(out)
    }

    /// Loads record `id`; `None` if it is gone.
    pub fn try_load(&self, id: &str) -> Result<Option<Record>> {
        let p = self.container_dir(id).join(RECORD);
        let raw = match std::fs::read(&p) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", &p, e)),
        };
        serde_json::from_slice(&raw)
            .map(Some)
            .map_err(|e| Error::Corrupt {
                what: "container record",
                path: p,
                reason: e.to_string(),
            })
    }

    /// Loads record `id`.
    pub fn load(&self, id: &str) -> Result<Record> {
        self.try_load(id)?
            .ok_or_else(|| Error::NoSuchContainer(id.to_string()))
    }

    /// Writes a record (temporary file, then rename).
    pub fn save(&self, r: &Record) -> Result<()> {
        let dir = self.container_dir(&r.id);
        let tmp = dir.join(".record.json.tmp");
        let data = serde_json::to_vec_pretty(r).expect("records serialise");
        File::create(&tmp)
            .and_then(|mut f| f.write_all(&data))
            .and_then(|_| std::fs::rename(&tmp, dir.join(RECORD)))
            .map_err(|e| Error::io("write", &tmp, e))
    }

    /// Under the record's lock: loads it, lets `f` change it, writes it back. `None` if the
    /// record is gone.
    pub fn update<T>(&self, id: &str, f: impl FnOnce(&mut Record) -> T) -> Result<Option<T>> {
        if !self.container_dir(id).is_dir() {
            return Ok(None);
        }
        let _l = self.lock_record(id)?;
        let Some(mut r) = self.try_load(id)? else {
            return Ok(None);
        };
        let out = f(&mut r);
        self.save(&r)?;
        Ok(Some(out))
    }

    /// The container a user means: a name, a full id, or a unique id prefix.
    pub fn find(&self, input: &str) -> Result<Record> {
        let records = self.records()?;
        if let Some(r) = records.iter().find(|r| r.name == input || r.id == input) {
            return Ok(r.clone());
        }
        let hits: Vec<&Record> = records
            .iter()
            .filter(|r| input.len() >= 3 && r.id.starts_with(input))
            .collect();
        match hits.as_slice() {
            [r] => Ok((*r).clone()),
            [] => Err(Error::NoSuchContainer(input.to_string())),
            many => Err(Error::Ambiguous {
                input: input.to_string(),
                matches: many
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// Creates the directory and first record of a new container, under the engine lock,
    /// refusing a name in use.
    pub fn create_record(&self, r: &Record) -> Result<()> {
        let _l = self.lock()?;
        if let Some(other) = self.records()?.into_iter().find(|o| o.name == r.name) {
            return Err(Error::NameInUse {
                name: r.name.clone(),
                id: other.id,
            });
        }
        let dir = self.container_dir(&r.id);
        std::fs::create_dir(&dir).map_err(|e| Error::io("create", &dir, e))?;
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        self.save(r)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample(id: &str, name: &str) -> Record {
        Record {
            id: id.into(),
            name: name.into(),
            image: "docker.io/library/busybox:latest".into(),
            image_digest: "sha256:00".into(),
            command: vec!["sh".into()],
            created: "now".into(),
            created_unix: now_unix(),
            runtime_root: "/run/berth".into(),
            auto_remove: false,
            detach: true,
            tty: false,
            stop_signal: "SIGTERM".into(),
            stop_timeout: 10,
            hostname: "h".into(),
            network: Network {
                mode: NetworkMode::None,
                ports: vec![],
                netns: false,
                attached: false,
                ip: None,
                gateway: None,
                mac: None,
                cni_result: None,
            },
            volumes: vec![],
            mounts: vec![],
            state: State::Creating,
            monitor: None,
            runtime_created: false,
            pid: None,
            started_unix: None,
            finished_unix: None,
            exit_code: None,
            oom_killed: false,
        }
    }

    #[test]
    fn records_by_name_id_and_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::new(dir.path(), Path::new("/run/berth")).unwrap();
        let a = random_hex(32);
        let b = format!("{}ff", &a[..62]);
        e.create_record(&sample(&a, "web")).unwrap();
        e.create_record(&sample(&b, "db")).unwrap();
        assert_eq!(e.find("web").unwrap().id, a);
        assert_eq!(e.find(&b).unwrap().name, "db");
        assert!(matches!(e.find(&a[..10]), Err(Error::Ambiguous { .. })));
        assert!(matches!(e.find("nope"), Err(Error::NoSuchContainer(_))));
        let err = e
            .create_record(&sample(&random_hex(32), "web"))
            .unwrap_err();
        assert!(err.to_string().contains("in use"), "{err}");
        e.update(&a, |r| r.state = State::Exited).unwrap();
        assert_eq!(e.load(&a).unwrap().state, State::Exited);
        assert!(e.update("missing", |_| ()).unwrap().is_none());
        assert!(Owner::me().alive());
        assert!(!Owner {
            pid: i32::MAX,
            start_time: 0
        }
        .alive());
    }
}
