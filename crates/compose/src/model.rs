//! The typed project model every other crate works from.
//!
//! Decoded from the canonical tree, so each field has exactly one shape. Keys
//! hb does not act on yet are kept verbatim in `other`, which keeps
//! `hb config` faithful to the file.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// A project name as Compose allows it: lowercase letters, digits, `_` and `-`,
/// starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProjectName(String);

impl ProjectName {
    /// Makes a valid name from a directory name, as Compose does: lowercase, and
    /// only `a-z`, `0-9`, `_` and `-` kept (leading `_`/`-` dropped).
    pub fn normalize(raw: &str) -> Option<Self> {
        let s: String = raw
            .to_lowercase()
            .chars()
            .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
            .collect();
        let s = s.trim_start_matches(['_', '-']).to_string();
        (!s.is_empty()).then_some(ProjectName(s))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a project name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid project name {0:?}: use lowercase letters, digits, `_` and `-`, starting with a letter or digit")]
pub struct InvalidProjectName(pub String);

impl FromStr for ProjectName {
    type Err = InvalidProjectName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = s
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if ok {
            Ok(ProjectName(s.to_string()))
        } else {
            Err(InvalidProjectName(s.to_string()))
        }
    }
}

impl TryFrom<String> for ProjectName {
    type Error = InvalidProjectName;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ProjectName> for String {
    fn from(p: ProjectName) -> String {
        p.0
    }
}

impl fmt::Display for ProjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A loaded, normalized compose project.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Project {
    /// The project name.
    pub name: ProjectName,
    /// The directory relative paths were resolved against.
    #[serde(skip)]
    pub working_dir: PathBuf,
    /// The compose files, in load order (empty for a detected project).
    #[serde(skip)]
    pub files: Vec<PathBuf>,
    /// Enabled services, by name in alphabetical order.
    pub services: IndexMap<String, Service>,
    /// Networks.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub networks: IndexMap<String, Resource>,
    /// Named volumes.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub volumes: IndexMap<String, Resource>,
    /// Secrets.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub secrets: IndexMap<String, Resource>,
    /// Configs.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub configs: IndexMap<String, Resource>,
    /// Top-level keys hb keeps but does not act on (`x-*`, `models`).
    #[serde(flatten)]
    pub other: IndexMap<String, Json>,
    /// Services left out because none of their profiles is active.
    #[serde(skip)]
    pub disabled: IndexMap<String, Service>,
    /// The variables interpolation saw (process environment over `.env`).
    #[serde(skip)]
    pub environment: IndexMap<String, String>,
}

/// A network, volume, secret or config definition.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Resource {
    /// The real name (`<project>_<key>` unless external or named).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Managed outside the project.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
    /// Everything else, verbatim.
    #[serde(flatten)]
    pub other: IndexMap<String, Json>,
}

/// One service, in canonical form. Fields in alphabetical order, as `docker compose config` prints them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Service {
    /// How to build the image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
    /// Added capabilities.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    /// Dropped capabilities.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    /// Overrides the image's Cmd.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Fixed container name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// CPU limit in cores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    /// Dependencies with their conditions.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub depends_on: IndexMap<String, Dependency>,
    /// `deploy` (replicas and resources are read; the rest kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploy: Option<Deploy>,
    /// `develop.watch` rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub develop: Option<Develop>,
    /// Overrides the image's Entrypoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Environment (env_file entries already folded in; `None` = inherit, but unset).
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub environment: IndexMap<String, Option<String>>,
    /// Exposed ports.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<String>,
    /// `host=ip` entries.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    /// Healthcheck.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    /// Hostname.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Image reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Run an init process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    /// Labels.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub labels: IndexMap<String, String>,
    /// Memory limit in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_limit: Option<u64>,
    /// `host`, `none`, `service:NAME`, `container:NAME` or a network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    /// Networks the service joins.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub networks: IndexMap<String, Option<ServiceNetwork>>,
    /// PID limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
    /// Published ports.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    /// Privileged mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    /// Profiles that enable the service.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    /// Read-only root filesystem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// Restart policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    /// Grace period before SIGKILL (Go duration text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<String>,
    /// Stop signal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// tmpfs mounts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tmpfs: Vec<String>,
    /// User (`name`, `uid`, `uid:gid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Mounts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Mount>,
    /// Working directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Every other key, verbatim.
    #[serde(flatten)]
    pub other: IndexMap<String, Json>,
}

/// `build`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Build {
    /// Context directory (absolute) or a remote URL.
    pub context: String,
    /// Dockerfile path, relative to the context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    /// Inline Dockerfile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dockerfile_inline: Option<String>,
    /// Build args (`None` = take from the environment).
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub args: IndexMap<String, Option<String>>,
    /// Target stage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Everything else, verbatim.
    #[serde(flatten)]
    pub other: IndexMap<String, Json>,
}

/// A `depends_on` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    /// `service_started`, `service_healthy` or `service_completed_successfully`.
    pub condition: String,
    /// When false, a missing or failing dependency is a warning.
    #[serde(default = "yes")]
    pub required: bool,
    /// Restart this service when the dependency is updated.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restart: bool,
}

fn yes() -> bool {
    true
}

/// `deploy`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Deploy {
    /// Replica count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i64>,
    /// Everything else, verbatim (resources, restart_policy, …).
    #[serde(flatten)]
    pub other: IndexMap<String, Json>,
}

/// `develop`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Develop {
    /// Watch rules.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub watch: Vec<WatchRule>,
    /// Everything else, verbatim.
    #[serde(flatten)]
    pub other: IndexMap<String, Json>,
}

/// A `develop.watch` rule.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WatchRule {
    /// Watched path (absolute).
    pub path: String,
    /// `sync`, `rebuild`, `restart`, `sync+restart`, `sync+exec`.
    pub action: String,
    /// Path in the container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Ignore patterns.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<String>,
    /// Include patterns.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// Everything else, verbatim (`exec`, `initial_sync`).
    #[serde(flatten)]
    pub other: IndexMap<String, Json>,
}

/// `healthcheck`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Healthcheck {
    /// `["CMD", …]`, `["CMD-SHELL", cmd]` or `["NONE"]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    /// Go duration text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Go duration text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Failures before unhealthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<u64>,
    /// Go duration text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_period: Option<String>,
    /// Go duration text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<String>,
    /// Disable the image's healthcheck.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub disable: bool,
}

/// A service's attachment to a network.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceNetwork {
    /// Extra names on this network.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Everything else, verbatim.
    #[serde(flatten)]
    pub other: IndexMap<String, Json>,
}

/// A published port in long syntax.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Port {
    /// `ingress` or `host`.
    #[serde(default = "ingress")]
    pub mode: String,
    /// Host address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    /// Container port.
    pub target: u16,
    /// Host port or range (`None` = pick a free one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    /// `tcp`, `udp`, `sctp`.
    #[serde(default = "tcp")]
    pub protocol: String,
    /// Everything else, verbatim (`name`, `app_protocol`).
    #[serde(flatten)]
    pub other: IndexMap<String, Json>,
}

fn ingress() -> String {
    "ingress".into()
}

fn tcp() -> String {
    "tcp".into()
}

/// A mount in long syntax.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mount {
    /// `bind`, `volume`, `tmpfs`, `npipe`, `cluster`, `image`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Host path (bind, absolute) or volume name; absent for anonymous volumes and tmpfs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Path in the container.
    pub target: String,
    /// Mount read-only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    /// Everything else, verbatim (`bind`, `volume`, `tmpfs` options).
    #[serde(flatten)]
    pub other: IndexMap<String, Json>,
}
