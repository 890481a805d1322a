//! The shapes of results and notifications: what the methods send, and what
//! the OpenRPC document's schemas are generated from (schemars, JSON Schema
//! draft 7, which OpenRPC 1.2 uses).

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Serialize;

/// `system.version`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Version {
    /// hb's version.
    pub version: String,
    /// The API's version (1).
    pub api: u32,
}

/// `system.info`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Info {
    /// `$HB_ROOT`.
    pub root: PathBuf,
    /// `$HB_RUN`.
    pub run: PathBuf,
    /// The crun binary.
    pub crun: PathBuf,
}

/// A `projects.list` entry.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ProjectSummary {
    /// The project's name.
    pub name: String,
    /// Its containers.
    pub containers: usize,
    /// How many of them run.
    pub running: usize,
}

/// A port `project.up` published.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Published {
    /// The container.
    pub container: String,
    /// Where the host serves it (`127.0.0.1:8080`).
    pub host: String,
    /// The container port.
    pub target: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
}

/// `project.up`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Up {
    /// The plan carried out, as `hb up --dry-run` prints it.
    pub plan: String,
    /// Published ports.
    pub ports: Vec<Published>,
}

/// `project.down`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Down {
    /// The project taken down.
    pub down: String,
}

/// `container.exec`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Exec {
    /// The command's exit code.
    pub exit_code: i32,
    /// Its standard output (lossy UTF-8).
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// The answer to a stream's request; its notifications carry this number.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Subscription {
    /// The subscription's number.
    pub subscription: u64,
}

/// A `project.build` entry.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Built {
    /// The service.
    pub service: String,
    /// The image's name.
    pub image: String,
    /// Its manifest digest.
    pub manifest: String,
    /// Cacheable steps.
    pub steps: usize,
    /// Of which from the cache.
    pub cached: usize,
    /// How long the build took.
    pub elapsed_ms: u64,
}

/// `project.watch.start`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Watching {
    /// The project.
    pub watching: String,
    /// Watch rules in force.
    pub rules: usize,
    /// What hb chose for services without `develop.watch`.
    pub chosen: Vec<String>,
}

/// `project.watch.stop`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Stopped {
    /// The project no longer watched.
    pub stopped: String,
}

/// `$/cancel` (when sent with an id).
#[derive(Debug, Serialize, JsonSchema)]
pub struct Cancelled {
    /// True when a pending request of this connection had that id.
    pub cancelled: bool,
}

/// An `events` notification's event, as `docker events --format json` shapes them.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Event {
    /// `container`, `image` or `watch`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `create`, `start`, `die`, `stop`, `destroy`, `pause`, `unpause`,
    /// `health_status: healthy|unhealthy`; `pull`, `build`; `sync`, `restart`,
    /// `exec`, `rebuild`, `failed`.
    pub action: String,
    /// The project (none for a pull outside a project).
    pub project: Option<String>,
    /// The service, for container and watch events.
    pub service: Option<String>,
    /// The container, for container events.
    pub container: Option<String>,
    /// RFC 3339.
    pub time: String,
    /// `name`, `image`, `exitCode`; `what`, `took_ms`; …
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// `project.kill`, `project.pause`, `project.unpause`, `project.rm`: the
/// containers acted on, as `service-n`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Affected {
    /// Their `service-n` labels.
    pub containers: Vec<String>,
}

/// A `project.top` entry.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Top {
    /// The container, as `service-n`.
    pub container: String,
    /// Its processes.
    pub processes: Vec<hb_runtime::observe::Process>,
}

/// A `project.stats` entry: one sample (CPU % needs two: the client takes them).
#[derive(Debug, Serialize, JsonSchema)]
pub struct Sample {
    /// The container, as `service-n`.
    pub container: String,
    /// Its resource use now.
    pub stats: hb_runtime::observe::Stats,
}

/// `project.port`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Port {
    /// Where the host serves the container port (`127.0.0.1:8080`).
    pub host: String,
}
