//! `commit DIR REF`: the bundle's overlay upper directory becomes a new
//! gzip layer on top of the image the bundle was made from.
//!
//! overlayfs marks deletions with 0/0 character devices and opaque
//! directories with `trusted.overlay.opaque=y`; in the layer tar these become
//! `.wh.NAME` and `DIR/.wh..wh..opq` entries.

use crate::bundle::{bundle_annotations, BundleError, IMAGE_DIGEST_ANNOTATION};
use crate::digest::{Digest, HashingWriter};
use crate::manifest::{
    self, Descriptor, Manifest, DOCKER_CONFIG, DOCKER_LAYER_GZIP, OCI_CONFIG, OCI_LAYER_GZIP,
    OCI_MANIFEST,
};
use crate::progress::Progress;
use crate::pull::{fetch_layers, PullError};
use crate::reference::Reference;
use crate::store::{io_err, Store, StoreError};
use crate::unpack::{OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX};
use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Layers(#[from] PullError),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error(
        "bundle {0} was not made by `berth image bundle` (no {IMAGE_DIGEST_ANNOTATION} annotation)"
    )]
    NoBaseImage(PathBuf),
    #[error("base image config is not a JSON object: {0}")]
    Config(String),
}

/// Writes `upper` as an OCI layer tar: overlay whiteouts become `.wh.`
/// entries, xattrs other than `trusted.overlay.*` go into PAX records, and
/// files sharing an inode become hardlinks. Entries are sorted by name.
pub fn write_layer_tar<W: Write>(upper: &Path, out: W) -> Result<W, CommitError> {
    let mut b = tar::Builder::new(out);
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    add_dir(&mut b, upper, Path::new(""), &mut links)?;
    b.into_inner().map_err(|source| CommitError::Io {
        op: "finish tar of",
        path: upper.into(),
        source,
    })
}

fn add_dir<W: Write>(
    b: &mut tar::Builder<W>,
    root: &Path,
    rel: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> Result<(), CommitError> {
    let dir = root.join(rel);
    let err = |op: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| CommitError::Io {
            op,
            path: p,
            source,
        }
    };
    let mut names: Vec<OsString> = fs::read_dir(&dir)
        .map_err(err("read directory", &dir))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(err("read directory", &dir))?;
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let rel_path = rel.join(&name);
        let m = fs::symlink_metadata(&path).map_err(err("stat", &path))?;
        let ft = m.file_type();
        if ft.is_char_device() && m.rdev() == 0 {
            let mut wh_name = OsString::from(WHITEOUT_PREFIX);
            wh_name.push(&name);
            append_empty(b, &rel.join(wh_name), &m).map_err(err("write whiteout for", &path))?;
            continue;
        }
        if ft.is_socket() {
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.set_metadata_in_mode(&m, tar::HeaderMode::Complete);
        let xattrs = user_xattrs(&path).map_err(err("list xattrs of", &path))?;
        let opaque = ft.is_dir()
            && xattr::get(&path, OVERLAY_OPAQUE_XATTR)
                .ok()
                .flatten()
                .as_deref()
                == Some(b"y");
        if !xattrs.is_empty() {
            append_pax(b, &xattrs).map_err(err("write xattrs of", &path))?;
        }
        let werr = err("add to layer", &path);
        if ft.is_dir() {
            h.set_size(0);
            b.append_data(&mut h, dir_name(&rel_path), io::empty())
                .map_err(werr)?;
            if opaque {
                append_empty(b, &rel_path.join(OPAQUE_MARKER), &m)
                    .map_err(err("write opaque marker for", &path))?;
            }
            add_dir(b, root, &rel_path, links)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&path).map_err(err("read link", &path))?;
            h.set_size(0);
            b.append_link(&mut h, &rel_path, &target).map_err(werr)?;
        } else if ft.is_file() {
            if m.nlink() > 1 {
                if let Some(first) = links.get(&(m.dev(), m.ino())) {
                    h.set_entry_type(tar::EntryType::Link);
                    h.set_size(0);
                    b.append_link(&mut h, &rel_path, first).map_err(werr)?;
                    continue;
                }
                links.insert((m.dev(), m.ino()), rel_path.clone());
            }
            let f = File::open(&path).map_err(err("open", &path))?;
            b.append_data(&mut h, &rel_path, f).map_err(werr)?;
        } else {
            // Devices and fifos: metadata carries type and numbers.
            h.set_size(0);
            b.append_data(&mut h, &rel_path, io::empty())
                .map_err(werr)?;
        }
    }
    Ok(())
}

fn dir_name(rel: &Path) -> PathBuf {
    let mut s = rel.as_os_str().to_owned();
    s.push("/");
    PathBuf::from(s)
}

fn append_empty<W: Write>(
    b: &mut tar::Builder<W>,
    name: &Path,
    like: &fs::Metadata,
) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(0);
    h.set_mtime(like.mtime().max(0) as u64);
    b.append_data(&mut h, name, io::empty())
}

/// Extended attributes worth keeping: all but overlayfs' own.
fn user_xattrs(path: &Path) -> io::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let names = match xattr::list(path) {
        Ok(n) => n,
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(out),
        Err(e) => return Err(e),
    };
    for n in names {
        let n = n.to_string_lossy().into_owned();
        if n.starts_with("trusted.overlay.") {
            continue;
        }
        if let Some(v) = xattr::get(path, &n)? {
            out.push((n, v));
        }
    }
    out.sort();
    Ok(out)
}

/// A PAX extended header carrying `SCHILY.xattr.*` records for the next entry.
fn append_pax<W: Write>(b: &mut tar::Builder<W>, xattrs: &[(String, Vec<u8>)]) -> io::Result<()> {
    let mut data = Vec::new();
    for (k, v) in xattrs {
        let body_len = 1 + "SCHILY.xattr.".len() + k.len() + 1 + v.len() + 1;
        // The record length counts its own digits.
        let mut len = body_len + 1;
        while len != body_len + len.to_string().len() {
            len = body_len + len.to_string().len();
        }
        data.extend_from_slice(format!("{len} SCHILY.xattr.{k}=").as_bytes());
        data.extend_from_slice(v);
        data.push(b'\n');
    }
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::XHeader);
    h.set_path("PaxHeaders/xattrs")?;
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_cksum();
    b.append(&h, &data[..])
}

/// RFC 3339 UTC time, as image configs record it.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Commits bundle `dir` as image `reference`; returns the new manifest digest.
pub fn commit(
    store: &Store,
    dir: &Path,
    reference: &Reference,
    message: Option<&str>,
    progress: &Progress,
) -> Result<Digest, CommitError> {
    let ann = bundle_annotations(dir)?;
    let base: Digest = ann
        .get(IMAGE_DIGEST_ANNOTATION)
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| CommitError::NoBaseImage(dir.to_path_buf()))?;
    let _writer = store.writer_lock()?;
    let image = store.load_image(&base)?;

    // tar -> diff_id hash -> gzip -> digest hash -> temporary blob file.
    let tmp = store.tmp_path("commit");
    let file = File::create(&tmp).map_err(io_err("create", &tmp))?;
    let result = (|| {
        let compressed = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
        let gz = flate2::write::GzEncoder::new(compressed, flate2::Compression::fast());
        let tar_out = HashingWriter::new(gz);
        let (diff_id, _, gz) = write_layer_tar(&dir.join("upper"), tar_out)?.finish();
        let compressed = gz.finish().map_err(io_err("compress layer", &tmp))?;
        let (digest, size, mut file) = compressed.finish();
        file.flush().map_err(io_err("write", &tmp))?;
        store.commit_blob_file(&tmp, &digest)?;
        Ok::<_, CommitError>((diff_id, digest, size))
    })();
    let (diff_id, layer_digest, layer_size) = result.inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })?;
    progress.line(&format!(
        "layer {layer_digest} ({} bytes), diff_id {diff_id}",
        layer_size
    ));

    let mut config: serde_json::Value = serde_json::from_slice(&image.config_bytes)
        .map_err(|e| CommitError::Config(e.to_string()))?;
    let obj = config
        .as_object_mut()
        .ok_or_else(|| CommitError::Config("not an object".into()))?;
    let now = now_rfc3339();
    obj.insert("created".into(), now.clone().into());
    let rootfs = obj
        .entry("rootfs")
        .or_insert_with(|| serde_json::json!({"type": "layers", "diff_ids": []}));
    match rootfs.get_mut("diff_ids").and_then(|d| d.as_array_mut()) {
        Some(ids) => ids.push(diff_id.to_string().into()),
        None => rootfs["diff_ids"] = serde_json::json!([diff_id.to_string()]),
    }
    let mut entry = serde_json::json!({"created": now, "created_by": "berth image commit"});
    if let Some(m) = message {
        entry["comment"] = m.into();
    }
    match obj.get_mut("history").and_then(|h| h.as_array_mut()) {
        Some(h) => h.push(entry),
        None => {
            obj.insert("history".into(), serde_json::json!([entry]));
        }
    }
    let config_bytes = serde_json::to_vec(&config).expect("config serialises");
    let config_digest = store.put_blob(&config_bytes)?;

    // Always an OCI manifest; Docker media types of the base are translated.
    let mut layers: Vec<Descriptor> = image
        .manifest
        .layers
        .iter()
        .map(|l| {
            let mut l = l.clone();
            if l.media_type == DOCKER_LAYER_GZIP {
                l.media_type = OCI_LAYER_GZIP.into();
            }
            l
        })
        .collect();
    layers.push(Descriptor::new(OCI_LAYER_GZIP, layer_digest, layer_size));
    let config_mt = if image.manifest.config.media_type == DOCKER_CONFIG {
        OCI_CONFIG
    } else {
        image.manifest.config.media_type.as_str()
    };
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.into()),
        config: Descriptor::new(config_mt, config_digest.clone(), config_bytes.len() as u64),
        layers,
        annotations: None,
    };
    let manifest_bytes = serde_json::to_vec(&manifest).expect("manifest serialises");
    let manifest_digest = store.put_blob(&manifest_bytes)?;
    let new_config = manifest::ImageConfig::parse(&config_bytes, &config_digest)
        .map_err(|e| CommitError::Config(e.to_string()))?;
    // Unpack the new layer so bundles of the new image can use it at once.
    fetch_layers(store, None, &manifest, &new_config, progress)?;
    let mut desc = Descriptor::new(
        OCI_MANIFEST,
        manifest_digest.clone(),
        manifest_bytes.len() as u64,
    );
    desc.platform = store
        .list()?
        .into_iter()
        .find(|e| e.manifest.digest == base)
        .and_then(|e| e.manifest.platform);
    drop(_writer);
    store.set_ref(reference, &desc)?;
    Ok(manifest_digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn names(tar: &[u8]) -> Vec<String> {
        let mut a = tar::Archive::new(tar);
        a.entries()
            .unwrap()
            .map(|e| String::from_utf8_lossy(&e.unwrap().path_bytes()).into_owned())
            .collect()
    }

    #[test]
    fn rfc3339_shape() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20);
        assert!(t.starts_with("20") && t.ends_with('Z'), "{t}");
    }

    #[test]
    fn overlay_whiteouts_become_tar_whiteouts() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIP: needs root for whiteout devices and trusted xattrs");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let up = dir.path().join("upper");
        fs::create_dir_all(up.join("etc")).unwrap();
        fs::create_dir_all(up.join("var/cache")).unwrap();
        fs::write(up.join("etc/new"), "new file").unwrap();
        fs::hard_link(up.join("etc/new"), up.join("etc/new2")).unwrap();
        std::os::unix::fs::symlink("new", up.join("etc/link")).unwrap();
        nix::sys::stat::mknod(
            &up.join("etc/removed"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .unwrap();
        xattr::set(up.join("var/cache"), OVERLAY_OPAQUE_XATTR, b"y").unwrap();
        xattr::set(up.join("etc/new"), "user.note", b"hi").unwrap();
        let tar = write_layer_tar(&up, Vec::new()).unwrap();
        let n = names(&tar);
        assert_eq!(
            n,
            [
                "etc/",
                "etc/link",
                "etc/new",
                "etc/new2",
                "etc/.wh.removed",
                "var/",
                "var/cache/",
                "var/cache/.wh..wh..opq"
            ]
        );
        let mut a = tar::Archive::new(&tar[..]);
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let p = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            if p == "etc/new2" {
                assert_eq!(e.header().entry_type(), tar::EntryType::Link);
            }
            if p == "etc/new" {
                let pax: Vec<String> = e
                    .pax_extensions()
                    .unwrap()
                    .unwrap()
                    .map(|x| x.unwrap().key().unwrap().to_string())
                    .collect();
                assert_eq!(pax, ["SCHILY.xattr.user.note"]);
                let mut s = String::new();
                e.read_to_string(&mut s).unwrap();
                assert_eq!(s, "new file");
            }
        }
        // And back: unpacking the committed tar restores the overlay form.
        let back = dir.path().join("back");
        fs::create_dir(&back).unwrap();
        crate::unpack::unpack(&tar[..], &back).unwrap();
        let wh = fs::symlink_metadata(back.join("etc/removed")).unwrap();
        assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
        assert_eq!(
            xattr::get(back.join("var/cache"), OVERLAY_OPAQUE_XATTR)
                .unwrap()
                .as_deref(),
            Some(&b"y"[..])
        );
        assert_eq!(
            xattr::get(back.join("etc/new"), "user.note")
                .unwrap()
                .as_deref(),
            Some(&b"hi"[..])
        );
        assert_eq!(
            fs::metadata(back.join("etc/new")).unwrap().ino(),
            fs::metadata(back.join("etc/new2")).unwrap().ino()
        );
    }
}
