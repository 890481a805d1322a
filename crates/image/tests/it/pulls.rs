//! Pulls from the real fixture registries (Debian's docker-registry), images
//! made by umoci/skopeo/debootstrap (`tests/fixtures/images.sh`) (#3).

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use hb_image::unpack::Stats;
use hb_image::{Error, ImageRef, Platform, Progress, Quiet, Store};
use hb_test_support::{privileged, tree, Registries};
use oci_spec::image::Digest;

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// umoci's view of an image: skopeo copies it into an OCI layout, umoci unpacks it.
fn umoci_rootfs(reference: &str, work: &Path) -> std::path::PathBuf {
    let layout = work.join("layout");
    // umoci reads gzip layers only: skopeo recompresses the zstd variant on the way.
    run(Command::new("skopeo")
        .args([
            "copy",
            "-q",
            "--src-tls-verify=false",
            "--dest-compress-format",
            "gzip",
            &format!("docker://{reference}"),
        ])
        .arg(format!("oci:{}:img", layout.display())));
    let bundle = work.join("bundle");
    run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:img", layout.display()))
        .arg(&bundle));
    bundle.join("rootfs")
}

/// The kernel's view of hb's layers: an overlay mount of them, read through.
struct Overlay {
    mnt: std::path::PathBuf,
}

impl Overlay {
    fn mount(layers: &[std::path::PathBuf], work: &Path) -> Overlay {
        let (upper, wk, mnt) = (work.join("upper"), work.join("work"), work.join("merged"));
        for d in [&upper, &wk, &mnt] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        let lower: Vec<String> = layers
            .iter()
            .rev()
            .map(|p| p.display().to_string())
            .collect();
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.join(":"),
            upper.display(),
            wk.display()
        );
        run(Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &opts])
            .arg(&mnt));
        Overlay { mnt }
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mnt).status();
    }
}

async fn pull(
    store_root: &Path,
    reference: &str,
    platform: &Platform,
    docker_config: Option<&Path>,
) -> Result<hb_image::ImageRecord, Error> {
    let image: ImageRef = reference.parse().expect("reference");
    crate::puller(store_root, docker_config)
        .pull(&image, platform, Arc::new(Quiet))
        .await
}

/// Pulls an image into a store in `root` and flattens it into `root/flat`.
async fn pull_flat(
    root: &Path,
    reference: &str,
    platform: &Platform,
) -> (hb_image::ImageRecord, std::path::PathBuf) {
    let rec = pull(root, reference, platform, None)
        .await
        .unwrap_or_else(|e| panic!("{reference}: {e}"));
    let img = Store::open(root)
        .expect("store")
        .image(&rec)
        .expect("image");
    let flat = root.join("flat");
    hb_image::unpack::flatten(&img.layers, &flat).expect("flatten");
    (rec, flat)
}

#[tokio::test]
#[ignore = "privileged: root, overlayfs, the fixture registries, skopeo and umoci"]
async fn every_fixture_unpacks_as_umoci_does() {
    if !privileged(&["registry", "skopeo", "umoci"]) {
        return;
    }
    let reg = Registries::from_env().expect("registries");
    let root = tempfile::tempdir().expect("tempdir");
    let mut tags = vec![
        "busybox:latest",
        "busybox:v2s2",
        "busybox:zstd",
        "busybox-cfg:latest",
        "layers:latest",
        "multi:latest",
        "multi:v2s2",
    ];
    let has_debian = Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            &format!("docker://{}/debian-python:bookworm", reg.anon),
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if has_debian {
        tags.push("debian-python:bookworm");
    }
    for tag in tags {
        let reference = format!("{}/{tag}", reg.anon);
        let rec = pull(root.path(), &reference, &Platform::host(), None)
            .await
            .unwrap_or_else(|e| panic!("{tag}: {e}"));
        let store = Store::open(root.path()).expect("store");
        let img = store.image(&rec).expect("image");
        let work = tempfile::tempdir().expect("tempdir");
        let theirs = tree::snapshot(&umoci_rootfs(&reference, work.path()));
        let overlay = Overlay::mount(&img.layers, work.path());
        let ours = tree::snapshot(&overlay.mnt);
        let d = tree::diff(&ours, &theirs);
        assert!(
            d.is_empty(),
            "{tag}: the overlay of hb's layers differs from umoci's rootfs:\n{}",
            d.join("\n")
        );
        drop(overlay);
        let flat = work.path().join("flat");
        hb_image::unpack::flatten(&img.layers, &flat).expect("flatten");
        let d = tree::diff(&tree::snapshot(&flat), &theirs);
        assert!(
            d.is_empty(),
            "{tag}: hb image unpack differs from umoci's rootfs:\n{}",
            d.join("\n")
        );
    }
}

#[tokio::test]
#[ignore = "privileged: root and the fixture registries"]
async fn the_opaque_marker_masks_lower_layers_only() {
    if !privileged(&["registry"]) {
        return;
    }
    let reg = Registries::from_env().expect("registries");
    let root = tempfile::tempdir().expect("tempdir");
    let (_, flat) = pull_flat(
        root.path(),
        &format!("{}/layers:latest", reg.anon),
        &Platform::host(),
    )
    .await;
    assert_eq!(
        std::fs::read_to_string(flat.join("opq/new.txt")).expect("new.txt survives"),
        "new\n"
    );
    assert!(
        !flat.join("opq/old1.txt").exists() && !flat.join("opq/sub").exists(),
        "lower content is hidden"
    );
    assert!(
        !flat.join("data/gone.txt").exists() && !flat.join("data/gonedir").exists(),
        "whiteouts delete"
    );
    assert!(!flat.join("links/sym").exists(), "umoci's whiteout deletes");
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(flat.join("perm/secret")).expect("perm");
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o777), (1000, 1000, 0o640));
    assert_eq!(
        std::fs::metadata(flat.join("links/target.txt"))
            .expect("target")
            .mode()
            & 0o7777,
        0o4755,
        "setuid kept"
    );
    assert_eq!(
        std::fs::metadata(flat.join("links/hard"))
            .expect("hard")
            .nlink(),
        2,
        "hard link kept"
    );
}

#[tokio::test]
#[ignore = "privileged: root and the fixture registries"]
async fn the_platform_picks_the_manifest() {
    if !privileged(&["registry"]) {
        return;
    }
    let reg = Registries::from_env().expect("registries");
    for tag in ["multi:latest", "multi:v2s2"] {
        for (platform, marker) in [
            ("linux/amd64", "amd64"),
            ("linux/arm64", "arm64"),
            ("linux/arm64/v8", "arm64"),
        ] {
            let root = tempfile::tempdir().expect("tempdir");
            let (rec, flat) = pull_flat(
                root.path(),
                &format!("{}/{tag}", reg.anon),
                &platform.parse().expect("platform"),
            )
            .await;
            assert_eq!(
                std::fs::read_to_string(flat.join("etc/hb-arch"))
                    .expect("marker")
                    .trim(),
                marker,
                "{tag} {platform}"
            );
            assert!(rec.index.is_some(), "the index digest is recorded");
        }
        let root = tempfile::tempdir().expect("tempdir");
        let e = pull(
            root.path(),
            &format!("{}/{tag}", reg.anon),
            &"linux/s390x".parse().expect("platform"),
            None,
        )
        .await
        .expect_err("no s390x");
        let msg = e.to_string();
        assert!(
            msg.contains("linux/amd64") && msg.contains("linux/arm64/v8"),
            "{msg}"
        );
    }
}

fn docker_config(dir: &Path, host: &str, user: &str, password: &str) -> std::path::PathBuf {
    let path = dir.join("config.json");
    hb_image::auth::store(
        &path,
        host,
        &hb_image::auth::Credential {
            username: user.into(),
            secret: password.into(),
        },
    )
    .expect("store creds");
    path
}

#[tokio::test]
#[ignore = "privileged: root and the fixture registries"]
async fn basic_auth_and_bearer_tokens() {
    if !privileged(&["registry"]) {
        return;
    }
    let reg = Registries::from_env().expect("registries");
    let host = Platform::host();
    let creds = tempfile::tempdir().expect("tempdir");
    let good = docker_config(creds.path(), &reg.basic, &reg.user, &reg.password);
    let root = tempfile::tempdir().expect("tempdir");
    pull(
        root.path(),
        &format!("{}/busybox", reg.basic),
        &host,
        Some(&good),
    )
    .await
    .expect("basic auth with the right password");
    let e = pull(root.path(), &format!("{}/busybox", reg.basic), &host, None)
        .await
        .expect_err("no credentials");
    assert!(
        e.to_string().contains(&format!("hb login {}", reg.basic)),
        "{e}"
    );
    let wrong_dir = tempfile::tempdir().expect("tempdir");
    let wrong = docker_config(wrong_dir.path(), &reg.basic, &reg.user, "wrong");
    let e = pull(
        root.path(),
        &format!("{}/busybox", reg.basic),
        &host,
        Some(&wrong),
    )
    .await
    .expect_err("wrong password");
    assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");

    // Bearer tokens: anonymous pulls of public/*, credentials for private/*.
    pull(
        root.path(),
        &format!("{}/public/busybox", reg.token),
        &host,
        None,
    )
    .await
    .expect("anonymous token for public/");
    let e = pull(
        root.path(),
        &format!("{}/private/busybox", reg.token),
        &host,
        None,
    )
    .await
    .expect_err("private needs a login");
    assert!(
        matches!(e, Error::Unauthorized { .. } | Error::Denied { .. }),
        "{e:?}"
    );
    let token_creds = tempfile::tempdir().expect("tempdir");
    let cfg = docker_config(token_creds.path(), &reg.token, &reg.user, &reg.password);
    pull(
        root.path(),
        &format!("{}/private/busybox", reg.token),
        &host,
        Some(&cfg),
    )
    .await
    .expect("token for the user");
    let bad_dir = tempfile::tempdir().expect("tempdir");
    let bad = docker_config(bad_dir.path(), &reg.token, &reg.user, "nope");
    let e = pull(
        root.path(),
        &format!("{}/private/busybox", reg.token),
        &host,
        Some(&bad),
    )
    .await
    .expect_err("wrong password");
    assert!(
        e.to_string().contains("refused the stored credentials"),
        "{e}"
    );
}

/// Counts the layers a pull actually unpacked.
#[derive(Default)]
struct Count(AtomicUsize);
impl Progress for Count {
    fn layer_done(&self, _layer: &Digest, _stats: Stats) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
#[ignore = "privileged: root and the fixture registries"]
async fn concurrent_pulls_unpack_each_layer_once() {
    if !privileged(&["registry"]) {
        return;
    }
    let reg = Registries::from_env().expect("registries");
    let root = tempfile::tempdir().expect("tempdir");
    let puller = crate::puller(root.path(), None);
    let count = Arc::new(Count::default());
    let image: ImageRef = format!("{}/layers:latest", reg.anon).parse().expect("ref");
    let host = Platform::host();
    let pulls = (0..4).map(|_| {
        let p = puller.clone();
        let (image, host, count) = (image.clone(), host.clone(), count.clone());
        tokio::spawn(async move { p.pull(&image, &host, count).await })
    });
    for r in futures_util::future::join_all(pulls).await {
        r.expect("joined").expect("pulled");
    }
    assert_eq!(
        count.0.load(Ordering::SeqCst),
        4,
        "layers:latest has 4 layers, each unpacked once across four pulls"
    );
}

#[tokio::test]
#[ignore = "privileged: root and the fixture registries"]
async fn a_mirror_serves_the_pull() {
    if !privileged(&["registry"]) {
        return;
    }
    let reg = Registries::from_env().expect("registries");
    // The "upstream" is a loopback address nothing listens on: the pull can only
    // succeed through the mirror, and no traffic leaves the machine either way.
    let upstream = "127.0.0.2:1";
    let config: hb_image::auth::RegistryConfig = toml::from_str(&format!(
        "[[registry]]\nhost = \"{upstream}\"\nmirrors = [\"{}\"]\n",
        reg.anon
    ))
    .expect("toml");
    let root = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open(root.path()).expect("store"));
    let client =
        Arc::new(hb_image::registry::Client::new(config, None, crate::retry()).expect("client"));
    let puller = hb_image::Puller {
        client,
        store,
        retry: crate::retry(),
    };
    let image: ImageRef = format!("{upstream}/busybox:latest").parse().expect("ref");
    let rec = puller
        .pull(&image, &Platform::host(), Arc::new(Quiet))
        .await
        .expect("pulled from the mirror");
    assert_eq!(
        rec.name,
        format!("{upstream}/busybox:latest"),
        "stored under the name asked for"
    );
}
