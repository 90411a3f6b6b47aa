//! `export REF FILE` and `import FILE [REF]`: single-image archives in two formats, so
//! images move without a registry.
//!
//! - [`Format::Oci`]: an OCI image layout as a tar (`oci-layout`, `index.json`,
//!   `blobs/sha256/…`), what `skopeo copy … oci-archive:` writes ([`oci`]).
//! - [`Format::Docker`]: a docker-archive, what `docker save` writes: `manifest.json`
//!   naming a config file and one uncompressed `layer.tar` per layer ([`docker`]).
//!
//! `import` reads either in one pass and tells them apart by their index files; every
//! file is hashed on the way in and checked against the name it is referred to by.

mod docker;
mod oci;

use crate::digest::{Algorithm, Digest, HashingReader};
use crate::manifest::{Index, ManifestError};
use crate::reference::{Reference, ReferenceError};
use crate::store::{Store, StoreError};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: String,
        source: io::Error,
    },
    #[error("archive {path}: {reason}")]
    Invalid { path: String, reason: String },
    #[error("unknown archive format `{0}`: expected oci-archive or docker-archive")]
    Format(String),
}

/// The on-disk shape of an archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An OCI image layout in a tar.
    Oci,
    /// `docker save`'s format.
    Docker,
}

impl std::str::FromStr for Format {
    type Err = ArchiveError;
    fn from_str(s: &str) -> Result<Format, ArchiveError> {
        match s {
            "oci" | "oci-archive" => Ok(Format::Oci),
            "docker" | "docker-archive" => Ok(Format::Docker),
            other => Err(ArchiveError::Format(other.to_string())),
        }
    }
}

/// Writes one stored image to `file` (through a temporary file renamed at the end).
pub fn export(
    store: &Store,
    image_ref: &str,
    file: &Path,
    format: Format,
) -> Result<(), ArchiveError> {
    let path = file.display().to_string();
    let ioerr = |op| {
        let path = path.clone();
        move |source| ArchiveError::Io { op, path, source }
    };
    let tmp = file.with_extension("partial");
    let out = BufWriter::new(File::create(&tmp).map_err(ioerr("create"))?);
    let mut b = tar::Builder::new(out);
    let written = match format {
        Format::Oci => oci::write(store, image_ref, &mut b),
        Format::Docker => docker::write(store, image_ref, &mut b),
    };
    let finished = written.and_then(|()| {
        let mut out = b.into_inner().map_err(ioerr("write"))?;
        out.flush().map_err(ioerr("write"))
    });
    match finished {
        Ok(()) => fs::rename(&tmp, file).map_err(ioerr("rename")),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Appends a regular file to an archive being written.
fn append(
    b: &mut tar::Builder<impl Write>,
    name: &str,
    data: &mut dyn Read,
    size: u64,
) -> io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_mode(0o644);
    h.set_size(size);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, name, data)
}

/// What one pass over an archive found.
#[derive(Default)]
struct Staged {
    index: Option<Index>,
    docker_manifest: Option<Vec<docker::Entry>>,
    /// Every other regular file, by its path in the archive: the digest it is stored under.
    files: HashMap<String, Digest>,
    /// Symbolic links (docker-archive shares a layer between images this way).
    links: HashMap<String, String>,
}

impl Staged {
    /// The digest of the file at `name`, following links.
    fn file(&self, name: &str) -> Option<&Digest> {
        let mut name = name.trim_start_matches("./").to_string();
        for _ in 0..8 {
            if let Some(d) = self.files.get(&name) {
                return Some(d);
            }
            name = self.links.get(&name)?.clone();
        }
        None
    }
}

/// Files of a docker-archive that are not content (legacy metadata).
fn is_legacy_metadata(p: &str) -> bool {
    p == "repositories" || p.ends_with("/json") || p.ends_with("/VERSION")
}

/// Reads an OCI layout tar or a docker-archive into the store. `name`, when given,
/// names the (first) image; otherwise the archive's own names are used. Returns the names
/// the images were stored under.
pub fn import(
    store: &Store,
    file: &Path,
    name: Option<&Reference>,
) -> Result<Vec<String>, ArchiveError> {
    let path = file.display().to_string();
    let ioerr = |op| {
        let path = path.clone();
        move |source| ArchiveError::Io { op, path, source }
    };
    let invalid = |reason: String| ArchiveError::Invalid {
        path: path.clone(),
        reason,
    };
    let f = File::open(file).map_err(ioerr("open"))?;
    let _writer = store.writer_lock()?;
    let mut a = tar::Archive::new(io::BufReader::new(f));
    let mut staged = Staged::default();
    for e in a.entries().map_err(ioerr("read"))? {
        let mut e = e.map_err(ioerr("read"))?;
        let p = String::from_utf8_lossy(&e.path_bytes())
            .trim_start_matches("./")
            .to_string();
        let kind = e.header().entry_type();
        if kind.is_symlink() {
            let target = e
                .link_name_bytes()
                .map(|t| String::from_utf8_lossy(&t).into_owned())
                .unwrap_or_default();
            staged.links.insert(p.clone(), resolve_link(&p, &target));
            continue;
        }
        if !kind.is_file() || p == "oci-layout" || is_legacy_metadata(&p) {
            continue;
        }
        if p == "index.json" || p == "manifest.json" {
            let mut b = Vec::new();
            e.read_to_end(&mut b).map_err(ioerr("read"))?;
            if p == "index.json" {
                staged.index = Some(
                    serde_json::from_slice(&b)
                        .map_err(|err| invalid(format!("index.json: {err}")))?,
                );
            } else {
                staged.docker_manifest = Some(
                    serde_json::from_slice(&b)
                        .map_err(|err| invalid(format!("manifest.json: {err}")))?,
                );
            }
            continue;
        }
        // A blob of an OCI layout must hash to its name; any other file is stored under
        // the digest of its content and checked when something refers to it.
        let named: Option<Digest> = match p.strip_prefix("blobs/sha256/") {
            Some(hex) => Some(
                format!("sha256:{hex}")
                    .parse()
                    .map_err(|_| invalid(format!("bad blob name `{p}`")))?,
            ),
            None => None,
        };
        if let Some(d) = &named {
            if store.has_blob(d) {
                staged.files.insert(p, d.clone());
                continue;
            }
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
        if let Some(d) = &named {
            if let Err(err) = d.verify(&actual) {
                let _ = fs::remove_file(&tmp);
                return Err(invalid(format!("blob `{p}`: {err}")));
            }
        }
        if store.has_blob(&actual) {
            let _ = fs::remove_file(&tmp);
        } else {
            store.commit_blob_file(&tmp, &actual)?;
        }
        staged.files.insert(p, actual);
    }
    if staged.index.is_some() {
        oci::register(store, &staged, name, &path)
    } else if staged.docker_manifest.is_some() {
        docker::register(store, &staged, name, &path)
    } else {
        Err(invalid(
            "neither index.json (an OCI layout) nor manifest.json (a docker-archive)".into(),
        ))
    }
}

/// The archive path a symlink at `from` pointing to `target` names.
fn resolve_link(from: &str, target: &str) -> String {
    let mut parts: Vec<&str> = if target.starts_with('/') {
        Vec::new()
    } else {
        from.split('/').collect()
    };
    parts.pop();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_resolve_inside_the_archive() {
        assert_eq!(resolve_link("b/layer.tar", "../a/layer.tar"), "a/layer.tar");
        assert_eq!(resolve_link("b/layer.tar", "/a/layer.tar"), "a/layer.tar");
        assert_eq!(resolve_link("x", "./y"), "y");
        assert_eq!(resolve_link("a/b/c", "../../../../z"), "z");
    }

    #[test]
    fn formats_by_name() {
        assert_eq!("oci".parse::<Format>().unwrap(), Format::Oci);
        assert_eq!("docker-archive".parse::<Format>().unwrap(), Format::Docker);
        assert!("tar".parse::<Format>().is_err());
    }
}
