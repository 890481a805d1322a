//! A registry that lies or breaks: every pull ends in a verified image or a
//! clear error, and never leaves a corrupt blob or a half-unpacked layer (#3).

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use hb_image::{Error, ImageRef, Platform, Quiet};
use hb_test_support::fake_registry::{digest, Content, FakeRegistry, Fault};

/// A gzip layer of a few files, and its diff-id.
fn layer() -> (Vec<u8>, String) {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, body) in [
        ("hello.txt", b"hello\n".to_vec()),
        ("big.bin", vec![7u8; 300_000]),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, &body[..]).expect("append");
    }
    let raw = tar.into_inner().expect("tar");
    let diff_id = digest(&raw);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
    gz.write_all(&raw).expect("gzip");
    (gz.finish().expect("gzip"), diff_id)
}

fn nothing_half_done(root: &std::path::Path) {
    let tmp: Vec<_> = std::fs::read_dir(root.join("tmp")).expect("tmp").collect();
    assert!(tmp.is_empty(), "temporary files left: {tmp:?}");
}

async fn pull(
    fault: Fault,
) -> (
    tempfile::TempDir,
    Result<hb_image::ImageRecord, Error>,
    usize,
) {
    let (layer, diff_id) = layer();
    let fake = FakeRegistry::start(Content::single_layer("v1", layer, &diff_id), fault).await;
    let root = tempfile::tempdir().expect("tempdir");
    let puller = crate::puller(root.path(), None);
    let image: ImageRef = format!("{}/fake:v1", fake.addr).parse().expect("ref");
    let result = puller
        .pull(&image, &Platform::host(), Arc::new(Quiet))
        .await;
    let requests = fake.blob_requests.load(Ordering::SeqCst);
    (root, result, requests)
}

#[tokio::test]
async fn a_wrong_digest_is_refused_and_nothing_is_stored() {
    let (root, r, _) = pull(Fault::WrongDigest).await;
    match r {
        Err(Error::DigestMismatch {
            expected, actual, ..
        }) => assert_ne!(expected, actual),
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
    let layers: Vec<_> = std::fs::read_dir(root.path().join("layers/sha256"))
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .collect();
    assert!(layers.is_empty(), "a layer was kept: {layers:?}");
    let blobs: Vec<_> = std::fs::read_dir(root.path().join("blobs/sha256"))
        .expect("dir")
        .collect();
    assert_eq!(
        blobs.len(),
        2,
        "only the manifest and the config are stored"
    );
    nothing_half_done(root.path());
}

#[tokio::test]
async fn a_truncated_blob_is_resumed_with_a_range_request() {
    let (root, r, requests) = pull(Fault::TruncateOnce).await;
    let rec = r.expect("the pull recovers");
    assert!(requests >= 2, "the blob was asked for again");
    let store = hb_image::Store::open(root.path()).expect("store");
    let img = store.image(&rec).expect("image");
    assert_eq!(
        std::fs::read(img.layers[0].join("hello.txt")).expect("unpacked"),
        b"hello\n"
    );
    nothing_half_done(root.path());
}

#[tokio::test]
async fn a_blob_that_always_breaks_ends_in_a_clear_error() {
    let (root, r, requests) = pull(Fault::TruncateAlways).await;
    let e = r.expect_err("never completes");
    assert!(
        matches!(e, Error::Network { .. } | Error::SizeMismatch { .. }),
        "{e:?}"
    );
    assert!(requests >= 4, "it retried: {requests}");
    nothing_half_done(root.path());
}

#[tokio::test]
async fn server_errors_are_retried() {
    let (_root, r, requests) = pull(Fault::ServerErrors(2)).await;
    r.expect("succeeds after two 500s");
    assert_eq!(requests, 3);
    let (_root, r, _) = pull(Fault::ServerErrors(100)).await;
    let e = r.expect_err("gives up");
    assert!(e.to_string().contains("500"), "{e}");
}

#[tokio::test]
async fn a_connection_reset_mid_blob_is_resumed() {
    let (root, r, requests) = pull(Fault::ResetOnce).await;
    r.expect("the pull recovers");
    assert!(requests >= 2);
    nothing_half_done(root.path());
}

#[tokio::test]
async fn a_missing_image_says_check_the_name() {
    let (layer, diff_id) = layer();
    let fake = FakeRegistry::start(Content::single_layer("v1", layer, &diff_id), Fault::None).await;
    let root = tempfile::tempdir().expect("tempdir");
    let image: ImageRef = format!("{}/fake:nope", fake.addr).parse().expect("ref");
    let e = crate::puller(root.path(), None)
        .pull(&image, &Platform::host(), Arc::new(Quiet))
        .await
        .expect_err("404");
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    assert!(e.to_string().contains("check the name and the tag"), "{e}");
}

#[tokio::test]
async fn an_unreachable_registry_is_a_network_error() {
    let root = tempfile::tempdir().expect("tempdir");
    // A port nothing listens on: bind, note the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let image: ImageRef = format!("127.0.0.1:{port}/x:y").parse().expect("ref");
    let e = crate::puller(root.path(), None)
        .pull(&image, &Platform::host(), Arc::new(Quiet))
        .await
        .expect_err("refused");
    assert!(e.to_string().contains("cannot reach"), "{e}");
}
