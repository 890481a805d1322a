//! A client for the OCI distribution API (`/v2/`): the `WWW-Authenticate`
//! challenge flow (anonymous and credentialed bearer tokens, basic auth),
//! manifests and blobs with digest checks, mirrors, plain http for loopback
//! and insecure registries, and retries with backoff on 5xx, resets and
//! timeouts.
//!
//! Spec: <https://github.com/opencontainers/distribution-spec/blob/main/spec.md>;
//! token flow: Docker's "Token Authentication Specification".

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use oci_spec::image::Digest;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, RANGE, WWW_AUTHENTICATE};
use reqwest::{Response, StatusCode};
use sha2::{Digest as _, Sha256};
use tokio::sync::Mutex;

use crate::auth::{self, Credential, RegistryConfig};
use crate::reference::ImageRef;
use crate::{Error, Result};

/// Every manifest type hb reads, most specific first.
pub const MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Attempts after the first.
    pub retries: u32,
    /// Wait before the first retry; doubled each time.
    pub backoff: Duration,
}

impl Retry {
    /// The wait before retry number `n` (0 for the first).
    pub fn delay(&self, n: u32) -> Duration {
        self.backoff * 2u32.saturating_pow(n.min(16))
    }
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            retries: 4,
            backoff: Duration::from_millis(200),
        }
    }
}

/// A manifest (or index) as fetched, with its digest.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The raw bytes, exactly as the registry sent them (the digest covers these).
    pub bytes: Vec<u8>,
    /// `Content-Type`.
    pub media_type: String,
    /// sha256 of `bytes`.
    pub digest: Digest,
}

#[derive(Debug, Clone)]
enum AuthHeader {
    Bearer(String),
    Basic(String),
}

/// The registry client. Cheap to share: one per process.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    config: RegistryConfig,
    docker_config: Option<PathBuf>,
    retry: Retry,
    /// Authorization per `host/repository`, reused across requests.
    auth: Mutex<HashMap<String, AuthHeader>>,
}

/// Reads a whole answer: its URL and its body.
async fn body(resp: Response) -> Result<(String, Vec<u8>)> {
    let url = resp.url().to_string();
    match resp.bytes().await {
        Ok(b) => Ok((url, b.to_vec())),
        Err(source) => Err(Error::Network { url, source }),
    }
}

/// sha256 digest of bytes.
pub fn sha256_digest(bytes: &[u8]) -> Digest {
    digest_from_hex(&hex::encode(Sha256::digest(bytes)))
}

/// A sha256 digest from its hex form.
pub fn digest_from_hex(hex: &str) -> Digest {
    #[allow(clippy::expect_used)]
    format!("sha256:{hex}")
        .parse()
        .expect("64 hex digits make a valid sha256 digest")
}

fn parse_challenge(header: &str) -> (String, HashMap<String, String>) {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    let mut params = HashMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, tail) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"').unwrap_or(q.len());
            (q[..end].to_string(), q.get(end + 1..).unwrap_or(""))
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        params.insert(key, value);
        rest = tail.trim_start().trim_start_matches(',').trim_start();
    }
    (scheme.to_ascii_lowercase(), params)
}

impl Client {
    /// A client with hb's registry config and Docker's credential file.
    pub fn new(
        config: RegistryConfig,
        docker_config: Option<PathBuf>,
        retry: Retry,
    ) -> Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("hb/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|source| Error::Network {
                url: String::new(),
                source,
            })?;
        Ok(Client {
            http,
            config,
            docker_config,
            retry,
            auth: Mutex::new(HashMap::new()),
        })
    }

    /// The hosts to try for `image`: its mirrors, then the registry itself.
    fn hosts(&self, image: &ImageRef) -> Vec<String> {
        let mut hosts: Vec<String> = self
            .config
            .get(&image.registry)
            .map(|r| r.mirrors.clone())
            .unwrap_or_default();
        hosts.push(image.api_host().to_string());
        hosts
    }

    fn url(&self, host: &str, repo: &str, path: &str) -> String {
        let scheme = if self.config.is_insecure(host) {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{host}/v2/{repo}/{path}")
    }

    fn credential(&self, host: &str, image: &ImageRef) -> Result<Option<Credential>> {
        let Some(cfg) = &self.docker_config else {
            return Ok(None);
        };
        // Credentials are filed under the name in the reference (docker.io), not the API host.
        let key = if host == image.api_host() {
            image.registry.as_str()
        } else {
            host
        };
        auth::lookup(cfg, key)
    }

    /// GETs `/v2/<repo>/<path>` on the first host that answers, authenticating
    /// as challenged and retrying transient failures.
    async fn get(
        &self,
        image: &ImageRef,
        path: &str,
        accept: Option<&str>,
        range: Option<u64>,
    ) -> Result<Response> {
        let hosts = self.hosts(image);
        let mut last = None;
        for (i, host) in hosts.iter().enumerate() {
            match self.get_from(host, image, path, accept, range).await {
                Ok(resp) if resp.status().is_success() || i + 1 == hosts.len() => return Ok(resp),
                Ok(resp) => {
                    tracing::debug!(mirror = %host, status = %resp.status(), "mirror did not have it; trying the next host");
                }
                Err(e) if i + 1 < hosts.len() => {
                    tracing::debug!(mirror = %host, error = %e, "mirror failed; trying the next host");
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::NotFound {
            image: image.to_string(),
            what: path.to_string(),
        }))
    }

    async fn get_from(
        &self,
        host: &str,
        image: &ImageRef,
        path: &str,
        accept: Option<&str>,
        range: Option<u64>,
    ) -> Result<Response> {
        let url = self.url(host, &image.repository, path);
        let key = format!("{host}/{}", image.repository);
        let mut challenged = false;
        let mut attempt = 0;
        loop {
            let mut headers = HeaderMap::new();
            if let Some(a) = accept.and_then(|a| HeaderValue::from_str(a).ok()) {
                headers.insert(ACCEPT, a);
            }
            if let Some(off) = range.filter(|o| *o > 0) {
                if let Ok(v) = HeaderValue::from_str(&format!("bytes={off}-")) {
                    headers.insert(RANGE, v);
                }
            }
            if let Some(a) = self.auth.lock().await.get(&key) {
                let v = match a {
                    AuthHeader::Bearer(t) => format!("Bearer {t}"),
                    AuthHeader::Basic(b) => format!("Basic {b}"),
                };
                if let Ok(v) = HeaderValue::from_str(&v) {
                    headers.insert(AUTHORIZATION, v);
                }
            }
            let result = self.http.get(&url).headers(headers).send().await;
            let transient = match result {
                Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED && !challenged => {
                    challenged = true;
                    let challenge = resp
                        .headers()
                        .get(WWW_AUTHENTICATE)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let Some(challenge) = challenge else {
                        return Ok(resp);
                    };
                    let header = self.authenticate(host, image, &challenge).await?;
                    self.auth.lock().await.insert(key.clone(), header);
                    continue;
                }
                Ok(resp)
                    if resp.status().is_server_error()
                        || resp.status() == StatusCode::TOO_MANY_REQUESTS =>
                {
                    format!("{} answered {}", url, resp.status())
                }
                Ok(resp) => return Ok(resp),
                Err(e) if e.is_connect() || e.is_timeout() || e.is_request() || e.is_body() => {
                    if attempt >= self.retry.retries {
                        return Err(Error::Network { url, source: e });
                    }
                    e.to_string()
                }
                Err(e) => return Err(Error::Network { url, source: e }),
            };
            if attempt >= self.retry.retries {
                return Err(Error::Http {
                    url,
                    status: 0,
                    message: transient,
                });
            }
            let wait = self.retry.delay(attempt);
            tracing::debug!(%url, attempt, ?wait, reason = %transient, "retrying");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// Answers a `WWW-Authenticate` challenge: basic credentials, or a bearer
    /// token from the challenge's realm (anonymous when there are no credentials).
    async fn authenticate(
        &self,
        host: &str,
        image: &ImageRef,
        challenge: &str,
    ) -> Result<AuthHeader> {
        let (scheme, params) = parse_challenge(challenge);
        let cred = self.credential(host, image)?;
        let basic = |c: &Credential| {
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.username, c.secret))
        };
        match scheme.as_str() {
            "basic" => match cred {
                Some(c) => Ok(AuthHeader::Basic(basic(&c))),
                None => Err(Error::Unauthorized {
                    image: image.to_string(),
                    registry: image.registry.clone(),
                    detail: "the registry wants a user name and password".into(),
                }),
            },
            "bearer" => {
                let realm = params.get("realm").ok_or_else(|| Error::Http {
                    url: host.to_string(),
                    status: 401,
                    message: format!("a bearer challenge without a realm: {challenge}"),
                })?;
                let scope = params
                    .get("scope")
                    .cloned()
                    .unwrap_or_else(|| format!("repository:{}:pull", image.repository));
                let mut req = self.http.get(realm).query(&[("scope", scope.as_str())]);
                if let Some(service) = params.get("service") {
                    req = req.query(&[("service", service.as_str())]);
                }
                if let Some(c) = &cred {
                    req = req.basic_auth(&c.username, Some(&c.secret));
                }
                let resp = req.send().await.map_err(|source| Error::Network {
                    url: realm.clone(),
                    source,
                })?;
                if resp.status() == StatusCode::UNAUTHORIZED
                    || resp.status() == StatusCode::FORBIDDEN
                {
                    let detail = if cred.is_some() {
                        "the token service refused the stored credentials"
                    } else {
                        "the token service wants credentials"
                    };
                    return Err(Error::Unauthorized {
                        image: image.to_string(),
                        registry: image.registry.clone(),
                        detail: detail.into(),
                    });
                }
                if !resp.status().is_success() {
                    return Err(Error::Http {
                        url: realm.clone(),
                        status: resp.status().as_u16(),
                        message: "the token service failed".into(),
                    });
                }
                #[derive(serde::Deserialize)]
                struct Token {
                    token: Option<String>,
                    access_token: Option<String>,
                }
                let t: Token = resp.json().await.map_err(|source| Error::Network {
                    url: realm.clone(),
                    source,
                })?;
                let token = t.token.or(t.access_token).ok_or_else(|| Error::Http {
                    url: realm.clone(),
                    status: 200,
                    message: "the token service answered without a token".into(),
                })?;
                Ok(AuthHeader::Bearer(token))
            }
            other => Err(Error::Http {
                url: host.to_string(),
                status: 401,
                message: format!("unsupported authentication scheme `{other}`"),
            }),
        }
    }

    /// Turns a non-success answer into the error a user can act on.
    async fn failure(image: &ImageRef, what: &str, resp: Response) -> Error {
        let status = resp.status();
        let url = resp.url().to_string();
        let body = resp.text().await.unwrap_or_default();
        let detail: String = body.chars().take(300).collect();
        match status {
            StatusCode::UNAUTHORIZED => Error::Unauthorized {
                image: image.to_string(),
                registry: image.registry.clone(),
                detail,
            },
            StatusCode::FORBIDDEN => Error::Denied {
                image: image.to_string(),
                registry: image.registry.clone(),
                detail,
            },
            StatusCode::NOT_FOUND => Error::NotFound {
                image: image.to_string(),
                what: what.to_string(),
            },
            s => Error::Http {
                url,
                status: s.as_u16(),
                message: detail,
            },
        }
    }

    /// Fetches a manifest or index by tag or digest; a pinned digest is verified.
    pub async fn manifest(&self, image: &ImageRef, reference: &str) -> Result<Fetched> {
        let resp = self
            .get(
                image,
                &format!("manifests/{reference}"),
                Some(MANIFEST_TYPES),
                None,
            )
            .await?;
        if !resp.status().is_success() {
            return Err(Self::failure(image, &format!("manifest {reference}"), resp).await);
        }
        let media_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.split(';').next().unwrap_or(s).trim().to_string())
            .unwrap_or_default();
        let (url, bytes) = body(resp).await?;
        let digest = sha256_digest(&bytes);
        if let Ok(expected) = reference.parse::<Digest>() {
            if expected != digest {
                return Err(Error::DigestMismatch {
                    url,
                    expected: expected.to_string(),
                    actual: digest.to_string(),
                });
            }
        }
        Ok(Fetched {
            bytes,
            media_type,
            digest,
        })
    }

    /// Fetches a small blob (an image config) whole, verifying digest and size.
    pub async fn blob(&self, image: &ImageRef, digest: &Digest, size: u64) -> Result<Vec<u8>> {
        let resp = self.blob_from(image, digest, 0).await?;
        let (url, bytes) = body(resp).await?;
        if bytes.len() as u64 != size {
            return Err(Error::SizeMismatch {
                url,
                expected: size,
                actual: bytes.len() as u64,
            });
        }
        let actual = sha256_digest(&bytes);
        if &actual != digest {
            return Err(Error::DigestMismatch {
                url,
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(bytes)
    }

    /// Starts a blob download at byte `offset` (HTTP Range). The answer is
    /// 206 when the registry resumed, or 200 with the whole blob when it ignored the range.
    pub async fn blob_from(
        &self,
        image: &ImageRef,
        digest: &Digest,
        offset: u64,
    ) -> Result<Response> {
        let resp = self
            .get(image, &format!("blobs/{digest}"), None, Some(offset))
            .await?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(Self::failure(image, &format!("blob {digest}"), resp).await)
        }
    }

    /// Checks that credentials work for `host` (what `hb login` does before storing them).
    pub async fn check_login(&self, host: &str, cred: &Credential) -> Result<()> {
        let scheme = if self.config.is_insecure(host) {
            "http"
        } else {
            "https"
        };
        let url = format!("{scheme}://{host}/v2/");
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|source| Error::Network {
                url: url.clone(),
                source,
            })?;
        if resp.status().is_success() {
            return Ok(());
        }
        let challenge = resp
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let (scheme, params) = parse_challenge(&challenge);
        let ok = match scheme.as_str() {
            "basic" => {
                let r = self
                    .http
                    .get(&url)
                    .basic_auth(&cred.username, Some(&cred.secret))
                    .send()
                    .await;
                r.map_err(|source| Error::Network {
                    url: url.clone(),
                    source,
                })?
                .status()
                .is_success()
            }
            "bearer" => {
                let realm = params.get("realm").cloned().unwrap_or_default();
                let mut req = self
                    .http
                    .get(&realm)
                    .basic_auth(&cred.username, Some(&cred.secret));
                if let Some(s) = params.get("service") {
                    req = req.query(&[("service", s.as_str())]);
                }
                req.send()
                    .await
                    .map_err(|source| Error::Network {
                        url: realm.clone(),
                        source,
                    })?
                    .status()
                    .is_success()
            }
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::Unauthorized {
                image: String::new(),
                registry: host.to_string(),
                detail: "the user name or password is wrong".into(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_parsed() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="http://127.0.0.1:5003/token",service="hb-registry",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(s, "bearer");
        assert_eq!(p["realm"], "http://127.0.0.1:5003/token");
        assert_eq!(p["service"], "hb-registry");
        assert_eq!(p["scope"], "repository:a/b:pull,push");
        let (s, p) = parse_challenge(r#"Basic realm="hb-realm""#);
        assert_eq!((s.as_str(), p["realm"].as_str()), ("basic", "hb-realm"));
    }

    #[test]
    fn digests_of_bytes() {
        assert_eq!(
            sha256_digest(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
