//! `bundle REF DIR`: an OCI runtime bundle whose root filesystem is an
//! overlay of the image's shared layer directories.
//!
//! The bundle holds only `config.json`, an empty `rootfs/` mountpoint, and
//! the overlay's `upper/` and `work/` directories, so it costs kilobytes and
//! every bundle of an image shares the unpacked layers in the store.
//!
//! Nothing is mounted here. `config.json` carries the annotation
//! [`OVERLAY_ANNOTATION`] whose value is the complete overlayfs mount data
//! (`lowerdir=TOP:…:BOTTOM,upperdir=DIR/upper,workdir=DIR/work`, absolute
//! paths); the runtime mounts `overlay` with it on `root.path` inside the
//! container's own mount namespace before `pivot_root`, so the mount dies
//! with the container and never leaks onto the host. `berth image mount DIR`
//! does the same on the host for inspection.

use crate::manifest::ImageConfig;
use crate::progress::Progress;
use crate::pull::{fetch_layers, PullError};
use crate::store::{Image, Store, StoreError};
use oci_spec::runtime::{Process, Root, Spec, User};
use std::collections::HashMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Annotation holding the overlayfs mount data for the bundle's rootfs.
pub const OVERLAY_ANNOTATION: &str = "dev.berth.rootfs.overlay";
/// Annotation naming the image a bundle was made from (its manifest digest).
pub const IMAGE_DIGEST_ANNOTATION: &str = "dev.berth.image.digest";
/// Annotation with the image reference a bundle was made from.
pub const IMAGE_NAME_ANNOTATION: &str = "dev.berth.image.name";
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Layers(#[from] PullError),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} already holds a bundle (config.json exists)")]
    Exists(PathBuf),
    #[error("user `{user}`: {reason}")]
    User { user: String, reason: String },
    #[error("build runtime spec: {0}")]
    Spec(String),
    #[error("{path}: not a berth bundle: {reason}")]
    NotBundle { path: PathBuf, reason: String },
    #[error("{op} {path}: {source}")]
    Mount {
        op: &'static str,
        path: PathBuf,
        source: nix::Error,
    },
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> BundleError + 'a {
    move |source| BundleError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// The uid, gid and supplementary groups an image's `User` resolves to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub username: Option<String>,
    /// The passwd entry's home directory, when the user has an entry.
    pub home: Option<String>,
}

/// Resolves `user[:group]` (names or numbers) against the image's
/// `/etc/passwd` and `/etc/group` contents. A numeric uid without a group
/// takes the passwd entry's gid when there is one, else 0.
pub fn resolve_user(
    spec: &str,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ResolvedUser, BundleError> {
    let err = |reason: String| BundleError::User {
        user: spec.to_string(),
        reason,
    };
    let spec_t = spec.trim();
    if spec_t.is_empty() {
        let root = resolve_user("0", passwd, group)?;
        return Ok(ResolvedUser {
            username: Some("root".into()),
            ..root
        });
    }
    let (u, g) = match spec_t.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec_t, None),
    };
    // name:x:uid:gid:gecos:home:shell
    let passwd_entries: Vec<Vec<&str>> = passwd
        .unwrap_or("")
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 4)
        .collect();
    let group_entries: Vec<Vec<&str>> = group
        .unwrap_or("")
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 3)
        .collect();
    let home_of = |f: &Vec<&str>| f.get(5).filter(|h| !h.is_empty()).map(|h| h.to_string());
    let (uid, mut gid, username, home) = if let Ok(uid) = u.parse::<u32>() {
        let entry = passwd_entries
            .iter()
            .find(|f| f[2].parse::<u32>() == Ok(uid));
        (
            uid,
            entry.and_then(|f| f[3].parse().ok()).unwrap_or(0),
            entry.map(|f| f[0].to_string()),
            entry.and_then(home_of),
        )
    } else {
        let f = passwd_entries
            .iter()
            .find(|f| f[0] == u)
            .ok_or_else(|| err(format!("no user `{u}` in the image's /etc/passwd")))?;
        let uid = f[2]
            .parse()
            .map_err(|_| err(format!("bad uid in /etc/passwd entry for `{u}`")))?;
        (
            uid,
            f[3].parse()
                .map_err(|_| err(format!("bad gid in /etc/passwd entry for `{u}`")))?,
            Some(u.to_string()),
            home_of(f),
        )
    };
    if let Some(g) = g {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                let f = group_entries
                    .iter()
                    .find(|f| f[0] == g)
                    .ok_or_else(|| err(format!("no group `{g}` in the image's /etc/group")))?;
                f[2].parse()
                    .map_err(|_| err(format!("bad gid in /etc/group entry for `{g}`")))?
            }
        };
    }
    let mut additional_gids = Vec::new();
    if g.is_none() {
        if let Some(name) = &username {
            for f in &group_entries {
                let members = f.get(3).copied().unwrap_or("");
                if members.split(',').any(|m| m == name) {
                    if let Ok(n) = f[2].parse::<u32>() {
                        if n != gid && !additional_gids.contains(&n) {
                            additional_gids.push(n);
                        }
                    }
                }
            }
        }
    }
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
        username,
        home,
    })
}

/// The overlayfs mount data for layer dirs (top-most first) and a bundle dir.
pub fn overlay_data(lowers_top_first: &[PathBuf], bundle: &Path) -> String {
    let lower = lowers_top_first
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    format!(
        "lowerdir={lower},upperdir={},workdir={}",
        bundle.join("upper").display(),
        bundle.join("work").display()
    )
}

/// The lower dirs (top-most first) in overlayfs mount data made by [`overlay_data`].
pub fn overlay_lowers(data: &str) -> Vec<PathBuf> {
    data.split(',')
        .find_map(|o| o.strip_prefix("lowerdir="))
        .map(|l| l.split(':').map(PathBuf::from).collect())
        .unwrap_or_default()
}

/// The lower dirs named by the overlay annotation of the bundle in `dir`; none when it
/// has no readable `config.json` or no such annotation.
pub fn overlay_lowers_of(dir: &Path) -> Vec<PathBuf> {
    bundle_annotations(dir)
        .ok()
        .and_then(|a| a.get(OVERLAY_ANNOTATION).map(|d| overlay_lowers(d)))
        .unwrap_or_default()
}

/// The runtime spec for an image config: the default spec, with the image's
/// process, environment, working directory, user and labels.
pub fn runtime_spec(
    config: &ImageConfig,
    user: &ResolvedUser,
    annotations: HashMap<String, String>,
) -> Result<Spec, BundleError> {
    let run = config.config.clone().unwrap_or_default();
    let mut spec = Spec::default();
    let mut process = spec.process().clone().unwrap_or_else(Process::default);
    let mut args: Vec<String> = run.entrypoint.clone().unwrap_or_default();
    args.extend(run.cmd.clone().unwrap_or_default());
    if !args.is_empty() {
        process.set_args(Some(args));
    }
    let mut env = run.env.clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.to_string());
    }
    process.set_env(Some(env));
    process.set_cwd(PathBuf::from(
        run.working_dir
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into()),
    ));
    process.set_terminal(Some(false));
    let mut u = User::default();
    u.set_uid(user.uid);
    u.set_gid(user.gid);
    if !user.additional_gids.is_empty() {
        u.set_additional_gids(Some(user.additional_gids.clone()));
    }
    process.set_user(u);
    spec.set_process(Some(process));
    let mut root = Root::default();
    root.set_path(PathBuf::from("rootfs"));
    root.set_readonly(Some(false));
    spec.set_root(Some(root));
    spec.set_hostname(None);
    let mut all: HashMap<String, String> =
        run.labels.clone().unwrap_or_default().into_iter().collect();
    all.extend(annotations);
    spec.set_annotations(Some(all));
    Ok(spec)
}

/// Reads `path` as the image's layers (top-most first) show it: the first
/// layer having it wins; a whiteout or an opaque directory stops the search.
pub fn read_layered(layers_top_first: &[PathBuf], path: &str) -> Option<Vec<u8>> {
    let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    'layers: for layer in layers_top_first {
        let mut cur = layer.clone();
        let mut opaque = false;
        for (i, c) in comps.iter().enumerate() {
            cur.push(c);
            let meta = std::fs::symlink_metadata(&cur);
            match meta {
                Ok(m) if m.file_type().is_char_device() && m.rdev() == 0 => return None,
                Ok(m) if i + 1 == comps.len() => {
                    return if m.is_file() {
                        std::fs::read(&cur).ok()
                    } else {
                        None
                    }
                }
                Ok(m) if m.is_dir() => {
                    opaque |= xattr::get(&cur, crate::unpack::OVERLAY_OPAQUE_XATTR)
                        .ok()
                        .flatten()
                        .as_deref()
                        == Some(b"y");
                }
                Ok(_) => return None,
                Err(_) => {
                    if opaque {
                        return None;
                    }
                    continue 'layers;
                }
            }
        }
    }
    None
}

/// Writes a bundle for `image_ref` (an image in `store`) into `dir`, and registers it as
/// a hold on the image, so that `gc` keeps the layers its overlay uses for as long as `dir`
/// exists.
pub fn create_bundle(
    store: &Store,
    image_ref: &str,
    dir: &Path,
    progress: &Progress,
) -> Result<PathBuf, BundleError> {
    // Taken before the image is read: a gc (exclusive) can then not remove it between
    // here and the hold.
    let _writer = store.writer_lock()?;
    let entry = store.resolve(image_ref)?;
    let image = store.load_image(&entry.manifest.digest)?;
    // Layers removed by gc, or only imported as blobs, are unpacked now.
    fetch_layers(store, None, &image.manifest, &image.config, progress)?;
    std::fs::create_dir_all(dir).map_err(io("create bundle directory", dir))?;
    let dir = std::fs::canonicalize(dir).map_err(io("resolve", dir))?;
    if dir.join("config.json").exists() {
        return Err(BundleError::Exists(dir));
    }
    for sub in ["upper", "work", "rootfs"] {
        let p = dir.join(sub);
        std::fs::create_dir_all(&p).map_err(io("create", &p))?;
    }
    let mut lowers = layer_dirs(store, &image);
    if lowers.is_empty() {
        let p = dir.join("empty");
        std::fs::create_dir_all(&p).map_err(io("create", &p))?;
        lowers.push(p);
    }
    let user = match image.config.config.as_ref().and_then(|c| c.user.clone()) {
        Some(u) if !u.is_empty() => {
            let passwd = read_layered(&lowers, "etc/passwd")
                .map(|b| String::from_utf8_lossy(&b).into_owned());
            let group = read_layered(&lowers, "etc/group")
                .map(|b| String::from_utf8_lossy(&b).into_owned());
            resolve_user(&u, passwd.as_deref(), group.as_deref())?
        }
        _ => ResolvedUser::default(),
    };
    let annotations = HashMap::from([
        (OVERLAY_ANNOTATION.to_string(), overlay_data(&lowers, &dir)),
        (
            IMAGE_DIGEST_ANNOTATION.to_string(),
            image.manifest_digest.to_string(),
        ),
        (IMAGE_NAME_ANNOTATION.to_string(), entry.name.clone()),
    ]);
    let spec = runtime_spec(&image.config, &user, annotations)?;
    store.add_hold(
        &dir,
        &image.manifest_digest,
        &format!("bundle {}", dir.display()),
    )?;
    let path = dir.join("config.json");
    if let Err(e) = spec.save(&path) {
        let _ = store.release_hold(&dir);
        return Err(BundleError::Spec(e.to_string()));
    }
    Ok(dir)
}

/// The image's unpacked layer directories, top-most first.
pub fn layer_dirs(store: &Store, image: &Image) -> Vec<PathBuf> {
    image
        .config
        .rootfs
        .diff_ids
        .iter()
        .rev()
        .map(|d| store.layer_path(d))
        .collect()
}

/// Reads a bundle's config.json annotations.
pub fn bundle_annotations(dir: &Path) -> Result<HashMap<String, String>, BundleError> {
    let p = dir.join("config.json");
    let spec = Spec::load(&p).map_err(|e| BundleError::NotBundle {
        path: dir.into(),
        reason: e.to_string(),
    })?;
    Ok(spec.annotations().clone().unwrap_or_default())
}

/// Mounts the bundle's overlay on `DIR/rootfs` (host-side inspection).
pub fn mount(dir: &Path) -> Result<(), BundleError> {
    let ann = bundle_annotations(dir)?;
    let data = ann
        .get(OVERLAY_ANNOTATION)
        .ok_or_else(|| BundleError::NotBundle {
            path: dir.into(),
            reason: format!("no {OVERLAY_ANNOTATION} annotation"),
        })?;
    let target = dir.join("rootfs");
    nix::mount::mount(
        Some("overlay"),
        &target,
        Some("overlay"),
        nix::mount::MsFlags::empty(),
        Some(data.as_str()),
    )
    .map_err(|source| BundleError::Mount {
        op: "mount overlay on",
        path: target,
        source,
    })
}

pub fn umount(dir: &Path) -> Result<(), BundleError> {
    let target = dir.join("rootfs");
    nix::mount::umount2(&target, nix::mount::MntFlags::empty()).map_err(|source| {
        BundleError::Mount {
            op: "unmount",
            path: target,
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::RunConfig;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:34:www:/var/www:/bin/false\nalice:x:1000:1000::/home/alice:/bin/sh\n";
    const GROUP: &str =
        "root:x:0:\nwww-data:x:34:\nalice:x:1000:\nwheel:x:10:alice,bob\naudio:x:29:alice\n";

    fn r(spec: &str) -> ResolvedUser {
        resolve_user(spec, Some(PASSWD), Some(GROUP)).unwrap()
    }

    #[test]
    fn users_resolve_through_passwd_and_group() {
        assert_eq!((r("").uid, r("").gid), (0, 0));
        assert_eq!((r("www").uid, r("www").gid), (33, 34));
        assert_eq!(r("www").home.as_deref(), Some("/var/www"));
        assert_eq!(r("").home.as_deref(), Some("/root"));
        assert_eq!(r("4242").home, None);
        assert_eq!(r("alice").additional_gids, vec![10, 29]);
        assert_eq!(
            (r("alice:wheel").gid, r("alice:wheel").additional_gids.len()),
            (10, 0)
        );
        assert_eq!((r("33").uid, r("33").gid), (33, 34));
        assert_eq!((r("4242").uid, r("4242").gid), (4242, 0));
        assert_eq!((r("4242:77").uid, r("4242:77").gid), (4242, 77));
        assert_eq!(r("www:root").gid, 0);
        assert!(resolve_user("nobody", Some(PASSWD), Some(GROUP)).is_err());
        assert!(resolve_user("alice:nogroup", Some(PASSWD), Some(GROUP)).is_err());
        assert_eq!(resolve_user("1:2", None, None).unwrap().gid, 2);
    }

    #[test]
    fn spec_from_image_config() {
        let config = ImageConfig {
            config: Some(RunConfig {
                entrypoint: Some(vec!["/bin/app".into()]),
                cmd: Some(vec!["--flag".into()]),
                env: Some(vec!["A=1".into()]),
                working_dir: Some("/srv".into()),
                labels: Some([("org.example.k".to_string(), "v".to_string())].into()),
                user: None,
                ..Default::default()
            }),
            ..Default::default()
        };
        let user = ResolvedUser {
            uid: 5,
            gid: 6,
            additional_gids: vec![7],
            username: None,
            home: None,
        };
        let ann = HashMap::from([(OVERLAY_ANNOTATION.to_string(), "lowerdir=/a".to_string())]);
        let spec = runtime_spec(&config, &user, ann).unwrap();
        let p = spec.process().as_ref().unwrap();
        assert_eq!(
            p.args().as_ref().unwrap(),
            &vec!["/bin/app".to_string(), "--flag".into()]
        );
        assert_eq!(
            p.env().as_ref().unwrap(),
            &vec![DEFAULT_PATH.to_string(), "A=1".into()]
        );
        assert_eq!(p.cwd(), Path::new("/srv"));
        assert_eq!((p.user().uid(), p.user().gid()), (5, 6));
        assert_eq!(p.terminal(), Some(false));
        assert_eq!(spec.root().as_ref().unwrap().path(), Path::new("rootfs"));
        let a = spec.annotations().as_ref().unwrap();
        assert_eq!(a["org.example.k"], "v");
        assert_eq!(a[OVERLAY_ANNOTATION], "lowerdir=/a");
        assert!(
            spec.linux()
                .as_ref()
                .unwrap()
                .namespaces()
                .as_ref()
                .unwrap()
                .len()
                >= 4
        );
    }

    #[test]
    fn overlay_data_lists_top_layer_first() {
        let d = overlay_data(
            &[
                PathBuf::from("/s/layers/top"),
                PathBuf::from("/s/layers/base"),
            ],
            Path::new("/b"),
        );
        assert_eq!(
            d,
            "lowerdir=/s/layers/top:/s/layers/base,upperdir=/b/upper,workdir=/b/work"
        );
    }

    #[test]
    fn overlay_lowers_reads_back_overlay_data() {
        let lowers = [PathBuf::from("/s/layers/a"), PathBuf::from("/s/layers/b")];
        let d = overlay_data(&lowers, Path::new("/b"));
        assert_eq!(overlay_lowers(&d), lowers);
        assert!(overlay_lowers("upperdir=/u,workdir=/w").is_empty());
        let dir = tempfile::tempdir().unwrap();
        assert!(overlay_lowers_of(dir.path()).is_empty());
    }

    #[test]
    fn layered_read_honours_whiteouts() {
        let dir = tempfile::tempdir().unwrap();
        let (top, base) = (dir.path().join("top"), dir.path().join("base"));
        std::fs::create_dir_all(base.join("etc")).unwrap();
        std::fs::write(base.join("etc/passwd"), "base").unwrap();
        std::fs::write(base.join("etc/group"), "g").unwrap();
        std::fs::create_dir_all(top.join("etc")).unwrap();
        std::fs::write(top.join("etc/passwd"), "top").unwrap();
        let layers = [top.clone(), base.clone()];
        assert_eq!(read_layered(&layers, "etc/passwd").unwrap(), b"top");
        assert_eq!(read_layered(&layers, "/etc/group").unwrap(), b"g");
        assert!(read_layered(&layers, "etc/shadow").is_none());
        if nix::unistd::geteuid().is_root() {
            nix::sys::stat::mknod(
                &top.join("etc/group"),
                nix::sys::stat::SFlag::S_IFCHR,
                nix::sys::stat::Mode::empty(),
                0,
            )
            .unwrap();
            assert!(read_layered(&layers, "etc/group").is_none());
        }
    }
}
