//! docker-archive: what `docker save` writes and `docker load` reads.
//!
//! `manifest.json` is a list of `{Config, RepoTags, Layers}`: `Config` names the image
//! config file (`<hex>.json`, the sha256 of its content), `Layers` one uncompressed tar per
//! layer, bottom first, whose sha256 is the layer's diff_id. The legacy files docker also
//! writes (`repositories`, `<id>/json`, `<id>/VERSION`, for loaders older than Docker 1.10)
//! are ignored on import and not written on export.

use super::{append, ArchiveError, Staged};
use crate::digest::{Algorithm, Digest, HashingReader};
use crate::manifest::{
    self, Descriptor, ImageConfig, Manifest, OCI_CONFIG, OCI_LAYER_GZIP, OCI_LAYER_TAR,
    OCI_LAYER_ZSTD, OCI_MANIFEST,
};
use crate::reference::{Reference, DEFAULT_REGISTRY};
use crate::store::Store;
use crate::unpack;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};

/// One image of `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Entry {
    pub config: String,
    #[serde(default)]
    pub repo_tags: Option<Vec<String>>,
    pub layers: Vec<String>,
}

/// The name Docker shows for a reference: `busybox:latest` for Docker Hub's library
/// images, `user/app:1` for other Docker Hub images, the full name otherwise.
pub fn familiar_name(r: &Reference) -> String {
    let tag = r.tag.as_deref().unwrap_or("latest");
    let repo = if r.registry == DEFAULT_REGISTRY {
        r.repository
            .strip_prefix("library/")
            .unwrap_or(&r.repository)
            .to_string()
    } else {
        r.name()
    };
    format!("{repo}:{tag}")
}

/// The media type of a stored layer blob, from its first bytes.
fn layer_media_type(store: &Store, d: &Digest) -> Result<&'static str, ArchiveError> {
    let p = store.blob_path(d);
    let mut head = [0u8; 4];
    let mut f = File::open(&p).map_err(|source| ArchiveError::Io {
        op: "open blob",
        path: p.display().to_string(),
        source,
    })?;
    let n = f.read(&mut head).unwrap_or(0);
    Ok(match &head[..n] {
        [0x1f, 0x8b, ..] => OCI_LAYER_GZIP,
        [0x28, 0xb5, 0x2f, 0xfd] => OCI_LAYER_ZSTD,
        _ => OCI_LAYER_TAR,
    })
}

/// Turns the entries of `manifest.json` into OCI manifests in the store, and names them.
pub(super) fn register(
    store: &Store,
    staged: &Staged,
    name: Option<&Reference>,
    path: &str,
) -> Result<Vec<String>, ArchiveError> {
    let invalid = |reason: String| ArchiveError::Invalid {
        path: path.to_string(),
        reason,
    };
    let entries = staged
        .docker_manifest
        .as_ref()
        .expect("called with manifest.json");
    if entries.is_empty() {
        return Err(invalid("manifest.json lists no image".into()));
    }
    let mut names = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let config_digest = staged
            .file(&e.config)
            .ok_or_else(|| invalid(format!("config `{}` is not in the archive", e.config)))?
            .clone();
        // `<hex>.json`: the name is the config's digest.
        if let Some(hex) = e
            .config
            .rsplit('/')
            .next()
            .and_then(|n| n.strip_suffix(".json"))
        {
            if hex.len() == 64 && hex != config_digest.hex() {
                return Err(invalid(format!(
                    "config `{}` does not match its name (sha256:{})",
                    e.config,
                    config_digest.hex()
                )));
            }
        }
        let config_bytes = store.read_blob(&config_digest)?;
        let config = ImageConfig::parse(&config_bytes, &config_digest)?;
        let mut layers = Vec::new();
        for (n, l) in e.layers.iter().enumerate() {
            let d = staged
                .file(l)
                .ok_or_else(|| invalid(format!("layer `{l}` is not in the archive")))?
                .clone();
            let media_type = layer_media_type(store, &d)?;
            // An uncompressed layer's digest is its diff_id; compressed ones are checked
            // against the diff_id when they are unpacked.
            if media_type == OCI_LAYER_TAR {
                if let Some(want) = config.rootfs.diff_ids.get(n) {
                    want.verify(&d)
                        .map_err(|err| invalid(format!("layer `{l}`: {err}")))?;
                }
            }
            let size = fs::metadata(store.blob_path(&d))
                .map_err(|source| ArchiveError::Io {
                    op: "stat blob",
                    path: store.blob_path(&d).display().to_string(),
                    source,
                })?
                .len();
            layers.push(Descriptor::new(media_type, d, size));
        }
        let m = Manifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.to_string()),
            config: Descriptor::new(OCI_CONFIG, config_digest, config_bytes.len() as u64),
            layers,
            annotations: None,
        };
        manifest::check_layers(&m, &config)?;
        let bytes = serde_json::to_vec(&m).expect("manifest serialises");
        let digest = store.put_blob(&bytes)?;
        let mut desc = Descriptor::new(OCI_MANIFEST, digest, bytes.len() as u64);
        desc.platform = Some(manifest::Platform {
            os: config.os.clone(),
            architecture: config.architecture.clone(),
            variant: None,
            os_version: None,
            os_features: None,
        });
        let mut refs: Vec<Reference> = Vec::new();
        match name {
            Some(n) if i == 0 => refs.push(n.clone()),
            _ => {
                for t in e.repo_tags.iter().flatten() {
                    refs.push(Reference::parse(t)?);
                }
            }
        }
        if refs.is_empty() {
            return Err(invalid(format!(
                "image {} has no name (RepoTags); give one: berth image import FILE NAME",
                e.config
            )));
        }
        for r in refs {
            store.set_ref(&r, &desc)?;
            names.push(r.to_string());
        }
    }
    Ok(names)
}

/// Writes a stored image as a docker-archive into `b`.
pub(super) fn write(
    store: &Store,
    image_ref: &str,
    b: &mut tar::Builder<impl Write>,
) -> Result<(), ArchiveError> {
    let entry = store.resolve(image_ref)?;
    let image = store.load_image(&entry.manifest.digest)?;
    let ioerr = |op, path: String| move |source| ArchiveError::Io { op, path, source };
    let config_name = format!("{}.json", image.manifest.config.digest.hex());
    append(
        b,
        &config_name,
        &mut &image.config_bytes[..],
        image.config_bytes.len() as u64,
    )
    .map_err(ioerr("write", config_name.clone()))?;
    let mut layer_names = Vec::new();
    let mut written = HashSet::new();
    for (desc, diff_id) in image
        .manifest
        .layers
        .iter()
        .zip(&image.config.rootfs.diff_ids)
    {
        let name = format!("{}/layer.tar", diff_id.hex());
        layer_names.push(name.clone());
        if !written.insert(name.clone()) {
            continue;
        }
        let blob = store.blob_path(&desc.digest);
        let shown = blob.display().to_string();
        if desc.media_type == OCI_LAYER_TAR || desc.digest == *diff_id {
            let f = File::open(&blob).map_err(ioerr("open blob", shown.clone()))?;
            let len = f
                .metadata()
                .map_err(ioerr("stat blob", shown.clone()))?
                .len();
            append(b, &name, &mut BufReader::new(f), len).map_err(ioerr("write", name))?;
            continue;
        }
        // docker load wants the uncompressed tar; its size goes in the header before the
        // data, so it is decompressed into a temporary file first (and checked).
        let tmp = store.tmp_path("export-layer");
        let r = (|| {
            let f = File::open(&blob).map_err(ioerr("open blob", shown.clone()))?;
            let decoded = unpack::decompress(BufReader::with_capacity(256 << 10, f))
                .map_err(ioerr("decompress", shown.clone()))?;
            let mut hr = HashingReader::new(decoded, Algorithm::Sha256);
            let mut out = BufWriter::new(
                File::create(&tmp).map_err(ioerr("create", tmp.display().to_string()))?,
            );
            let len = io::copy(&mut hr, &mut out).map_err(ioerr("decompress", shown.clone()))?;
            out.flush()
                .map_err(ioerr("write", tmp.display().to_string()))?;
            diff_id
                .verify(&hr.finish().0)
                .map_err(|err| ArchiveError::Invalid {
                    path: shown.clone(),
                    reason: format!("layer does not match its diff_id: {err}"),
                })?;
            let f = File::open(&tmp).map_err(ioerr("open", tmp.display().to_string()))?;
            append(b, &name, &mut BufReader::new(f), len).map_err(ioerr("write", name.clone()))
        })();
        let _ = fs::remove_file(&tmp);
        r?;
    }
    let reference = Reference::parse(&entry.name)?;
    let tag = familiar_name(&reference);
    let manifest = vec![Entry {
        config: config_name,
        repo_tags: Some(vec![tag.clone()]),
        layers: layer_names,
    }];
    let bytes = serde_json::to_vec(&manifest).expect("manifest.json serialises");
    append(b, "manifest.json", &mut &bytes[..], bytes.len() as u64)
        .map_err(ioerr("write", "manifest.json".into()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn familiar_names_as_docker_shows_them() {
        let f = |s: &str| familiar_name(&Reference::parse(s).unwrap());
        assert_eq!(f("busybox"), "busybox:latest");
        assert_eq!(f("docker.io/library/busybox:1.36"), "busybox:1.36");
        assert_eq!(f("user/app:2"), "user/app:2");
        assert_eq!(f("localhost:5000/bb:x"), "localhost:5000/bb:x");
    }
}
