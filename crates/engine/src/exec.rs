//! The executor: `up` and `down` carried out wave by wave. It decides nothing —
//! `hb_plan::reconcile` did — except to stop at the first wave that fails.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hb_compose::{Project, Service};
use hb_image::{ImageRef, LocalImage, Platform, Quiet};
use hb_net::hosts::Peer;
use hb_net::{Attachment, Publish};
use hb_plan::reconcile::{self, Action, Desired, Observed, Plan};
use hb_runtime::container::Container;
use hb_runtime::spec::NetNs;
use serde::{Deserialize, Serialize};

use crate::build::BuildOptions;
use crate::service;
use crate::state::State;
use crate::{Engine, Error, Result, LABEL_HASH, LABEL_NUMBER, LABEL_PROJECT, LABEL_SERVICE, POLL};

/// What `hb up` asks for.
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    /// Only these services (and, unless `no_deps`, their dependencies); empty: all.
    pub services: Vec<String>,
    /// `--no-deps`.
    pub no_deps: bool,
    /// `--force-recreate`, `--no-recreate`, `--remove-orphans`.
    pub plan: reconcile::Options,
    /// `--scale SERVICE=N`.
    pub scale: BTreeMap<String, u32>,
    /// `--auto-ports`: a taken host port maps to a free one instead of failing.
    pub auto_ports: bool,
    /// `--dry-run`: plan only.
    pub dry_run: bool,
    /// `--wait`: return once every service with a healthcheck is healthy.
    pub wait: bool,
    /// `--build`: build images before starting (only missing ones are built otherwise).
    pub build: bool,
    /// `--no-build`: never build, even a missing image.
    pub no_build: bool,
    /// Set by someone else to stop early (the API's `$/cancel`): checked before
    /// each build step, before the pulls and between dependency waves; what
    /// already started stays started.
    pub cancel: Option<Arc<std::sync::atomic::AtomicBool>>,
}

impl UpOptions {
    fn cancelled(&self) -> Result<()> {
        match &self.cancel {
            Some(c) if c.load(std::sync::atomic::Ordering::SeqCst) => Err(Error::Cancelled),
            _ => Ok(()),
        }
    }
}

/// What `hb down` asks for.
#[derive(Debug, Clone, Default)]
pub struct DownOptions {
    /// `-v`: remove named volumes too.
    pub volumes: bool,
    /// `--remove-orphans`.
    pub remove_orphans: bool,
    /// `-t`: override every service's stop grace period.
    pub timeout: Option<Duration>,
}

/// What `hb run SERVICE` asks for.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The service.
    pub service: String,
    /// Replaces the service's command.
    pub command: Option<Vec<String>>,
    /// Replaces its entrypoint.
    pub entrypoint: Option<Vec<String>>,
    /// More environment (`None`: unset).
    pub env: Vec<(String, Option<String>)>,
    /// Run as this user.
    pub user: Option<String>,
    /// Working directory.
    pub workdir: Option<String>,
    /// Container name (default `<project>-<service>-run-<hex>`).
    pub name: Option<String>,
    /// Do not start the dependencies.
    pub no_deps: bool,
    /// Publish the service's ports (they are not by default, as in Compose).
    pub service_ports: bool,
}

/// When `up` builds a service's image.
#[derive(Debug, Clone, Default)]
struct Build {
    /// Every time (`--build`).
    always: bool,
    /// Never (`--no-build`); otherwise when it is missing.
    never: bool,
    /// Stops the builds early.
    cancel: Option<Arc<std::sync::atomic::AtomicBool>>,
}

/// Progress, for the CLI to print (and the daemon to stream).
#[derive(Debug, Clone)]
pub enum Event {
    /// An image is being pulled.
    Pulling(String),
    /// A step of the plan is done.
    Done(Action, Duration),
    /// A service waits for a dependency.
    Waiting {
        /// The service.
        service: String,
        /// The dependency and its condition.
        on: String,
    },
    /// A container stopped and went (`down`).
    Removed(String, Duration),
    /// A container stopped (`stop`).
    Stopped(String, Duration),
    /// A stopped container started (`start`).
    Started(String, Duration),
    /// Something the user should know.
    Warning(String),
    /// A service's image build begins.
    Building(String),
    /// A service's build reports a step or a line of output.
    Build {
        /// The service.
        service: String,
        /// What its build reported.
        event: hb_build::Event,
    },
    /// A service's image is built.
    Built(crate::BuiltService),
}

/// One published port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PortInfo {
    /// Container port.
    pub target: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// Where the host serves it.
    pub host: SocketAddr,
}

/// What `up` did.
#[derive(Debug, Clone)]
pub struct UpReport {
    /// The plan it carried out (or would, with `dry_run`).
    pub plan: Plan,
    /// Published ports: (container, port).
    pub ports: Vec<(String, PortInfo)>,
}

/// The ports a container publishes, as recorded when its proxy started.
pub fn read_ports(dir: &Path) -> Vec<PortInfo> {
    std::fs::read(dir.join("ports.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// How a service is networked.
enum Mode {
    /// On project networks (their indices; the first is the default route).
    Bridged(Vec<(String, u32)>),
    Host,
    None,
    /// In another service's first container's namespace.
    Service(String),
}

struct Ctx<'a> {
    engine: &'a Engine,
    project: &'a Project,
    state: std::sync::Mutex<State>,
    images: BTreeMap<String, LocalImage>,
    modes: BTreeMap<String, Mode>,
    peers: Vec<Peer>,
    opts: &'a UpOptions,
    on: &'a (dyn Fn(Event) + Sync),
    ports: std::sync::Mutex<Vec<(String, PortInfo)>>,
    /// The host's address on the project's host gateway, once made.
    gateway: std::sync::Mutex<Option<Ipv4Addr>>,
}

fn rt_err(container: &str) -> impl FnOnce(hb_runtime::Error) -> Error + '_ {
    move |source| Error::Runtime {
        container: container.to_string(),
        source,
    }
}

impl Engine {
    /// `hb up`: brings the project to what its file says.
    pub fn up(
        &self,
        project: &Project,
        opts: &UpOptions,
        on: &(dyn Fn(Event) + Sync),
    ) -> Result<UpReport> {
        let _lock = self.lock(project.name.as_str())?;
        self.up_locked(project, opts, on)
    }

    /// `up`, for a caller that holds the project's lock already (watch's `rebuild`).
    pub(crate) fn up_locked(
        &self,
        project: &Project,
        opts: &UpOptions,
        on: &(dyn Fn(Event) + Sync),
    ) -> Result<UpReport> {
        let name = project.name.as_str();
        let graph = hb_plan::Graph::new(project)?;
        let selected = select(project, &graph, opts)?;
        let build = Build {
            always: opts.build,
            never: opts.no_build,
            cancel: opts.cancel.clone(),
        };
        let images = self.images(project, &selected, opts.dry_run, build, on)?;
        opts.cancelled()?;

        let state = self.state()?;
        let mut desired = Vec::new();
        for svc in graph
            .waves
            .iter()
            .flatten()
            .filter(|s| selected.contains(*s))
        {
            let s = &project.services[svc];
            let image_config = images.get(svc).map_or("", |i| i.record.config.as_str());
            let replicas = replicas(svc, s, opts)?;
            desired.push(Desired {
                service: svc.clone(),
                replicas,
                config_hash: service::config_hash(s, image_config),
                container_names: (1..=replicas)
                    .map(|n| container_name(project, svc, s, n))
                    .collect(),
                restart_with: s
                    .depends_on
                    .iter()
                    .filter(|(_, d)| d.restart)
                    .map(|(dep, _)| dep.clone())
                    .collect(),
            });
        }
        let untouched: Vec<String> = project
            .services
            .keys()
            .filter(|s| !selected.contains(*s))
            .cloned()
            .collect();
        let observed = self.observe(name);
        let plan = reconcile::reconcile(&desired, &untouched, &observed, opts.plan);
        if opts.dry_run {
            return Ok(UpReport {
                plan,
                ports: Vec::new(),
            });
        }

        // Every container's networks and addresses, before any starts, so each
        // /etc/hosts names them all.
        let replicas_of = |svc: &str| {
            desired
                .iter()
                .find(|d| d.service == svc)
                .map_or(1, |d| d.replicas)
        };
        let (modes, peers) = self.networks(project, &state, &replicas_of, None)?;
        if selected
            .iter()
            .any(|s| matches!(modes.get(s), Some(Mode::Bridged(_))))
        {
            self.ensure_networks(project, &modes)?;
        }
        let cx = Ctx {
            engine: self,
            project,
            state: std::sync::Mutex::new(state),
            images,
            modes,
            peers,
            opts,
            on,
            ports: std::sync::Mutex::default(),
            gateway: std::sync::Mutex::default(),
        };

        // Orphans and scaled-down replicas go first, freeing their ports.
        for a in plan
            .steps
            .iter()
            .filter(|a| matches!(a, Action::Remove { .. }))
        {
            let t = Instant::now();
            cx.remove(a.service(), a.container())?;
            on(Event::Done(a.clone(), t.elapsed()));
        }
        for wave in &graph.waves {
            opts.cancelled()?;
            let services: Vec<&String> = wave.iter().filter(|s| selected.contains(*s)).collect();
            let errors = parallel(&services, |svc| {
                let steps: Vec<&Action> = plan
                    .steps
                    .iter()
                    .filter(|a| a.service() == *svc && !matches!(a, Action::Remove { .. }))
                    .collect();
                cx.service(svc, &steps)
            });
            match errors.len() {
                0 => {}
                1 => return Err(errors.into_iter().next().unwrap_or(Error::Many(Vec::new()))),
                _ => return Err(Error::Many(errors)),
            }
        }
        if opts.wait {
            for svc in &selected {
                let s = &project.services[svc];
                if cx
                    .images
                    .get(svc)
                    .and_then(|i| service::health(svc, s, i).ok().flatten())
                    .is_some()
                {
                    cx.wait_for(svc, svc, "service_healthy")?;
                }
            }
        }
        let mut ports = cx.ports.into_inner().unwrap_or_default();
        ports.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(UpReport { plan, ports })
    }

    /// Each service's network mode and every container's names and addresses
    /// (`replicas` per service; plus a one-off container, when given).
    fn networks(
        &self,
        project: &Project,
        state: &State,
        replicas: &dyn Fn(&str) -> u32,
        oneoff: Option<(&str, &str)>,
    ) -> Result<(BTreeMap<String, Mode>, Vec<Peer>)> {
        let name = project.name.as_str();
        let mut modes = BTreeMap::new();
        let mut peers = Vec::new();
        for (svc, s) in &project.services {
            let mode = network_mode(state, project, svc, s)?;
            if let Mode::Bridged(nets) = &mode {
                let mut containers: Vec<String> = (1..=replicas(svc))
                    .map(|k| container_name(project, svc, s, k))
                    .collect();
                containers.extend(oneoff.filter(|(o, _)| o == svc).map(|(_, c)| c.to_string()));
                for cname in containers {
                    for (net, idx) in nets {
                        let host = state.address(name, net, &cname)?;
                        let mut names = vec![cname.clone(), svc.clone()];
                        names.extend(s.hostname.clone());
                        if let Some(Some(sn)) = s.networks.get(net) {
                            names.extend(sn.aliases.iter().cloned());
                        }
                        peers.push(Peer {
                            address: hb_net::host_address(*idx, host),
                            network: *idx,
                            names,
                        });
                    }
                }
            }
            modes.insert(svc.clone(), mode);
        }
        Ok((modes, peers))
    }

    /// The project namespace with a bridge for every network a service is on.
    fn ensure_networks(&self, project: &Project, modes: &BTreeMap<String, Mode>) -> Result<()> {
        let indices: BTreeSet<u32> = modes
            .values()
            .filter_map(|m| match m {
                Mode::Bridged(nets) => Some(nets.iter().map(|(_, i)| *i)),
                _ => None,
            })
            .flatten()
            .collect();
        if indices.is_empty() {
            return Ok(());
        }
        self.net().ensure_project(
            project.name.as_str(),
            &indices.into_iter().collect::<Vec<_>>(),
        )?;
        Ok(())
    }

    /// `hb run SERVICE`: a one-off container of a service (its dependencies up
    /// first unless `no_deps`), started and returned; the caller follows it.
    pub fn run(
        &self,
        project: &Project,
        opts: &RunOptions,
        on: &(dyn Fn(Event) + Sync),
    ) -> Result<Container> {
        let svc = opts.service.as_str();
        let s = project.services.get(svc).ok_or_else(|| Error::Service {
            service: svc.to_string(),
            message: "no such service in the project; `hb config --services` lists them".into(),
        })?;
        if !opts.no_deps {
            let deps: Vec<String> = s
                .depends_on
                .keys()
                .filter(|d| project.services.contains_key(*d))
                .cloned()
                .collect();
            if !deps.is_empty() {
                let up = UpOptions {
                    services: deps,
                    ..UpOptions::default()
                };
                self.up(project, &up, on)?;
            }
        }
        let name = project.name.as_str();
        let _lock = self.lock(name)?;
        let images = self.images(
            project,
            &BTreeSet::from([svc.to_string()]),
            false,
            Build::default(),
            on,
        )?;
        let state = self.state()?;
        let cname = opts.name.clone().unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            format!(
                "{name}-{svc}-run-{:06x}",
                (nanos ^ std::process::id()) & 0xff_ffff
            )
        });
        let observed = self.observe(name);
        let replicas_of = |svc: &str| {
            observed
                .iter()
                .filter(|o| o.service == svc)
                .map(|o| o.number)
                .max()
                .unwrap_or(1)
        };
        let (modes, peers) = self.networks(project, &state, &replicas_of, Some((svc, &cname)))?;
        if matches!(modes.get(svc), Some(Mode::Bridged(_))) {
            self.ensure_networks(project, &modes)?;
        }
        let up = UpOptions::default();
        let cx = Ctx {
            engine: self,
            project,
            state: std::sync::Mutex::new(state),
            images,
            modes,
            peers,
            opts: &up,
            on,
            ports: std::sync::Mutex::default(),
            gateway: std::sync::Mutex::default(),
        };
        cx.create(svc, &cname, 0, Some(opts))?;
        self.rt.get(&cname).ok_or_else(|| Error::Service {
            service: svc.to_string(),
            message: format!("{cname} vanished as it started"),
        })
    }

    /// The images of the selected services: built (services with `build:`,
    /// when missing or asked to) and pulled (those not stored), in parallel.
    fn images(
        &self,
        project: &Project,
        selected: &BTreeSet<String>,
        dry_run: bool,
        build: Build,
        on: &(dyn Fn(Event) + Sync),
    ) -> Result<BTreeMap<String, LocalImage>> {
        let mut missing: BTreeMap<String, ImageRef> = BTreeMap::new();
        let mut names = BTreeMap::new();
        let mut to_build = BTreeSet::new();
        for svc in selected {
            let s = &project.services[svc];
            // compose-spec `pull_policy`: `always`, `never`, `missing` (the default;
            // `if_not_present` too), `build`; `daily`, `weekly` and `every_<d>`
            // are read as `missing`, since hb keeps no pull times.
            let policy = s
                .other
                .get("pull_policy")
                .and_then(|v| v.as_str())
                .unwrap_or("missing");
            if s.build.is_some() {
                let image = crate::build::image_name(project, svc, s);
                let stored = self.store.find(&image).is_ok();
                let always = build.always || policy == "build";
                if always && build.never {
                    return Err(Error::Service {
                        service: svc.clone(),
                        message:
                            "pull_policy: build asks for a build, and --no-build says not to build"
                                .into(),
                    });
                }
                if always || (!stored && !build.never) {
                    to_build.insert(svc.clone());
                } else if !stored {
                    return Err(Error::Service {
                        service: svc.clone(),
                        message: format!("its image {image} is not built, and --no-build says not to build it; run `hb build {svc}`"),
                    });
                }
                names.insert(svc.clone(), image);
                continue;
            }
            let Some(image) = s.image.clone() else {
                return Err(Error::Service {
                    service: svc.clone(),
                    message: "it has neither `image:` nor `build:`; give it one".into(),
                });
            };
            let stored = self.store.find(&image).is_ok();
            match policy {
                "never" if !stored => {
                    return Err(Error::Service {
                        service: svc.clone(),
                        message: format!("its image {image} is not stored, and pull_policy: never says not to pull it; `hb pull {image}` or import it"),
                    })
                }
                "never" => {}
                "build" => {
                    return Err(Error::Service {
                        service: svc.clone(),
                        message: "pull_policy: build, but it has no `build:` to build from".into(),
                    })
                }
                _ if stored && policy != "always" => {}
                _ => {
                    let r: ImageRef = image.parse().map_err(|e| Error::Image {
                        image: image.clone(),
                        source: hb_image::Error::Reference(e),
                    })?;
                    missing.insert(image.clone(), r);
                }
            }
            names.insert(svc.clone(), image);
        }
        // Builds and pulls at the same time: neither waits for the other.
        let (built, pulled) = std::thread::scope(|scope| {
            let builds = (!to_build.is_empty() && !dry_run).then(|| {
                let opts = BuildOptions {
                    cancel: build.cancel.clone(),
                    ..BuildOptions::default()
                };
                let to_build = &to_build;
                scope.spawn(move || self.build_set(project, to_build, &opts, on))
            });
            let pulled = if missing.is_empty() || dry_run {
                Ok(())
            } else {
                self.pull_missing(&missing, on)
            };
            let built = builds.map_or(Ok(()), |h| {
                h.join().expect("a build thread panicked").map(|_| ())
            });
            (built, pulled)
        });
        built?;
        pulled?;
        let mut out = BTreeMap::new();
        for (svc, image) in names {
            let Ok(rec) = self.store.find(&image) else {
                continue; // dry run: not pulled
            };
            let img = self.store.image(&rec).map_err(|e| Error::Image {
                image: image.clone(),
                source: e,
            })?;
            out.insert(svc, img);
        }
        Ok(out)
    }

    /// Pulls the images not stored, all at once.
    fn pull_missing(
        &self,
        missing: &BTreeMap<String, ImageRef>,
        on: &(dyn Fn(Event) + Sync),
    ) -> Result<()> {
        let Some(puller) = &self.puller else {
            let first = missing.keys().next().cloned().unwrap_or_default();
            return Err(Error::Image {
                image: first.clone(),
                source: hb_image::Error::NotFound {
                    image: first,
                    what: "not stored, and this hb may not pull".into(),
                },
            });
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::State(format!("cannot start the async runtime: {e}")))?;
        rt.block_on(async {
            let pulls = missing.iter().map(|(name, r)| {
                on(Event::Pulling(name.clone()));
                async move {
                    puller
                        .pull(r, &Platform::host(), Arc::new(Quiet))
                        .await
                        .map_err(|e| Error::Image {
                            image: name.clone(),
                            source: e,
                        })
                }
            });
            for r in futures_util::future::join_all(pulls).await {
                r?;
            }
            Ok::<_, Error>(())
        })
    }

    fn observe(&self, project: &str) -> Vec<Observed> {
        self.containers(project)
            .into_iter()
            .filter(|(_, l)| !l.contains_key(crate::LABEL_ONEOFF))
            .map(|(c, l)| Observed {
                state: if self.rt.running(&c) {
                    reconcile::State::Running
                } else {
                    reconcile::State::Stopped
                },
                name: c.id,
                service: l.get(LABEL_SERVICE).cloned().unwrap_or_default(),
                number: l
                    .get(LABEL_NUMBER)
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1),
                config_hash: l.get(LABEL_HASH).cloned().unwrap_or_default(),
            })
            .collect()
    }

    /// `hb down`: stops and removes the project's containers (dependents first),
    /// its network namespace and, with `volumes`, its named volumes.
    pub fn down(
        &self,
        project: &Project,
        opts: &DownOptions,
        on: &(dyn Fn(Event) + Sync),
    ) -> Result<()> {
        let name = project.name.as_str();
        let _lock = self.lock(name)?;
        let graph = hb_plan::Graph::new(project)?;
        let mut all = self.containers(name);
        // Dependents first: the last wave goes first; orphans before everything.
        let rank = |svc: &str| {
            graph
                .waves
                .iter()
                .position(|w| w.iter().any(|s| s == svc))
                .map_or(usize::MAX, |i| i)
        };
        all.sort_by_key(|(_, l)| {
            std::cmp::Reverse(rank(l.get(LABEL_SERVICE).map_or("", String::as_str)))
        });
        let mut orphans_left = false;
        let mut groups: Vec<Vec<(Container, String)>> = Vec::new();
        let mut last_rank = None;
        for (c, l) in all {
            let svc = l.get(LABEL_SERVICE).cloned().unwrap_or_default();
            let r = rank(&svc);
            if r == usize::MAX && !opts.remove_orphans {
                orphans_left = true;
                on(Event::Warning(format!("{} belongs to service {svc}, which is no longer in the project: left running (use --remove-orphans)", c.id)));
                continue;
            }
            if last_rank != Some(r) {
                groups.push(Vec::new());
                last_rank = Some(r);
            }
            if let Some(g) = groups.last_mut() {
                g.push((c, svc));
            }
        }
        let state = std::sync::Mutex::new(self.state()?);
        let removed = std::sync::Mutex::new(Vec::new());
        // Stopped dependents first, wave by wave; then everything goes at once.
        // A container that fails to go does not keep the others: all are tried,
        // and the errors reported together.
        let mut failed = Vec::new();
        for group in &groups {
            failed.extend(parallel(group, |(c, svc)| {
                if !self.rt.running(c) {
                    return Ok(());
                }
                let s = project.services.get(svc);
                let (signal, mut grace) = s.map_or(("TERM".into(), Duration::from_secs(10)), |s| {
                    self.stop_how(s, c)
                });
                if let Some(t) = opts.timeout {
                    grace = t;
                }
                self.stop_container(c, &signal, grace)
            }));
        }
        let all: Vec<(Container, String)> = groups.into_iter().flatten().collect();
        failed.extend(parallel(&all, |(c, _)| {
            let t = Instant::now();
            self.remove_container(c, "KILL", Duration::ZERO)?;
            if let Ok(st) = state.lock() {
                st.forget_container(name, &c.id)?;
            }
            if let Ok(mut r) = removed.lock() {
                r.push(c.id.clone());
            }
            on(Event::Removed(c.id.clone(), t.elapsed()));
            Ok(())
        }));
        if !failed.is_empty() {
            return Err(Error::Many(failed));
        }
        if !orphans_left {
            self.net()
                .remove_project(name, &removed.into_inner().unwrap_or_default())?;
            if let Ok(st) = state.lock() {
                st.forget_project(name)?;
            }
        }
        if opts.volumes {
            for (key, v) in &project.volumes {
                if v.external {
                    continue;
                }
                let dir = service::volume_dir(&self.rt.root, project, key);
                if dir.exists() {
                    std::fs::remove_dir_all(&dir).map_err(|e| Error::Io {
                        path: dir.clone(),
                        source: e,
                    })?;
                }
            }
        }
        Ok(())
    }

    /// Stops a container (signal, then SIGKILL after `grace`) and removes it
    /// with its proxy, network namespace and anonymous volumes.
    pub fn remove_container(&self, c: &Container, signal: &str, grace: Duration) -> Result<()> {
        if self.rt.running(c) {
            self.rt.stop(c, signal, grace).map_err(rt_err(&c.id))?;
        }
        hb_net::ports::stop_proxy(&c.dir);
        self.rt.remove(c).map_err(rt_err(&c.id))?;
        self.net().detach(&c.id)?;
        let anon = anon_dir(&self.rt.root, &c.id);
        if anon.exists() {
            let _ = std::fs::remove_dir_all(&anon);
        }
        Ok(())
    }

    /// Starts a stopped container of a project again, with its ports.
    pub fn start_container(&self, project: &Project, c: &Container) -> Result<()> {
        let labels = self.rt.labels(c);
        let svc = labels.get(LABEL_SERVICE).cloned().unwrap_or_default();
        let s = project.services.get(&svc).ok_or_else(|| Error::Service {
            service: svc.clone(),
            message: "it is no longer in the project; `hb up --remove-orphans` removes it".into(),
        })?;
        let image = self.image_of(c)?;
        if let Some(ns) = joined_netns(c).filter(|p| !p.exists()) {
            return Err(Error::Service {
                service: svc,
                message: format!(
                    "{}'s network namespace {} is gone (after a reboot?); `hb up` makes it again",
                    c.id,
                    ns.display()
                ),
            });
        }
        self.rt
            .start(c, &service::supervision(&svc, s, &image)?)
            .map_err(rt_err(&c.id))?;
        self.republish(c)?;
        Ok(())
    }

    fn image_of(&self, c: &Container) -> Result<LocalImage> {
        let name = self.rt.image_of(c);
        let err = |e| Error::Image {
            image: name.clone(),
            source: e,
        };
        let rec = self.store.find(&name).map_err(err)?;
        self.store.image(&rec).map_err(err)
    }

    /// Restarts the container's proxy from its recorded ports (after a stop, or a reboot).
    fn republish(&self, c: &Container) -> Result<()> {
        let ports = read_ports(&c.dir);
        let labels = self.rt.labels(c);
        let Some(project) = labels.get(LABEL_PROJECT) else {
            return Ok(());
        };
        if ports.is_empty() || proxy_alive(&c.dir) {
            return Ok(());
        }
        let Some(target) = std::fs::read_to_string(c.dir.join("address"))
            .ok()
            .and_then(|a| a.trim().parse::<IpAddr>().ok())
        else {
            return Ok(());
        };
        let maps: Vec<Publish> = ports
            .iter()
            .map(|p| Publish {
                protocol: p.protocol.clone(),
                host: p.host,
                target: SocketAddr::new(target, p.target),
            })
            .collect();
        for m in &maps {
            hb_net::ports::check_free(m)?;
        }
        let net = self.net();
        let ns = hb_net::Net::ns_path(&net.project_ns(project));
        hb_net::ports::start_proxy(&self.proxy, &ns, &c.id, &c.dir, &maps)?;
        Ok(())
    }

    /// Stops a container (and its proxy) without removing it.
    pub fn stop_container(&self, c: &Container, signal: &str, grace: Duration) -> Result<()> {
        self.rt.stop(c, signal, grace).map_err(rt_err(&c.id))?;
        hb_net::ports::stop_proxy(&c.dir);
        Ok(())
    }
}

impl Engine {
    /// `hb stop`: the project's running containers of `services` (all when
    /// empty), dependents first, each wave in parallel; `timeout` overrides the
    /// grace periods, and once `kill_now` says so the rest get none.
    pub fn stop_services(
        &self,
        project: &Project,
        services: &[String],
        timeout: Option<Duration>,
        kill_now: &(dyn Fn() -> bool + Sync),
        on: &(dyn Fn(Event) + Sync),
    ) -> Result<()> {
        let graph = hb_plan::Graph::new(project)?;
        let cs = self.containers(project.name.as_str());
        for wave in graph.waves.iter().rev() {
            let todo: Vec<(&Container, &Service)> = cs
                .iter()
                .filter_map(|(c, l)| {
                    let svc = l.get(LABEL_SERVICE)?;
                    let wanted = wave.contains(svc)
                        && (services.is_empty() || services.contains(svc))
                        && self.rt.running(c);
                    wanted
                        .then(|| project.services.get(svc).map(|s| (c, s)))
                        .flatten()
                })
                .collect();
            let errors = parallel(&todo, |(c, s)| {
                let (signal, mut grace) = self.stop_how(s, c);
                if let Some(t) = timeout {
                    grace = t;
                }
                if kill_now() {
                    grace = Duration::ZERO;
                }
                let t = Instant::now();
                self.stop_container(c, &signal, grace)?;
                on(Event::Stopped(c.id.clone(), t.elapsed()));
                Ok(())
            });
            if !errors.is_empty() {
                return Err(Error::Many(errors));
            }
        }
        Ok(())
    }

    /// `hb start`: the project's stopped containers of `services` (all when
    /// empty), in dependency order.
    pub fn start_services(
        &self,
        project: &Project,
        services: &[String],
        on: &(dyn Fn(Event) + Sync),
    ) -> Result<()> {
        let graph = hb_plan::Graph::new(project)?;
        let cs = self.containers(project.name.as_str());
        for wave in &graph.waves {
            for (c, l) in &cs {
                let svc = l.get(LABEL_SERVICE).cloned().unwrap_or_default();
                if wave.contains(&svc)
                    && (services.is_empty() || services.contains(&svc))
                    && !self.rt.running(c)
                {
                    let t = Instant::now();
                    self.start_container(project, c)?;
                    on(Event::Started(c.id.clone(), t.elapsed()));
                }
            }
        }
        Ok(())
    }
}

/// The network namespace file a container's spec joins, if any.
fn joined_netns(c: &Container) -> Option<PathBuf> {
    let spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(c.dir.join("config.json")).ok()?).ok()?;
    spec["linux"]["namespaces"]
        .as_array()?
        .iter()
        .find(|n| n["type"] == "network")?["path"]
        .as_str()
        .map(PathBuf::from)
}

fn proxy_alive(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("proxy.pid"))
        .ok()
        .and_then(|p| p.trim().parse().ok())
        .is_some_and(|pid| hb_runtime::procfs::process_alive(pid, "hb-proxy"))
}

/// Runs `f` on every item in threads of its own; returns the errors.
fn parallel<T: Sync>(items: &[T], f: impl Fn(&T) -> Result<()> + Sync) -> Vec<Error> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = items.iter().map(|it| scope.spawn(|| f(it))).collect();
        handles
            .into_iter()
            .filter_map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::State("a worker thread panicked".into())))
                    .err()
            })
            .collect()
    })
}

fn anon_dir(root: &Path, container: &str) -> PathBuf {
    root.join("volumes").join("_anonymous").join(container)
}

/// The services `up` works on: those asked for and, unless `--no-deps`, what they need.
fn select(project: &Project, graph: &hb_plan::Graph, opts: &UpOptions) -> Result<BTreeSet<String>> {
    if opts.services.is_empty() {
        return Ok(project.services.keys().cloned().collect());
    }
    let mut out = BTreeSet::new();
    let mut todo: Vec<String> = opts.services.clone();
    while let Some(s) = todo.pop() {
        if !project.services.contains_key(&s) {
            return Err(Error::Service {
                service: s,
                message: "no such service in the project; `hb config --services` lists them".into(),
            });
        }
        if out.insert(s.clone()) && !opts.no_deps {
            todo.extend(
                graph
                    .edges
                    .iter()
                    .filter(|e| e.from == s && project.services.contains_key(&e.to))
                    .map(|e| e.to.clone()),
            );
        }
    }
    Ok(out)
}

fn replicas(name: &str, s: &Service, opts: &UpOptions) -> Result<u32> {
    let n = match opts.scale.get(name) {
        Some(n) => *n,
        None => {
            let r = s.deploy.as_ref().and_then(|d| d.replicas).unwrap_or(1);
            u32::try_from(r).map_err(|_| Error::Service {
                service: name.to_string(),
                message: format!("deploy.replicas {r} is not a count"),
            })?
        }
    };
    if n > 1 && s.container_name.is_some() {
        return Err(Error::Service {
            service: name.to_string(),
            message: "container_name is set, so it cannot have more than one container".into(),
        });
    }
    Ok(n)
}

/// `container_name`, else `<project>-<service>-<n>` (Compose v2's names).
pub fn container_name(project: &Project, svc: &str, s: &Service, n: u32) -> String {
    s.container_name
        .clone()
        .unwrap_or_else(|| format!("{}-{svc}-{n}", project.name.as_str()))
}

fn network_mode(state: &State, project: &Project, svc: &str, s: &Service) -> Result<Mode> {
    match s.network_mode.as_deref() {
        Some("host") => return Ok(Mode::Host),
        Some("none") => return Ok(Mode::None),
        Some(m) if m.starts_with("service:") => {
            return Ok(Mode::Service(m.trim_start_matches("service:").to_string()))
        }
        Some("bridge") | None => {}
        Some(m) => {
            return Err(Error::Service {
                service: svc.to_string(),
                message: format!("network_mode `{m}` is not supported; use host, none, service:NAME or project networks"),
            })
        }
    }
    let nets: Vec<String> = if s.networks.is_empty() {
        vec!["default".into()]
    } else {
        s.networks.keys().cloned().collect()
    };
    let mut out = Vec::new();
    for n in nets {
        let idx = state.network_index(project.name.as_str(), &n)?;
        out.push((n, idx));
    }
    Ok(Mode::Bridged(out))
}

impl Ctx<'_> {
    fn service_def(&self, svc: &str) -> &Service {
        &self.project.services[svc]
    }

    /// One service's steps, once its dependencies meet their conditions.
    fn service(&self, svc: &str, steps: &[&Action]) -> Result<()> {
        let s = self.service_def(svc);
        // Containers that keep running have nothing to wait for.
        let all_kept = steps.iter().all(|a| matches!(a, Action::Keep { .. }));
        for (dep, d) in s.depends_on.iter().filter(|_| !all_kept) {
            if !self.project.services.contains_key(dep) {
                continue; // optional and absent (`required: false`)
            }
            let wanted = self.opts.services.is_empty()
                || !self.opts.no_deps
                || self.opts.services.contains(dep);
            if !wanted {
                continue;
            }
            self.wait_for(svc, dep, &d.condition)?;
        }
        for a in steps {
            let t = Instant::now();
            match a {
                Action::Create {
                    container, number, ..
                } => self.create(svc, container, *number, None)?,
                Action::Recreate {
                    container, number, ..
                } => {
                    self.remove(svc, container)?;
                    self.create(svc, container, *number, None)?;
                }
                Action::Start { container, .. } => {
                    let c = self.existing(svc, container)?;
                    self.reattach(svc, container)?;
                    self.engine.start_container(self.project, &c)?;
                    self.collect_ports(&c);
                }
                Action::Restart { container, .. } => {
                    let c = self.existing(svc, container)?;
                    let (signal, grace) = service::stop_how(s, self.images.get(svc));
                    self.engine.stop_container(&c, &signal, grace)?;
                    self.engine.start_container(self.project, &c)?;
                    self.collect_ports(&c);
                }
                Action::Keep { container, .. } => {
                    if let Some(c) = self.engine.rt.get(container) {
                        self.engine.republish(&c)?;
                        self.collect_ports(&c);
                    }
                }
                Action::Remove { .. } => {}
            }
            (self.on)(Event::Done((*a).clone(), t.elapsed()));
        }
        Ok(())
    }

    /// The host's address on the project's host gateway, made once per `up`
    /// even when services of one wave ask for it together.
    fn host_gateway(&self) -> Result<Ipv4Addr> {
        let mut g = self
            .gateway
            .lock()
            .map_err(|_| Error::State("gateway lock poisoned".into()))?;
        if let Some(a) = *g {
            return Ok(a);
        }
        let a = self
            .engine
            .net()
            .ensure_host_gateway(self.project.name.as_str())?;
        *g = Some(a);
        Ok(a)
    }

    /// Gives a container its network namespace back if it is gone (a reboot
    /// empties /run): same name, same addresses, so its spec still holds.
    fn reattach(&self, svc: &str, container: &str) -> Result<()> {
        let Mode::Bridged(nets) = &self.modes[svc] else {
            return Ok(());
        };
        let net = self.engine.net();
        if hb_net::Net::ns_path(&net.container_ns(container)).exists() {
            return Ok(());
        }
        let on = self.attachments(container, nets)?;
        net.attach(self.project.name.as_str(), container, &on)?;
        Ok(())
    }

    /// A container's address on each of its networks, from the plan's peers.
    fn attachments(&self, container: &str, nets: &[(String, u32)]) -> Result<Vec<Attachment>> {
        nets.iter()
            .map(|(_, idx)| {
                self.peers
                    .iter()
                    .find(|p| p.network == *idx && p.names.first().is_some_and(|n| n == container))
                    .map(|p| Attachment {
                        network: *idx,
                        address: p.address,
                    })
                    .ok_or_else(|| Error::State(format!("no address for {container}")))
            })
            .collect()
    }

    /// A container the plan found, still there.
    fn existing(&self, svc: &str, container: &str) -> Result<Container> {
        self.engine.rt.get(container).ok_or_else(|| Error::Service {
            service: svc.to_string(),
            message: format!(
                "container {container} vanished while hb worked on it; run `hb up` again"
            ),
        })
    }

    fn collect_ports(&self, c: &Container) {
        if let Ok(mut p) = self.ports.lock() {
            p.extend(read_ports(&c.dir).into_iter().map(|i| (c.id.clone(), i)));
        }
    }

    /// Waits until `dep` meets `condition` (Compose's `depends_on` conditions).
    fn wait_for(&self, svc: &str, dep: &str, condition: &str) -> Result<()> {
        let fail = |message: String| Error::Dependency {
            service: svc.to_string(),
            message,
        };
        let mut announced = false;
        let started = Instant::now();
        loop {
            let cs: Vec<Container> = self
                .engine
                .containers(self.project.name.as_str())
                .into_iter()
                .filter(|(_, l)| l.get(LABEL_SERVICE).is_some_and(|s| s == dep))
                .map(|(c, _)| c)
                .collect();
            if cs.is_empty() {
                return Err(fail(format!("{dep} has no container")));
            }
            let mut met = true;
            for c in &cs {
                let st = self.engine.rt.status(c);
                let state = st.as_ref().map_or("created", |s| s.state.as_str());
                let code = st.as_ref().and_then(|s| s.exit_code);
                if state == "failed" {
                    return Err(fail(format!(
                        "{}: {}",
                        c.id,
                        st.and_then(|s| s.error).unwrap_or_default()
                    )));
                }
                met &= match condition {
                    "service_completed_successfully" => match (state, code) {
                        ("exited", Some(0)) => true,
                        ("exited", Some(n)) => {
                            return Err(fail(format!("{dep} did not complete successfully: {} exited with code {n}; `hb logs {dep}` shows why", c.id)))
                        }
                        _ => false,
                    },
                    "service_healthy" => match self.engine.rt.health(c).map(|h| h.status) {
                        Some(h) if h == "healthy" => true,
                        Some(h) if h == "unhealthy" => {
                            return Err(fail(format!("{dep} is unhealthy; `hb logs {dep}` and `hb ps` show why")))
                        }
                        None if state == "running" && started.elapsed() > Duration::from_secs(2) && self.engine.image_of(c).ok().and_then(|i| service::health(dep, self.service_def(dep), &i).ok().flatten()).is_none() => {
                            return Err(fail(format!("it waits for {dep} to be healthy, but {dep} has no healthcheck")))
                        }
                        _ if state == "exited" => {
                            return Err(fail(format!("{dep} exited ({}) before it became healthy", code.unwrap_or(-1))))
                        }
                        _ => false,
                    },
                    _ => state == "running" || state == "exited" || state == "restarting",
                };
            }
            if met {
                return Ok(());
            }
            if !announced && svc != dep {
                (self.on)(Event::Waiting {
                    service: svc.to_string(),
                    on: format!("{dep} ({condition})"),
                });
                announced = true;
            }
            std::thread::sleep(POLL);
        }
    }

    fn remove(&self, svc: &str, container: &str) -> Result<()> {
        let Some(c) = self.engine.rt.get(container) else {
            return Ok(());
        };
        let (signal, grace) = self
            .project
            .services
            .get(svc)
            .map_or(("TERM".into(), Duration::from_secs(10)), |s| {
                service::stop_how(s, self.images.get(svc))
            });
        self.engine.remove_container(&c, &signal, grace)?;
        if let Ok(st) = self.state.lock() {
            st.forget_container(self.project.name.as_str(), container)?;
        }
        Ok(())
    }

    fn create(
        &self,
        svc: &str,
        container: &str,
        number: u32,
        oneoff: Option<&RunOptions>,
    ) -> Result<()> {
        let e = self.engine;
        let s = self.service_def(svc);
        let image = self.images.get(svc).ok_or_else(|| Error::Service {
            service: svc.to_string(),
            message: "its image is not in the store".into(),
        })?;
        let anon = anon_dir(&e.rt.root, container);
        let (mut o, fresh) = service::overrides(&e.rt.root, self.project, svc, s, &anon)?;
        let project = self.project.name.as_str();
        let image_config = image.record.config.as_str();
        o.labels = s
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        o.labels.extend([
            (LABEL_PROJECT.to_string(), project.to_string()),
            (LABEL_SERVICE.to_string(), svc.to_string()),
            (LABEL_NUMBER.to_string(), number.to_string()),
            (
                LABEL_HASH.to_string(),
                service::config_hash(s, image_config),
            ),
        ]);
        if let Some(r) = oneoff {
            o.labels
                .push((crate::LABEL_ONEOFF.to_string(), "true".into()));
            if r.entrypoint.is_some() {
                o.entrypoint = r.entrypoint.clone();
                o.command = None;
            }
            if r.command.is_some() {
                o.command = r.command.clone();
            }
            o.env.extend(r.env.iter().cloned());
            o.user = r.user.clone().or(o.user);
            o.working_dir = r.workdir.clone().or(o.working_dir);
        }
        let net = e.net();
        let mut address = None;
        match &self.modes[svc] {
            Mode::Host => o.netns = NetNs::Host,
            Mode::None => o.netns = NetNs::Private,
            Mode::Service(other) => {
                let other_def = self
                    .project
                    .services
                    .get(other)
                    .ok_or_else(|| Error::Service {
                        service: svc.to_string(),
                        message: format!("network_mode service:{other}: no such service"),
                    })?;
                let first = container_name(self.project, other, other_def, 1);
                let path = hb_net::Net::ns_path(&net.container_ns(&first));
                if !path.exists() {
                    return Err(Error::Service {
                        service: svc.to_string(),
                        message: format!("network_mode service:{other}: {first} has no network namespace (is it up?)"),
                    });
                }
                o.netns = NetNs::Join(path);
            }
            Mode::Bridged(nets) => {
                let on = self.attachments(container, nets)?;
                address = on.first().map(|a| a.address);
                let idxs: Vec<u32> = nets.iter().map(|(_, i)| *i).collect();
                o.hosts = hb_net::hosts::lines(
                    container,
                    &idxs,
                    &self.peers,
                    &extra_hosts(s, &|| self.host_gateway())?,
                );
                o.resolv_conf = Some("# hb: names come from /etc/hosts; the project network has no way out\noptions ndots:0\n".into());
                o.netns = NetNs::Join(net.attach(project, container, &on)?);
            }
        }
        let c = match e.rt.create(container, image, &o) {
            Ok(c) => c,
            Err(err) => {
                let _ = net.detach(container);
                return Err(rt_err(container)(err));
            }
        };
        for w in &c.warnings {
            (self.on)(Event::Warning(format!("{container}: {w}")));
        }
        let undo = |err: Error| {
            let _ = e.remove_container(&c, "KILL", Duration::ZERO);
            err
        };
        for v in &fresh {
            crate::populate(&c.dir.join("rootfs"), v).map_err(undo)?;
        }
        if let Some(a) = address {
            std::fs::write(c.dir.join("address"), a.to_string()).map_err(|err| {
                undo(Error::Io {
                    path: c.dir.join("address"),
                    source: err,
                })
            })?;
        }
        let ports = if oneoff.is_some_and(|r| !r.service_ports) {
            Vec::new()
        } else {
            self.ports_for(svc, s, address).map_err(undo)?
        };
        // Recorded before the start, so an `up` killed right after still
        // publishes them next time (`republish`).
        if !ports.is_empty() {
            let info: Vec<PortInfo> = ports
                .iter()
                .map(|p| PortInfo {
                    target: p.target.port(),
                    protocol: p.protocol.clone(),
                    host: p.host,
                })
                .collect();
            let json = serde_json::to_vec(&info).unwrap_or_default();
            std::fs::write(c.dir.join("ports.json"), json).map_err(|err| {
                undo(Error::Io {
                    path: c.dir.join("ports.json"),
                    source: err,
                })
            })?;
        }
        let mut supervision = service::supervision(svc, s, image)?;
        if oneoff.is_some() {
            // A one-off runs once: Compose applies no restart policy to `run`.
            supervision.restart = None;
        }
        e.rt.start(&c, &supervision)
            .map_err(|err| undo(rt_err(container)(err)))?;
        if !ports.is_empty() {
            let ns = hb_net::Net::ns_path(&net.project_ns(project));
            hb_net::ports::start_proxy(&e.proxy, &ns, container, &c.dir, &ports)
                .map_err(|err| undo(err.into()))?;
            self.collect_ports(&c);
        }
        Ok(())
    }

    /// The host side of each published port: the file's host IP (127.0.0.1 when
    /// it names none), its port, or the one remembered for it, or a free one.
    fn ports_for(&self, svc: &str, s: &Service, address: Option<Ipv4Addr>) -> Result<Vec<Publish>> {
        if s.ports.is_empty() {
            return Ok(Vec::new());
        }
        let Some(address) = address else {
            if matches!(self.modes[svc], Mode::Host) {
                return Ok(Vec::new()); // the host's own ports already
            }
            return Err(Error::Service {
                service: svc.to_string(),
                message: "it publishes ports but has no project network (network_mode)".into(),
            });
        };
        let mut out = Vec::new();
        for p in &s.ports {
            let proto = p.protocol.as_str();
            if proto != "tcp" && proto != "udp" {
                return Err(Error::Service {
                    service: svc.to_string(),
                    message: format!(
                        "port {}/{proto}: only tcp and udp can be published",
                        p.target
                    ),
                });
            }
            let ip: IpAddr = match p.host_ip.as_deref() {
                None | Some("") => IpAddr::V4(Ipv4Addr::LOCALHOST),
                Some(ip) => ip.parse().map_err(|_| Error::Service {
                    service: svc.to_string(),
                    message: format!("port {}: host IP `{ip}` is not an address", p.target),
                })?,
            };
            let target = SocketAddr::new(IpAddr::V4(address), p.target);
            let try_port = |port: u16| {
                let m = Publish {
                    protocol: proto.to_string(),
                    host: SocketAddr::new(ip, port),
                    target,
                };
                hb_net::ports::check_free(&m).map(|_| m)
            };
            let chosen = match p.published.as_deref() {
                Some(range) if range.contains('-') => {
                    let (lo, hi) = hb_compose::units::parse_range(range).map_err(|message| {
                        Error::Service {
                            service: svc.to_string(),
                            message,
                        }
                    })?;
                    (lo..=hi)
                        .find_map(|port| try_port(port).ok())
                        .ok_or_else(|| {
                            Error::Net(hb_net::Error::PortTaken {
                                addr: format!("{ip}:{range}/{proto}"),
                                holder: " (every port of the range)".into(),
                            })
                        })
                }
                Some(fixed) => {
                    let port: u16 = fixed.parse().map_err(|_| Error::Service {
                        service: svc.to_string(),
                        message: format!("published port `{fixed}` is not a port number"),
                    })?;
                    match try_port(port) {
                        Err(hb_net::Error::PortTaken { addr, holder }) if self.opts.auto_ports => {
                            let free = self.free_port(svc, p.target, proto, &try_port)?;
                            (self.on)(Event::Warning(format!("{svc}: {addr} is in use{holder}; --auto-ports published it on {} instead", free.host)));
                            Ok(free)
                        }
                        r => r.map_err(Error::Net),
                    }
                }
                None => self.free_port(svc, p.target, proto, &try_port),
            }?;
            out.push(chosen);
        }
        Ok(out)
    }

    /// The remembered host port for a service's container port if it is still
    /// free, else a new free one (remembered for next time).
    fn free_port(
        &self,
        svc: &str,
        target: u16,
        proto: &str,
        try_port: &dyn Fn(u16) -> hb_net::Result<Publish>,
    ) -> Result<Publish> {
        let project = self.project.name.as_str();
        let st = self
            .state
            .lock()
            .map_err(|_| Error::State("state lock poisoned".into()))?;
        if let Some(p) = st.port(project, svc, target, proto)? {
            if let Ok(m) = try_port(p) {
                return Ok(m);
            }
        }
        for _ in 0..20 {
            let Some(port) = hb_net::ports::free_port() else {
                break;
            };
            if let Ok(m) = try_port(port) {
                st.remember_port(project, svc, target, proto, port)?;
                return Ok(m);
            }
        }
        Err(Error::Service {
            service: svc.to_string(),
            message: format!("no free host port for {target}/{proto}"),
        })
    }
}

/// `extra_hosts` as hosts lines; `host-gateway` is the host's end of the
/// project's gateway to it, made on first use (`Net::ensure_host_gateway`).
fn extra_hosts(
    s: &Service,
    gateway: &dyn Fn() -> Result<std::net::Ipv4Addr>,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for e in &s.extra_hosts {
        let (host, ip) = e
            .split_once('=')
            .or_else(|| e.split_once(':'))
            .unwrap_or((e, ""));
        if ip == "host-gateway" {
            out.push(format!("{}\t{host}", gateway()?));
        } else {
            out.push(format!("{ip}\t{host}"));
        }
    }
    Ok(out)
}
