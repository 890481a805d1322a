//! Image references, parsed and normalised as Docker does
//! (distribution's `reference` grammar): `busybox` is
//! `docker.io/library/busybox:latest`; `host:port/ns/name:tag@sha256:…` keeps
//! every part.

use std::fmt;
use std::str::FromStr;

use oci_spec::image::Digest;

/// Docker Hub's name in references, and the host its API lives on.
pub const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// Registry host (and port), e.g. `docker.io`, `127.0.0.1:5000`.
    pub registry: String,
    /// Repository path, e.g. `library/busybox`.
    pub repository: String,
    /// Tag, if any (`latest` when neither a tag nor a digest is given).
    pub tag: Option<String>,
    /// Digest, if pinned.
    pub digest: Option<Digest>,
}

/// Why a reference was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {reference:?}: {reason}")]
pub struct InvalidReference {
    /// What was given.
    pub reference: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ImageRef {
    /// The host to talk to: Docker Hub's API host for `docker.io`.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// The tag or digest to ask the registry for.
    pub fn reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".into(),
        }
    }

    /// The same repository pinned to `digest` (tag kept for display).
    pub fn with_digest(&self, digest: Digest) -> ImageRef {
        ImageRef {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// `registry/repository:tag` without the digest: the name images are stored under.
    pub fn name(&self) -> String {
        match &self.tag {
            Some(t) => format!("{}/{}:{t}", self.registry, self.repository),
            None => format!("{}/{}", self.registry, self.repository),
        }
    }
}

fn is_component(s: &str) -> bool {
    // [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*
    let b = s.as_bytes();
    if b.is_empty() || !b[0].is_ascii_lowercase() && !b[0].is_ascii_digit() {
        return false;
    }
    let last = b[b.len() - 1];
    if !(last.is_ascii_lowercase() || last.is_ascii_digit()) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            i += 1;
            continue;
        }
        match c {
            b'.' => i += 1,
            b'_' => i += if b.get(i + 1) == Some(&b'_') { 2 } else { 1 },
            b'-' => {
                while b.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
        if !b
            .get(i)
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        {
            return false;
        }
    }
    true
}

fn is_tag(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

impl FromStr for ImageRef {
    type Err = InvalidReference;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| InvalidReference {
            reference: s.to_string(),
            reason: reason.to_string(),
        };
        if s.is_empty() {
            return Err(bad("it is empty"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                let digest: Digest = d
                    .parse()
                    .map_err(|_| bad("the digest must look like sha256:<64 hex digits>"))?;
                (r, Some(digest))
            }
            None => (s, None),
        };
        // The tag is after the last `:` that comes after the last `/` (a port is before it).
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(rest[i + 1..].to_string())),
            _ => (rest, None),
        };
        if let Some(t) = &tag {
            if !is_tag(t) {
                return Err(bad("a tag is up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`"));
            }
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), rest.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        if path.is_empty() {
            return Err(bad("the repository name is missing"));
        }
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(bad("repository names must be lowercase"));
        }
        if !path.split('/').all(is_component) {
            return Err(bad("each part of the repository name is lowercase letters and digits, separated by `.`, `_`, `__` or `-`"));
        }
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        let tag = match (tag, &digest) {
            (None, None) => Some("latest".to_string()),
            (t, _) => t,
        };
        Ok(ImageRef {
            registry,
            repository,
            tag,
            digest,
        })
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> String {
        s.parse::<ImageRef>()
            .map(|r| r.to_string())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn normalises_like_docker() {
        assert_eq!(r("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(r("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(r("user/app"), "docker.io/user/app:latest");
        assert_eq!(r("127.0.0.1:5000/busybox"), "127.0.0.1:5000/busybox:latest");
        assert_eq!(r("localhost/a/b:v1"), "localhost/a/b:v1");
        assert_eq!(
            r("ghcr.io/org/team/app:1.0-rc_1"),
            "ghcr.io/org/team/app:1.0-rc_1"
        );
        let d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let pinned: ImageRef = format!("host:5000/ns/name:tag@{d}").parse().expect("valid");
        assert_eq!(
            (pinned.registry.as_str(), pinned.tag.as_deref()),
            ("host:5000", Some("tag"))
        );
        assert_eq!(pinned.reference(), d);
        let only_digest: ImageRef = format!("busybox@{d}").parse().expect("valid");
        assert_eq!(only_digest.tag, None);
        assert_eq!(
            "docker.io/library/busybox:latest"
                .parse::<ImageRef>()
                .map(|r| r.api_host().to_string())
                .ok()
                .as_deref(),
            Some("registry-1.docker.io")
        );
    }

    #[test]
    fn malformed_references_say_why() {
        for bad in [
            "",
            "Busybox",
            "busy box",
            "a//b",
            "a:",
            "a:-x",
            "a@sha256:zz",
            "-a",
            "a-",
            "127.0.0.1:5000/",
        ] {
            assert!(bad.parse::<ImageRef>().is_err(), "{bad:?} was accepted");
        }
        let e = "Busybox".parse::<ImageRef>().expect_err("uppercase");
        assert!(e.to_string().contains("lowercase"), "{e}");
    }
}
