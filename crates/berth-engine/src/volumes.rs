//! Named volumes: `volumes/<name>/_data` under the store, kept until `volume rm` (anonymous
//! ones, made by `-v /dst`, go with their container).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::mounts::valid_volume_name;
use crate::{Engine, Error, Result};

const META: &str = "volume.json";

/// A volume's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    pub created: String,
    pub anonymous: bool,
}

impl Engine {
    /// The directory a volume's data lives in (mounted into containers).
    pub fn volume_data(&self, name: &str) -> PathBuf {
        self.volumes_dir().join(name).join("_data")
    }

    /// Creates volume `name` unless it exists; returns it.
    pub fn volume_create(&self, name: &str, anonymous: bool) -> Result<Volume> {
        if !valid_volume_name(name) {
            return Err(Error::Volume {
                name: name.into(),
                reason: "names are letters, digits and _ . -, starting with a letter or digit"
                    .into(),
            });
        }
        let dir = self.volumes_dir().join(name);
        if let Some(v) = self.volume_get(name)? {
            return Ok(v);
        }
        let data = dir.join("_data");
        std::fs::create_dir_all(&data).map_err(|e| Error::io("create", &data, e))?;
        let v = Volume {
            name: name.to_string(),
            created: crate::runtime::rfc3339_now(),
            anonymous,
        };
        let meta = dir.join(META);
        std::fs::write(&meta, serde_json::to_vec(&v).expect("volumes serialise"))
            .map_err(|e| Error::io("write", &meta, e))?;
        Ok(v)
    }

    /// Volume `name`, if it exists.
    pub fn volume_get(&self, name: &str) -> Result<Option<Volume>> {
        let meta = self.volumes_dir().join(name).join(META);
        match std::fs::read(&meta) {
            Ok(raw) => serde_json::from_slice(&raw)
                .map(Some)
                .map_err(|e| Error::Corrupt {
                    what: "volume",
                    path: meta,
                    reason: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", &meta, e)),
        }
    }

    /// Every volume, by name.
    pub fn volume_list(&self) -> Result<Vec<Volume>> {
        let dir = self.volumes_dir();
        let mut out = Vec::new();
        for e in std::fs::read_dir(&dir).map_err(|e| Error::io("read directory", &dir, e))? {
            let e = e.map_err(|e| Error::io("read directory", &dir, e))?;
            if let Some(v) = self.volume_get(&e.file_name().to_string_lossy())? {
                out.push(v);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Names of the containers that use volume `name`.
    pub fn volume_users(&self, name: &str) -> Result<Vec<String>> {
        Ok(self
            .records()?
            .into_iter()
            .filter(|r| r.volumes.iter().any(|v| v.name == name))
            .map(|r| r.name)
            .collect())
    }

    /// Removes volume `name` and its data; refused while a container uses it. A missing
    /// volume is an error unless `missing_ok`.
    pub fn volume_remove(&self, name: &str, missing_ok: bool) -> Result<()> {
        let _l = self.lock()?;
        if self.volume_get(name)?.is_none() {
            return if missing_ok {
                Ok(())
            } else {
                Err(Error::Volume {
                    name: name.into(),
                    reason: "no such volume".into(),
                })
            };
        }
        let users = self.volume_users(name)?;
        if !users.is_empty() {
            return Err(Error::Volume {
                name: name.into(),
                reason: format!("in use by container {}", users.join(", ")),
            });
        }
        let dir = self.volumes_dir().join(name);
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io("remove", &dir, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn create_list_remove() {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::new(dir.path(), Path::new("/run/berth")).unwrap();
        e.volume_create("data", false).unwrap();
        std::fs::write(e.volume_data("data").join("f"), "x").unwrap();
        // Creating it again keeps its content.
        e.volume_create("data", false).unwrap();
        assert!(e.volume_data("data").join("f").exists());
        assert_eq!(e.volume_list().unwrap().len(), 1);
        assert!(e.volume_create("../x", false).is_err());
        e.volume_remove("data", false).unwrap();
        assert!(e.volume_list().unwrap().is_empty());
        assert!(e
            .volume_remove("data", false)
            .unwrap_err()
            .to_string()
            .contains("no such"));
        e.volume_remove("data", true).unwrap();
    }
}
