//! The content store: an OCI image layout (`oci-layout`, `index.json`,
//! `blobs/sha256/…`) plus unpacked layers under `layers/<diffid-hex>/`.
//!
//! Blobs and layer directories are created under `tmp/` and renamed in only
//! once their digest is verified, so a reader never sees partial content.
//! Locks (flock): `index.json` changes hold `locks/index.lock`; fetching or
//! unpacking one layer holds `locks/<what>-<hex>.lock`, so concurrent pulls of
//! one image do the work once; every writer holds `locks/gc.lock` shared and
//! `gc` holds it exclusively.

use crate::digest::{Digest, DigestError};
use crate::manifest::{
    Descriptor, ImageConfig, Index, Manifest, ManifestError, ANNOTATION_REF_NAME,
};
use crate::reference::{Reference, ReferenceError};
use nix::fcntl::{Flock, FlockArg};
use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub const DEFAULT_STORE: &str = "/var/lib/berth/images";
const OCI_LAYOUT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("store {path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("image `{0}` not found in the store")]
    NotFound(String),
    #[error("`{input}` matches several images: {matches}")]
    Ambiguous { input: String, matches: String },
    #[error("blob {digest}: {source}")]
    Digest { digest: Digest, source: DigestError },
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

pub fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// One tagged image in `index.json`.
#[derive(Debug, Clone)]
pub struct ImageEntry {
    /// The full reference it is stored under (`org.opencontainers.image.ref.name`).
    pub name: String,
    pub manifest: Descriptor,
}

/// An image's manifest and config, read back from the store.
pub struct Image {
    pub manifest_digest: Digest,
    pub manifest: Manifest,
    pub config: ImageConfig,
    pub config_bytes: Vec<u8>,
}

#[derive(Debug, Default)]
pub struct GcReport {
    pub blobs: usize,
    pub layers: usize,
    pub bytes: u64,
}

pub struct Store {
    root: PathBuf,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Store {
    /// Opens the store at `root`, creating its layout on first use.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        fs::create_dir_all(root).map_err(io_err("create directory", root))?;
        // Absolute, so layer paths written into bundles work from anywhere.
        let root = fs::canonicalize(root).map_err(io_err("resolve", root))?;
        let store = Store { root: root.clone() };
        for d in ["blobs/sha256", "layers", "tmp", "locks"] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(io_err("create directory", &p))?;
        }
        let layout = root.join("oci-layout");
        if !layout.exists() {
            store.write_atomic(&layout, OCI_LAYOUT.as_bytes())?;
        }
        if !root.join("index.json").exists() {
            store.update_index(|_| Ok(()))?;
        }
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root
            .join(format!("blobs/{}/{}", d.algorithm_name(), d.hex()))
    }

    pub fn has_blob(&self, d: &Digest) -> bool {
        self.blob_path(d).exists()
    }

    pub fn layer_path(&self, diff_id: &Digest) -> PathBuf {
        self.root.join("layers").join(diff_id.hex())
    }

    pub fn has_layer(&self, diff_id: &Digest) -> bool {
        self.layer_path(diff_id).is_dir()
    }

    /// A fresh name under `tmp/`, on the store's filesystem so it can be renamed in.
    pub fn tmp_path(&self, prefix: &str) -> PathBuf {
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        self.root
            .join("tmp")
            .join(format!("{prefix}-{}-{n}-{nanos}", std::process::id()))
    }

    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let tmp = self.tmp_path("file");
        let r = File::create(&tmp)
            .and_then(|mut f| f.write_all(bytes).and_then(|_| f.sync_all()))
            .and_then(|_| fs::rename(&tmp, path));
        if r.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        r.map_err(io_err("write", path))
    }

    /// Reads a blob and checks it against its digest.
    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>, StoreError> {
        let p = self.blob_path(d);
        let bytes = fs::read(&p).map_err(io_err("read blob", &p))?;
        d.verify(&Digest::of(&bytes))
            .map_err(|source| StoreError::Digest {
                digest: d.clone(),
                source,
            })?;
        Ok(bytes)
    }

    /// Stores `bytes` under their digest (no-op when present).
    pub fn put_blob(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let d = Digest::of(bytes);
        if !self.has_blob(&d) {
            self.write_atomic(&self.blob_path(&d), bytes)?;
        }
        Ok(d)
    }

    /// Stores `bytes` only if they hash to `expected`.
    pub fn put_blob_verified(&self, bytes: &[u8], expected: &Digest) -> Result<(), StoreError> {
        expected
            .verify(&Digest::of(bytes))
            .map_err(|source| StoreError::Digest {
                digest: expected.clone(),
                source,
            })?;
        self.put_blob(bytes).map(|_| ())
    }

    /// Renames a verified temporary file into `blobs/`.
    pub fn commit_blob_file(&self, tmp: &Path, d: &Digest) -> Result<(), StoreError> {
        let dst = self.blob_path(d);
        fs::rename(tmp, &dst).map_err(io_err("rename blob into", &dst))
    }

    fn lock(&self, name: &str, arg: FlockArg) -> Result<Flock<File>, StoreError> {
        let p = self.root.join("locks").join(name);
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(io_err("open lock", &p))?;
        Flock::lock(f, arg).map_err(|(_, e)| StoreError::Io {
            op: "flock",
            path: p,
            source: e.into(),
        })
    }

    /// Held (shared) by every writer; `gc` takes it exclusively.
    pub fn writer_lock(&self) -> Result<Flock<File>, StoreError> {
        self.lock("gc.lock", FlockArg::LockShared)
    }

    /// Serialises work on one object (e.g. fetching one layer) between processes.
    pub fn object_lock(&self, kind: &str, d: &Digest) -> Result<Flock<File>, StoreError> {
        self.lock(&format!("{kind}-{}.lock", d.hex()), FlockArg::LockExclusive)
    }

    pub fn read_index(&self) -> Result<Index, StoreError> {
        let p = self.root.join("index.json");
        let bytes = fs::read(&p).map_err(io_err("read", &p))?;
        serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
            path: p,
            reason: e.to_string(),
        })
    }

    /// Read-modify-write of `index.json` under its lock.
    pub fn update_index<T>(
        &self,
        f: impl FnOnce(&mut Index) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let _lock = self.lock("index.lock", FlockArg::LockExclusive)?;
        let p = self.root.join("index.json");
        let mut index = if p.exists() {
            self.read_index()?
        } else {
            Index::empty()
        };
        let out = f(&mut index)?;
        let bytes = serde_json::to_vec_pretty(&index).expect("index serialises");
        self.write_atomic(&p, &bytes)?;
        Ok(out)
    }

    pub fn list(&self) -> Result<Vec<ImageEntry>, StoreError> {
        Ok(self
            .read_index()?
            .manifests
            .into_iter()
            .filter_map(|d| {
                Some(ImageEntry {
                    name: d.annotation(ANNOTATION_REF_NAME)?.to_string(),
                    manifest: d,
                })
            })
            .collect())
    }

    /// Finds an image by reference (`busybox`, `localhost:5000/x:1`,
    /// `name@sha256:…`) or by (a prefix of) its manifest digest.
    pub fn resolve(&self, input: &str) -> Result<ImageEntry, StoreError> {
        let entries = self.list()?;
        let hex = input.strip_prefix("sha256:").unwrap_or(input);
        if hex.len() >= 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let found: Vec<&ImageEntry> = entries
                .iter()
                .filter(|e| e.manifest.digest.hex().starts_with(hex))
                .collect();
            let digests: HashSet<&Digest> = found.iter().map(|e| &e.manifest.digest).collect();
            match digests.len() {
                1 => return Ok(found[0].clone()),
                0 => {}
                _ => {
                    return Err(StoreError::Ambiguous {
                        input: input.into(),
                        matches: found
                            .iter()
                            .map(|e| e.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
                }
            }
        }
        let r = Reference::parse(input)?;
        let full = r.to_string();
        if let Some(e) = entries.iter().find(|e| e.name == full) {
            return Ok(e.clone());
        }
        if let Some(d) = &r.digest {
            if let Some(e) = entries.iter().find(|e| {
                &e.manifest.digest == d
                    && Reference::parse(&e.name).is_ok_and(|n| n.name() == r.name())
            }) {
                return Ok(e.clone());
            }
        }
        Err(StoreError::NotFound(full))
    }

    /// Points `name` at `manifest`, replacing what it pointed at before.
    pub fn set_ref(&self, name: &Reference, manifest: &Descriptor) -> Result<(), StoreError> {
        let name = name.to_string();
        let mut desc = manifest.clone();
        let mut ann = BTreeMap::new();
        ann.insert(ANNOTATION_REF_NAME.to_string(), name.clone());
        desc.annotations = Some(ann);
        self.update_index(|idx| {
            idx.manifests
                .retain(|d| d.annotation(ANNOTATION_REF_NAME) != Some(name.as_str()));
            idx.manifests.push(desc);
            Ok(())
        })
    }

    /// Removes one name; blobs stay until `gc`.
    pub fn remove_ref(&self, input: &str) -> Result<ImageEntry, StoreError> {
        let entry = self.resolve(input)?;
        self.update_index(|idx| {
            idx.manifests
                .retain(|d| d.annotation(ANNOTATION_REF_NAME) != Some(entry.name.as_str()));
            Ok(())
        })?;
        Ok(entry)
    }

    pub fn load_image(&self, manifest_digest: &Digest) -> Result<Image, StoreError> {
        let bytes = self.read_blob(manifest_digest)?;
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                path: self.blob_path(manifest_digest),
                reason: format!("manifest does not parse: {e}"),
            })?;
        let config_bytes = self.read_blob(&manifest.config.digest)?;
        let config = ImageConfig::parse(&config_bytes, &manifest.config.digest)?;
        crate::manifest::check_layers(&manifest, &config)?;
        Ok(Image {
            manifest_digest: manifest_digest.clone(),
            manifest,
            config,
            config_bytes,
        })
    }

    /// Removes blobs and unpacked layers no tagged image refers to, and leftovers in `tmp/`.
    pub fn gc(&self) -> Result<GcReport, StoreError> {
        let _lock = self.lock("gc.lock", FlockArg::LockExclusive)?;
        let mut blobs = HashSet::new();
        let mut layers = HashSet::new();
        for e in self.list()? {
            let image = self.load_image(&e.manifest.digest)?;
            blobs.insert(e.manifest.digest.hex().to_string());
            blobs.insert(image.manifest.config.digest.hex().to_string());
            blobs.extend(
                image
                    .manifest
                    .layers
                    .iter()
                    .map(|l| l.digest.hex().to_string()),
            );
            layers.extend(
                image
                    .config
                    .rootfs
                    .diff_ids
                    .iter()
                    .map(|d| d.hex().to_string()),
            );
        }
        let mut report = GcReport::default();
        for (dir, keep, is_layer) in [
            ("blobs/sha256", &blobs, false),
            ("layers", &layers, true),
            ("tmp", &HashSet::new(), false),
        ] {
            let d = self.root.join(dir);
            for ent in fs::read_dir(&d).map_err(io_err("read directory", &d))? {
                let ent = ent.map_err(io_err("read directory", &d))?;
                let name = ent.file_name().to_string_lossy().to_string();
                if keep.contains(&name) {
                    continue;
                }
                let p = ent.path();
                let meta = fs::symlink_metadata(&p).map_err(io_err("stat", &p))?;
                if meta.is_dir() {
                    report.bytes += dir_size(&p);
                    fs::remove_dir_all(&p).map_err(io_err("remove", &p))?;
                } else {
                    report.bytes += meta.len();
                    fs::remove_file(&p).map_err(io_err("remove", &p))?;
                }
                match (dir, is_layer) {
                    ("blobs/sha256", _) => report.blobs += 1,
                    (_, true) => report.layers += 1,
                    _ => {}
                }
            }
        }
        Ok(report)
    }
}

fn dir_size(p: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

impl Digest {
    fn algorithm_name(&self) -> &'static str {
        match self.algorithm() {
            crate::digest::Algorithm::Sha256 => "sha256",
            crate::digest::Algorithm::Sha512 => "sha512",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::OCI_MANIFEST;

    #[test]
    fn layout_and_tagging() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(dir.path().join("oci-layout").exists());
        let d = store.put_blob(b"{}").unwrap();
        assert_eq!(store.read_blob(&d).unwrap(), b"{}");
        let desc = Descriptor::new(OCI_MANIFEST, d.clone(), 2);
        store
            .set_ref(&Reference::parse("busybox").unwrap(), &desc)
            .unwrap();
        store
            .set_ref(&Reference::parse("localhost:5000/bb:1").unwrap(), &desc)
            .unwrap();
        store
            .set_ref(&Reference::parse("busybox").unwrap(), &desc)
            .unwrap();
        assert_eq!(store.list().unwrap().len(), 2);
        assert_eq!(
            store.resolve("busybox:latest").unwrap().name,
            "docker.io/library/busybox:latest"
        );
        assert!(store.resolve(&d.hex()[..8]).is_ok());
        assert!(matches!(
            store.resolve("other"),
            Err(StoreError::NotFound(_))
        ));
        store.remove_ref("busybox").unwrap();
        assert_eq!(store.list().unwrap().len(), 1);
        let idx: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.path().join("index.json")).unwrap()).unwrap();
        assert_eq!(
            idx["manifests"][0]["annotations"][ANNOTATION_REF_NAME],
            "localhost:5000/bb:1"
        );
    }

    #[test]
    fn corrupted_blob_fails_to_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = store.put_blob(b"hello").unwrap();
        fs::write(store.blob_path(&d), b"hellO").unwrap();
        assert!(matches!(
            store.read_blob(&d),
            Err(StoreError::Digest { .. })
        ));
        assert!(matches!(
            store.put_blob_verified(b"x", &d),
            Err(StoreError::Digest { .. })
        ));
    }
}
