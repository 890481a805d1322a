//! Offline ways in and out (#3): OCI layouts (directory and tar) and
//! `docker save` archives made by skopeo, a root filesystem directory, and
//! export — each gives the same root filesystem as a pull.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use hb_image::{layout, ImageRef, Platform, Quiet, Store};
use hb_test_support::{privileged, tree, Registries};

fn skopeo(args: &[&str]) {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo runs");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn flat(store: &Store, name: &str, dest: &Path) -> tree::Snapshot {
    let img = store
        .image(&store.find(name).expect("stored"))
        .expect("image");
    hb_image::unpack::flatten(&img.layers, dest).expect("flatten");
    tree::snapshot(dest)
}

#[tokio::test]
#[ignore = "privileged: root, the fixture registries and skopeo"]
async fn layouts_archives_and_directories_import_like_a_pull() {
    if !privileged(&["registry", "skopeo"]) {
        return;
    }
    let reg = Registries::from_env().expect("registries");
    let work = tempfile::tempdir().expect("tempdir");
    let w = work.path();
    let source = format!("docker://{}/layers:latest", reg.anon);
    let layout_dir = w.join("layout");
    skopeo(&[
        "copy",
        "-q",
        "--src-tls-verify=false",
        &source,
        &format!("oci:{}:layers", layout_dir.display()),
    ]);
    skopeo(&[
        "copy",
        "-q",
        "--src-tls-verify=false",
        &source,
        &format!("oci-archive:{}:layers", w.join("oci.tar").display()),
    ]);
    skopeo(&[
        "copy",
        "-q",
        "--src-tls-verify=false",
        &source,
        &format!(
            "docker-archive:{}:saved/layers:v1",
            w.join("docker.tar").display()
        ),
    ]);

    // The reference: a pull.
    let pulled_root = w.join("pulled");
    let image: ImageRef = format!("{}/layers:latest", reg.anon).parse().expect("ref");
    crate::puller(&pulled_root, None)
        .pull(&image, &Platform::host(), Arc::new(Quiet))
        .await
        .expect("pull");
    let want = flat(
        &Store::open(&pulled_root).expect("store"),
        &image.name(),
        &w.join("want"),
    );

    let host = Platform::host();
    let named: ImageRef = "localhost/imported:v1".parse().expect("ref");
    for (what, path, name) in [
        ("an OCI layout directory", layout_dir.clone(), Some(&named)),
        ("an OCI layout tar", w.join("oci.tar"), Some(&named)),
        ("a docker save tarball", w.join("docker.tar"), None),
    ] {
        let root = w.join(format!("store-{}", what.replace(' ', "-")));
        let store = Store::open(&root).expect("store");
        let records =
            layout::import(&store, &path, name, &host).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(records.len(), 1, "{what}");
        let got = flat(&store, &records[0].name, &root.join("flat"));
        let d = tree::diff(&got, &want);
        assert!(
            d.is_empty(),
            "{what} differs from the pull:\n{}",
            d.join("\n")
        );
    }
    let docker = Store::open(&w.join("store-a-docker-save-tarball")).expect("store");
    assert!(
        docker.find("docker.io/saved/layers:v1").is_ok(),
        "docker save keeps its RepoTags"
    );

    // An unnamed layout without --name is refused with the fix.
    let store = Store::open(&w.join("store-unnamed")).expect("store");
    let e = layout::import(&store, &layout_dir, None, &host)
        .expect_err("the layout names the image only by tag");
    assert!(e.to_string().contains("--name"), "{e}");

    // Export, then import the export: the same tree again.
    let pulled = Store::open(&pulled_root).expect("store");
    let out = w.join("export.tar");
    layout::export(&pulled, &pulled.find(&image.name()).expect("stored"), &out).expect("export");
    let again = Store::open(&w.join("store-reimport")).expect("store");
    let recs = layout::import(&again, &out, None, &host).expect("the export names itself");
    assert_eq!(recs[0].name, image.name());
    let d = tree::diff(&flat(&again, &recs[0].name, &w.join("reimported")), &want);
    assert!(d.is_empty(), "export → import differs:\n{}", d.join("\n"));

    // A root filesystem directory becomes a one-layer image of the same tree.
    let from_dir = Store::open(&w.join("store-dir")).expect("store");
    let rec = layout::import_dir(&from_dir, &w.join("want"), &named, &host).expect("from dir");
    let d = tree::diff(&flat(&from_dir, &rec.name, &w.join("from-dir")), &want);
    assert!(d.is_empty(), "--from-dir differs:\n{}", d.join("\n"));
}

#[tokio::test]
#[ignore = "privileged: root and the fixture registries"]
async fn prune_keeps_what_names_need() {
    if !privileged(&["registry"]) {
        return;
    }
    let reg = Registries::from_env().expect("registries");
    let root = tempfile::tempdir().expect("tempdir");
    let puller = crate::puller(root.path(), None);
    for tag in ["busybox:latest", "layers:latest"] {
        let image: ImageRef = format!("{}/{tag}", reg.anon).parse().expect("ref");
        puller
            .pull(&image, &Platform::host(), Arc::new(Quiet))
            .await
            .expect("pull");
    }
    let store = Store::open(root.path()).expect("store");
    assert_eq!(
        store.prune(&[]).expect("prune"),
        hb_image::store::Pruned::default(),
        "everything is needed"
    );
    let layers = store
        .find(&format!("{}/layers:latest", reg.anon))
        .expect("stored");
    store.forget(&layers.name).expect("forget");
    let kept = store
        .prune(std::slice::from_ref(&layers.manifest))
        .expect("prune");
    assert_eq!(kept.layers, 0, "a manifest in use keeps its layers");
    let p = store.prune(&[]).expect("prune");
    assert_eq!(p.layers, 3, "the three layers only layers:latest had");
    let busybox = store
        .find(&format!("{}/busybox:latest", reg.anon))
        .expect("still there");
    let img = store.image(&busybox).expect("busybox still reads");
    assert!(
        img.layers.iter().all(|l| l.is_dir()),
        "busybox's layer (shared with layers:latest) stays"
    );
}
