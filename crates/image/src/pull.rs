//! Pulling: manifest (and index, with platform selection) → config → layers
//! downloaded in parallel and unpacked while the bytes arrive, each blob's
//! size and digest and each layer's diff-id verified before it is kept.

use std::fmt;
use std::io::{self, Read};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use oci_spec::image::{Descriptor, Digest, ImageIndex, ImageManifest};

use crate::config::ImageConfig;
use crate::ingest::{ingest_layer, Expected};
use crate::reference::ImageRef;
use crate::registry::{Client, Retry};
use crate::store::{ImageRecord, Store};
use crate::unpack::Stats;
use crate::{Error, Result};

/// An OS/architecture/variant triple: `linux/amd64`, `linux/arm64/v8`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// `amd64`, `arm64`, …
    pub architecture: String,
    /// `v8`, `v7`, …
    pub variant: Option<String>,
}

impl Platform {
    /// The platform hb runs on.
    pub fn host() -> Self {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "arm" => "arm",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            other => other,
        };
        Platform {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: None,
        }
    }

    fn matches(&self, os: &str, arch: &str, variant: Option<&str>) -> bool {
        // arm64's only variant is v8, which indexes often leave out.
        let norm = |v: Option<&str>| match (arch, v) {
            ("arm64", None | Some("v8")) => None,
            (_, v) => v.map(str::to_string),
        };
        self.os == os
            && self.architecture == arch
            && (self.variant.is_none() || norm(self.variant.as_deref()) == norm(variant))
    }
}

impl FromStr for Platform {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: None,
            }),
            [os, arch, v] if !os.is_empty() && !arch.is_empty() && !v.is_empty() => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: Some(v.to_string()),
            }),
            _ => Err(Error::Platform {
                given: s.to_string(),
            }),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Hears what a pull is doing (progress bars, log lines, daemon events).
pub trait Progress: Send + Sync {
    /// The manifest to pull was chosen.
    fn resolved(&self, _image: &ImageRef, _manifest: &Digest, _layers: usize) {}
    /// A layer starts downloading (or was already stored, `cached`).
    fn layer_started(&self, _layer: &Digest, _size: u64, _cached: bool) {}
    /// More bytes of a layer arrived.
    fn layer_progress(&self, _layer: &Digest, _received: u64) {}
    /// A layer is verified and unpacked.
    fn layer_done(&self, _layer: &Digest, _stats: Stats) {}
}

/// A [`Progress`] that ignores everything.
pub struct Quiet;
impl Progress for Quiet {}

/// Pulls images into a store.
#[derive(Debug, Clone)]
pub struct Puller {
    /// The registry client.
    pub client: Arc<Client>,
    /// The store.
    pub store: Arc<Store>,
    /// Retries for interrupted blob downloads.
    pub retry: Retry,
}

fn is_index(media_type: &str, bytes: &[u8]) -> bool {
    if media_type.contains("index") || media_type.contains("manifest.list") {
        return true;
    }
    // Some registries send no useful Content-Type; the body tells.
    media_type.is_empty()
        && serde_json::from_slice::<serde_json::Value>(bytes)
            .ok()
            .is_some_and(|v| v.get("manifests").is_some())
}

/// Picks the manifest for `platform` from an index.
pub fn select_platform(
    index: &ImageIndex,
    platform: &Platform,
    image: &ImageRef,
) -> Result<Descriptor> {
    let mut available = Vec::new();
    for m in index.manifests() {
        let Some(p) = m.platform() else { continue };
        let (os, arch) = (p.os().to_string(), p.architecture().to_string());
        if platform.matches(&os, &arch, p.variant().as_deref()) {
            return Ok(m.clone());
        }
        available.push(match p.variant() {
            Some(v) => format!("{os}/{arch}/{v}"),
            None => format!("{os}/{arch}"),
        });
    }
    Err(Error::NoPlatform {
        image: image.to_string(),
        wanted: platform.to_string(),
        available,
    })
}

fn layer_supported(media_type: &str) -> bool {
    matches!(
        media_type,
        "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.v1.tar+zstd"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.diff.tar"
            | "application/vnd.docker.image.rootfs.diff.tar.zstd"
    )
}

/// Reads the bytes a download task sends, as a blocking `Read`.
struct ChannelReader {
    rx: Receiver<Bytes>,
    buf: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.buf.is_empty() {
            match self.rx.recv() {
                Ok(b) => self.buf = b,
                Err(_) => return Ok(0), // the sender is done
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        self.buf = self.buf.slice(n..);
        Ok(n)
    }
}

impl Puller {
    /// Pulls `image` for `platform` and records it under its name.
    pub async fn pull(
        &self,
        image: &ImageRef,
        platform: &Platform,
        progress: Arc<dyn Progress>,
    ) -> Result<ImageRecord> {
        let top = self.client.manifest(image, &image.reference()).await?;
        let (fetched, index) = if is_index(&top.media_type, &top.bytes) {
            let idx: ImageIndex =
                serde_json::from_slice(&top.bytes).map_err(|e| Error::Manifest {
                    image: image.to_string(),
                    reason: format!("unreadable index: {e}"),
                })?;
            let chosen = select_platform(&idx, platform, image)?;
            self.store.put_blob(&top.digest, &top.bytes)?;
            let m = self
                .client
                .manifest(image, chosen.digest().as_ref())
                .await?;
            (m, Some(top.digest.to_string()))
        } else {
            (top, None)
        };
        let manifest: ImageManifest =
            serde_json::from_slice(&fetched.bytes).map_err(|e| Error::Manifest {
                image: image.to_string(),
                reason: format!("unreadable manifest: {e}"),
            })?;
        self.store.put_blob(&fetched.digest, &fetched.bytes)?;

        let cfg_desc = manifest.config();
        let cfg_bytes = if self.store.has_blob(cfg_desc.digest()) {
            self.store.read_blob(cfg_desc.digest())?
        } else {
            let b = self
                .client
                .blob(image, cfg_desc.digest(), cfg_desc.size())
                .await?;
            self.store.put_blob(cfg_desc.digest(), &b)?;
            b
        };
        let config: ImageConfig =
            serde_json::from_slice(&cfg_bytes).map_err(|e| Error::Manifest {
                image: image.to_string(),
                reason: format!("unreadable image config: {e}"),
            })?;
        if config.rootfs.diff_ids.len() != manifest.layers().len() {
            return Err(Error::Manifest {
                image: image.to_string(),
                reason: format!(
                    "the manifest lists {} layers but the config {} diff_ids",
                    manifest.layers().len(),
                    config.rootfs.diff_ids.len()
                ),
            });
        }
        progress.resolved(image, &fetched.digest, manifest.layers().len());

        let mut jobs = Vec::new();
        for (desc, diff) in manifest.layers().iter().zip(&config.rootfs.diff_ids) {
            let mt = desc.media_type().to_string();
            if !layer_supported(&mt) {
                return Err(Error::Manifest {
                    image: image.to_string(),
                    reason: format!(
                        "layer {} has the unsupported media type {mt}",
                        desc.digest()
                    ),
                });
            }
            let diff_id: Digest = diff.parse().map_err(|_| Error::Manifest {
                image: image.to_string(),
                reason: format!("the diff_id `{diff}` is not a digest"),
            })?;
            jobs.push(self.fetch_layer(image, desc.clone(), diff_id, progress.clone()));
        }
        futures_util::future::try_join_all(jobs).await?;

        let size = manifest.layers().iter().map(|l| l.size()).sum();
        let stored = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let record = ImageRecord {
            name: image.name(),
            manifest: fetched.digest.to_string(),
            config: cfg_desc.digest().to_string(),
            index,
            size,
            stored,
        };
        self.store.record(&record)?;
        tracing::info!(image = %image, manifest = %record.manifest, "pulled");
        Ok(record)
    }

    async fn fetch_layer(
        &self,
        image: &ImageRef,
        desc: Descriptor,
        diff_id: Digest,
        progress: Arc<dyn Progress>,
    ) -> Result<()> {
        let digest = desc.digest().clone();
        if self.store.has_layer(&diff_id) {
            progress.layer_started(&digest, desc.size(), true);
            return Ok(());
        }
        let store = self.store.clone();
        let lock_id = diff_id.clone();
        let _lock = tokio::task::spawn_blocking(move || store.lock_layer(&lock_id))
            .await
            .map_err(join_error)??;
        if self.store.has_layer(&diff_id) {
            // Another pull unpacked it while this one waited for the lock.
            progress.layer_started(&digest, desc.size(), true);
            return Ok(());
        }
        progress.layer_started(&digest, desc.size(), false);
        let stats = self
            .download_and_ingest(image, &desc, &diff_id, progress.as_ref())
            .await?;
        progress.layer_done(&digest, stats);
        Ok(())
    }

    /// Streams the blob from the registry into [`ingest_layer`] running beside
    /// it, so the layer is unpacked while the bytes arrive. Resumes with a Range
    /// request when the connection breaks.
    async fn download_and_ingest(
        &self,
        image: &ImageRef,
        desc: &Descriptor,
        diff_id: &Digest,
        progress: &dyn Progress,
    ) -> Result<Stats> {
        let digest = desc.digest().clone();
        let (tx, rx) = sync_channel::<Bytes>(64);
        let store = self.store.clone();
        let (want_digest, want_diff, size) = (digest.clone(), diff_id.clone(), desc.size());
        let name = format!("{digest} of {image}");
        let ingest = tokio::task::spawn_blocking(move || {
            let want = Expected {
                digest: &want_digest,
                size: Some(size),
                diff_id: &want_diff,
                name: &name,
            };
            ingest_layer(
                &store,
                ChannelReader {
                    rx,
                    buf: Bytes::new(),
                },
                &want,
            )
        });
        let downloaded = self.download(image, desc, &tx, progress).await;
        drop(tx);
        let ingested = ingest.await.map_err(join_error)?;
        // A download failure is the cause of whatever the ingest then saw; else the ingest has the news.
        downloaded?;
        ingested
    }

    /// Sends the blob's bytes down `tx`, resuming after interruptions. Stops
    /// quietly when the reader stops taking bytes (it reports why).
    async fn download(
        &self,
        image: &ImageRef,
        desc: &Descriptor,
        tx: &SyncSender<Bytes>,
        progress: &dyn Progress,
    ) -> Result<()> {
        let digest = desc.digest();
        let mut received: u64 = 0;
        let mut failures = 0u32;
        let mut url;
        'download: while received < desc.size() {
            // The client has already retried a request that failed outright; what
            // is left to retry here is a body cut short, resumed with a Range.
            let resp = self.client.blob_from(image, digest, received).await?;
            url = resp.url().to_string();
            // A registry that ignores Range sends the whole blob again: skip what we have.
            let mut skip = if resp.status() == reqwest::StatusCode::PARTIAL_CONTENT {
                0
            } else {
                received
            };
            let mut stream = resp.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let mut chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        failures += 1;
                        if failures > self.retry.retries {
                            return Err(Error::Network { url, source: e });
                        }
                        tracing::debug!(layer = %digest, received, error = %e, "download interrupted; resuming");
                        tokio::time::sleep(self.retry.delay(failures - 1)).await;
                        continue 'download;
                    }
                };
                if skip > 0 {
                    let n = (skip as usize).min(chunk.len());
                    chunk = chunk.slice(n..);
                    skip -= n as u64;
                    if chunk.is_empty() {
                        continue;
                    }
                }
                received += chunk.len() as u64;
                if received > desc.size() {
                    return Err(Error::SizeMismatch {
                        url,
                        expected: desc.size(),
                        actual: received,
                    });
                }
                progress.layer_progress(digest, received);
                if tx.send(chunk).is_err() {
                    return Ok(());
                }
            }
            if received < desc.size() {
                // The body ended early: a truncated answer. Resume from where it stopped.
                failures += 1;
                if failures > self.retry.retries {
                    return Err(Error::SizeMismatch {
                        url,
                        expected: desc.size(),
                        actual: received,
                    });
                }
                tokio::time::sleep(self.retry.delay(failures - 1)).await;
            }
        }
        Ok(())
    }
}

fn join_error(e: tokio::task::JoinError) -> Error {
    Error::Io {
        path: PathBuf::new(),
        source: io::Error::other(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_and_match() {
        let p: Platform = "linux/arm64/v8".parse().expect("valid");
        assert!(p.matches("linux", "arm64", None));
        assert!(p.matches("linux", "arm64", Some("v8")));
        assert!(!p.matches("linux", "amd64", None));
        let p: Platform = "linux/arm/v7".parse().expect("valid");
        assert!(!p.matches("linux", "arm", Some("v6")));
        assert!("linux".parse::<Platform>().is_err());
        assert_eq!(Platform::host().os, "linux");
    }
}
