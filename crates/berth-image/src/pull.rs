//! `pull`: manifest (through an index to one platform), config, then every
//! layer in parallel. Each layer is fetched, hashed, decompressed, hashed
//! again (diff_id) and unpacked in one pass; blob and layer directory are
//! renamed into the store only when both digests check out.

use crate::auth::{self, AuthError};
use crate::digest::{Algorithm, Digest, DigestError, HashingReader};
use crate::manifest::{
    self, Descriptor, Fetched, ImageConfig, Manifest, ManifestError, Platform, DOCKER_MANIFEST,
    OCI_MANIFEST,
};
use crate::progress::{Bar, Progress, ProgressReader};
use crate::reference::Reference;
use crate::registry::{Client, RegistryError};
use crate::store::{io_err, Store, StoreError};
use crate::unpack::{self, UnpackError};
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Layers fetched at once (override with `BERTH_PULL_JOBS`).
const PARALLEL_LAYERS: usize = 6;

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("layer {layer}: {source}")]
    Digest { layer: Digest, source: DigestError },
    #[error("layer {layer}: {source}")]
    Unpack { layer: Digest, source: UnpackError },
    #[error("{reference}: unsupported manifest media type `{media_type}`")]
    MediaType {
        reference: String,
        media_type: String,
    },
}

pub struct PullOptions {
    pub platform: Platform,
    pub insecure: bool,
}

/// Pulls `reference` into the store and tags it; returns the manifest digest.
pub fn pull(
    store: &Store,
    reference: &Reference,
    opts: &PullOptions,
    progress: &Progress,
) -> Result<Digest, PullError> {
    let client = Client::new(
        &reference.registry,
        opts.insecure,
        auth::lookup(&reference.registry)?,
    );
    let repo = &reference.repository;
    let (mut bytes, mut content_type, mut digest) =
        client.get_manifest(repo, &reference.manifest_reference())?;
    let mut platform = None;
    if let Fetched::Index(index) =
        manifest::parse_fetched(&bytes, content_type.as_deref(), &digest)?
    {
        let chosen = manifest::select_platform(&index, &opts.platform)?;
        platform = chosen.platform.clone();
        progress.line(&format!(
            "{reference}: index {digest}, platform {}",
            opts.platform
        ));
        (bytes, content_type, digest) = client.get_manifest(repo, &chosen.digest.to_string())?;
    }
    let manifest = match manifest::parse_fetched(&bytes, content_type.as_deref(), &digest)? {
        Fetched::Manifest(m) => *m,
        Fetched::Index(_) => {
            return Err(PullError::MediaType {
                reference: reference.to_string(),
                media_type: "nested index".into(),
            });
        }
    };
    let media_type = manifest
        .media_type
        .clone()
        .or(content_type)
        .unwrap_or_else(|| OCI_MANIFEST.to_string());
    if media_type != OCI_MANIFEST && media_type != DOCKER_MANIFEST {
        return Err(PullError::MediaType {
            reference: reference.to_string(),
            media_type,
        });
    }
    progress.line(&format!("{reference}: manifest {digest}"));

    let _writer = store.writer_lock()?;
    let config_bytes = if store.has_blob(&manifest.config.digest) {
        store.read_blob(&manifest.config.digest)?
    } else {
        let b = client.get_blob_bytes(repo, &manifest.config.digest, manifest.config.size)?;
        store.put_blob_verified(&b, &manifest.config.digest)?;
        b
    };
    let config = ImageConfig::parse(&config_bytes, &manifest.config.digest)?;
    manifest::check_layers(&manifest, &config)?;

    fetch_layers(store, Some((&client, repo)), &manifest, &config, progress)?;

    store.put_blob_verified(&bytes, &digest)?;
    let mut desc = Descriptor::new(&media_type, digest.clone(), bytes.len() as u64);
    desc.platform = platform.or_else(|| {
        Some(Platform {
            os: config.os.clone(),
            architecture: config.architecture.clone(),
            variant: None,
            os_version: None,
            os_features: None,
        })
        .filter(|p| !p.os.is_empty())
    });
    store.set_ref(reference, &desc)?;
    progress.line(&format!("{reference}: pulled {digest}"));
    Ok(digest)
}

/// Makes sure every layer's blob and unpacked directory are in the store:
/// from the registry when `remote` is given, otherwise from local blobs.
pub fn fetch_layers(
    store: &Store,
    remote: Option<(&Client, &str)>,
    manifest: &Manifest,
    config: &ImageConfig,
    progress: &Progress,
) -> Result<(), PullError> {
    let jobs: Vec<(&Descriptor, &Digest)> = manifest
        .layers
        .iter()
        .zip(&config.rootfs.diff_ids)
        .collect();
    let next = Mutex::new(jobs.into_iter());
    let failed = AtomicBool::new(false);
    let errors = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        let jobs = std::env::var("BERTH_PULL_JOBS")
            .ok()
            .and_then(|j| j.parse().ok())
            .unwrap_or(PARALLEL_LAYERS);
        for _ in 0..jobs.clamp(1, 16).min(manifest.layers.len()) {
            s.spawn(|| loop {
                if failed.load(Ordering::Relaxed) {
                    return;
                }
                let Some((desc, diff_id)) = next.lock().expect("job queue").next() else {
                    return;
                };
                if let Err(e) = fetch_layer(store, remote, desc, diff_id, progress) {
                    failed.store(true, Ordering::Relaxed);
                    errors.lock().expect("error list").push(e);
                }
            });
        }
    });
    match errors.into_inner().expect("error list").into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Tees everything read into a file.
struct Tee<R> {
    inner: R,
    out: Option<BufWriter<File>>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(out) = &mut self.out {
            out.write_all(&buf[..n])?;
        }
        Ok(n)
    }
}

/// Removes temporary paths unless disarmed.
struct TmpGuard(Vec<PathBuf>);

impl Drop for TmpGuard {
    fn drop(&mut self) {
        for p in &self.0 {
            if p.is_dir() {
                let _ = fs::remove_dir_all(p);
            } else {
                let _ = fs::remove_file(p);
            }
        }
    }
}

fn fetch_layer(
    store: &Store,
    remote: Option<(&Client, &str)>,
    desc: &Descriptor,
    diff_id: &Digest,
    progress: &Progress,
) -> Result<(), PullError> {
    let bar = progress.bar(desc.digest.short().to_string(), desc.size);
    let r = fetch_layer_inner(store, remote, desc, diff_id, &bar);
    match &r {
        Ok(status) => bar.finish(status, if *status == "done" { desc.size } else { 0 }),
        Err(e) => bar.abandon(&e.to_string()),
    }
    r.map(|_| ())
}

fn fetch_layer_inner(
    store: &Store,
    remote: Option<(&Client, &str)>,
    desc: &Descriptor,
    diff_id: &Digest,
    bar: &Bar,
) -> Result<&'static str, PullError> {
    let _lock = store.object_lock("layer", diff_id)?;
    let have_blob = store.has_blob(&desc.digest);
    let have_layer = store.has_layer(diff_id);
    if have_blob && have_layer {
        return Ok("already present");
    }
    let mut guard = TmpGuard(Vec::new());
    let tmp_layer = store.tmp_path("layer");
    let tmp_blob = store.tmp_path("blob");
    guard.0.extend([tmp_layer.clone(), tmp_blob.clone()]);

    let source: Box<dyn Read + '_> = if have_blob {
        let p = store.blob_path(&desc.digest);
        Box::new(File::open(&p).map_err(io_err("open blob", &p))?)
    } else {
        let (client, repo) =
            remote.ok_or_else(|| StoreError::NotFound(format!("blob {}", desc.digest)))?;
        Box::new(client.blob_reader(repo, &desc.digest, desc.size, 0))
    };
    let out = if have_blob {
        None
    } else {
        Some(BufWriter::with_capacity(
            1 << 20,
            File::create(&tmp_blob).map_err(io_err("create", &tmp_blob))?,
        ))
    };
    let mut compressed = HashingReader::new(Tee { inner: source, out }, desc.digest.algorithm());
    let unpacked = unpack_stream(&mut compressed, bar, &tmp_layer, have_layer);
    // Whatever went wrong while unpacking, a digest mismatch is the real story.
    let drained = compressed.drain();
    let (digest, size, tee) = compressed.finish();
    let digest_check = desc.digest.verify(&digest).and_then(|_| {
        if size == desc.size {
            Ok(())
        } else {
            Err(DigestError::Size {
                digest: desc.digest.clone(),
                expected: desc.size,
                actual: size,
            })
        }
    });
    if let Err(source) = digest_check {
        if drained.is_ok() || unpacked.is_err() {
            return Err(PullError::Digest {
                layer: desc.digest.clone(),
                source,
            });
        }
    }
    let actual_diff_id = unpacked.map_err(|source| PullError::Unpack {
        layer: desc.digest.clone(),
        source,
    })?;
    drained.map_err(|e| PullError::Unpack {
        layer: desc.digest.clone(),
        source: UnpackError::Archive(e),
    })?;
    diff_id
        .verify(&actual_diff_id)
        .map_err(|source| PullError::Digest {
            layer: desc.digest.clone(),
            source,
        })?;

    if let Some(mut out) = tee.out {
        out.flush().map_err(io_err("write", &tmp_blob))?;
        store.commit_blob_file(&tmp_blob, &desc.digest)?;
    }
    if !have_layer {
        let dst = store.layer_path(diff_id);
        fs::rename(&tmp_layer, &dst).map_err(io_err("rename layer into", &dst))?;
    }
    Ok("done")
}

/// Decompresses and unpacks (or, when the layer exists, just reads) the
/// stream; returns the diff_id of the uncompressed tar.
fn unpack_stream(
    compressed: &mut dyn Read,
    bar: &Bar,
    tmp_layer: &Path,
    have_layer: bool,
) -> Result<Digest, UnpackError> {
    let buffered = BufReader::with_capacity(
        256 << 10,
        ProgressReader {
            inner: compressed,
            bar,
        },
    );
    let decoded = unpack::decompress(buffered).map_err(UnpackError::Archive)?;
    let mut diff = HashingReader::new(decoded, Algorithm::Sha256);
    if have_layer {
        diff.drain().map_err(UnpackError::Archive)?;
    } else {
        fs::create_dir(tmp_layer).map_err(|source| UnpackError::Io {
            op: "create",
            path: tmp_layer.display().to_string(),
            source,
        })?;
        unpack::unpack(&mut diff, tmp_layer)?;
    }
    Ok(diff.finish().0)
}
