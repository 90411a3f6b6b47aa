//! `push`: blobs first (skipping those the registry has, mounting those
//! another repository of the same registry has), then the manifest.

use crate::auth::{self, AuthError};
use crate::digest::Digest;
use crate::manifest::{Descriptor, OCI_MANIFEST};
use crate::progress::Progress;
use crate::reference::Reference;
use crate::registry::{Client, RegistryError, UploadStart};
use crate::store::{io_err, Store, StoreError};
use std::fs::File;

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Auth(#[from] AuthError),
}

pub struct PushOptions {
    pub insecure: bool,
    /// Upload in PATCH chunks of this many bytes; `None` for one PUT.
    pub chunk_size: Option<u64>,
}

/// Pushes the stored image `source` to `dest` (default: the name it is stored under).
pub fn push(
    store: &Store,
    source: &str,
    dest: Option<&Reference>,
    opts: &PushOptions,
    progress: &Progress,
) -> Result<Digest, PushError> {
    let entry = store.resolve(source)?;
    let target = match dest {
        Some(d) => d.clone(),
        None => Reference::parse(&entry.name).map_err(StoreError::from)?,
    };
    let image = store.load_image(&entry.manifest.digest)?;
    let manifest_bytes = store.read_blob(&entry.manifest.digest)?;
    let client = Client::new(
        &target.registry,
        opts.insecure,
        auth::lookup(&target.registry)?,
    );
    let repo = &target.repository;

    // Other repositories of the same registry that hold each blob, for mounts.
    let mut sources: std::collections::HashMap<Digest, String> = Default::default();
    for other in store.list()? {
        let Ok(r) = Reference::parse(&other.name) else {
            continue;
        };
        if r.registry != target.registry || r.repository == target.repository {
            continue;
        }
        if let Ok(img) = store.load_image(&other.manifest.digest) {
            for l in img
                .manifest
                .layers
                .iter()
                .chain(std::iter::once(&img.manifest.config))
            {
                sources
                    .entry(l.digest.clone())
                    .or_insert_with(|| r.repository.clone());
            }
        }
    }

    let blobs: Vec<&Descriptor> = image
        .manifest
        .layers
        .iter()
        .chain(std::iter::once(&image.manifest.config))
        .collect();
    for desc in blobs {
        let bar = progress.bar(desc.digest.short().to_string(), desc.size);
        if client.blob_exists(repo, &desc.digest)?.is_some() {
            bar.finish("exists", 0);
            continue;
        }
        let mount = sources
            .get(&desc.digest)
            .map(|from| (&desc.digest, from.as_str()));
        match client.start_upload(repo, mount)? {
            UploadStart::Mounted => bar.finish(
                &format!("mounted from {}", mount.map(|m| m.1).unwrap_or("")),
                0,
            ),
            UploadStart::Session(location) => {
                let path = store.blob_path(&desc.digest);
                let file = File::open(&path)
                    .map_err(|e| PushError::Store(io_err("open blob", &path)(e)))?;
                let chunk = opts.chunk_size.filter(|c| *c > 0 && *c < desc.size);
                client.upload(repo, location, &desc.digest, &file, desc.size, chunk)?;
                bar.inc(desc.size);
                bar.finish("pushed", desc.size);
            }
        }
    }
    let media_type = image.manifest.media_type.clone().unwrap_or_else(|| {
        if entry.manifest.media_type.is_empty() {
            OCI_MANIFEST.to_string()
        } else {
            entry.manifest.media_type.clone()
        }
    });
    client.put_manifest(
        repo,
        &target.manifest_reference(),
        &media_type,
        &manifest_bytes,
    )?;
    progress.line(&format!(
        "{target}: pushed manifest {}",
        entry.manifest.digest
    ));
    Ok(entry.manifest.digest)
}
