//! `build:` in a compose file: each service's build as a request to
//! `hb_build`, the images named as Compose names them (`image:` when the
//! service has one, else `<project>-<service>`), and base images taken from
//! the store or pulled.
//!
//! compose-spec `build.md`: `context`, `dockerfile`, `dockerfile_inline`,
//! `args`, `target`, `labels`, `tags`, `no_cache`, `pull` and `network` are
//! carried out; `cache_from`, `cache_to` and `platforms` (the host's only)
//! are accepted with a warning, since hb's cache is local; `ssh`, `secrets`
//! and `additional_contexts` are refused with a message.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hb_compose::{Project, Service};
use hb_image::{ImageRecord, ImageRef, Platform, Quiet};

use crate::{Engine, Error, Event, Result};

/// What `hb build` (and `up --build`) asks for.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Run every step (`--no-cache`).
    pub no_cache: bool,
    /// Pull base images even when stored (`--pull`).
    pub pull: bool,
    /// More build args (`--build-arg K=V`), over the file's.
    pub args: BTreeMap<String, String>,
    /// Set by someone else to stop before the next step.
    pub cancel: Option<Arc<std::sync::atomic::AtomicBool>>,
}

/// A service's build, done.
#[derive(Debug, Clone)]
pub struct BuiltService {
    /// The service.
    pub service: String,
    /// Its image.
    pub image: ImageRecord,
    /// Cacheable steps, and how many came from the cache.
    pub steps: (usize, usize),
    /// How long it took.
    pub elapsed: Duration,
}

/// The image a service with `build:` is built as.
pub fn image_name(project: &Project, svc: &str, s: &Service) -> String {
    s.image
        .clone()
        .unwrap_or_else(|| format!("{}-{svc}", project.name.as_str()))
}

struct Bases<'e> {
    engine: &'e Engine,
}

impl hb_build::Bases for Bases<'_> {
    fn fetch(&self, image: &ImageRef, pull: bool) -> hb_image::Result<ImageRecord> {
        if !pull {
            if let Ok(r) = self.engine.store.find(&image.name()) {
                return Ok(r);
            }
        }
        let Some(puller) = &self.engine.puller else {
            return Err(hb_image::Error::NotFound {
                image: image.to_string(),
                what: "not stored, and this hb may not pull".into(),
            });
        };
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| hb_image::Error::Io {
                path: "tokio runtime".into(),
                source: e,
            })?
            .block_on(puller.pull(image, &Platform::host(), Arc::new(Quiet)))
    }
}

fn svc_err(svc: &str, message: impl Into<String>) -> Error {
    Error::Service {
        service: svc.to_string(),
        message: message.into(),
    }
}

/// The request for one service's build; warnings for what hb accepts but ignores.
fn request(
    project: &Project,
    svc: &str,
    s: &Service,
    opts: &BuildOptions,
    on: &(dyn Fn(Event) + Sync),
) -> Result<hb_build::Request> {
    let b = s
        .build
        .as_ref()
        .ok_or_else(|| svc_err(svc, "it has no `build:`"))?;
    if b.context.contains("://") || b.context.starts_with("git@") {
        return Err(svc_err(svc, format!("build.context {} is remote; hb builds from a local directory: clone it and point `context` there", b.context)));
    }
    let str_of = |k: &str| b.other.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let bool_of = |k: &str| b.other.get(k).and_then(|v| v.as_bool()).unwrap_or(false);
    for k in ["ssh", "secrets", "additional_contexts"] {
        if b.other.contains_key(k) {
            return Err(svc_err(svc, format!("build.{k} is not supported by hb builds; remove it (or build this image with docker and give the service its `image:`)")));
        }
    }
    for k in ["cache_from", "cache_to", "platforms"] {
        if b.other.contains_key(k) {
            on(Event::Warning(format!("service {svc}: build.{k} is ignored: hb's build cache is local, and it builds for this machine")));
        }
    }
    // Everything else the spec knows but hb does not act on is said, not silently dropped.
    const HANDLED: [&str; 11] = [
        "network",
        "labels",
        "tags",
        "no_cache",
        "pull",
        "cache_from",
        "cache_to",
        "platforms",
        "ssh",
        "secrets",
        "additional_contexts",
    ];
    for k in b
        .other
        .keys()
        .filter(|k| !HANDLED.contains(&k.as_str()) && !k.starts_with("x-"))
    {
        on(Event::Warning(format!(
            "service {svc}: build.{k} is not supported by hb builds and is ignored"
        )));
    }
    let mut args = BTreeMap::new();
    for (k, v) in &b.args {
        // An arg without a value takes the environment's, or is left out (compose-spec build.md, "args").
        let v = v.clone().or_else(|| project.environment.get(k).cloned());
        if let Some(v) = v {
            args.insert(k.clone(), v);
        }
    }
    args.extend(opts.args.clone());
    let labels: BTreeMap<String, String> = b
        .other
        .get("labels")
        .and_then(|l| l.as_object())
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let mut names = vec![image_name(project, svc, s)];
    if let Some(tags) = b.other.get("tags").and_then(|t| t.as_array()) {
        names.extend(tags.iter().filter_map(|t| t.as_str().map(str::to_string)));
    }
    let tags = names
        .iter()
        .map(|n| {
            n.parse::<ImageRef>()
                .map_err(|e| svc_err(svc, format!("cannot name its image `{n}`: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let host_network = match str_of("network").as_deref() {
        None | Some("default") | Some("none") => false,
        Some("host") => true,
        Some(other) => {
            return Err(svc_err(svc, format!("build.network `{other}`: hb builds run with `host`, `none` or `default` (a loopback of their own)")))
        }
    };
    let dockerfile = match &b.dockerfile_inline {
        Some(text) => hb_build::Dockerfile::Inline(text.clone()),
        None => hb_build::Dockerfile::Path(
            b.dockerfile
                .clone()
                .unwrap_or_else(|| "Dockerfile".into())
                .into(),
        ),
    };
    Ok(hb_build::Request {
        context: b.context.clone().into(),
        dockerfile,
        args,
        target: b.target.clone(),
        labels,
        tags,
        no_cache: opts.no_cache || bool_of("no_cache"),
        pull: opts.pull || bool_of("pull"),
        host_network,
        platform: Platform::host(),
        cancel: opts.cancel.clone(),
    })
}

impl Engine {
    /// Builds the named services' images (every service with `build:` when
    /// `services` is empty), independent ones in parallel.
    pub fn build(
        &self,
        project: &Project,
        services: &[String],
        opts: &BuildOptions,
        on: &(dyn Fn(Event) + Sync),
    ) -> Result<Vec<BuiltService>> {
        for s in services {
            if !project.services.contains_key(s) {
                return Err(svc_err(s, "no such service in the project"));
            }
        }
        let wanted: BTreeSet<String> = project
            .services
            .iter()
            .filter(|(n, s)| s.build.is_some() && (services.is_empty() || services.contains(n)))
            .map(|(n, _)| n.clone())
            .collect();
        if let Some(s) = services.iter().find(|s| !wanted.contains(*s)) {
            on(Event::Warning(format!(
                "service {s} has no `build:`; nothing to build"
            )));
        }
        self.build_set(project, &wanted, opts, on)
    }

    /// Builds `wanted` (services with `build:`), one build per image name.
    pub(crate) fn build_set(
        &self,
        project: &Project,
        wanted: &BTreeSet<String>,
        opts: &BuildOptions,
        on: &(dyn Fn(Event) + Sync),
    ) -> Result<Vec<BuiltService>> {
        let mut by_image: BTreeMap<String, String> = BTreeMap::new();
        for svc in wanted {
            by_image
                .entry(image_name(project, svc, &project.services[svc]))
                .or_insert_with(|| svc.clone());
        }
        let bases = Bases { engine: self };
        let builder =
            hb_build::Builder::new(&self.store, &self.rt, &bases, self.rt.mounts.as_ref())
                .map_err(|e| Error::State(format!("cannot open the build cache: {e}")))?;
        let results: Vec<Result<BuiltService>> = std::thread::scope(|scope| {
            let handles: Vec<_> = by_image
                .values()
                .map(|svc| {
                    let builder = &builder;
                    scope.spawn(move || {
                        let started = Instant::now();
                        let s = &project.services[svc];
                        let req = request(project, svc, s, opts, on)?;
                        on(Event::Building(svc.clone()));
                        let report = |e: hb_build::Event| {
                            on(Event::Build {
                                service: svc.clone(),
                                event: e,
                            })
                        };
                        let built = builder.build(&req, &report).map_err(|e| Error::Build {
                            service: svc.clone(),
                            error: Box::new(e),
                        })?;
                        let done = BuiltService {
                            service: svc.clone(),
                            image: built.image,
                            steps: (built.steps, built.cached),
                            elapsed: started.elapsed(),
                        };
                        on(Event::Built(done.clone()));
                        Ok(done)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a build panicked"))
                .collect()
        });
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for r in results {
            match r {
                Ok(b) => out.push(b),
                Err(e) => errors.push(e),
            }
        }
        match errors.len() {
            0 => Ok(out),
            1 => Err(errors.remove(0)),
            _ => Err(Error::Many(errors)),
        }
    }
}
