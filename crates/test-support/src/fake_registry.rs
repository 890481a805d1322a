//! A registry on 127.0.0.1 that serves one image and misbehaves on purpose:
//! a wrong digest, a truncated blob, a 500 before succeeding, a connection
//! reset halfway through a blob. It tests hb's reaction to faults; the real
//! registry (Debian's docker-registry) is what every other test talks to.
//!
//! A minimal HTTP/1.1 server: one request per connection, `Range` honoured.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How the fake misbehaves when serving layer blobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Behave.
    None,
    /// Serve other bytes than the digest says, every time.
    WrongDigest,
    /// Send half the blob and close the connection, the first time only.
    TruncateOnce,
    /// Send half the blob and close the connection, every time.
    TruncateAlways,
    /// Answer 500 the first `n` times.
    ServerErrors(usize),
    /// Reset the connection halfway, the first time only.
    ResetOnce,
    /// Send half the blob, then nothing more while the connection lasts (a
    /// registry that hangs: what a client must be able to cancel).
    Stall,
}

/// A running fake registry.
pub struct FakeRegistry {
    /// `127.0.0.1:PORT`.
    pub addr: SocketAddr,
    /// How many blob requests it answered.
    pub blob_requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// sha256 digest text of bytes.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// An image the fake serves: manifest, config and layer blobs by digest.
#[derive(Debug, Clone, Default)]
pub struct Content {
    /// Manifests by tag and by digest: (media type, bytes).
    pub manifests: HashMap<String, (String, Vec<u8>)>,
    /// Blobs by digest.
    pub blobs: HashMap<String, Vec<u8>>,
    /// Digests of the blobs that are layers (faults apply to these).
    pub layers: Vec<String>,
}

impl Content {
    /// A one-layer image tagged `tag`: `layer` is the compressed layer, `diff_id` its uncompressed digest.
    pub fn single_layer(tag: &str, layer: Vec<u8>, diff_id: &str) -> Self {
        let layer_digest = digest(&layer);
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["sh"]}},"rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}}}}"#
        )
        .into_bytes();
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":{}}}]}}"#,
            digest(&config),
            config.len(),
            layer_digest,
            layer.len()
        )
        .into_bytes();
        let mt = "application/vnd.oci.image.manifest.v1+json".to_string();
        let mut c = Content::default();
        c.manifests
            .insert(tag.to_string(), (mt.clone(), manifest.clone()));
        c.manifests.insert(digest(&manifest), (mt, manifest));
        c.blobs.insert(digest(&config), config);
        c.blobs.insert(layer_digest.clone(), layer);
        c.layers.push(layer_digest);
        c
    }
}

impl FakeRegistry {
    /// Starts serving `content` with `fault` on 127.0.0.1.
    pub async fn start(content: Content, fault: Fault) -> FakeRegistry {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("addr");
        let blob_requests = Arc::new(AtomicUsize::new(0));
        let counter = blob_requests.clone();
        let content = Arc::new(content);
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let content = content.clone();
                let counter = counter.clone();
                tokio::spawn(async move {
                    let _ = serve(sock, &content, fault, &counter).await;
                });
            }
        });
        FakeRegistry {
            addr,
            blob_requests,
            task,
        }
    }
}

async fn serve(
    mut sock: TcpStream,
    content: &Content,
    fault: Fault,
    counter: &AtomicUsize,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let range_start: u64 = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("range: bytes=")
                .map(|r| r.trim_end_matches('-').trim().to_string())
        })
        .and_then(|r| r.trim_end_matches('-').parse().ok())
        .unwrap_or(0);
    let parts: Vec<&str> = path.trim_start_matches("/v2/").splitn(3, '/').collect();
    if path == "/v2/" {
        return reply(&mut sock, 200, "application/json", b"{}", None).await;
    }
    // /v2/<name>/manifests/<ref> or /v2/<name>/blobs/<digest> (single-component names)
    let (kind, reference) = match parts.as_slice() {
        [_, kind, reference] => (*kind, *reference),
        _ => return reply(&mut sock, 404, "text/plain", b"not found", None).await,
    };
    match kind {
        "manifests" => match content.manifests.get(reference) {
            Some((mt, bytes)) => reply(&mut sock, 200, mt, bytes, None).await,
            None => {
                reply(
                    &mut sock,
                    404,
                    "application/json",
                    br#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#,
                    None,
                )
                .await
            }
        },
        "blobs" => {
            let Some(blob) = content.blobs.get(reference) else {
                return reply(
                    &mut sock,
                    404,
                    "application/json",
                    br#"{"errors":[{"code":"BLOB_UNKNOWN"}]}"#,
                    None,
                )
                .await;
            };
            if !content.layers.iter().any(|l| l == reference) {
                return reply(&mut sock, 200, "application/octet-stream", blob, None).await;
            }
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let start = range_start.min(blob.len() as u64) as usize;
            let body = &blob[start..];
            let partial = (start > 0).then_some((start, blob.len()));
            match fault {
                Fault::None => {
                    reply(
                        &mut sock,
                        if start > 0 { 206 } else { 200 },
                        "application/octet-stream",
                        body,
                        partial,
                    )
                    .await
                }
                Fault::WrongDigest => {
                    let mut bad = blob.clone();
                    let last = bad.len() - 1;
                    bad[last] ^= 0xff;
                    reply(&mut sock, 200, "application/octet-stream", &bad, None).await
                }
                Fault::ServerErrors(k) if n < k => {
                    reply(&mut sock, 500, "text/plain", b"internal error", None).await
                }
                Fault::ServerErrors(_) => {
                    reply(
                        &mut sock,
                        if start > 0 { 206 } else { 200 },
                        "application/octet-stream",
                        body,
                        partial,
                    )
                    .await
                }
                Fault::TruncateOnce | Fault::ResetOnce if n > 0 => {
                    reply(
                        &mut sock,
                        if start > 0 { 206 } else { 200 },
                        "application/octet-stream",
                        body,
                        partial,
                    )
                    .await
                }
                Fault::Stall => {
                    let header = header(200, "application/octet-stream", body.len(), None);
                    sock.write_all(header.as_bytes()).await?;
                    sock.write_all(&body[..body.len() / 2]).await?;
                    sock.flush().await?;
                    // Hold the connection open until the client hangs up.
                    let mut buf = [0u8; 1];
                    let _ = sock.read(&mut buf).await;
                    Ok(())
                }
                Fault::TruncateOnce | Fault::TruncateAlways | Fault::ResetOnce => {
                    // Promise the whole body, send half, then hang up (a reset sets SO_LINGER 0).
                    let header = header(
                        if start > 0 { 206 } else { 200 },
                        "application/octet-stream",
                        body.len(),
                        partial,
                    );
                    sock.write_all(header.as_bytes()).await?;
                    sock.write_all(&body[..body.len() / 2]).await?;
                    sock.flush().await?;
                    if fault == Fault::ResetOnce {
                        sock.set_zero_linger()?;
                    }
                    drop(sock);
                    Ok(())
                }
            }
        }
        _ => reply(&mut sock, 404, "text/plain", b"not found", None).await,
    }
}

fn header(status: u16, content_type: &str, len: usize, partial: Option<(usize, usize)>) -> String {
    let reason = match status {
        200 => "OK",
        206 => "Partial Content",
        404 => "Not Found",
        _ => "Internal Server Error",
    };
    let mut h = format!("HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\nConnection: close\r\n");
    if let Some((start, total)) = partial {
        h.push_str(&format!(
            "Content-Range: bytes {start}-{}/{total}\r\n",
            total - 1
        ));
    }
    h.push_str("\r\n");
    h
}

async fn reply(
    sock: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
    partial: Option<(usize, usize)>,
) -> std::io::Result<()> {
    sock.write_all(header(status, content_type, body.len(), partial).as_bytes())
        .await?;
    sock.write_all(body).await?;
    sock.flush().await
}
