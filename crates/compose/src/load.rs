//! The loader: from command-line options to a [`Project`], as a fixed sequence
//! of stages over the YAML tree (compose-go's order):
//!
//! 1. discovery — which files, which `.env`, which project directory;
//! 2. per file: parse → interpolate → validate against the schema → canonical
//!    long syntax (paths made absolute) → `include` → `extends`;
//! 3. merge the files in order;
//! 4. finish ([`crate::finish`]): profiles, `env_file`, defaults, consistency
//!    checks, typed decoding.
//!
//! Every problem is collected; a stage that found any stops the load with all
//! of them, each with file, line and key path.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;

use crate::canonical::{self, absolute};
use crate::diag::{join, Diagnostic, KeyPath};
use crate::dotenv;
use crate::interpolate::{Interpolator, TemplateError};
use crate::merge::{self, merge_documents};
use crate::model::{Project, ProjectName};
use crate::schema;
use crate::yaml::{self, Kind, Node, Span, Value};
use crate::{Error, Result};

/// The file names Compose looks for, in order of preference.
pub const FILE_NAMES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// What the command line (and the process) says about the project to load.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The process's working directory.
    pub working_dir: PathBuf,
    /// `-f` files, in order; `-` reads [`Options::stdin`].
    pub files: Vec<PathBuf>,
    /// The contents of standard input, when a file is `-`.
    pub stdin: Option<String>,
    /// `--project-directory`.
    pub project_directory: Option<PathBuf>,
    /// `-p`.
    pub project_name: Option<String>,
    /// `--env-file`, in order.
    pub env_files: Vec<PathBuf>,
    /// `--profile`.
    pub profiles: Vec<String>,
    /// Services named on the command line: their profiles count as active.
    pub services: Vec<String>,
    /// The process environment.
    pub environment: IndexMap<String, String>,
    /// Skip the consistency checks (undefined references, cycles), as
    /// compose-go's `SkipConsistencyCheck` does: for loading fragments.
    pub skip_consistency: bool,
    /// Loaders for remote `include` paths and `extends.file` references
    /// (`oci://…`, git URLs); none are built in yet.
    pub remote_loaders: Vec<Arc<dyn RemoteLoader>>,
}

/// Fetches a remote compose file (an `include` path or `extends.file` such as
/// `oci://…` or a git URL) and says where its local copy is. Paths inside it
/// are then relative to that copy's directory.
pub trait RemoteLoader: std::fmt::Debug + Send + Sync {
    /// True when this loader handles `reference`.
    fn accepts(&self, reference: &str) -> bool;
    /// The local path of the referenced file, or why it cannot be had.
    fn load(&self, reference: &str) -> std::result::Result<PathBuf, String>;
}

/// A loaded project and what the user should be told about it.
#[derive(Debug)]
pub struct Loaded {
    /// The project.
    pub project: Project,
    /// Warnings (unset variables, several candidate files, …).
    pub warnings: Vec<String>,
}

/// State shared by the stages of one load.
pub(crate) struct Loader<'o> {
    pub(crate) opts: &'o Options,
    pub(crate) diags: Vec<Diagnostic>,
    pub(crate) warnings: Vec<String>,
    missing: BTreeSet<String>,
    include_stack: Vec<PathBuf>,
}

/// Finds the compose file in `dir` or the nearest parent that has one,
/// with its `*.override.*` file if there is one.
pub fn discover(dir: &Path) -> Option<(PathBuf, Option<PathBuf>, Vec<PathBuf>)> {
    for d in dir.ancestors() {
        let found: Vec<PathBuf> = FILE_NAMES
            .iter()
            .map(|n| d.join(n))
            .filter(|p| p.is_file())
            .collect();
        if let Some(first) = found.first() {
            let stem = first
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.rsplit_once('.'))
                .map(|(s, _)| s.to_string());
            let over = stem.and_then(|s| {
                ["yaml", "yml"]
                    .iter()
                    .map(|ext| d.join(format!("{s}.override.{ext}")))
                    .find(|p| p.is_file())
            });
            return Some((first.clone(), over, found[1..].to_vec()));
        }
    }
    None
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn dir_of(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Reads env files in order; each sees the process environment first, then what came before.
fn read_env_files(
    files: &[PathBuf],
    process: &IndexMap<String, String>,
    required: bool,
) -> Result<IndexMap<String, String>> {
    let mut acc: IndexMap<String, String> = IndexMap::new();
    for f in files {
        if !required && !f.is_file() {
            continue;
        }
        if f.is_dir() {
            return Err(Error::EnvFile {
                path: f.clone(),
                line: 0,
                message: "is a directory".into(),
            });
        }
        let text = read(f)?;
        let earlier = acc.clone();
        let lookup = |k: &str| process.get(k).or_else(|| earlier.get(k)).cloned();
        let values = dotenv::parse(&text, &lookup).map_err(|e| Error::EnvFile {
            path: f.clone(),
            line: e.line,
            message: e.message,
        })?;
        acc.extend(values);
    }
    Ok(acc)
}

/// The process environment over the values of env files.
fn layered(
    files: IndexMap<String, String>,
    process: &IndexMap<String, String>,
) -> IndexMap<String, String> {
    let mut env = files;
    for (k, v) in process {
        env.insert(k.clone(), v.clone());
    }
    env
}

/// Loads a project.
pub fn load(opts: &Options) -> Result<Loaded> {
    let cwd = &opts.working_dir;
    let abs = |p: &Path| PathBuf::from(absolute(cwd, &p.to_string_lossy(), None));
    let explicit_files: Vec<PathBuf> = opts
        .files
        .iter()
        .map(|f| {
            if f.as_os_str() == "-" {
                f.clone()
            } else {
                abs(f)
            }
        })
        .collect();
    let project_dir_opt = opts.project_directory.as_deref().map(abs);

    // The environment: `--env-file`s, else `.env` in the project directory; the process wins.
    let env_dir = project_dir_opt.clone().unwrap_or_else(|| {
        explicit_files
            .iter()
            .find(|f| f.as_os_str() != "-")
            .map(|f| dir_of(f))
            .unwrap_or_else(|| cwd.clone())
    });
    let env_files: Vec<PathBuf> = opts.env_files.iter().map(|p| abs(p)).collect();
    let load_env = |dir: &Path| -> Result<IndexMap<String, String>> {
        let values = if env_files.is_empty() {
            read_env_files(&[dir.join(".env")], &opts.environment, false)?
        } else {
            read_env_files(&env_files, &opts.environment, true)?
        };
        Ok(layered(values, &opts.environment))
    };
    let mut env = load_env(&env_dir)?;
    let mut warnings = Vec::new();

    let mut files = explicit_files;
    if files.is_empty() {
        if let Some(list) = env.get("COMPOSE_FILE").filter(|s| !s.is_empty()) {
            let sep = env
                .get("COMPOSE_PATH_SEPARATOR")
                .cloned()
                .unwrap_or_else(|| ":".into());
            files = list
                .split(sep.as_str())
                .filter(|s| !s.is_empty())
                .map(|f| PathBuf::from(absolute(&env_dir, f, None)))
                .collect();
        } else {
            let start = project_dir_opt.clone().unwrap_or_else(|| cwd.clone());
            let Some((file, over, others)) = discover(&start) else {
                return Err(Error::NoComposeFile { dir: start });
            };
            if !others.is_empty() {
                warnings.push(format!(
                    "found several compose files in {}; using {}",
                    dir_of(&file).display(),
                    file.file_name()
                        .map(|n| n.to_string_lossy())
                        .unwrap_or_default()
                ));
            }
            let found_dir = dir_of(&file);
            if project_dir_opt.is_none() && found_dir != env_dir && opts.env_files.is_empty() {
                env = load_env(&found_dir)?;
            }
            files.push(file);
            files.extend(over);
        }
    }
    let project_dir = project_dir_opt.unwrap_or_else(|| {
        files
            .iter()
            .find(|f| f.as_os_str() != "-")
            .map(|f| dir_of(f))
            .unwrap_or_else(|| cwd.clone())
    });

    // Parse every file first: the project name may come from a `name:` in any of them.
    let mut loader = Loader {
        opts,
        diags: Vec::new(),
        warnings,
        missing: BTreeSet::new(),
        include_stack: Vec::new(),
    };
    let mut parsed = Vec::new();
    for f in &files {
        let (text, label) = if f.as_os_str() == "-" {
            (opts.stdin.clone().unwrap_or_default(), "-".to_string())
        } else {
            (read(f)?, f.display().to_string())
        };
        match yaml::parse(&text, &Arc::from(label.as_str())) {
            Ok(node) => parsed.push(node),
            Err(e) => loader.diags.push(Diagnostic::new(&e.span, "", e.message)),
        }
    }
    loader.stop()?;

    let name = project_name(opts, &env, &parsed, &project_dir, &mut loader)?;
    env.entry("COMPOSE_PROJECT_NAME".into())
        .or_insert_with(|| name.to_string());

    let mut docs = Vec::new();
    let count = parsed.len();
    for node in parsed {
        if let Some(doc) = loader.process(node, &project_dir, &env) {
            docs.push(doc);
        }
    }
    // A file that failed before canonicalisation cannot be merged; canonical
    // problems wait for the consistency checks so both are reported together.
    if docs.len() < count {
        loader.stop()?;
    }
    let mut merged =
        merge_documents(docs).unwrap_or_else(|| Node::map(Default::default(), Span::generated()));
    merge::finish(&mut merged);

    for var in std::mem::take(&mut loader.missing) {
        loader.warnings.push(format!(
            "the \"{var}\" variable is not set; defaulting to a blank string"
        ));
    }
    let project = crate::finish::project(merged, name, project_dir, files, env, &mut loader)?;
    Ok(Loaded {
        project,
        warnings: loader.warnings,
    })
}

fn project_name(
    opts: &Options,
    env: &IndexMap<String, String>,
    parsed: &[Node],
    project_dir: &Path,
    loader: &mut Loader<'_>,
) -> Result<ProjectName> {
    let explicit = opts
        .project_name
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| {
            env.get("COMPOSE_PROJECT_NAME")
                .filter(|s| !s.is_empty())
                .cloned()
        });
    if let Some(n) = explicit {
        return n.parse().map_err(Error::ProjectName);
    }
    // The last file that sets `name:` wins, interpolated like any value.
    if let Some(node) = parsed.iter().rev().filter_map(|d| d.get("name")).next() {
        if let Some(text) = node.as_str() {
            let lookup = |k: &str| env.get(k).cloned();
            let mut i = Interpolator::new(&lookup);
            match i.expand(text) {
                Ok(n) if !n.is_empty() => return n.parse().map_err(Error::ProjectName),
                Ok(_) => {}
                Err(e) => {
                    loader.diags.push(template_diag(&node.span, "name", &e));
                    loader.stop()?;
                }
            }
        }
    }
    let base = project_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    ProjectName::normalize(&base).ok_or(Error::EmptyProjectName {
        dir: project_dir.to_path_buf(),
    })
}

fn template_diag(span: &Span, path: &str, e: &TemplateError) -> Diagnostic {
    match e {
        TemplateError::Invalid(text) => Diagnostic::new(
            span,
            path,
            format!("invalid interpolation format in `{text}`"),
        )
        .hint("escape a literal `$` as `$$`"),
        TemplateError::Required { name, message } => Diagnostic::new(
            span,
            path,
            format!("required variable {name} is missing a value: {message}"),
        )
        .hint(format!("set {name} in the environment or in .env")),
    }
}

impl Loader<'_> {
    /// Fails with every diagnostic collected so far, if there are any.
    pub(crate) fn stop(&mut self) -> Result<()> {
        if self.diags.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(std::mem::take(&mut self.diags)))
        }
    }

    /// Stage 2 for one parsed file: interpolate, validate, canonicalise, include, extends.
    fn process(
        &mut self,
        mut node: Node,
        base_dir: &Path,
        env: &IndexMap<String, String>,
    ) -> Option<Node> {
        if node.is_null() {
            return Some(Node::map(Default::default(), node.span));
        }
        // compose-go reads `services: {foo: }` as an empty service.
        if let Some(services) = node
            .as_map_mut()
            .and_then(|m| m.get_mut("services"))
            .and_then(Node::as_map_mut)
        {
            for svc in services.values_mut().filter(|s| s.is_null()) {
                svc.value = Value::Map(Default::default());
            }
        }
        let before = self.diags.len();
        self.interpolate(&mut node, env);
        if self.diags.len() > before {
            return None;
        }
        self.diags.extend(schema::compose_spec().validate(&node));
        if self.diags.len() > before {
            return None;
        }
        let home = env.get("HOME").map(String::as_str);
        let mut cx = canonical::Context {
            base_dir,
            home,
            diags: Vec::new(),
        };
        canonical::document(&mut node, &mut cx);
        // Values canonicalisation could not read stay as written; later stages
        // still run, so their problems are reported in the same run.
        self.diags.append(&mut cx.diags);
        let node = self.includes(node, base_dir, env)?;
        let node = self.extends(node, env);
        Some(node)
    }

    fn interpolate(&mut self, node: &mut Node, env: &IndexMap<String, String>) {
        let lookup = |k: &str| env.get(k).cloned();
        let mut interp = Interpolator::new(&lookup);
        let mut diags = Vec::new();
        walk_scalars(node, &KeyPath::Root, &mut |n, path| {
            let Value::Scalar(s) = &mut n.value else {
                return;
            };
            if s.kind != Kind::Str || !s.text.contains('$') {
                return;
            }
            match interp.expand(&s.text) {
                Ok(t) => s.text = t,
                Err(e) => diags.push(template_diag(&n.span, &path.to_string(), &e)),
            }
        });
        self.missing.extend(interp.missing);
        self.diags.extend(diags);
    }

    /// Loads the `include`d files and puts this file's content on top of them
    /// (compose-spec `14-include.md`).
    fn includes(
        &mut self,
        mut node: Node,
        base_dir: &Path,
        env: &IndexMap<String, String>,
    ) -> Option<Node> {
        let Some(map) = node.as_map_mut() else {
            return Some(node);
        };
        let Some(include) = map.shift_remove("include") else {
            return Some(node);
        };
        let mut layers = Vec::new();
        for (i, entry) in include.as_seq().into_iter().flatten().enumerate() {
            let path = format!("include[{i}]");
            let paths: Vec<(String, Span)> = match entry.get("path") {
                Some(Node {
                    value: Value::Seq(items),
                    ..
                }) => items
                    .iter()
                    .filter_map(|p| p.as_str().map(|s| (s.to_string(), p.span.clone())))
                    .collect(),
                Some(p) => p
                    .as_str()
                    .map(|s| vec![(s.to_string(), p.span.clone())])
                    .unwrap_or_default(),
                None => Vec::new(),
            };
            if paths.is_empty() {
                self.diags.push(Diagnostic::new(
                    &entry.span,
                    path,
                    "an include needs a `path`",
                ));
                continue;
            }
            let Some(files) = paths
                .iter()
                .map(|(p, span)| self.locate(p, base_dir, span, &path))
                .collect::<Option<Vec<_>>>()
            else {
                continue;
            };
            let inc_dir = match entry.get("project_directory").and_then(Node::as_str) {
                Some(d) => PathBuf::from(absolute(base_dir, d, None)),
                None => dir_of(&files[0]),
            };
            // The include's env_file (default: its project's .env) under the including environment.
            let env_files: Vec<PathBuf> = match entry.get("env_file") {
                Some(Node {
                    value: Value::Seq(items),
                    ..
                }) => items
                    .iter()
                    .filter_map(Node::as_str)
                    .map(|s| PathBuf::from(absolute(base_dir, s, None)))
                    .collect(),
                Some(n) => n
                    .as_str()
                    .map(|s| vec![PathBuf::from(absolute(base_dir, s, None))])
                    .unwrap_or_default(),
                None => Vec::new(),
            };
            let required = !env_files.is_empty();
            let files_for_env = if required {
                env_files
            } else {
                vec![inc_dir.join(".env")]
            };
            let inc_env = match read_env_files(&files_for_env, env, required) {
                Ok(values) => layered(values, env),
                Err(e) => {
                    self.diags
                        .push(Diagnostic::new(&entry.span, &path, e.to_string()));
                    continue;
                }
            };
            for (f, (_, span)) in files.iter().zip(&paths) {
                let at = Referrer {
                    span,
                    path: &path,
                    hint: "check the include path",
                    cycle: "include cycle detected",
                };
                if let Some(doc) = self.load_referenced(f, &at, &inc_dir, &inc_env) {
                    layers.push(doc);
                }
            }
        }
        layers.push(node);
        merge_documents(layers)
    }

    /// Resolves `extends` for every service of a file (compose-spec `05-services.md#extends`).
    fn extends(&mut self, mut node: Node, env: &IndexMap<String, String>) -> Node {
        let has_extends = node
            .get("services")
            .and_then(Node::as_map)
            .is_some_and(|m| m.values().any(|s| s.get("extends").is_some()));
        if !has_extends {
            return node;
        }
        let Some(services) = node.get("services").and_then(Node::as_map).cloned() else {
            return node;
        };
        let file: PathBuf = PathBuf::from(&*node.span.file);
        let mut resolved = services.clone();
        for (name, svc) in services.iter() {
            if svc.get("extends").is_some() {
                let mut stack = Vec::new();
                if let Some(s) = self.resolve_extends(&file, &services, &name.name, env, &mut stack)
                {
                    if let Some(slot) = resolved.get_mut(name.name.as_str()) {
                        *slot = s;
                    }
                }
            }
        }
        if let Some(m) = node.as_map_mut() {
            if let Some(slot) = m.get_mut("services") {
                slot.value = Value::Map(resolved);
            }
        }
        node
    }

    fn resolve_extends(
        &mut self,
        file: &Path,
        services: &yaml::Mapping,
        name: &str,
        env: &IndexMap<String, String>,
        stack: &mut Vec<(PathBuf, String)>,
    ) -> Option<Node> {
        let path = join("services", name);
        let svc = services.get(name)?.clone();
        let Some(ext) = svc.get("extends").cloned() else {
            return Some(svc);
        };
        let key = (file.to_path_buf(), name.to_string());
        if stack.contains(&key) {
            let chain: Vec<String> = stack
                .iter()
                .chain([&key])
                .map(|(f, s)| format!("{s} ({})", f.display()))
                .collect();
            self.diags.push(Diagnostic::new(
                &ext.span,
                join(&path, "extends"),
                format!("circular reference: {}", chain.join(" -> ")),
            ));
            return None;
        }
        stack.push(key);
        let Some(base_name) = ext
            .get("service")
            .and_then(Node::as_str)
            .map(str::to_string)
        else {
            self.diags.push(Diagnostic::new(
                &ext.span,
                join(&path, "extends"),
                format!("extends.{name}.service is required"),
            ));
            return None;
        };
        let (base_file, base_services) = match ext.get("file").and_then(Node::as_str) {
            None => (file.to_path_buf(), services.clone()),
            Some(f) => {
                let f = self.locate(
                    f,
                    file.parent().unwrap_or(Path::new("/")),
                    &ext.span,
                    &join(&path, "extends.file"),
                )?;
                let doc = self.load_extended_file(&f, &ext, &path, env)?;
                let s = doc
                    .get("services")
                    .and_then(Node::as_map)
                    .cloned()
                    .unwrap_or_default();
                (f, s)
            }
        };
        if !base_services.contains_key(base_name.as_str()) {
            self.diags.push(
                Diagnostic::new(
                    &ext.span,
                    join(&path, "extends.service"),
                    format!(
                        "cannot extend service `{base_name}`: {} has no such service",
                        base_file.display()
                    ),
                )
                .hint("check the service name and the `file`"),
            );
            return None;
        }
        let base = self.resolve_extends(&base_file, &base_services, &base_name, env, stack)?;
        stack.pop();
        let mut own = svc;
        if let Some(m) = own.as_map_mut() {
            m.shift_remove("extends");
        }
        let mut base = base;
        if let Some(m) = base.as_map_mut() {
            m.shift_remove("extends");
        }
        let mut segs = vec!["services".to_string(), name.to_string()];
        Some(merge::merge(base, own, &mut segs))
    }

    fn load_extended_file(
        &mut self,
        f: &Path,
        ext: &Node,
        path: &str,
        env: &IndexMap<String, String>,
    ) -> Option<Node> {
        let path = join(path, "extends.file");
        let at = Referrer {
            span: &ext.span,
            path: &path,
            hint: "check the `extends.file` path",
            cycle: "circular reference",
        };
        // Paths in an extended file are relative to that file (compose-go: ResolvePaths per file).
        self.load_referenced(f, &at, &dir_of(f), env)
    }

    /// The local file a reference names: a path relative to `base_dir`, or a
    /// remote reference fetched by one of [`Options::remote_loaders`].
    fn locate(
        &mut self,
        reference: &str,
        base_dir: &Path,
        at: &Span,
        path: &str,
    ) -> Option<PathBuf> {
        if !canonical::is_remote_reference(reference) {
            return Some(PathBuf::from(absolute(base_dir, reference, None)));
        }
        let Some(loader) = self
            .opts
            .remote_loaders
            .iter()
            .find(|l| l.accepts(reference))
        else {
            self.diags.push(
                Diagnostic::new(at, path, format!("cannot load the remote compose file `{reference}`: hb does not fetch remote compose files yet"))
                    .hint("download it and name the local copy instead"),
            );
            return None;
        };
        match loader.load(reference) {
            Ok(p) => Some(p),
            Err(e) => {
                self.diags.push(Diagnostic::new(
                    at,
                    path,
                    format!("cannot load `{reference}`: {e}"),
                ));
                None
            }
        }
    }

    /// Loads a file another one refers to (`include`, `extends.file`) through stage 2,
    /// refusing cycles; problems are reported where the reference is written.
    fn load_referenced(
        &mut self,
        f: &Path,
        at: &Referrer<'_>,
        base_dir: &Path,
        env: &IndexMap<String, String>,
    ) -> Option<Node> {
        if self.include_stack.iter().any(|p| p == f) {
            let chain: Vec<String> = self
                .include_stack
                .iter()
                .map(|p| p.as_path())
                .chain([f])
                .map(|p| p.display().to_string())
                .collect();
            self.diags.push(Diagnostic::new(
                at.span,
                at.path,
                format!("{}: {}", at.cycle, chain.join(" -> ")),
            ));
            return None;
        }
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                self.diags.push(
                    Diagnostic::new(
                        at.span,
                        at.path,
                        format!("cannot read {}: {e}", f.display()),
                    )
                    .hint(at.hint),
                );
                return None;
            }
        };
        let parsed = match yaml::parse(&text, &Arc::from(f.display().to_string().as_str())) {
            Ok(n) => n,
            Err(e) => {
                self.diags.push(Diagnostic::new(&e.span, "", e.message));
                return None;
            }
        };
        self.include_stack.push(f.to_path_buf());
        let doc = self.process(parsed, base_dir, env);
        self.include_stack.pop();
        doc
    }
}

/// Where a referenced file is named, for the problems found loading it.
struct Referrer<'a> {
    span: &'a Span,
    path: &'a str,
    hint: &'a str,
    cycle: &'a str,
}

/// Calls `f` on every scalar with its key path, depth first.
fn walk_scalars(node: &mut Node, path: &KeyPath<'_>, f: &mut dyn FnMut(&mut Node, &KeyPath<'_>)) {
    match &mut node.value {
        Value::Map(m) => {
            for (k, v) in m.iter_mut() {
                walk_scalars(v, &KeyPath::Key(path, &k.name), f);
            }
        }
        Value::Seq(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                walk_scalars(v, &KeyPath::Index(path, i), f);
            }
        }
        Value::Scalar(_) => f(node, path),
    }
}
