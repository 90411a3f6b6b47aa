//! `export REF FILE` and `import FILE [REF]`: single-image OCI image-layout
//! tar archives (`oci-layout`, `index.json`, `blobs/sha256/…`).

use crate::digest::{Algorithm, Digest, HashingReader};
use crate::manifest::{Index, ANNOTATION_REF_NAME};
use crate::reference::Reference;
use crate::store::{Store, StoreError};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: String,
        source: io::Error,
    },
    #[error("archive {path}: {reason}")]
    Invalid { path: String, reason: String },
}

/// Writes one stored image as an OCI layout tar.
pub fn export(store: &Store, image_ref: &str, file: &Path) -> Result<(), ArchiveError> {
    let entry = store.resolve(image_ref)?;
    let image = store.load_image(&entry.manifest.digest)?;
    let path = file.display().to_string();
    let ioerr = |op| {
        let path = path.clone();
        move |source| ArchiveError::Io { op, path, source }
    };
    let tmp = file.with_extension("partial");
    let out = BufWriter::new(File::create(&tmp).map_err(ioerr("create"))?);
    let mut b = tar::Builder::new(out);
    let mut add = |name: &str, data: &mut dyn Read, size: u64| {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(size);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, data)
    };
    add(
        "oci-layout",
        &mut &br#"{"imageLayoutVersion":"1.0.0"}"#[..],
        30,
    )
    .map_err(ioerr("write"))?;
    let mut desc = entry.manifest.clone();
    desc.annotations = Some(BTreeMap::from([(
        ANNOTATION_REF_NAME.to_string(),
        entry.name.clone(),
    )]));
    let mut index = Index::empty();
    index.manifests.push(desc);
    let index_bytes = serde_json::to_vec(&index).expect("index serialises");
    add(
        "index.json",
        &mut &index_bytes[..],
        index_bytes.len() as u64,
    )
    .map_err(ioerr("write"))?;
    let mut digests = vec![
        entry.manifest.digest.clone(),
        image.manifest.config.digest.clone(),
    ];
    digests.extend(image.manifest.layers.iter().map(|l| l.digest.clone()));
    for d in digests {
        let p = store.blob_path(&d);
        let f = File::open(&p).map_err(ioerr("open blob"))?;
        let len = f.metadata().map_err(ioerr("stat blob"))?.len();
        add(
            &format!("blobs/sha256/{}", d.hex()),
            &mut io::BufReader::new(f),
            len,
        )
        .map_err(ioerr("write"))?;
    }
    let mut out = b.into_inner().map_err(ioerr("write"))?;
    out.flush().map_err(ioerr("write"))?;
    drop(out);
    fs::rename(&tmp, file).map_err(ioerr("rename"))
}

/// Reads an OCI layout tar into the store; every blob is verified against
/// its name. Returns the names the images were stored under.
pub fn import(
    store: &Store,
    file: &Path,
    name: Option<&Reference>,
) -> Result<Vec<String>, ArchiveError> {
    let path = file.display().to_string();
    let invalid = |reason: String| ArchiveError::Invalid {
        path: path.clone(),
        reason,
    };
    let f = File::open(file).map_err(|source| ArchiveError::Io {
        op: "open",
        path: path.clone(),
        source,
    })?;
    let _writer = store.writer_lock()?;
    let mut a = tar::Archive::new(io::BufReader::new(f));
    let mut index: Option<Index> = None;
    for e in a.entries().map_err(|source| ArchiveError::Io {
        op: "read",
        path: path.clone(),
        source,
    })? {
        let mut e = e.map_err(|source| ArchiveError::Io {
            op: "read",
            path: path.clone(),
            source,
        })?;
        let p = String::from_utf8_lossy(&e.path_bytes())
            .trim_start_matches("./")
            .to_string();
        if p == "index.json" {
            let mut b = Vec::new();
            e.read_to_end(&mut b).map_err(|source| ArchiveError::Io {
                op: "read",
                path: path.clone(),
                source,
            })?;
            index = Some(
                serde_json::from_slice(&b).map_err(|err| invalid(format!("index.json: {err}")))?,
            );
        } else if let Some(hex) = p.strip_prefix("blobs/sha256/") {
            let digest: Digest = format!("sha256:{hex}")
                .parse()
                .map_err(|_| invalid(format!("bad blob name `{p}`")))?;
            if store.has_blob(&digest) {
                continue;
            }
            let tmp = store.tmp_path("import");
            let mut hr = HashingReader::new(&mut e, Algorithm::Sha256);
            let copied = File::create(&tmp).and_then(|f| {
                let mut w = BufWriter::new(f);
                io::copy(&mut hr, &mut w)?;
                w.flush()
            });
            let actual = hr.finish().0;
            if let Err(source) = copied {
                let _ = fs::remove_file(&tmp);
                return Err(ArchiveError::Io {
                    op: "write",
                    path: tmp.display().to_string(),
                    source,
                });
            }
            if let Err(err) = digest.verify(&actual) {
                let _ = fs::remove_file(&tmp);
                return Err(invalid(format!("blob `{p}`: {err}")));
            }
            store.commit_blob_file(&tmp, &digest)?;
        }
    }
    let index = index.ok_or_else(|| invalid("no index.json".into()))?;
    let mut names = Vec::new();
    for (i, m) in index.manifests.iter().enumerate() {
        let reference = match (name, m.annotation(ANNOTATION_REF_NAME)) {
            (Some(n), _) if i == 0 => n.clone(),
            (_, Some(r)) if r.contains('/') || r.contains('.') => Reference::parse(r).map_err(StoreError::from)?,
            (_, other) => return Err(invalid(format!("manifest {} has no full image name ({other:?}); give one: berth image import FILE NAME", m.digest))),
        };
        store.load_image(&m.digest)?;
        store.set_ref(&reference, m)?;
        names.push(reference.to_string());
    }
    Ok(names)
}
