//! The engine: carries out what the planner decides for a compose project —
//! `up` (pull, network, create, start, publish, in dependency waves),
//! `down`, `ps` — over the runtime, the network and the image store.
//!
//! ```text
//! Project ──► plan::reconcile(desired, observed) ──► Plan ──► Engine::execute
//!                      ▲                                        │ per wave, in parallel:
//!    observe(): crun/shim state + container labels              │ wait for depends_on,
//!                                                               ▼ net.attach, rt.create/start, proxy
//! ```
//!
//! One lock per project (`$HB_RUN/locks/<project>.lock`) serialises two `up`s of
//! one project; different projects run in parallel. What runs is read from the
//! runtime every time; the state store keeps only allocations (see [`state`]).
//!
//! Non-goals: parsing compose files, speaking HTTP (the image crate does),
//! rendering (the CLI does).

pub mod build;
pub mod events;
mod exec;
mod ops;
pub mod service;
pub mod state;
pub mod watch;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hb_image::{Puller, Store};
use hb_runtime::container::{Container, Runtime};

pub use build::{BuildOptions, BuiltService};
pub use exec::{read_ports, DownOptions, Event, PortInfo, RunOptions, UpOptions, UpReport};

/// Label: the project a container belongs to.
pub const LABEL_PROJECT: &str = "dev.hb.project";
/// Label: its service.
pub const LABEL_SERVICE: &str = "dev.hb.service";
/// Label: its replica number.
pub const LABEL_NUMBER: &str = "dev.hb.container-number";
/// Label: the hash of the configuration it was made from.
pub const LABEL_HASH: &str = "dev.hb.config-hash";
/// Label: one-off (`hb run`) container.
pub const LABEL_ONEOFF: &str = "dev.hb.oneoff";

/// Why an engine operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A service cannot be run as written.
    #[error("service {service}: {message}")]
    Service {
        /// The service.
        service: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A dependency did not reach its condition.
    #[error("service {service} cannot start: {message}")]
    Dependency {
        /// The dependent service.
        service: String,
        /// What its dependency did.
        message: String,
    },
    /// The runtime failed.
    #[error("{container}: {source}")]
    Runtime {
        /// The container.
        container: String,
        /// The runtime's error.
        source: hb_runtime::Error,
    },
    /// The network failed.
    #[error(transparent)]
    Net(#[from] hb_net::Error),
    /// The image store or a pull failed.
    #[error("image {image}: {source}")]
    Image {
        /// The image.
        image: String,
        /// The error.
        source: hb_image::Error,
    },
    /// The dependency graph is broken.
    #[error(transparent)]
    Graph(#[from] hb_plan::Error),
    /// The state store failed.
    #[error("state store: {0}")]
    State(String),
    /// A file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A service's image build failed.
    #[error("service {service}: build failed: {error}")]
    Build {
        /// The service.
        service: String,
        /// Why (boxed: it is large, and rare; not a `source`, since the message
        /// already says all of it).
        error: Box<hb_build::Error>,
    },
    /// Stopped early, as asked (`UpOptions::cancel`).
    #[error("cancelled")]
    Cancelled,
    /// Several services failed in one wave.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Many(Vec<Error>),
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// The engine over one hb root.
pub struct Engine {
    /// The container runtime (`$HB_ROOT`, `$HB_RUN`, crun, hb-shim).
    pub rt: Runtime,
    /// The image store.
    pub store: Arc<Store>,
    /// Pulls missing images; `None` when only stored images may be used.
    pub puller: Option<Puller>,
    /// The `hb-proxy` binary.
    pub proxy: PathBuf,
    /// Network configuration.
    pub ip: Box<dyn hb_net::Ip + Send + Sync>,
}

/// A container of a project, as `ps` shows it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct ContainerInfo {
    /// Its name.
    pub name: String,
    /// Its service.
    pub service: String,
    /// Its image.
    pub image: String,
    /// `running`, `exited`, `restarting`, `created`, `failed`.
    pub state: String,
    /// `running (healthy)`, `exited (1)`.
    pub status: String,
    /// Health, when it has a healthcheck.
    pub health: Option<String>,
    /// Exit code, once exited.
    pub exit_code: Option<i32>,
    /// Published ports.
    pub ports: Vec<PortInfo>,
}

/// Holds a project's lock while alive.
pub struct ProjectLock(#[allow(dead_code)] nix::fcntl::Flock<std::fs::File>);

impl Engine {
    fn net(&self) -> hb_net::Net<'_> {
        hb_net::Net::new(&self.rt.tag(), self.ip.as_ref())
    }

    fn state(&self) -> Result<state::State> {
        state::State::open(&self.rt.root)
    }

    /// Takes the project's lock, waiting for another `up`/`down` of it to finish.
    pub fn lock(&self, project: &str) -> Result<ProjectLock> {
        let dir = self.rt.run.join("locks");
        std::fs::create_dir_all(&dir).map_err(|e| Error::Io {
            path: dir.clone(),
            source: e,
        })?;
        let path = dir.join(format!("{project}.lock"));
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::Io {
                path: path.clone(),
                source: e,
            })?;
        nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
            .map(ProjectLock)
            .map_err(|(_, e)| Error::Io {
                path,
                source: e.into(),
            })
    }

    /// The project's containers with their labels, by name.
    pub fn containers(&self, project: &str) -> Vec<(Container, BTreeMap<String, String>)> {
        self.rt
            .list()
            .into_iter()
            .map(|c| {
                let labels = self.rt.labels(&c);
                (c, labels)
            })
            .filter(|(_, l)| l.get(LABEL_PROJECT).is_some_and(|p| p == project))
            .collect()
    }

    /// How to stop a service's container: the file's `stop_signal` and grace,
    /// else the `StopSignal` of the image the container was made from.
    pub fn stop_how(&self, s: &hb_compose::Service, c: &Container) -> (String, Duration) {
        let image = self
            .store
            .find(&self.rt.image_of(c))
            .and_then(|r| self.store.image(&r))
            .ok();
        service::stop_how(s, image.as_ref())
    }

    /// The projects that have containers: name → container count.
    pub fn projects(&self) -> BTreeMap<String, Vec<Container>> {
        let mut out: BTreeMap<String, Vec<Container>> = BTreeMap::new();
        for c in self.rt.list() {
            if let Some(p) = self.rt.labels(&c).remove(LABEL_PROJECT) {
                out.entry(p).or_default().push(c);
            }
        }
        out
    }

    /// The project's containers as `ps` shows them.
    pub fn ps(&self, project: &str) -> Vec<ContainerInfo> {
        let mut out: Vec<ContainerInfo> = self
            .containers(project)
            .into_iter()
            .map(|(c, labels)| self.info(&c, &labels))
            .collect();
        out.sort_by(|a, b| (&a.service, &a.name).cmp(&(&b.service, &b.name)));
        out
    }

    fn info(&self, c: &Container, labels: &BTreeMap<String, String>) -> ContainerInfo {
        let s = self.rt.status(c);
        let health = self.rt.health(c).map(|h| h.status);
        let state = s
            .as_ref()
            .map_or("created".to_string(), |s| s.state.clone());
        let exit_code = s.as_ref().and_then(|s| s.exit_code);
        let state = if state == "running" && self.rt.paused(c) {
            "paused".to_string()
        } else {
            state
        };
        let status = match (state.as_str(), &health, exit_code) {
            ("running", Some(h), _) => format!("running ({h})"),
            ("exited", _, Some(code)) => format!("exited ({code})"),
            (s, _, _) => s.to_string(),
        };
        ContainerInfo {
            name: c.id.clone(),
            service: labels.get(LABEL_SERVICE).cloned().unwrap_or_default(),
            image: self.rt.image_of(c),
            state,
            status,
            health,
            exit_code,
            ports: exec::read_ports(&c.dir),
        }
    }
}

/// How often waits poll the shims' status files.
const POLL: Duration = Duration::from_millis(5);

/// Copies an image's content at a volume's mount point into the new, empty
/// volume, as Docker does on a named volume's first use (`cp -a` keeps owners,
/// modes, links and xattrs).
fn populate(rootfs: &Path, v: &service::NewVolume) -> Result<()> {
    let from = rootfs.join(v.target.trim_start_matches('/'));
    if !from.is_dir() {
        return Ok(());
    }
    let out = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(&v.dir)
        .output()
        .map_err(|e| Error::Io {
            path: v.dir.clone(),
            source: e,
        })?;
    if !out.status.success() {
        return Err(Error::Io {
            path: v.dir.clone(),
            source: std::io::Error::other(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        });
    }
    Ok(())
}
