//! Offline ways in and out: an OCI image layout (a directory or a tar of
//! one, image-spec `image-layout.md`), a `docker save` tarball, a plain root
//! filesystem directory; and export to an OCI layout tar. These make air-gapped
//! use and the offline demo possible.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use oci_spec::image::{Digest, ImageIndex, ImageManifest};
use serde::Deserialize;

use crate::config::ImageConfig;
use crate::ingest::{ingest_layer, Expected};
use crate::pull::{select_platform, Platform};
use crate::reference::ImageRef;
use crate::registry::sha256_digest;
use crate::store::{ImageRecord, Store};
use crate::{Error, Result};

const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Where an archive's content is: a directory (as given, or a tar unpacked into a temporary one).
struct Source {
    dir: PathBuf,
    _tmp: Option<TempDir>,
}

/// A directory removed when dropped.
struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn open_source(store: &Store, path: &Path) -> Result<Source> {
    if path.is_dir() {
        return Ok(Source {
            dir: path.to_path_buf(),
            _tmp: None,
        });
    }
    let tmp = store.temp_path("import");
    fs::create_dir(&tmp).map_err(io_err(&tmp))?;
    let guard = TempDir(tmp.clone());
    let file = fs::File::open(path).map_err(io_err(path))?;
    let reader = crate::ingest::decompress(file).map_err(io_err(path))?;
    // The archive is unpacked with the same refusals as a layer: nothing escapes `tmp`.
    crate::unpack::unpack_layer(reader, &tmp, &path.display().to_string())?;
    Ok(Source {
        dir: tmp,
        _tmp: Some(guard),
    })
}

/// Imports every image of an OCI layout or a `docker save` tarball (a
/// directory or a tar, optionally compressed). `name` names an image the
/// archive leaves unnamed (or renames a single one).
pub fn import(
    store: &Store,
    path: &Path,
    name: Option<&ImageRef>,
    platform: &Platform,
) -> Result<Vec<ImageRecord>> {
    let _shared = store.lock_store(nix::fcntl::FlockArg::LockShared)?;
    let src = open_source(store, path)?;
    if src.dir.join("index.json").is_file() {
        import_oci(store, &src.dir, name, platform)
    } else if src.dir.join("manifest.json").is_file() {
        import_docker(store, &src.dir, name)
    } else {
        Err(Error::Manifest {
            image: path.display().to_string(),
            reason: "neither an OCI image layout (index.json) nor a `docker save` archive (manifest.json)".into(),
        })
    }
}

fn blob_in(dir: &Path, d: &Digest) -> PathBuf {
    dir.join("blobs")
        .join(d.algorithm().to_string())
        .join(d.digest())
}

fn read_verified(dir: &Path, d: &Digest) -> Result<Vec<u8>> {
    let p = blob_in(dir, d);
    let bytes = fs::read(&p).map_err(io_err(&p))?;
    let actual = sha256_digest(&bytes);
    if &actual != d {
        return Err(Error::DigestMismatch {
            url: p.display().to_string(),
            expected: d.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(bytes)
}

fn import_oci(
    store: &Store,
    dir: &Path,
    name: Option<&ImageRef>,
    platform: &Platform,
) -> Result<Vec<ImageRecord>> {
    let index_path = dir.join("index.json");
    let index: ImageIndex = serde_json::from_slice(
        &fs::read(&index_path).map_err(io_err(&index_path))?,
    )
    .map_err(|e| Error::Manifest {
        image: dir.display().to_string(),
        reason: format!("unreadable index.json: {e}"),
    })?;
    let mut records = Vec::new();
    let single = index.manifests().len() == 1;
    for desc in index.manifests() {
        let annotations = desc.annotations().clone().unwrap_or_default();
        let label = annotations
            .get(CONTAINERD_NAME)
            .or_else(|| annotations.get(REF_NAME))
            .cloned();
        let image = match (name, &label) {
            (Some(n), _) if single => n.clone(),
            (_, Some(l)) if l.contains('/') && l.parse::<ImageRef>().is_ok() => {
                l.parse::<ImageRef>()?
            }
            (Some(n), Some(tag)) => ImageRef {
                tag: Some(tag.clone()),
                digest: None,
                ..n.clone()
            },
            (Some(n), None) => n.clone(),
            (None, _) => {
                return Err(Error::Manifest {
                    image: dir.display().to_string(),
                    reason: format!(
                        "the manifest {} has no full image name ({}); name it with --name NAME:TAG",
                        desc.digest(),
                        label.unwrap_or_else(|| "no name".into())
                    ),
                })
            }
        };
        let top = read_verified(dir, desc.digest())?;
        store.put_blob(desc.digest(), &top)?;
        let is_index = desc.media_type().to_string().contains("index")
            || desc.media_type().to_string().contains("manifest.list");
        let (manifest_digest, manifest_bytes, index_digest) = if is_index {
            let idx: ImageIndex = serde_json::from_slice(&top).map_err(|e| Error::Manifest {
                image: image.to_string(),
                reason: e.to_string(),
            })?;
            let chosen = select_platform(&idx, platform, &image)?;
            let bytes = read_verified(dir, chosen.digest())?;
            (
                chosen.digest().clone(),
                bytes,
                Some(desc.digest().to_string()),
            )
        } else {
            (desc.digest().clone(), top, None)
        };
        store.put_blob(&manifest_digest, &manifest_bytes)?;
        let manifest: ImageManifest =
            serde_json::from_slice(&manifest_bytes).map_err(|e| Error::Manifest {
                image: image.to_string(),
                reason: format!("unreadable manifest: {e}"),
            })?;
        let config_bytes = read_verified(dir, manifest.config().digest())?;
        store.put_blob(manifest.config().digest(), &config_bytes)?;
        let config: ImageConfig =
            serde_json::from_slice(&config_bytes).map_err(|e| Error::Manifest {
                image: image.to_string(),
                reason: format!("unreadable config: {e}"),
            })?;
        ingest_layers(store, &image, &manifest, &config, |d| blob_in(dir, d))?;
        let record = ImageRecord {
            name: image.name(),
            manifest: manifest_digest.to_string(),
            config: manifest.config().digest().to_string(),
            index: index_digest,
            size: manifest.layers().iter().map(|l| l.size()).sum(),
            stored: now(),
        };
        store.record(&record)?;
        records.push(record);
    }
    Ok(records)
}

fn ingest_layers(
    store: &Store,
    image: &ImageRef,
    manifest: &ImageManifest,
    config: &ImageConfig,
    file: impl Fn(&Digest) -> PathBuf,
) -> Result<()> {
    if config.rootfs.diff_ids.len() != manifest.layers().len() {
        return Err(Error::Manifest {
            image: image.to_string(),
            reason: "the manifest and the config list different numbers of layers".into(),
        });
    }
    for (desc, diff) in manifest.layers().iter().zip(&config.rootfs.diff_ids) {
        let diff_id: Digest = diff.parse().map_err(|_| Error::Manifest {
            image: image.to_string(),
            reason: format!("`{diff}` is not a digest"),
        })?;
        if store.has_layer(&diff_id) && store.has_blob(desc.digest()) {
            continue;
        }
        let _lock = store.lock_layer(&diff_id)?;
        let path = file(desc.digest());
        let reader = fs::File::open(&path).map_err(io_err(&path))?;
        let name = format!("{} of {image}", desc.digest());
        ingest_layer(
            store,
            reader,
            &Expected {
                digest: desc.digest(),
                size: Some(desc.size()),
                diff_id: &diff_id,
                name: &name,
            },
        )?;
    }
    Ok(())
}

/// One image of a `docker save` archive's `manifest.json`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn import_docker(store: &Store, dir: &Path, name: Option<&ImageRef>) -> Result<Vec<ImageRecord>> {
    let mpath = dir.join("manifest.json");
    let entries: Vec<DockerEntry> =
        serde_json::from_slice(&fs::read(&mpath).map_err(io_err(&mpath))?).map_err(|e| {
            Error::Manifest {
                image: dir.display().to_string(),
                reason: format!("unreadable manifest.json: {e}"),
            }
        })?;
    let mut records = Vec::new();
    for entry in &entries {
        let inside = |rel: &str| -> Result<PathBuf> {
            let p = Path::new(rel);
            if p.is_absolute()
                || p.components()
                    .any(|c| matches!(c, std::path::Component::ParentDir))
            {
                return Err(Error::UnsafeEntry {
                    layer: dir.display().to_string(),
                    entry: rel.into(),
                    reason: "manifest.json points outside the archive".into(),
                });
            }
            Ok(dir.join(p))
        };
        let cpath = inside(&entry.config)?;
        let config_bytes = fs::read(&cpath).map_err(io_err(&cpath))?;
        let config: ImageConfig =
            serde_json::from_slice(&config_bytes).map_err(|e| Error::Manifest {
                image: entry.config.clone(),
                reason: format!("unreadable config: {e}"),
            })?;
        let tags: Vec<ImageRef> = match (name, &entry.repo_tags) {
            (Some(n), _) if entries.len() == 1 => vec![n.clone()],
            (_, Some(tags)) if !tags.is_empty() => tags
                .iter()
                .map(|t| t.parse::<ImageRef>())
                .collect::<std::result::Result<_, _>>()?,
            _ => {
                return Err(Error::Manifest {
                    image: entry.config.clone(),
                    reason: "the archive does not name this image; name it with --name NAME:TAG"
                        .into(),
                })
            }
        };
        // `docker save` layers are uncompressed tars (older) or blobs of an OCI layout (newer):
        // each is stored as is, with its own digest, under an OCI manifest hb writes.
        let mut layer_descs = Vec::new();
        for (rel, diff) in entry.layers.iter().zip(&config.rootfs.diff_ids) {
            let lpath = inside(rel)?;
            let diff_id: Digest = diff.parse().map_err(|_| Error::Manifest {
                image: tags[0].to_string(),
                reason: format!("`{diff}` is not a digest"),
            })?;
            let (digest, size) = ingest_file(
                store,
                &lpath,
                Some(&diff_id),
                &format!("{rel} of {}", tags[0]),
            )?;
            let compressed = fs::File::open(&lpath).ok().and_then(|mut f| {
                let mut head = [0u8; 2];
                f.read_exact(&mut head).ok().map(|_| head == [0x1f, 0x8b])
            });
            let media = if compressed == Some(true) {
                "application/vnd.oci.image.layer.v1.tar+gzip"
            } else {
                "application/vnd.oci.image.layer.v1.tar"
            };
            layer_descs.push(
                serde_json::json!({"mediaType": media, "digest": digest.to_string(), "size": size}),
            );
        }
        let (manifest_digest, config_digest) =
            write_image(store, &tags[0].to_string(), &config_bytes, &layer_descs)?;
        let size = layer_descs.iter().filter_map(|l| l["size"].as_u64()).sum();
        for t in &tags {
            records.push(record(store, t, &manifest_digest, &config_digest, size)?);
        }
    }
    Ok(records)
}

/// Stores a config and an OCI manifest over `layers` (descriptors as JSON) that hb
/// writes itself, for archives that bring no manifest of their own and for
/// images hb builds. Returns the manifest's and the config's digests.
pub fn write_image(
    store: &Store,
    image: &str,
    config_bytes: &[u8],
    layers: &[serde_json::Value],
) -> Result<(Digest, Digest)> {
    let config_digest = sha256_digest(config_bytes);
    store.put_blob(&config_digest, config_bytes)?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest.to_string(), "size": config_bytes.len()},
        "layers": layers,
    });
    let manifest_bytes = serde_json::to_vec(&manifest).map_err(|e| Error::Manifest {
        image: image.to_string(),
        reason: e.to_string(),
    })?;
    let manifest_digest = sha256_digest(&manifest_bytes);
    store.put_blob(&manifest_digest, &manifest_bytes)?;
    Ok((manifest_digest, config_digest))
}

/// Records `name` as the image with these digests.
pub fn record(
    store: &Store,
    name: &ImageRef,
    manifest: &Digest,
    config: &Digest,
    size: u64,
) -> Result<ImageRecord> {
    let r = ImageRecord {
        name: name.name(),
        manifest: manifest.to_string(),
        config: config.to_string(),
        index: None,
        size,
        stored: now(),
    };
    store.record(&r)?;
    Ok(r)
}

fn file_digest(path: &Path) -> Result<Digest> {
    let f = fs::File::open(path).map_err(io_err(path))?;
    let mut h = crate::ingest::HashingReader::new(f);
    io::copy(&mut h, &mut io::sink()).map_err(io_err(path))?;
    Ok(h.finish().0)
}

/// Stores the layer file at `path` (its blob and its unpacked tree) unless the
/// store has both already; `diff_id` is `None` for an uncompressed layer, whose
/// diff-id is its own digest. Returns the layer's digest and size.
pub fn ingest_file(
    store: &Store,
    path: &Path,
    diff_id: Option<&Digest>,
    name: &str,
) -> Result<(Digest, u64)> {
    let digest = file_digest(path)?;
    let size = fs::metadata(path).map_err(io_err(path))?.len();
    let diff_id = diff_id.unwrap_or(&digest);
    if !(store.has_layer(diff_id) && store.has_blob(&digest)) {
        let _lock = store.lock_layer(diff_id)?;
        let reader = fs::File::open(path).map_err(io_err(path))?;
        ingest_layer(
            store,
            reader,
            &Expected {
                digest: &digest,
                size: Some(size),
                diff_id,
                name,
            },
        )?;
    }
    Ok((digest, size))
}

/// Makes an image of one layer from a root filesystem directory (`hb image import --from-dir`).
pub fn import_dir(
    store: &Store,
    dir: &Path,
    image: &ImageRef,
    platform: &Platform,
) -> Result<ImageRecord> {
    let _shared = store.lock_store(nix::fcntl::FlockArg::LockShared)?;
    let tar_path = store.temp_path("fromdir");
    let result = (|| {
        {
            let f = fs::File::create(&tar_path).map_err(io_err(&tar_path))?;
            let mut b = tar::Builder::new(io::BufWriter::new(f));
            b.mode(tar::HeaderMode::Complete);
            b.follow_symlinks(false);
            b.append_dir_all(".", dir).map_err(io_err(dir))?;
            b.into_inner()
                .and_then(|mut w| w.flush())
                .map_err(io_err(&tar_path))?;
        }
        // An uncompressed layer's diff-id is its own digest.
        let (digest, size) = ingest_file(
            store,
            &tar_path,
            None,
            &format!("{} (from {})", image, dir.display()),
        )?;
        let config = serde_json::json!({
            "architecture": platform.architecture, "os": platform.os,
            "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [digest.to_string()]},
        });
        let config_bytes = serde_json::to_vec(&config).map_err(|e| Error::Manifest {
            image: image.to_string(),
            reason: e.to_string(),
        })?;
        let layers = [
            serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest.to_string(), "size": size}),
        ];
        let (manifest_digest, config_digest) =
            write_image(store, &image.to_string(), &config_bytes, &layers)?;
        record(store, image, &manifest_digest, &config_digest, size)
    })();
    let _ = fs::remove_file(&tar_path);
    result
}

/// Writes an image as an OCI layout tar (`hb image export`).
pub fn export(store: &Store, record: &ImageRecord, out: &Path) -> Result<()> {
    let img = store.image(record)?;
    let tmp = out.with_extension("hb-tmp");
    let result = (|| {
        let f = fs::File::create(&tmp).map_err(io_err(&tmp))?;
        let mut b = tar::Builder::new(io::BufWriter::new(f));
        let mut add = |name: &str, bytes: &[u8]| -> Result<()> {
            let mut h = tar::Header::new_ustar();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, bytes).map_err(io_err(out))
        };
        add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        let manifest_digest: Digest = record.manifest.parse().map_err(|_| Error::Corrupt {
            what: format!("the manifest digest of {}", record.name),
        })?;
        let manifest_bytes = store.read_blob(&manifest_digest)?;
        let tag = record
            .name
            .parse::<ImageRef>()
            .ok()
            .and_then(|r| r.tag)
            .unwrap_or_else(|| "latest".into());
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": record.manifest, "size": manifest_bytes.len(),
                "annotations": {REF_NAME: tag, CONTAINERD_NAME: record.name},
            }],
        });
        add(
            "index.json",
            &serde_json::to_vec(&index).map_err(|e| Error::Corrupt {
                what: e.to_string(),
            })?,
        )?;
        let mut blobs: Vec<Digest> = vec![manifest_digest, img.manifest.config().digest().clone()];
        blobs.extend(img.manifest.layers().iter().map(|l| l.digest().clone()));
        let mut seen: HashMap<String, ()> = HashMap::new();
        for d in blobs {
            if seen.insert(d.to_string(), ()).is_some() {
                continue;
            }
            let path = store.blob_path(&d);
            let mut f = fs::File::open(&path).map_err(io_err(&path))?;
            let mut h = tar::Header::new_ustar();
            h.set_size(f.metadata().map_err(io_err(&path))?.len());
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, format!("blobs/sha256/{}", d.digest()), &mut f)
                .map_err(io_err(out))?;
        }
        b.into_inner()
            .and_then(|mut w| w.flush())
            .map_err(io_err(out))?;
        fs::rename(&tmp, out).map_err(io_err(out))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
