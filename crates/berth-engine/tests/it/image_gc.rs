//! `image rmi` and `image gc` while a container uses the image: the container's overlay has
//! the store's layer directories as its lower dirs, so neither may take them away before the
//! container is removed (as docker).

use crate::harness::*;

fn entries(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |rd| rd.count())
}

#[test]
fn gc_keeps_the_layers_of_a_container_whose_image_was_removed() {
    let w = World::new();
    let image = w.import();
    let id = w.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "keeper",
        image,
        "sleep",
        "1000",
    ]);
    let id = id.trim();

    // The image's last name is refused while a container uses it, naming the container.
    let o = w.out(&["rmi", image]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "rmi of a used image succeeded");
    assert!(
        err.contains("image is being used by container")
            && err.contains(&id[..12])
            && err.contains("keeper"),
        "{err}"
    );
    assert!(w.ok(&["ls"]).contains(image));
    // Forced, the name goes; the image's content stays for the container.
    assert!(w.ok(&["rmi", "-f", image]).contains(image));
    assert!(!w.ok(&["ls"]).contains(image));
    w.ok(&["gc"]);
    let layers = w.store.join("layers");
    assert_eq!(entries(&layers), 1, "gc removed the container's layer");
    // A file of the lower layer, never read before, through the container's overlay.
    let out = w.ok(&["exec", "keeper", "cat", "/var/www/index.html"]);
    assert_eq!(out, "hello from the image\n");

    // Stopped, it still holds its image.
    w.ok(&["stop", "-t", "1", "keeper"]);
    w.ok(&["gc"]);
    assert_eq!(
        entries(&layers),
        1,
        "gc removed a stopped container's layer"
    );

    // Removed, it lets go: the next gc frees everything.
    w.ok(&["rm", "keeper"]);
    let gc = w.ok(&["gc"]);
    assert!(gc.contains("and 1 layers"), "{gc}");
    assert_eq!(entries(&layers), 0);
    assert_eq!(entries(&w.store.join("blobs/sha256")), 0);
    assert_eq!(entries(&w.store.join("holds")), 0);
    w.assert_clean();
}
