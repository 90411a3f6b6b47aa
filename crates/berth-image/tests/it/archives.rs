//! docker-archive and OCI archive interop with skopeo, which writes docker-archives as
//! `docker save` does (a config, uncompressed layer tars, manifest.json, legacy files and a
//! symlinked layer.tar).

use crate::harness::*;
use std::process::Command;

#[test]
fn docker_archives_from_skopeo_import_and_export_both_ways() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !ready("docker_archives_from_skopeo_import_and_export_both_ways") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    build_busybox_image(w);
    let layout = format!("{}:bb", w.join("oci").display());
    let saved = w.join("saved.tar");
    skopeo_copy(
        &format!("oci:{layout}"),
        &format!("docker-archive:{}:example.com/test/bb:1", saved.display()),
        None,
    );
    let store = w.join("store");
    let s = store.to_str().unwrap();
    berth(&store, &["import", saved.to_str().unwrap()]).unwrap();
    // The image's config came through: a bundle gets its entrypoint and user.
    let b = w.join("bundle");
    berth(
        &store,
        &["bundle", "example.com/test/bb:1", b.to_str().unwrap()],
    )
    .unwrap();
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["process"]["args"][0], "/bin/sh");
    assert_eq!(config["process"]["user"]["uid"], 65534);
    // A name given on the command line wins over RepoTags.
    berth(
        &store,
        &["import", saved.to_str().unwrap(), "local/renamed:2"],
    )
    .unwrap();
    let listed = run(Command::new(berth_bin()).args(["image", "--store", s, "ls"]));
    assert!(listed.contains("docker.io/local/renamed:2"), "{listed}");

    // Export as docker-archive: skopeo reads it, and the layer is the uncompressed tar.
    let out = w.join("out.tar");
    berth(
        &store,
        &[
            "export",
            "--format",
            "docker-archive",
            "example.com/test/bb:1",
            out.to_str().unwrap(),
        ],
    )
    .unwrap();
    let inspect = run(Command::new("skopeo")
        .arg("inspect")
        .arg(format!("docker-archive:{}", out.display())));
    let inspect: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), 1);
    let names = run(Command::new("tar").arg("tf").arg(&out));
    assert!(
        names.contains("manifest.json") && names.contains("/layer.tar"),
        "{names}"
    );
    // and berth reads its own docker-archive back, into a fresh store.
    let store2 = w.join("store2");
    berth(&store2, &["import", out.to_str().unwrap()]).unwrap();
    let listed =
        run(Command::new(berth_bin()).args(["image", "--store", store2.to_str().unwrap(), "ls"]));
    assert!(listed.contains("example.com/test/bb:1"), "{listed}");

    // OCI archive out, skopeo in.
    let oci = w.join("oci.tar");
    berth(
        &store,
        &["export", "example.com/test/bb:1", oci.to_str().unwrap()],
    )
    .unwrap();
    skopeo_copy(
        &format!("oci-archive:{}", oci.display()),
        &format!("oci:{}:back", w.join("back").display()),
        None,
    );

    // Bad input is refused, naming the problem.
    std::fs::write(w.join("empty.tar"), [0u8; 1024]).unwrap();
    let err = berth(&store, &["import", w.join("empty.tar").to_str().unwrap()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("neither index.json"), "{err}");
    let err = berth(
        &store,
        &[
            "export",
            "--format",
            "zip",
            "example.com/test/bb:1",
            "x.tar",
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("--format") && err.contains("zip"), "{err}");
}
