//! The content store: an OCI image layout (`oci-layout`, `index.json`,
//! `blobs/sha256/…`) plus unpacked layers under `layers/<diffid-hex>/`.
//!
//! Blobs and layer directories are created under `tmp/` and renamed in only
//! once their digest is verified, so a reader never sees partial content.
//! Locks (flock): `index.json` changes hold `locks/index.lock`; fetching or
//! unpacking one layer holds `locks/<what>-<hex>.lock`, so concurrent pulls of
//! one image do the work once; every writer holds `locks/gc.lock` shared and
//! `gc` holds it exclusively.
//!
//! Holds: a bundle whose overlay uses the store's layer directories (one made
//! by `bundle`, or an engine container's) is registered in `holds/` with its
//! directory and the image's manifest digest. `gc` keeps the image of every
//! hold whose directory exists, whether or not a name still points at it, and
//! drops holds whose directory is gone (the bundle was deleted). A hold is
//! written under the shared writer lock taken before the image was loaded, so
//! `gc` cannot run between the load and the hold.

use crate::digest::{Digest, DigestError};
use crate::manifest::{
    Descriptor, ImageConfig, Index, Manifest, ManifestError, ANNOTATION_REF_NAME,
};
use crate::reference::{Reference, ReferenceError};
use nix::fcntl::{Flock, FlockArg};
use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
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
    #[error("conflict: unable to remove `{name}` (must force): image is being used by {users}")]
    InUse { name: String, users: String },
    #[error("hold {path} (bundle {holder}): {source}")]
    Hold {
        path: PathBuf,
        holder: PathBuf,
        source: Box<StoreError>,
    },
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
    /// The directories of holds dropped because they are gone.
    pub stale_holds: Vec<PathBuf>,
}

/// A bundle made over the store's layers: `gc` keeps its image while `holder` exists.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Hold {
    /// The bundle directory (canonical).
    pub holder: PathBuf,
    /// The image's manifest digest.
    pub manifest: Digest,
    /// Who uses the image, as `rmi` names it (`container 0123abcd4567 (web)`, `bundle /srv/b`).
    pub user: String,
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
        for d in ["blobs/sha256", "layers", "tmp", "locks", "holds"] {
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
        self.untag(input, true)
    }

    /// Removes one name, as `docker rmi`: unless `force`, the last name of an image that a
    /// live hold (a container or bundle) uses is refused, naming the users. The image's
    /// content stays while it is held, named or not.
    pub fn untag(&self, input: &str, force: bool) -> Result<ImageEntry, StoreError> {
        let entry = self.resolve(input)?;
        self.update_index(|idx| {
            let other_names = idx.manifests.iter().any(|d| {
                d.digest == entry.manifest.digest
                    && d.annotation(ANNOTATION_REF_NAME)
                        .is_some_and(|n| n != entry.name)
            });
            if !force && !other_names {
                let users: Vec<String> = self
                    .live_holds()?
                    .into_iter()
                    .filter(|h| h.manifest == entry.manifest.digest)
                    .map(|h| h.user)
                    .collect();
                if !users.is_empty() {
                    return Err(StoreError::InUse {
                        name: entry.name.clone(),
                        users: users.join(", "),
                    });
                }
            }
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

    fn hold_path(&self, holder: &Path) -> PathBuf {
        let key = Digest::of(holder.as_os_str().as_bytes());
        self.root.join("holds").join(format!("{}.json", key.hex()))
    }

    /// Registers `holder` (an existing bundle directory) as built on image `manifest`.
    /// The caller holds [`Store::writer_lock`] from before it loaded the image until this
    /// returns, so that `gc` cannot remove the image in between.
    pub fn add_hold(&self, holder: &Path, manifest: &Digest, user: &str) -> Result<(), StoreError> {
        let holder = fs::canonicalize(holder).map_err(io_err("resolve", holder))?;
        // Also so that gc does not sweep the temporary file out of `tmp/`.
        let _writer = self.writer_lock()?;
        let hold = Hold {
            holder: holder.clone(),
            manifest: manifest.clone(),
            user: user.to_string(),
        };
        let bytes = serde_json::to_vec_pretty(&hold).expect("holds serialise");
        self.write_atomic(&self.hold_path(&holder), &bytes)
    }

    /// Drops the hold of `holder` (canonical, as registered, when it is gone); whether
    /// there was one.
    pub fn release_hold(&self, holder: &Path) -> Result<bool, StoreError> {
        let holder = fs::canonicalize(holder).unwrap_or_else(|_| holder.to_path_buf());
        let p = self.hold_path(&holder);
        match fs::remove_file(&p) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err("remove hold", &p)(e)),
        }
    }

    /// Every hold, live or stale, with its file.
    pub fn holds(&self) -> Result<Vec<(PathBuf, Hold)>, StoreError> {
        let d = self.root.join("holds");
        let mut out = Vec::new();
        let rd = match fs::read_dir(&d) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io_err("read directory", &d)(e)),
        };
        for ent in rd {
            let p = ent.map_err(io_err("read directory", &d))?.path();
            if p.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let bytes = match fs::read(&p) {
                Ok(b) => b,
                // Released meanwhile.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err("read hold", &p)(e)),
            };
            let hold = serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                path: p.clone(),
                reason: e.to_string(),
            })?;
            out.push((p, hold));
        }
        out.sort_by(|a, b| a.1.holder.cmp(&b.1.holder));
        Ok(out)
    }

    /// The holds whose bundle directory exists.
    pub fn live_holds(&self) -> Result<Vec<Hold>, StoreError> {
        let mut out = Vec::new();
        for (_, h) in self.holds()? {
            if holder_exists(&h.holder)? {
                out.push(h);
            }
        }
        Ok(out)
    }

    /// Removes blobs and unpacked layers that neither a tagged image nor a live hold refers
    /// to, holds whose bundle is gone, and leftovers in `tmp/`.
    pub fn gc(&self) -> Result<GcReport, StoreError> {
        let _lock = self.lock("gc.lock", FlockArg::LockExclusive)?;
        let mut report = GcReport::default();
        let mut blobs = HashSet::new();
        let mut layers = HashSet::new();
        for e in self.list()? {
            self.keep_image(&e.manifest.digest, &mut blobs, &mut layers)?;
        }
        for (path, hold) in self.holds()? {
            if !holder_exists(&hold.holder)? {
                match fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(io_err("remove hold", &path)(e))
                    }
                    _ => {}
                }
                report.stale_holds.push(hold.holder);
                continue;
            }
            self.keep_image(&hold.manifest, &mut blobs, &mut layers)
                .map_err(|source| StoreError::Hold {
                    path: path.clone(),
                    holder: hold.holder.clone(),
                    source: Box::new(source),
                })?;
            // The bundle's own overlay, should its config.json name other layers.
            let store_layers = self.root.join("layers");
            for lower in crate::bundle::overlay_lowers_of(&hold.holder) {
                if lower.parent() == Some(store_layers.as_path()) {
                    if let Some(name) = lower.file_name() {
                        layers.insert(name.to_string_lossy().into_owned());
                    }
                }
            }
        }
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

    /// Adds an image's manifest, config and layer blobs and its unpacked layers to the sets
    /// `gc` keeps.
    fn keep_image(
        &self,
        manifest: &Digest,
        blobs: &mut HashSet<String>,
        layers: &mut HashSet<String>,
    ) -> Result<(), StoreError> {
        let image = self.load_image(manifest)?;
        blobs.insert(manifest.hex().to_string());
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
        Ok(())
    }
}

/// Whether a hold's bundle directory still exists (an error other than its absence is
/// not taken for "gone": `gc` would remove what the bundle uses).
fn holder_exists(holder: &Path) -> Result<bool, StoreError> {
    match fs::metadata(holder) {
        Ok(m) => Ok(m.is_dir()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err("stat bundle", holder)(e)),
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

    /// Stores a one-layer image named `name` whose layer holds `content`, with its layer
    /// unpacked; returns the manifest digest and the layer's diff id.
    fn put_image(store: &Store, name: &str, content: &[u8]) -> (Digest, Digest) {
        let layer = store.put_blob(content).unwrap();
        // Not a real tar: gc only needs the digests to match up.
        let diff_id = layer.clone();
        let config = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
        });
        let config_bytes = serde_json::to_vec(&config).unwrap();
        let config = store.put_blob(&config_bytes).unwrap();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": crate::manifest::OCI_CONFIG, "digest": config.to_string(), "size": config_bytes.len()},
            "layers": [{"mediaType": crate::manifest::OCI_LAYER_TAR, "digest": layer.to_string(), "size": content.len()}],
        });
        let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
        let m = store.put_blob(&manifest_bytes).unwrap();
        fs::create_dir_all(store.layer_path(&diff_id).join("etc")).unwrap();
        fs::write(store.layer_path(&diff_id).join("etc/file"), content).unwrap();
        let desc = Descriptor::new(OCI_MANIFEST, m.clone(), manifest_bytes.len() as u64);
        store
            .set_ref(&Reference::parse(name).unwrap(), &desc)
            .unwrap();
        (m, diff_id)
    }

    #[test]
    fn a_hold_keeps_an_untagged_image_and_gc_removes_unheld_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let (held, held_layer) = put_image(&store, "held:1", b"held layer");
        let (_, free_layer) = put_image(&store, "free:1", b"free layer");
        let bundle = dir.path().join("bundle");
        fs::create_dir(&bundle).unwrap();
        store.add_hold(&bundle, &held, "bundle b").unwrap();

        // The last name of a held image is refused, naming the user; forced, it goes.
        let err = store.untag("held:1", false).unwrap_err();
        assert!(matches!(err, StoreError::InUse { .. }), "{err}");
        assert!(err.to_string().contains("used by bundle b"), "{err}");
        store.untag("held:1", true).unwrap();
        store.untag("free:1", false).unwrap();
        assert!(store.list().unwrap().is_empty());

        let report = store.gc().unwrap();
        assert!(store.has_layer(&held_layer), "the held layer was removed");
        assert_eq!(
            fs::read(store.layer_path(&held_layer).join("etc/file")).unwrap(),
            b"held layer"
        );
        assert!(
            store.load_image(&held).is_ok(),
            "the held image's blobs went"
        );
        assert!(!store.has_layer(&free_layer), "an unheld layer was kept");
        assert!(!store.has_blob(&free_layer));
        assert_eq!((report.blobs, report.layers), (3, 1));
        assert!(report.stale_holds.is_empty());
        assert_eq!(store.live_holds().unwrap().len(), 1);
    }

    #[test]
    fn gc_drops_the_hold_of_a_deleted_bundle_and_then_its_image() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let (m, layer) = put_image(&store, "img:1", b"layer");
        let bundle = dir.path().join("bundle");
        fs::create_dir(&bundle).unwrap();
        store.add_hold(&bundle, &m, "bundle b").unwrap();
        store.remove_ref("img:1").unwrap();
        fs::remove_dir_all(&bundle).unwrap();

        let report = store.gc().unwrap();
        assert_eq!(
            report.stale_holds,
            vec![fs::canonicalize(dir.path()).unwrap().join("bundle")]
        );
        assert!(store.holds().unwrap().is_empty());
        assert!(!store.has_layer(&layer));
        assert_eq!((report.blobs, report.layers), (3, 1));
        // Released holds are gone too, and releasing twice is harmless.
        fs::create_dir(&bundle).unwrap();
        store.add_hold(&bundle, &m, "bundle b").unwrap();
        assert!(store.release_hold(&bundle).unwrap());
        assert!(!store.release_hold(&bundle).unwrap());
        assert!(store.holds().unwrap().is_empty());
    }

    #[test]
    fn gc_keeps_the_layers_a_held_bundles_overlay_names() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let (m, _) = put_image(&store, "img:1", b"layer");
        let (_, other) = put_image(&store, "other:1", b"other layer");
        let bundle = dir.path().join("bundle");
        fs::create_dir(&bundle).unwrap();
        let data = crate::bundle::overlay_data(&[store.layer_path(&other)], &bundle);
        let spec = serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "annotations": {crate::bundle::OVERLAY_ANNOTATION: data},
        });
        fs::write(bundle.join("config.json"), spec.to_string()).unwrap();
        store.add_hold(&bundle, &m, "bundle b").unwrap();
        store.remove_ref("other:1").unwrap();
        store.gc().unwrap();
        assert!(
            store.has_layer(&other),
            "the overlay's lower dir was removed"
        );
    }

    #[test]
    fn a_second_name_can_go_while_the_image_is_held() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let (m, _) = put_image(&store, "img:1", b"layer");
        let desc = store.resolve("img:1").unwrap().manifest;
        store
            .set_ref(&Reference::parse("img:2").unwrap(), &desc)
            .unwrap();
        let bundle = dir.path().join("bundle");
        fs::create_dir(&bundle).unwrap();
        store
            .add_hold(&bundle, &m, "container 0123abcd4567 (web)")
            .unwrap();
        store.untag("img:2", false).unwrap();
        let err = store.untag("img:1", false).unwrap_err();
        assert!(
            err.to_string().contains("container 0123abcd4567 (web)"),
            "{err}"
        );
        // A bundle deleted by hand no longer counts.
        fs::remove_dir(&bundle).unwrap();
        store.untag("img:1", false).unwrap();
    }
}
