//! Pull, bundle, commit and push against real registries, and interop with
//! skopeo and umoci in both directions.

use crate::harness::*;
use berth_image::bundle::OVERLAY_ANNOTATION;
use berth_image::digest::Digest;
use berth_image::manifest::{Descriptor, Manifest, OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST};
use berth_image::registry::{Client, UploadStart};
use berth_image::store::Store;
use std::io::Write;
use std::process::Command;

fn store_is_clean(store: &std::path::Path) {
    let s = Store::open(store).unwrap();
    assert!(
        s.list().unwrap().is_empty(),
        "an image was left in the store"
    );
    assert_eq!(
        std::fs::read_dir(store.join("tmp")).unwrap().count(),
        0,
        "temporary files were left in the store"
    );
    assert_eq!(
        std::fs::read_dir(store.join("layers")).unwrap().count(),
        0,
        "a layer directory was left in the store"
    );
}

#[test]
fn skopeo_image_pulls_bundles_mounts_commits_and_pushes_back() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !ready("skopeo_image_pulls_bundles_mounts_commits_and_pushes_back") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let reg = Registry::start(None);
    let tree = build_busybox_image(w);
    skopeo_push(
        &format!("{}:bb", w.join("oci").display()),
        &format!("{}/test/busybox:1", reg.host()),
    );

    let store = w.join("store");
    let image = format!("{}/test/busybox:1", reg.host());
    assert_eq!(berth(&store, &["pull", &image]).unwrap(), 0);
    let s = Store::open(&store).unwrap();
    assert_eq!(s.list().unwrap().len(), 1);
    // Pulling again is a no-op that succeeds.
    assert_eq!(berth(&store, &["pull", &image]).unwrap(), 0);

    // Two bundles share the layers; each costs only its own small dirs.
    let b1 = w.join("bundle1");
    let b2 = w.join("bundle2");
    berth(&store, &["bundle", &image, b1.to_str().unwrap()]).unwrap();
    berth(&store, &["bundle", &image, b2.to_str().unwrap()]).unwrap();
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b1.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        config["process"]["args"],
        serde_json::json!(["/bin/sh", "-c", "id"])
    );
    assert_eq!(config["process"]["user"]["uid"], 65534);
    assert_eq!(config["process"]["user"]["gid"], 65534);
    assert_eq!(
        config["process"]["user"]["additionalGids"],
        serde_json::json!([50])
    );
    assert_eq!(config["process"]["cwd"], "/tmp");
    assert_eq!(config["process"]["terminal"], false);
    assert!(config["process"]["env"]
        .as_array()
        .unwrap()
        .contains(&"FOO=bar".into()));
    assert_eq!(config["root"]["path"], "rootfs");
    assert_eq!(config["annotations"]["org.example.test"], "yes");
    let data = config["annotations"][OVERLAY_ANNOTATION]
        .as_str()
        .unwrap()
        .to_string();
    let b1c = std::fs::canonicalize(&b1).unwrap();
    assert!(
        data.starts_with("lowerdir=/")
            && data.ends_with(&format!(
                "upperdir={0}/upper,workdir={0}/work",
                b1c.display()
            )),
        "{data}"
    );
    let config2: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b2.join("config.json")).unwrap()).unwrap();
    let lower = |c: &serde_json::Value| {
        c["annotations"][OVERLAY_ANNOTATION]
            .as_str()
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(lower(&config), lower(&config2));
    assert_eq!(std::fs::read_dir(b1.join("rootfs")).unwrap().count(), 0);

    // Mount the annotation's data by hand in a private mount namespace.
    let script = format!("mount -t overlay overlay -o '{data}' '{0}/rootfs' && ls '{0}/rootfs/bin' && cat '{0}/rootfs/etc/passwd'", b1.display());
    let out =
        run(Command::new("unshare").args(["-m", "--propagation", "private", "sh", "-c", &script]));
    assert!(
        out.contains("busybox") && out.contains("nobody:x:65534"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_dir(b1.join("rootfs")).unwrap().count(),
        0,
        "the mount leaked out of the namespace"
    );

    // A change in the upper dir, committed and pushed, reaches skopeo.
    write_file(&b1.join("upper/hello.txt"), "hello from berth\n");
    let committed = format!("{}/test/busybox:committed", reg.host());
    berth(&store, &["commit", b1.to_str().unwrap(), &committed]).unwrap();
    berth(&store, &["push", &committed]).unwrap();
    let back = w.join("back");
    skopeo_pull(&committed, &format!("{}:c", back.display()));
    let unpacked = w.join("unpacked");
    run(Command::new("umoci")
        .args(["unpack", "--image", &format!("{}:c", back.display())])
        .arg(&unpacked));
    assert_eq!(
        std::fs::read_to_string(unpacked.join("rootfs/hello.txt")).unwrap(),
        "hello from berth\n"
    );
    let mut got = tree_listing(&unpacked.join("rootfs"));
    got.retain(|l| !l.starts_with("hello.txt"));
    let want = tree_listing(&tree.join("rootfs"));
    assert_eq!(
        got, want,
        "the tree skopeo+umoci see differs from the image's"
    );

    // Pushing the same image under another repository mounts its blobs.
    berth(
        &store,
        &["tag", &committed, &format!("{}/other/copy:1", reg.host())],
    )
    .unwrap();
    berth(&store, &["push", &format!("{}/other/copy:1", reg.host())]).unwrap();
    skopeo_pull(
        &format!("{}/other/copy:1", reg.host()),
        &format!("{}:copy", back.display()),
    );

    // Chunked upload, pulled back by a fresh store.
    let chunked = format!("{}/test/chunked:1", reg.host());
    berth(&store, &["tag", &committed, &chunked]).unwrap();
    berth(&store, &["push", "--chunk-size", "65536", &chunked]).unwrap();
    let store2 = w.join("store2");
    berth(&store2, &["pull", &chunked]).unwrap();

    // Export / import round trip, then gc keeps what is referenced: names, and the
    // bundles made from an image, named or not.
    let archive = w.join("image.tar");
    berth(&store, &["export", &committed, archive.to_str().unwrap()]).unwrap();
    let store3 = w.join("store3");
    berth(&store3, &["import", archive.to_str().unwrap()]).unwrap();
    berth(
        &store3,
        &["bundle", &committed, w.join("b3").to_str().unwrap()],
    )
    .unwrap();
    // The last name of an image that bundles use is refused, naming them, unless forced.
    let refused = berth(&store, &["rmi", &image]).unwrap_err().to_string();
    assert!(
        refused.contains("image is being used by bundle")
            && refused.contains(&b1c.display().to_string()),
        "{refused}"
    );
    berth(&store, &["rmi", "-f", &image]).unwrap();
    berth(&store, &["rmi", &chunked]).unwrap();
    berth(&store, &["rmi", &format!("{}/other/copy:1", reg.host())]).unwrap();
    berth(&store, &["gc"]).unwrap();
    assert_eq!(s.list().unwrap().len(), 1);
    // The untagged image's layers stayed for its bundles: b2's overlay still mounts.
    let data2 = config2["annotations"][OVERLAY_ANNOTATION].as_str().unwrap();
    let script = format!(
        "mount -t overlay overlay -o '{data2}' '{0}/rootfs' && cat '{0}/rootfs/etc/passwd'",
        b2.display()
    );
    let out =
        run(Command::new("unshare").args(["-m", "--propagation", "private", "sh", "-c", &script]));
    assert!(out.contains("nobody:x:65534"), "{out}");
    let b4 = w.join("b4");
    berth(&store, &["bundle", &committed, b4.to_str().unwrap()]).unwrap();
    berth(&store, &["rmi", "-f", &committed]).unwrap();
    berth(&store, &["gc"]).unwrap();
    assert!(
        std::fs::read_dir(store.join("layers")).unwrap().count() > 0,
        "gc removed the layers of existing bundles"
    );
    // Deleted bundles release their images at the next gc.
    for b in [&b1, &b2, &b4] {
        std::fs::remove_dir_all(b).unwrap();
    }
    berth(&store, &["gc"]).unwrap();
    assert_eq!(
        std::fs::read_dir(store.join("blobs/sha256"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(std::fs::read_dir(store.join("layers")).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(store.join("holds")).unwrap().count(), 0);
}

#[test]
fn corrupted_blob_fails_with_digest_error_and_leaves_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !ready("corrupted_blob_fails_with_digest_error_and_leaves_nothing") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let reg = Registry::start(None);
    build_busybox_image(w);
    let image = format!("{}/test/corrupt:1", reg.host());
    skopeo_push(&format!("{}:bb", w.join("oci").display()), &image);
    // Find the layer and flip a byte in the registry's copy.
    let c = Client::new(&reg.host(), false, None);
    let (bytes, _, _) = c.get_manifest("test/corrupt", "1").unwrap();
    let m: Manifest = serde_json::from_slice(&bytes).unwrap();
    let layer = &m.layers[0].digest;
    let f = reg.blob_file(layer.hex());
    let mut data = std::fs::read(&f).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    std::fs::write(&f, &data).unwrap();

    let store = w.join("store");
    let err = berth(&store, &["pull", &image]).unwrap_err().to_string();
    assert!(
        err.contains("digest mismatch") && err.contains(&layer.to_string()),
        "{err}"
    );
    store_is_clean(&store);
    assert!(!Store::open(&store).unwrap().has_blob(layer));
}

/// A gzip layer of a tar with a `../` entry.
fn evil_layer() -> (Vec<u8>, Digest) {
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..12].copy_from_slice(b"../escape.sh");
    h.set_mode(0o755);
    h.set_size(3);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    tar.append(&h, &b"hi\n"[..]).unwrap();
    let tar = tar.into_inner().unwrap();
    let diff_id = Digest::of(&tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    (gz.finish().unwrap(), diff_id)
}

fn upload(c: &Client, repo: &str, bytes: &[u8]) -> Digest {
    let digest = Digest::of(bytes);
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), bytes).unwrap();
    let UploadStart::Session(loc) = c.start_upload(repo, None).unwrap() else {
        panic!("no session")
    };
    c.upload(repo, loc, &digest, tmp.as_file(), bytes.len() as u64, None)
        .unwrap();
    digest
}

#[test]
fn malicious_layer_is_refused_and_leaves_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !ready("malicious_layer_is_refused_and_leaves_nothing") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let reg = Registry::start(None);
    let c = Client::new(&reg.host(), false, None);
    let (layer, diff_id) = evil_layer();
    let layer_digest = upload(&c, "evil/img", &layer);
    let config = serde_json::json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]}});
    let config = serde_json::to_vec(&config).unwrap();
    let config_digest = upload(&c, "evil/img", &config);
    let m = Manifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.into()),
        config: Descriptor::new(OCI_CONFIG, config_digest, config.len() as u64),
        layers: vec![Descriptor::new(
            OCI_LAYER_GZIP,
            layer_digest,
            layer.len() as u64,
        )],
        annotations: None,
    };
    c.put_manifest(
        "evil/img",
        "1",
        OCI_MANIFEST,
        &serde_json::to_vec(&m).unwrap(),
    )
    .unwrap();

    let store = w.join("sub/store");
    let err = berth(&store, &["pull", &format!("{}/evil/img:1", reg.host())])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("../escape.sh") && err.contains("refusing"),
        "{err}"
    );
    assert!(
        !w.join("sub/escape.sh").exists()
            && !store.join("escape.sh").exists()
            && !store.join("tmp/escape.sh").exists()
    );
    store_is_clean(&store);
}

#[test]
fn htpasswd_registry_login_push_pull_and_wrong_password() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !ready("htpasswd_registry_login_push_pull_and_wrong_password") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let auth_file = w.join("auth.json");
    let _env = EnvGuard::set("REGISTRY_AUTH_FILE", &auth_file);
    let open = Registry::start(None);
    let secured = Registry::start_htpasswd("alice", "s3cret");
    build_busybox_image(w);
    let src = format!("{}/test/bb:1", open.host());
    skopeo_push(&format!("{}:bb", w.join("oci").display()), &src);
    let store = w.join("store");
    berth(&store, &["pull", &src]).unwrap();
    let dst = format!("{}/private/bb:1", secured.host());
    berth(&store, &["tag", &src, &dst]).unwrap();

    let err = berth(&store, &["push", &dst]).unwrap_err().to_string();
    assert!(
        err.contains("authentication failed") && err.contains("berth image login"),
        "{err}"
    );

    let wrong = Client::new(
        &secured.host(),
        false,
        Some(berth_image::auth::Credentials {
            username: "alice".into(),
            password: "nope".into(),
        }),
    );
    let err = wrong.ping().unwrap_err().to_string();
    assert!(err.contains("wrong username or password"), "{err}");
    assert!(!auth_file.exists());

    // `login` reads the password from stdin: feed it through a pipe.
    let out = Command::new(std::env::current_exe().unwrap())
        .env(
            "BERTH_TEST_LOGIN",
            format!("{}|alice|s3cret|{}", secured.host(), store.display()),
        )
        .args(["--exact", "registry_flows::login_helper", "--nocapture"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let saved = berth_image::auth::AuthFile::load(&auth_file)
        .unwrap()
        .get(&secured.host())
        .unwrap()
        .unwrap();
    assert_eq!(saved.password, "s3cret");

    berth(&store, &["push", &dst]).unwrap();
    let store2 = w.join("store2");
    berth(&store2, &["pull", &dst]).unwrap();
    berth(&store2, &["logout", &secured.host()]).unwrap();
    let err = berth(&w.join("store3"), &["pull", &dst])
        .unwrap_err()
        .to_string();
    assert!(err.contains("authentication failed"), "{err}");
}

/// Runs `login --password-stdin` with a piped password (driven by the test above).
#[test]
fn login_helper() {
    let Ok(spec) = std::env::var("BERTH_TEST_LOGIN") else {
        return;
    };
    let parts: Vec<&str> = spec.split('|').collect();
    // Replace stdin with a pipe holding the password.
    let (r, wfd) = nix::unistd::pipe().unwrap();
    let mut wf = std::fs::File::from(wfd);
    wf.write_all(format!("{}\n", parts[2]).as_bytes()).unwrap();
    drop(wf);
    nix::unistd::dup2_stdin(&r).unwrap();
    let code = berth(
        std::path::Path::new(parts[3]),
        &[
            "login",
            parts[0],
            "--username",
            parts[1],
            "--password-stdin",
        ],
    )
    .unwrap();
    assert_eq!(code, 0);
}
