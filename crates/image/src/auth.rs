//! Registry settings and credentials: hb's TOML config (mirrors, insecure
//! registries) and Docker's `~/.docker/config.json` (`auths`, `credHelpers`,
//! `credsStore`), read where Docker keeps them so `docker login` and
//! `hb login` share credentials.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use serde::Deserialize;

use crate::{Error, Result};

/// One registry's settings in hb's config file:
///
/// ```toml
/// [[registry]]
/// host = "docker.io"
/// mirrors = ["127.0.0.1:5000"]
///
/// [[registry]]
/// host = "registry.internal:5000"
/// insecure = true   # plain http
/// ```
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct RegistrySettings {
    /// Registry host (and port) as it appears in image references.
    pub host: String,
    /// Hosts tried first, in order, for pulls from this registry.
    #[serde(default)]
    pub mirrors: Vec<String>,
    /// Talk plain http.
    #[serde(default)]
    pub insecure: bool,
}

/// hb's registry configuration (`$HB_CONFIG` or `~/.config/hb/config.toml`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Per-registry settings.
    #[serde(default, rename = "registry")]
    pub registries: Vec<RegistrySettings>,
}

impl RegistryConfig {
    /// Reads the config file; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(Error::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        toml::from_str(&text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// The settings for `host`, if the file names it.
    pub fn get(&self, host: &str) -> Option<&RegistrySettings> {
        self.registries.iter().find(|r| r.host == host)
    }

    /// Plain http for loopback registries (as Docker does) and for those marked insecure.
    pub fn is_insecure(&self, host: &str) -> bool {
        let name = host.rsplit_once(':').map_or(host, |(h, p)| {
            if p.chars().all(|c| c.is_ascii_digit()) {
                h
            } else {
                host
            }
        });
        matches!(name, "localhost" | "[::1]")
            || name.starts_with("127.")
            || self.get(host).is_some_and(|r| r.insecure)
    }
}

/// A user name and secret for a registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// User name.
    pub username: String,
    /// Password or token.
    pub secret: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("username", &self.username)
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
struct DockerConfig {
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    auths: HashMap<String, AuthEntry>,
    #[serde(
        default,
        rename = "credHelpers",
        skip_serializing_if = "HashMap::is_empty"
    )]
    cred_helpers: HashMap<String, String>,
    #[serde(
        default,
        rename = "credsStore",
        skip_serializing_if = "Option::is_none"
    )]
    creds_store: Option<String>,
    /// Keys hb does not use, kept when it writes the file back.
    #[serde(flatten)]
    other: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
struct AuthEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    auth: Option<String>,
    #[serde(flatten)]
    other: serde_json::Map<String, serde_json::Value>,
}

/// Where Docker keeps `config.json`: `$DOCKER_CONFIG`, else `~/.docker`.
pub fn docker_config_path(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let dir = env("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| Path::new(&h).join(".docker")))?;
    Some(dir.join("config.json"))
}

/// The keys Docker files a registry under in `auths`.
fn auth_keys(host: &str) -> Vec<String> {
    if host == crate::reference::DOCKER_HUB {
        vec![
            "https://index.docker.io/v1/".into(),
            "index.docker.io".into(),
            "docker.io".into(),
        ]
    } else {
        vec![
            host.to_string(),
            format!("https://{host}"),
            format!("http://{host}"),
        ]
    }
}

fn read_docker_config(path: &Path) -> Result<DockerConfig> {
    match std::fs::read_to_string(path) {
        Ok(t) => serde_json::from_str(&t).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            message: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DockerConfig::default()),
        Err(source) => Err(Error::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Looks up the credential for `host`: a `credHelpers` entry, else `auths`, else `credsStore`.
pub fn lookup(config: &Path, host: &str) -> Result<Option<Credential>> {
    let cfg = read_docker_config(config)?;
    if let Some(helper) = cfg.cred_helpers.get(host) {
        return helper_get(helper, host);
    }
    for key in auth_keys(host) {
        if let Some(auth) = cfg.auths.get(&key).and_then(|a| a.auth.as_deref()) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| Error::Config {
                    path: config.to_path_buf(),
                    message: format!("auths.{key}.auth is not base64 of user:password"),
                })?;
            let (u, p) = decoded.split_once(':').unwrap_or((&decoded, ""));
            return Ok(Some(Credential {
                username: u.into(),
                secret: p.into(),
            }));
        }
    }
    match &cfg.creds_store {
        Some(store) => helper_get(store, host),
        None => Ok(None),
    }
}

/// Runs `docker-credential-<helper> get` (the credential-helper protocol:
/// the server URL on stdin, `{"Username", "Secret"}` on stdout).
fn helper_get(helper: &str, host: &str) -> Result<Option<Credential>> {
    helper_run(&format!("docker-credential-{helper}"), host)
}

fn helper_run(program: &str, host: &str) -> Result<Option<Credential>> {
    let program = program.to_string();
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Credentials {
            helper: program.clone(),
            message: format!("cannot run it: {e}"),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(host.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| Error::Credentials {
        helper: program.clone(),
        message: e.to_string(),
    })?;
    if !out.status.success() {
        // Helpers answer "credentials not found in native keychain" when there are none.
        return Ok(None);
    }
    #[derive(Deserialize)]
    struct Answer {
        #[serde(rename = "Username")]
        username: String,
        #[serde(rename = "Secret")]
        secret: String,
    }
    let a: Answer = serde_json::from_slice(&out.stdout).map_err(|e| Error::Credentials {
        helper: program,
        message: format!("unreadable answer: {e}"),
    })?;
    Ok(Some(Credential {
        username: a.username,
        secret: a.secret,
    }))
}

/// Stores a credential in `auths` (what `docker login` does without a helper).
pub fn store(config: &Path, host: &str, cred: &Credential) -> Result<()> {
    let mut cfg = read_docker_config(config)?;
    let key = auth_keys(host).remove(0);
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", cred.username, cred.secret));
    cfg.auths.entry(key).or_default().auth = Some(auth);
    write_docker_config(config, &cfg)
}

/// Removes a registry's credential from `auths`; true if there was one.
pub fn remove(config: &Path, host: &str) -> Result<bool> {
    let mut cfg = read_docker_config(config)?;
    let mut removed = false;
    for key in auth_keys(host) {
        removed |= cfg.auths.remove(&key).is_some();
    }
    if removed {
        write_docker_config(config, &cfg)?;
    }
    Ok(removed)
}

fn write_docker_config(path: &Path, cfg: &DockerConfig) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let text = serde_json::to_string_pretty(cfg).map_err(|e| Error::Config {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    // Written to a temporary file and renamed, readable by the owner only: it holds secrets.
    let tmp = path.with_extension("json.hb-tmp");
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        f.write_all(text.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_are_plain_http() {
        let c = RegistryConfig::default();
        assert!(
            c.is_insecure("127.0.0.1:5000")
                && c.is_insecure("localhost")
                && c.is_insecure("localhost:5000")
        );
        assert!(!c.is_insecure("ghcr.io") && !c.is_insecure("docker.io"));
        let c: RegistryConfig = toml::from_str(
            "[[registry]]\nhost = \"reg.lan:5000\"\ninsecure = true\nmirrors = [\"m1\"]\n",
        )
        .expect("toml");
        assert!(c.is_insecure("reg.lan:5000"));
        assert_eq!(
            c.get("reg.lan:5000").map(|r| r.mirrors.clone()),
            Some(vec!["m1".to_string()])
        );
    }

    #[test]
    fn login_round_trip_keeps_other_keys() {
        let d = tempfile::tempdir().expect("tempdir");
        let path = d.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"auths":{"other.io":{"auth":"eDp5"}},"psFormat":"table"}"#,
        )
        .expect("write");
        let cred = Credential {
            username: "hb".into(),
            secret: "hbpass".into(),
        };
        store(&path, "127.0.0.1:5001", &cred).expect("store");
        assert_eq!(lookup(&path, "127.0.0.1:5001").expect("lookup"), Some(cred));
        assert_eq!(
            lookup(&path, "other.io")
                .expect("lookup")
                .map(|c| c.username),
            Some("x".into())
        );
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains("psFormat"), "{text}");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777,
            0o600
        );
        assert!(remove(&path, "127.0.0.1:5001").expect("remove"));
        assert_eq!(lookup(&path, "127.0.0.1:5001").expect("lookup"), None);
    }

    #[test]
    fn credential_helpers_speak_the_docker_protocol() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().expect("tempdir");
        let helper = d.path().join("docker-credential-hbtest");
        // Echoes the server URL it was given as the user name, to check stdin.
        std::fs::write(&helper, "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread url\nprintf '{\"ServerURL\":\"%s\",\"Username\":\"%s\",\"Secret\":\"s3cret\"}' \"$url\" \"$url\"\n").expect("write");
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let c = helper_run(helper.to_str().expect("utf8"), "reg.example:5000")
            .expect("runs")
            .expect("a credential");
        assert_eq!(
            (c.username.as_str(), c.secret.as_str()),
            ("reg.example:5000", "s3cret")
        );
        let failing = d.path().join("docker-credential-none");
        std::fs::write(
            &failing,
            "#!/bin/sh\necho 'credentials not found in native keychain' >&2\nexit 1\n",
        )
        .expect("write");
        std::fs::set_permissions(&failing, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(
            helper_run(failing.to_str().expect("utf8"), "x").expect("runs"),
            None
        );
    }

    #[test]
    fn a_missing_helper_is_a_clear_error() {
        let d = tempfile::tempdir().expect("tempdir");
        let path = d.path().join("config.json");
        std::fs::write(&path, r#"{"credHelpers":{"reg.io":"hb-test-nonexistent"}}"#)
            .expect("write");
        let e = lookup(&path, "reg.io").expect_err("no such helper");
        assert!(
            e.to_string()
                .contains("docker-credential-hb-test-nonexistent"),
            "{e}"
        );
    }
}
