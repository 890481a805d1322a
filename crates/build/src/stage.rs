//! Carrying out a Dockerfile: stages in waves, steps with the cache.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use hb_image::config::{ImageConfig, ImageHealthcheck};
use hb_image::dockerfile::{self, expand, Command, Instruction, Located};
use hb_image::{layout, ImageRecord, ImageRef, LocalImage, Store};
use hb_runtime::container::{Runtime, Supervision};
use hb_runtime::spec::{MountRequest, NetNs, Overrides};
use sha2::{Digest as _, Sha256};

use crate::cache::{Cache, Hit};
use crate::context::{is_archive, unpack_archive, Source};
use crate::{Bases, Built, Error, Event, Mounts, Request, Result};

/// Builds images into a store, running steps under a runtime.
pub struct Builder<'a> {
    store: &'a Store,
    rt: &'a Runtime,
    bases: &'a dyn Bases,
    mounts: &'a dyn Mounts,
    cache: Cache,
    counter: AtomicU64,
}

/// A stage of the Dockerfile.
struct Stage {
    name: String,
    alias: Option<String>,
    line: usize,
    base: Base,
    steps: Vec<Located>,
}

/// What a stage starts from.
#[derive(Debug, Clone)]
enum Base {
    Scratch,
    Stage(usize),
    Image(String),
}

/// A stage's image as its steps change it.
#[derive(Debug, Clone)]
struct State {
    /// The chained cache key of the last step.
    key: String,
    config: ImageConfig,
    /// Manifest layer descriptors, lowest first (with `config.rootfs.diff_ids`).
    layers: Vec<serde_json::Value>,
    shell: Vec<String>,
    /// Build args in scope (values).
    args: BTreeMap<String, String>,
}

fn chain(prev: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    for p in parts {
        h.update([0]);
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

fn shell_words(c: &Command, shell: &[String]) -> Vec<String> {
    match c {
        Command::Exec(v) => v.clone(),
        Command::Shell(s) => shell.iter().cloned().chain([s.clone()]).collect(),
    }
}

fn flag<'f>(flags: &'f [(String, String)], name: &str) -> Option<&'f str> {
    flags
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Go durations as HEALTHCHECK takes them (`30s`, `1m30s`, `500ms`), in nanoseconds.
fn duration_ns(s: &str) -> Option<u64> {
    let mut total: f64 = 0.0;
    let mut rest = s.trim();
    if rest == "0" {
        return Some(0);
    }
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += n * scale;
        rest = &rest[unit_end..];
    }
    Some(total as u64)
}

fn set_env(config: &mut ImageConfig, key: &str, value: &str) {
    let env = config.config.env.get_or_insert_with(Vec::new);
    env.retain(|e| e.split_once('=').map(|(k, _)| k) != Some(key));
    env.push(format!("{key}={value}"));
}

impl State {
    fn env(&self) -> BTreeMap<String, String> {
        self.config
            .config
            .env
            .iter()
            .flatten()
            .filter_map(|e| e.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// What `$VAR` means in this stage: build args, overridden by ENV.
    fn vars(&self) -> BTreeMap<String, String> {
        let mut v = self.args.clone();
        v.extend(self.env());
        v
    }

    fn layer_dirs(&self, store: &Store) -> Vec<PathBuf> {
        self.config
            .rootfs
            .diff_ids
            .iter()
            .filter_map(|d| d.parse().ok())
            .map(|d| store.layer_dir(&d))
            .collect()
    }

    fn push_layer(&mut self, diff_id: &str, size: u64) {
        self.config.rootfs.diff_ids.push(diff_id.to_string());
        self.layers.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": diff_id,
            "size": size,
        }));
    }

    fn workdir(&self) -> String {
        self.config
            .config
            .working_dir
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into())
    }

    /// `p` made absolute against WORKDIR.
    fn absolute(&self, p: &str) -> String {
        if p.starts_with('/') {
            p.to_string()
        } else {
            let w = self.workdir();
            format!("{}/{p}", w.trim_end_matches('/'))
        }
    }
}

/// A directory under the store's `tmp/`, removed when dropped.
struct Scratch(PathBuf);
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A mount undone when dropped.
struct Mounted<'m> {
    mounts: &'m dyn Mounts,
    target: PathBuf,
}
impl Drop for Mounted<'_> {
    fn drop(&mut self) {
        let _ = self.mounts.unmount(&self.target);
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The parsed file and where it came from (for messages).
struct Plan {
    file: PathBuf,
    globals: BTreeMap<String, String>,
    stages: Vec<Stage>,
    target: usize,
}

/// One build as it runs: what was asked, the parsed file, the context, where
/// progress goes, and the step counts for the summary.
struct Job<'j> {
    req: &'j Request,
    plan: &'j Plan,
    context: &'j Source,
    on: &'j (dyn Fn(Event) + Sync),
    steps: AtomicUsize,
    cached: AtomicUsize,
}

impl<'a> Builder<'a> {
    /// A builder over `store` and `rt`, taking base images from `bases`.
    pub fn new(
        store: &'a Store,
        rt: &'a Runtime,
        bases: &'a dyn Bases,
        mounts: &'a dyn Mounts,
    ) -> Result<Self> {
        let b = Builder {
            store,
            rt,
            bases,
            mounts,
            cache: Cache::open(store.root())?,
            counter: AtomicU64::new(0),
        };
        b.reap_orphans();
        Ok(b)
    }

    /// Removes what builds killed half-way left: their step containers
    /// (`hb-build-<pid>-<n>`) and scratch mounts (`tmp/build-…-<pid>-<n>`),
    /// those of processes that are gone. Best effort: a build that is still
    /// running keeps everything.
    fn reap_orphans(&self) {
        let gone = |pid: Option<&str>| {
            pid.and_then(|p| p.parse::<u32>().ok())
                .is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists())
        };
        for c in self.rt.list() {
            if let Some(rest) = c.id.strip_prefix("hb-build-") {
                if gone(rest.split('-').next()) {
                    let _ = self.rt.remove(&c);
                }
            }
        }
        let tmp = self.store.root().join("tmp");
        for e in fs::read_dir(&tmp).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("build-") && gone(name.rsplit('-').nth(1)) {
                for m in ["root", "rootfs"] {
                    let p = e.path().join(m);
                    if self.mounts.is_mountpoint(&p) {
                        let _ = self.mounts.unmount(&p);
                    }
                }
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }

    /// Builds `req`, reporting through `on`.
    pub fn build(&self, req: &Request, on: &(dyn Fn(Event) + Sync)) -> Result<Built> {
        let plan = self.plan(req)?;
        let context = Source::context(&req.context)?;
        // The target and the stages it needs, through FROM and COPY --from.
        let mut needed = BTreeSet::new();
        let mut todo = vec![plan.target];
        let deps: Vec<BTreeSet<usize>> = plan.stages.iter().map(|s| stage_deps(&plan, s)).collect();
        while let Some(i) = todo.pop() {
            if needed.insert(i) {
                todo.extend(deps[i].iter().copied());
            }
        }
        let unused: Vec<&String> = req
            .args
            .keys()
            .filter(|k| !plan.globals.contains_key(*k) && !declared(&plan, k))
            .collect();
        if !unused.is_empty() {
            on(Event::Warning(format!(
                "build args not used by {}: {}",
                plan.file.display(),
                unused
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        // Base images first, all at once: a pull need not wait for the stages before it.
        let bases: BTreeSet<String> = needed
            .iter()
            .filter_map(|i| match &plan.stages[*i].base {
                Base::Image(name) => Some(name.clone()),
                _ => None,
            })
            .collect();
        std::thread::scope(|s| {
            for name in &bases {
                // Errors come again, in context, when the stage starts.
                s.spawn(move || self.base_image(name, req.pull).ok());
            }
        });
        let job = Job {
            req,
            plan: &plan,
            context: &context,
            on,
            steps: AtomicUsize::new(0),
            cached: AtomicUsize::new(0),
        };
        let mut done: HashMap<usize, State> = HashMap::new();
        // Waves: every stage whose dependencies are built, in parallel.
        while !needed.iter().all(|i| done.contains_key(i)) {
            let ready: Vec<usize> = needed
                .iter()
                .copied()
                .filter(|i| !done.contains_key(i) && deps[*i].iter().all(|d| done.contains_key(d)))
                .collect();
            let results: Vec<(usize, Result<State>)> = std::thread::scope(|s| {
                let handles: Vec<_> = ready
                    .iter()
                    .map(|&i| {
                        let (job, done) = (&job, &done);
                        s.spawn(move || (i, self.stage(job, i, done)))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("a build stage panicked"))
                    .collect()
            });
            for (i, r) in results {
                done.insert(i, r?);
            }
        }
        let mut last = done.remove(&plan.target).expect("the target was built");
        let labels = last.config.config.labels.get_or_insert_with(BTreeMap::new);
        labels.extend(req.labels.clone());
        // No creation time: an unchanged build then yields the very same config
        // digest, and `up --build` leaves the running container alone.
        last.config.created = None;
        let name = req
            .tags
            .first()
            .map(|t| t.to_string())
            .unwrap_or_else(|| "image".into());
        let image_err = |source| Error::Image {
            image: name.clone(),
            source,
        };
        let config_bytes =
            serde_json::to_vec(&last.config).map_err(|e| Error::Cache(e.to_string()))?;
        let (manifest, config) =
            layout::write_image(self.store, &name, &config_bytes, &last.layers)
                .map_err(image_err)?;
        let size = last.layers.iter().filter_map(|l| l["size"].as_u64()).sum();
        let mut image = None;
        for tag in &req.tags {
            let r = layout::record(self.store, tag, &manifest, &config, size).map_err(image_err)?;
            image.get_or_insert(r);
        }
        let image = match image {
            Some(r) => r,
            None => ImageRecord {
                name: manifest.to_string(),
                manifest: manifest.to_string(),
                config: config.to_string(),
                index: None,
                size,
                stored: 0,
            },
        };
        Ok(Built {
            image,
            steps: job.steps.into_inner(),
            cached: job.cached.into_inner(),
        })
    }

    fn plan(&self, req: &Request) -> Result<Plan> {
        let (file, text) = match &req.dockerfile {
            crate::Dockerfile::Inline(t) => (PathBuf::from("dockerfile_inline"), t.clone()),
            crate::Dockerfile::Path(p) => {
                let file = req.context.join(p);
                let text = fs::read_to_string(&file).map_err(|e| Error::Context {
                    path: file.clone(),
                    message: format!("cannot read the Dockerfile: {e}"),
                })?;
                (file, text)
            }
        };
        let df = dockerfile::parse(&text).map_err(|source| Error::Parse {
            file: file.clone(),
            source,
        })?;
        let instr_err = |line: usize, message: String| Error::Instruction {
            file: file.clone(),
            line,
            message,
        };
        let mut globals = BTreeMap::new();
        let mut stages: Vec<Stage> = Vec::new();
        for l in df.instructions {
            match (&l.instruction, stages.last_mut()) {
                (Instruction::From { image, alias, .. }, _) => {
                    let image = expand(image, &globals);
                    let base = if image.eq_ignore_ascii_case("scratch") {
                        Base::Scratch
                    } else if let Some(i) = stages.iter().position(|s| {
                        s.alias
                            .as_deref()
                            .is_some_and(|a| a.eq_ignore_ascii_case(&image))
                    }) {
                        Base::Stage(i)
                    } else {
                        Base::Image(image)
                    };
                    let n = stages.len();
                    stages.push(Stage {
                        name: alias.clone().unwrap_or_else(|| format!("stage-{n}")),
                        alias: alias.clone(),
                        line: l.line,
                        base,
                        steps: Vec::new(),
                    });
                }
                (Instruction::Arg { name, default }, None) => {
                    let v = req
                        .args
                        .get(name)
                        .cloned()
                        .or_else(|| default.as_ref().map(|d| expand(d, &globals)))
                        .unwrap_or_default();
                    globals.insert(name.clone(), v);
                }
                (_, None) => {
                    return Err(instr_err(
                        l.line,
                        "only ARG may come before the first FROM".into(),
                    ))
                }
                (_, Some(stage)) => stage.steps.push(l),
            }
        }
        if stages.is_empty() {
            return Err(instr_err(
                1,
                "there is no FROM: a Dockerfile starts with `FROM image`".into(),
            ));
        }
        let target = match &req.target {
            None => stages.len() - 1,
            Some(t) => stages
                .iter()
                .position(|s| {
                    s.alias
                        .as_deref()
                        .is_some_and(|a| a.eq_ignore_ascii_case(t))
                })
                .ok_or_else(|| {
                    let names: Vec<&str> =
                        stages.iter().filter_map(|s| s.alias.as_deref()).collect();
                    instr_err(
                        1,
                        format!(
                            "target stage `{t}` is not in the Dockerfile (its stages: {})",
                            if names.is_empty() {
                                "none named".into()
                            } else {
                                names.join(", ")
                            }
                        ),
                    )
                })?,
        };
        Ok(Plan {
            file,
            globals,
            stages,
            target,
        })
    }

    fn stage(&self, job: &Job<'_>, index: usize, done: &HashMap<usize, State>) -> Result<State> {
        let (req, plan, context, on) = (job.req, job.plan, job.context, job.on);
        let stage = &plan.stages[index];
        let total = stage.steps.len() + 1;
        let step = |n: usize, text: String, was_cached: bool| {
            on(Event::Step {
                stage: stage.name.clone(),
                n,
                total,
                text,
                cached: was_cached,
            })
        };
        let err = |line: usize, message: String| Error::Instruction {
            file: plan.file.clone(),
            line,
            message,
        };
        let mut st = match &stage.base {
            Base::Stage(i) => {
                let mut s = done[i].clone();
                s.args.clear();
                s
            }
            Base::Scratch => State {
                key: chain("", &["scratch"]),
                config: ImageConfig {
                    architecture: req.platform.architecture.clone(),
                    os: req.platform.os.clone(),
                    ..Default::default()
                },
                layers: Vec::new(),
                shell: default_shell(),
                args: BTreeMap::new(),
            },
            Base::Image(name) => {
                // Pulled (with --pull) as the build began; fetched again only if that failed.
                let img = self.base_image(name, false).map_err(|e| match e {
                    Error::Image { image, source } => {
                        err(stage.line, format!("FROM {image}: {source}"))
                    }
                    other => other,
                })?;
                State {
                    key: chain("", &["from", &img.record.manifest]),
                    layers: img
                        .manifest
                        .layers()
                        .iter()
                        .map(|d| serde_json::to_value(d).unwrap_or_default())
                        .collect(),
                    config: img.config,
                    shell: default_shell(),
                    args: BTreeMap::new(),
                }
            }
        };
        step(1, format!("FROM {}", base_text(&stage.base, plan)), false);
        for (k, l) in stage.steps.iter().enumerate() {
            if req
                .cancel
                .as_ref()
                .is_some_and(|c| c.load(Ordering::SeqCst))
            {
                return Err(Error::Cancelled);
            }
            let n = k + 2;
            let vars = st.vars();
            match &l.instruction {
                Instruction::From { .. } => unreachable!("FROM starts a stage"),
                Instruction::Arg { name, default } => {
                    let v = req
                        .args
                        .get(name)
                        .cloned()
                        .or_else(|| default.as_ref().map(|d| expand(d, &vars)))
                        .or_else(|| plan.globals.get(name).cloned())
                        .unwrap_or_default();
                    // Not the value: a changed arg reruns the RUN steps that see it
                    // (their keys hold the args in scope) and the steps whose
                    // expanded text changes, and nothing else, as BuildKit does.
                    st.key = chain(&st.key, &["ARG", name]);
                    st.args.insert(name.clone(), v);
                    step(n, format!("ARG {name}"), false);
                }
                Instruction::Env(pairs) => {
                    let mut text = "ENV".to_string();
                    let mut vars = vars;
                    for (k, v) in pairs {
                        let v = expand(v, &vars);
                        set_env(&mut st.config, k, &v);
                        text.push_str(&format!(" {k}={v}"));
                        vars.insert(k.clone(), v);
                    }
                    st.key = chain(&st.key, &[&text]);
                    step(n, text, false);
                }
                Instruction::Label(pairs) => {
                    let labels = st.config.config.labels.get_or_insert_with(BTreeMap::new);
                    let mut text = "LABEL".to_string();
                    for (k, v) in pairs {
                        let (k, v) = (expand(k, &vars), expand(v, &vars));
                        text.push_str(&format!(" {k}={v}"));
                        labels.insert(k, v);
                    }
                    st.key = chain(&st.key, &[&text]);
                    step(n, text, false);
                }
                Instruction::User(u) => {
                    let u = expand(u, &vars);
                    st.config.config.user = Some(u.clone());
                    st.key = chain(&st.key, &["USER", &u]);
                    step(n, format!("USER {u}"), false);
                }
                Instruction::Expose(ports) => {
                    let exposed = st
                        .config
                        .config
                        .exposed_ports
                        .get_or_insert_with(BTreeMap::new);
                    for p in ports {
                        let p = expand(p, &vars);
                        let p = if p.contains('/') {
                            p
                        } else {
                            format!("{p}/tcp")
                        };
                        exposed.insert(p, serde_json::json!({}));
                    }
                    st.key = chain(&st.key, &["EXPOSE", &ports.join(" ")]);
                    step(n, format!("EXPOSE {}", ports.join(" ")), false);
                }
                Instruction::Volume(paths) => {
                    let volumes = st.config.config.volumes.get_or_insert_with(BTreeMap::new);
                    for p in paths {
                        volumes.insert(expand(p, &vars), serde_json::json!({}));
                    }
                    st.key = chain(&st.key, &["VOLUME", &paths.join(" ")]);
                    step(n, format!("VOLUME {}", paths.join(" ")), false);
                }
                Instruction::Cmd(c) => {
                    let argv = shell_words(c, &st.shell);
                    st.key = chain(&st.key, &["CMD", &argv.join("\0")]);
                    st.config.config.cmd = Some(argv);
                    step(n, format!("CMD {}", display(c)), false);
                }
                Instruction::Entrypoint(c) => {
                    let argv = shell_words(c, &st.shell);
                    st.key = chain(&st.key, &["ENTRYPOINT", &argv.join("\0")]);
                    st.config.config.entrypoint = Some(argv);
                    // An ENTRYPOINT resets the CMD it inherited (the Dockerfile reference, "ENTRYPOINT").
                    st.config.config.cmd = None;
                    step(n, format!("ENTRYPOINT {}", display(c)), false);
                }
                Instruction::Shell(words) => {
                    st.shell = words.clone();
                    st.key = chain(&st.key, &["SHELL", &words.join("\0")]);
                    step(n, format!("SHELL {words:?}"), false);
                }
                Instruction::StopSignal(s) => {
                    let s = expand(s, &vars);
                    st.key = chain(&st.key, &["STOPSIGNAL", &s]);
                    st.config.config.stop_signal = Some(s.clone());
                    step(n, format!("STOPSIGNAL {s}"), false);
                }
                Instruction::Healthcheck { command, flags } => {
                    let h = match command {
                        None => ImageHealthcheck {
                            test: vec!["NONE".into()],
                            ..Default::default()
                        },
                        Some(c) => {
                            let test = match c {
                                Command::Exec(v) => std::iter::once("CMD".to_string())
                                    .chain(v.iter().cloned())
                                    .collect(),
                                Command::Shell(s) => vec!["CMD-SHELL".to_string(), s.clone()],
                            };
                            let d = |name: &str| -> Result<Option<u64>> {
                                flag(flags, name)
                                    .map(|v| {
                                        duration_ns(v).ok_or_else(|| err(l.line, format!("HEALTHCHECK --{name}={v}: not a duration (write 30s, 1m30s, 500ms)")))
                                    })
                                    .transpose()
                            };
                            ImageHealthcheck {
                                test,
                                interval: d("interval")?,
                                timeout: d("timeout")?,
                                start_period: d("start-period")?,
                                start_interval: d("start-interval")?,
                                retries: flag(flags, "retries")
                                    .map(|r| {
                                        r.parse().map_err(|_| {
                                            err(
                                                l.line,
                                                format!("HEALTHCHECK --retries={r}: not a number"),
                                            )
                                        })
                                    })
                                    .transpose()?,
                            }
                        }
                    };
                    st.key = chain(&st.key, &["HEALTHCHECK", &format!("{h:?}")]);
                    st.config.config.healthcheck = Some(h);
                    step(n, "HEALTHCHECK".into(), false);
                }
                Instruction::Workdir(w) => {
                    let w = st.absolute(&expand(w, &vars));
                    st.config.config.working_dir = Some(w.clone());
                    let key = chain(&st.key, &["WORKDIR", &w]);
                    let hit = self.cached_step(job, &key)?;
                    step(n, format!("WORKDIR {w}"), hit.is_some());
                    let result = match hit {
                        Some(h) => h,
                        None => {
                            let h = self.snapshot(&st, &format!("WORKDIR {w}"), |root| {
                                let dir = hb_runtime::copy::scoped_join(root, &w, true)
                                    .map_err(|e| err(l.line, e.to_string()))?;
                                fs::create_dir_all(&dir).map_err(io_err(&dir))
                            })?;
                            self.cache.put(&key, &h)?;
                            h
                        }
                    };
                    apply(&mut st, key, &result);
                }
                Instruction::Run { command, flags } => {
                    let argv = shell_words(command, &st.shell);
                    let args: Vec<String> =
                        st.args.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    let flag_text: Vec<String> =
                        flags.iter().map(|(k, v)| format!("--{k}={v}")).collect();
                    let key = chain(
                        &st.key,
                        &[
                            "RUN",
                            &argv.join("\0"),
                            &args.join("\0"),
                            &flag_text.join("\0"),
                        ],
                    );
                    let text = format!("RUN {}", display(command));
                    let hit = self.cached_step(job, &key)?;
                    step(n, text, hit.is_some());
                    let result = match hit {
                        Some(h) => h,
                        None => {
                            let h = self.run(job, stage, &st, l.line, argv, flags)?;
                            self.cache.put(&key, &h)?;
                            h
                        }
                    };
                    apply(&mut st, key, &result);
                }
                Instruction::Copy {
                    add,
                    sources,
                    dest,
                    flags,
                    inline,
                } => {
                    let word = if *add { "ADD" } else { "COPY" };
                    let flag_words: String =
                        flags.iter().map(|(k, v)| format!("--{k}={v} ")).collect();
                    let text = format!("{word} {flag_words}{} {dest}", sources.join(" "));
                    for (k, _) in flags {
                        if !["from", "chown", "chmod", "link"].contains(&k.as_str()) {
                            return Err(err(l.line, format!("{word} --{k} is not supported by hb (it knows --from, --chown, --chmod, --link)")));
                        }
                    }
                    let sources: Vec<String> = sources.iter().map(|s| expand(s, &vars)).collect();
                    if let Some(url) = sources
                        .iter()
                        .find(|s| s.contains("://") || s.starts_with("git@"))
                    {
                        return Err(err(l.line, format!("{word} {url}: hb builds do not download; fetch it in a RUN step or put it in the build context")));
                    }
                    let dest = st.absolute(&expand(dest, &vars));
                    let chown = flag(flags, "chown").map(|c| expand(c, &vars));
                    let chmod = match flag(flags, "chmod") {
                        None => None,
                        Some(m) => Some(u32::from_str_radix(m, 8).map_err(|_| {
                            err(
                                l.line,
                                format!("{word} --chmod={m}: write an octal mode like 0644"),
                            )
                        })?),
                    };
                    // Where the sources are, and what identifies their content.
                    let from = flag(flags, "from").map(|f| expand(f, &plan.globals));
                    let mut _view = None;
                    let (source, origin) = match &from {
                        None => (None, context.root.display().to_string()),
                        Some(f) => {
                            let (layers, origin) = match find_stage(plan, f) {
                                Some(i) => (done[&i].layer_dirs(self.store), done[&i].key.clone()),
                                None => {
                                    let img = self.base_image(f, req.pull)?;
                                    (img.layers.clone(), img.record.manifest.clone())
                                }
                            };
                            let view = self.view(&layers)?;
                            let src = Source::rootfs(&view.root);
                            _view = Some(view);
                            (Some(src), origin)
                        }
                    };
                    let source = source.as_ref().unwrap_or(context);
                    let mut resolved: Vec<Vec<String>> = Vec::new();
                    let mut digests = Vec::new();
                    for s in &sources {
                        let rels = source
                            .resolve(s)
                            .map_err(|e| err(l.line, format!("{word} {s}: {e}")))?;
                        if from.is_none() {
                            digests.push(source.digest(&rels)?);
                        }
                        resolved.push(rels);
                    }
                    let count: usize = resolved.iter().map(Vec::len).sum::<usize>() + inline.len();
                    if count > 1 && !dest.ends_with('/') {
                        return Err(err(l.line, format!("{word} with more than one source needs a directory destination ending in `/` (not `{dest}`)")));
                    }
                    let inline_text: Vec<String> =
                        inline.iter().map(|(n, c)| format!("{n}\0{c}")).collect();
                    let key = chain(
                        &st.key,
                        &[
                            word,
                            &origin,
                            &sources.join("\0"),
                            &digests.join("\0"),
                            &inline_text.join("\0"),
                            &dest,
                            chown.as_deref().unwrap_or(""),
                            &format!("{chmod:?}"),
                        ],
                    );
                    let hit = self.cached_step(job, &key)?;
                    step(n, text.clone(), hit.is_some());
                    let result = match hit {
                        Some(h) => h,
                        None => {
                            let h = self.snapshot(&st, &text, |root| {
                                let owner = match &chown {
                                    None => (0, 0),
                                    Some(c) => {
                                        let u = hb_runtime::spec::resolve_user(root, Some(c))
                                            .map_err(|e| {
                                                err(l.line, format!("{word} --chown={c}: {e}"))
                                            })?;
                                        (u.uid, u.gid)
                                    }
                                };
                                // Every path is resolved inside the step's root, symlinks
                                // the image holds followed as the container would (never
                                // out of it: an absolute link starts again at the root).
                                let inside = |path: &str, follow_last: bool| {
                                    hb_runtime::copy::scoped_join(root, path, follow_last)
                                        .map_err(|e| err(l.line, e.to_string()))
                                };
                                let target = inside(&dest, true)?;
                                let into_dir = dest.ends_with('/') || target.is_dir();
                                let dir = dest.trim_end_matches('/');
                                for (name, content) in inline {
                                    let path = if into_dir {
                                        inside(&format!("{dir}/{name}"), false)?
                                    } else {
                                        inside(&dest, false)?
                                    };
                                    if let Some(p) = path.parent() {
                                        fs::create_dir_all(p).map_err(io_err(p))?;
                                    }
                                    let _ = fs::remove_file(&path); // a symlink there is replaced, not followed
                                    fs::write(&path, content).map_err(io_err(&path))?;
                                    let mode = chmod.unwrap_or(0o644);
                                    fs::set_permissions(&path, fs::Permissions::from_mode(mode))
                                        .map_err(io_err(&path))?;
                                    nix::unistd::chown(
                                        &path,
                                        Some(owner.0.into()),
                                        Some(owner.1.into()),
                                    )
                                    .map_err(|e| io_err(&path)(e.into()))?;
                                }
                                for rel in resolved.iter().flatten() {
                                    let host = source.host(rel)?;
                                    if host.is_dir() {
                                        source.copy(rel, root, dir, owner, chmod)?;
                                    } else if *add && is_archive(&host) {
                                        unpack_archive(&host, &target)?;
                                    } else {
                                        let name = Path::new(rel)
                                            .file_name()
                                            .unwrap_or_default()
                                            .to_string_lossy();
                                        let to = if into_dir {
                                            format!("{dir}/{name}")
                                        } else {
                                            dest.clone()
                                        };
                                        source.copy(rel, root, &to, owner, chmod)?;
                                    }
                                }
                                Ok(())
                            })?;
                            self.cache.put(&key, &h)?;
                            h
                        }
                    };
                    apply(&mut st, key, &result);
                }
            }
        }
        Ok(st)
    }

    /// The cached result of a step, unless the build skips the cache or the
    /// layer was pruned since.
    fn cached_step(&self, job: &Job<'_>, key: &str) -> Result<Option<Hit>> {
        job.steps.fetch_add(1, Ordering::Relaxed);
        if job.req.no_cache {
            return Ok(None);
        }
        let hit = self.cache.get(key)?.filter(|h| match &h.layer {
            None => true,
            Some(l) => l
                .parse()
                .is_ok_and(|d| self.store.has_layer(&d) && self.store.has_blob(&d)),
        });
        if hit.is_some() {
            job.cached.fetch_add(1, Ordering::Relaxed);
        }
        Ok(hit)
    }

    fn base_image(&self, name: &str, pull: bool) -> Result<LocalImage> {
        let image_err = |source| Error::Image {
            image: name.to_string(),
            source,
        };
        let r: ImageRef = name
            .parse()
            .map_err(|e| image_err(hb_image::Error::Reference(e)))?;
        let record = self.bases.fetch(&r, pull).map_err(image_err)?;
        self.store.image(&record).map_err(image_err)
    }

    fn scratch(&self, what: &str) -> Result<Scratch> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let dir = self.store.temp_path(&format!("build-{what}-{n}"));
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        Ok(Scratch(dir))
    }

    /// A read-only view of `layers` (COPY --from).
    fn view(&self, layers: &[PathBuf]) -> Result<View<'_>> {
        let dir = self.scratch("view")?;
        let (empty, root) = (dir.0.join("empty"), dir.0.join("root"));
        for d in [&empty, &root] {
            fs::create_dir(d).map_err(io_err(d))?;
        }
        // An empty bottom layer: overlayfs wants two lower dirs for a read-only mount.
        let lower: Vec<PathBuf> = std::iter::once(empty)
            .chain(layers.iter().cloned())
            .collect();
        self.mounts
            .overlay(&lower, None, false, &root)
            .map_err(io_err(&root))?;
        Ok(View {
            _mount: Mounted {
                mounts: self.mounts,
                target: root.clone(),
            },
            root,
            _dir: dir,
        })
    }

    /// Mounts the stage's filesystem writable, lets `f` change it, and stores
    /// the change as a layer.
    fn snapshot(&self, st: &State, what: &str, f: impl FnOnce(&Path) -> Result<()>) -> Result<Hit> {
        let dir = self.scratch("step")?;
        let (empty, upper, work, root) = (
            dir.0.join("empty"),
            dir.0.join("upper"),
            dir.0.join("work"),
            dir.0.join("root"),
        );
        for d in [&empty, &upper, &work, &root] {
            fs::create_dir(d).map_err(io_err(d))?;
        }
        let mut lower = st.layer_dirs(self.store);
        if lower.is_empty() {
            lower.push(empty);
        }
        self.mounts
            // Volatile: the step's upper dir is read once into a layer and thrown away.
            .overlay(&lower, Some((&upper, &work)), true, &root)
            .map_err(io_err(&root))?;
        {
            let _m = Mounted {
                mounts: self.mounts,
                target: root.clone(),
            };
            f(&root)?;
        }
        self.store_layer(&upper, what)
    }

    /// Stores what `upper` holds as a layer (none when it is empty).
    fn store_layer(&self, upper: &Path, what: &str) -> Result<Hit> {
        let tar = self.store.temp_path("build-layer");
        let result = (|| {
            let entries = crate::diff::write_layer(upper, &tar).map_err(io_err(upper))?;
            if entries == 0 {
                return Ok(Hit {
                    layer: None,
                    size: 0,
                });
            }
            let (digest, size) =
                layout::ingest_file(self.store, &tar, None, what).map_err(|source| {
                    Error::Image {
                        image: what.to_string(),
                        source,
                    }
                })?;
            Ok(Hit {
                layer: Some(digest.to_string()),
                size,
            })
        })();
        let _ = fs::remove_file(&tar);
        result
    }

    /// Runs a RUN step in a container on the stage's filesystem.
    fn run(
        &self,
        job: &Job<'_>,
        stage: &Stage,
        st: &State,
        line: usize,
        argv: Vec<String>,
        flags: &[(String, String)],
    ) -> Result<Hit> {
        let (req, plan, on) = (job.req, job.plan, job.on);
        let err = |message: String| Error::Instruction {
            file: plan.file.clone(),
            line,
            message,
        };
        let layers = st.layer_dirs(self.store);
        if layers.is_empty() {
            return Err(err("RUN needs a shell and programs, and a stage FROM scratch has none so far; COPY them in first, or start FROM an image".into()));
        }
        let mut netns = if req.host_network {
            NetNs::Host
        } else {
            NetNs::Private
        };
        let mut mounts = Vec::new();
        for (k, v) in flags {
            match k.as_str() {
                "network" => {
                    netns = match v.as_str() {
                        "host" => NetNs::Host,
                        "none" | "default" => NetNs::Private,
                        other => return Err(err(format!("RUN --network={other}: hb knows host, none and default"))),
                    }
                }
                "mount" => mounts.push(self.run_mount(v).map_err(err)?),
                other => return Err(err(format!("RUN --{other} is not supported by hb (it knows --mount=type=cache|tmpfs and --network)"))),
            }
        }
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let id = format!("hb-build-{}-{n}", std::process::id());
        let image = LocalImage {
            record: ImageRecord {
                name: format!("build stage {}", stage.name),
                manifest: String::new(),
                config: String::new(),
                index: None,
                size: 0,
                stored: 0,
            },
            manifest: serde_json::from_value(serde_json::json!({
                "schemaVersion": 2,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{}", "0".repeat(64)), "size": 0},
                "layers": [],
            }))
            .map_err(|e| err(e.to_string()))?,
            config: st.config.clone(),
            layers,
        };
        let resolv = match netns {
            NetNs::Host => fs::read_to_string("/etc/resolv.conf").ok(),
            _ => None,
        };
        let overrides = Overrides {
            entrypoint: Some(argv.clone()),
            command: Some(Vec::new()),
            // Build args are the step's environment, not the image's (ENV wins over ARG).
            env: st
                .args
                .iter()
                .filter(|(k, _)| !st.env().contains_key(*k))
                .map(|(k, v)| (k.clone(), Some(v.clone())))
                .collect(),
            netns,
            resolv_conf: resolv,
            mounts,
            ..Default::default()
        };
        let rt_err = |source| Error::Runtime {
            file: plan.file.clone(),
            line,
            source,
        };
        let c = self.rt.create(&id, &image, &overrides).map_err(rt_err)?;
        let result = (|| {
            self.rt.start(&c, &Supervision::default()).map_err(rt_err)?;
            let mut seen = 0;
            let mut output: Vec<String> = Vec::new();
            let code = loop {
                let status = self.rt.status(&c);
                for l in self.rt.logs(&c).map_err(rt_err)?.into_iter().skip(seen) {
                    seen += 1;
                    on(Event::Output {
                        stage: stage.name.clone(),
                        line: l.text.clone(),
                    });
                    output.push(l.text);
                    if output.len() > 20 {
                        output.remove(0);
                    }
                }
                match status {
                    Some(s) if s.state == "exited" => break s.exit_code.unwrap_or(-1),
                    Some(s) if s.state == "failed" => {
                        return Err(err(s
                            .error
                            .unwrap_or_else(|| "the step's container failed".into())))
                    }
                    _ => std::thread::sleep(Duration::from_millis(2)),
                }
            };
            if code != 0 {
                return Err(Error::Run {
                    file: plan.file.clone(),
                    line,
                    command: argv.join(" "),
                    code,
                    output,
                });
            }
            self.store_layer(&c.dir.join("upper"), &format!("RUN at line {line}"))
        })();
        let removed = self.rt.remove(&c).map_err(rt_err);
        let hit = result?;
        removed?;
        Ok(hit)
    }

    /// A `RUN --mount=…`: `type=cache` (a directory kept between builds, per
    /// `id` or target, as BuildKit keeps it) or `type=tmpfs`.
    fn run_mount(&self, spec: &str) -> std::result::Result<MountRequest, String> {
        let fields: BTreeMap<&str, &str> = spec
            .split(',')
            .map(|f| f.split_once('=').unwrap_or((f, "")))
            .collect();
        let target = fields
            .get("target")
            .or_else(|| fields.get("dst"))
            .or_else(|| fields.get("destination"))
            .ok_or_else(|| format!("RUN --mount={spec}: give it a target="))?
            .to_string();
        match fields.get("type").copied().unwrap_or("bind") {
            "cache" => {
                let id = fields.get("id").copied().unwrap_or(&target);
                let dir = self
                    .store
                    .root()
                    .join("build-mounts")
                    .join(hex::encode(Sha256::digest(id.as_bytes())));
                fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                Ok(MountRequest::Bind {
                    source: dir,
                    target,
                    read_only: false,
                })
            }
            "tmpfs" => Ok(MountRequest::Tmpfs { target, size: None }),
            other => Err(format!("RUN --mount=type={other} is not supported by hb (it knows type=cache and type=tmpfs)")),
        }
    }
}

/// A read-only mounted view of some layers.
struct View<'m> {
    _mount: Mounted<'m>,
    root: PathBuf,
    _dir: Scratch,
}

fn apply(st: &mut State, key: String, hit: &Hit) {
    st.key = key;
    if let Some(l) = &hit.layer {
        st.push_layer(l, hit.size);
    }
}

fn default_shell() -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into()]
}

fn display(c: &Command) -> String {
    match c {
        Command::Shell(s) => s.lines().next().unwrap_or_default().to_string(),
        Command::Exec(v) => format!("{v:?}"),
    }
}

fn base_text(b: &Base, plan: &Plan) -> String {
    match b {
        Base::Scratch => "scratch".into(),
        Base::Stage(i) => plan.stages[*i].name.clone(),
        Base::Image(s) => s.clone(),
    }
}

/// The stage `--from` names: an alias, or an earlier stage's index.
fn find_stage(plan: &Plan, name: &str) -> Option<usize> {
    plan.stages
        .iter()
        .position(|s| {
            s.alias
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case(name))
        })
        .or_else(|| name.parse().ok().filter(|i| *i < plan.stages.len()))
}

/// The stages `s` needs built first: its FROM stage and its `COPY --from` stages.
fn stage_deps(plan: &Plan, s: &Stage) -> BTreeSet<usize> {
    let mut deps = BTreeSet::new();
    if let Base::Stage(i) = s.base {
        deps.insert(i);
    }
    for l in &s.steps {
        if let Instruction::Copy { flags, .. } = &l.instruction {
            if let Some(f) = flag(flags, "from") {
                if let Some(i) = find_stage(plan, &expand(f, &plan.globals)) {
                    deps.insert(i);
                }
            }
        }
    }
    deps
}

/// True when some stage declares `ARG name`.
fn declared(plan: &Plan, name: &str) -> bool {
    plan.stages
        .iter()
        .flat_map(|s| &s.steps)
        .any(|l| matches!(&l.instruction, Instruction::Arg { name: n, .. } if n == name))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mounts that are never there: the reaping below touches no real mount.
    #[derive(Debug)]
    struct NoMounts;

    impl Mounts for NoMounts {
        fn overlay(
            &self,
            _: &[PathBuf],
            _: Option<(&Path, &Path)>,
            _: bool,
            _: &Path,
        ) -> std::io::Result<()> {
            Err(std::io::Error::other("no mounts in this test"))
        }
        fn unmount(&self, _: &Path) -> std::io::Result<()> {
            Ok(())
        }
        fn is_mountpoint(&self, _: &Path) -> bool {
            false
        }
    }

    struct NoBases;

    impl Bases for NoBases {
        fn fetch(&self, image: &ImageRef, _: bool) -> hb_image::Result<ImageRecord> {
            Err(hb_image::Error::ImageNotFound {
                name: image.to_string(),
            })
        }
    }

    #[test]
    fn what_a_killed_build_left_is_reaped_and_a_running_one_keeps_its_own() {
        let d = tempfile::tempdir().expect("tempdir");
        let store = Store::open(d.path()).expect("store");
        let mut rt = Runtime::new(
            d.path().to_path_buf(),
            d.path().join("run"),
            "crun".into(),
            "hb-shim".into(),
        );
        rt.mounts = std::sync::Arc::new(NoMounts);
        // A pid that cannot be running (above the kernel's pid_max) and ours.
        let dead = 99_999_999u32;
        let alive = std::process::id();
        for pid in [dead, alive] {
            let c = d.path().join(format!("containers/hb-build-{pid}-0"));
            fs::create_dir_all(&c).expect("mkdir");
            fs::write(c.join("config.json"), "{}").expect("write");
            fs::create_dir_all(d.path().join(format!("tmp/build-step-0-{pid}-3/upper")))
                .expect("mkdir");
        }
        Builder::new(&store, &rt, &NoBases, &NoMounts).expect("builder");
        let exists = |p: String| d.path().join(p).exists();
        assert!(!exists(format!("containers/hb-build-{dead}-0")));
        assert!(!exists(format!("tmp/build-step-0-{dead}-3")));
        assert!(exists(format!("containers/hb-build-{alive}-0")));
        assert!(exists(format!("tmp/build-step-0-{alive}-3")));
    }

    #[test]
    fn healthcheck_durations_read_as_go_writes_them() {
        assert_eq!(duration_ns("30s"), Some(30_000_000_000));
        assert_eq!(duration_ns("1m30s"), Some(90_000_000_000));
        assert_eq!(duration_ns("500ms"), Some(500_000_000));
        assert_eq!(duration_ns("0"), Some(0));
        assert_eq!(duration_ns("soon"), None);
    }

    #[test]
    fn keys_chain() {
        let a = chain("", &["RUN", "x"]);
        assert_ne!(a, chain("", &["RUN", "y"]));
        assert_ne!(chain(&a, &["RUN", "x"]), a);
        assert_ne!(chain("", &["RU", "Nx"]), a, "parts are separated");
    }
}
