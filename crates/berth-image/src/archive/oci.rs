//! OCI image layouts in a tar: `oci-layout`, `index.json`, `blobs/sha256/<hex>`.

use super::{append, ArchiveError, Staged};
use crate::manifest::{Index, ANNOTATION_REF_NAME};
use crate::reference::Reference;
use crate::store::{Store, StoreError};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};

/// The annotation containerd (and `docker save` since 25.0) put the full name in, when
/// `org.opencontainers.image.ref.name` holds only the tag.
const CONTAINERD_IMAGE_NAME: &str = "io.containerd.image.name";

pub(super) fn write(
    store: &Store,
    image_ref: &str,
    b: &mut tar::Builder<impl Write>,
) -> Result<(), ArchiveError> {
    let entry = store.resolve(image_ref)?;
    let image = store.load_image(&entry.manifest.digest)?;
    let ioerr = |op, path: String| move |source| ArchiveError::Io { op, path, source };
    let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
    append(b, "oci-layout", &mut &layout[..], layout.len() as u64)
        .map_err(ioerr("write", "oci-layout".into()))?;
    let mut desc = entry.manifest.clone();
    desc.annotations = Some(BTreeMap::from([(
        ANNOTATION_REF_NAME.to_string(),
        entry.name.clone(),
    )]));
    let mut index = Index::empty();
    index.manifests.push(desc);
    let index_bytes = serde_json::to_vec(&index).expect("index serialises");
    append(
        b,
        "index.json",
        &mut &index_bytes[..],
        index_bytes.len() as u64,
    )
    .map_err(ioerr("write", "index.json".into()))?;
    let mut digests = vec![
        entry.manifest.digest.clone(),
        image.manifest.config.digest.clone(),
    ];
    digests.extend(image.manifest.layers.iter().map(|l| l.digest.clone()));
    digests.dedup();
    for d in digests {
        let p = store.blob_path(&d);
        let shown = p.display().to_string();
        let f = File::open(&p).map_err(ioerr("open blob", shown.clone()))?;
        let len = f
            .metadata()
            .map_err(ioerr("stat blob", shown.clone()))?
            .len();
        append(
            b,
            &format!("blobs/sha256/{}", d.hex()),
            &mut io::BufReader::new(f),
            len,
        )
        .map_err(ioerr("write", shown))?;
    }
    Ok(())
}

/// Names the manifests of an imported layout in the store.
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
    let index = staged.index.as_ref().expect("called with an index");
    let mut names = Vec::new();
    for (i, m) in index.manifests.iter().enumerate() {
        let full = |r: &str| r.contains('/') || r.contains('.') || r.contains(':');
        let reference = match (
            name,
            m.annotation(ANNOTATION_REF_NAME).filter(|r| full(r)),
            m.annotation(CONTAINERD_IMAGE_NAME),
        ) {
            (Some(n), _, _) if i == 0 => n.clone(),
            (_, Some(r), _) | (_, None, Some(r)) => {
                Reference::parse(r).map_err(StoreError::from)?
            }
            _ => {
                return Err(invalid(format!(
                "manifest {} has no full image name ({:?}); give one: berth image import FILE NAME",
                m.digest,
                m.annotation(ANNOTATION_REF_NAME)
            )))
            }
        };
        store.load_image(&m.digest)?;
        store.set_ref(&reference, m)?;
        names.push(reference.to_string());
    }
    Ok(names)
}
