//! The last stages of a load, on the merged canonical tree: profiles,
//! `env_file`, Compose's defaults (the `default` network, resource names,
//! implicit dependencies), consistency checks, and decoding into [`Project`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use crate::diag::{did_you_mean, join, Diagnostic};
use crate::dotenv;
use crate::load::Loader;
use crate::model::{Project, ProjectName, Resource, Service};
use crate::yaml::{Key, Mapping, Node, Span, Value};
use crate::Result;

const RESOURCE_KINDS: [&str; 4] = ["networks", "volumes", "secrets", "configs"];
const KNOWN_TOP_LEVEL: [&str; 7] = [
    "name", "version", "services", "networks", "volumes", "secrets", "configs",
];

pub(crate) fn project(
    mut root: Node,
    name: ProjectName,
    working_dir: PathBuf,
    files: Vec<PathBuf>,
    env: IndexMap<String, String>,
    loader: &mut Loader<'_>,
) -> Result<Project> {
    let span = root.span.clone();
    let mut top = match std::mem::replace(&mut root.value, Value::Map(Mapping::default())) {
        Value::Map(m) => m,
        _ => Mapping::default(),
    };
    if top.contains_key("version") {
        loader
            .warnings
            .push("the attribute `version` is obsolete and ignored".into());
    }
    let mut services = take_map(&mut top, "services");
    let mut resources: BTreeMap<&str, Mapping> = RESOURCE_KINDS
        .iter()
        .map(|k| (*k, take_map(&mut top, k)))
        .collect();

    // Profiles (compose-spec 15-profiles.md): COMPOSE_PROFILES, --profile, and any service named on the command line.
    let mut active: Vec<String> = loader.opts.profiles.clone();
    if let Some(p) = env.get("COMPOSE_PROFILES") {
        active.extend(
            p.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from),
        );
    }
    let all = active.iter().any(|p| p == "*");
    let mut disabled = Mapping::default();
    let names: Vec<Key> = services.keys().cloned().collect();
    for k in names {
        let profiles: Vec<&str> = services
            .get(k.name.as_str())
            .and_then(|s| s.get("profiles"))
            .and_then(Node::as_seq)
            .map(|v| v.iter().filter_map(Node::as_str).collect())
            .unwrap_or_default();
        let enabled = profiles.is_empty()
            || all
            || profiles.iter().any(|p| active.iter().any(|a| a == p))
            || loader.opts.services.contains(&k.name);
        if !enabled {
            if let Some((k, v)) = services.shift_remove_entry(k.name.as_str()) {
                disabled.insert(k, v);
            }
        }
    }

    for (k, svc) in services.iter_mut() {
        let path = join("services", &k.name);
        environment(svc, &env, &path, &mut loader.diags);
        labels(svc, &path, &mut loader.diags);
        implicit_dependencies(svc);
        let uses_default = svc.get("network_mode").is_none() && svc.get("networks").is_none();
        if uses_default {
            if let Some(m) = svc.as_map_mut() {
                let mut nets = Mapping::default();
                nets.insert(
                    Key {
                        name: "default".into(),
                        span: k.span.clone(),
                    },
                    Node::null(k.span.clone()),
                );
                m.insert(
                    Key {
                        name: "networks".into(),
                        span: k.span.clone(),
                    },
                    Node::map(nets, k.span.clone()),
                );
            }
        }
    }
    let needs_default = services
        .values()
        .any(|s| s.get("networks").and_then(|n| n.get("default")).is_some());
    if needs_default && !resources["networks"].contains_key("default") {
        if let Some(nets) = resources.get_mut("networks") {
            nets.insert(
                Key {
                    name: "default".into(),
                    span: span.clone(),
                },
                Node::map(Mapping::default(), span.clone()),
            );
        }
    }
    for kind in ["networks", "volumes"] {
        if let Some(defs) = resources.get_mut(kind) {
            for (k, def) in defs.iter_mut() {
                let Some(m) = def.as_map_mut() else { continue };
                if m.contains_key("name") {
                    continue;
                }
                let external = m.get("external").and_then(Node::as_bool).unwrap_or(false);
                let real = if external {
                    k.name.clone()
                } else {
                    format!("{name}_{}", k.name)
                };
                m.insert(
                    Key {
                        name: "name".into(),
                        span: k.span.clone(),
                    },
                    Node::str(real, k.span.clone()),
                );
            }
        }
    }

    if !loader.opts.skip_consistency {
        check(&services, &disabled, &resources, loader);
    }
    loader.stop()?;

    // Typed decoding: the canonical stage produced these shapes, so a failure
    // here points at a value it could not rewrite.
    let d = &mut loader.diags;
    let mut services: IndexMap<String, Service> = decode_all("services", services, d);
    let disabled: IndexMap<String, Service> = decode_all("services", disabled, d);
    let mut take = |kind: &str, d: &mut Vec<Diagnostic>| -> IndexMap<String, Resource> {
        decode_all(kind, resources.remove(kind).unwrap_or_default(), d)
    };
    let networks = take("networks", d);
    let volumes = take("volumes", d);
    let secrets = take("secrets", d);
    let configs = take("configs", d);
    loader.stop()?;
    services.sort_keys();
    let other = top
        .into_iter()
        .filter(|(k, _)| !KNOWN_TOP_LEVEL.contains(&k.name.as_str()))
        .map(|(k, v)| (k.name, v.to_json()))
        .collect();
    Ok(Project {
        name,
        working_dir,
        files,
        services,
        networks,
        volumes,
        secrets,
        configs,
        other,
        disabled,
        environment: env,
    })
}

fn take_map(top: &mut Mapping, key: &str) -> Mapping {
    match top
        .get_mut(key)
        .map(|n| std::mem::replace(&mut n.value, Value::Map(Mapping::default())))
    {
        Some(Value::Map(m)) => m,
        _ => Mapping::default(),
    }
}

fn decode_all<T: serde::de::DeserializeOwned + Default>(
    kind: &str,
    m: Mapping,
    diags: &mut Vec<Diagnostic>,
) -> IndexMap<String, T> {
    m.into_iter()
        .map(|(k, v)| (k.name.clone(), decode(&join(kind, &k.name), v, diags)))
        .collect()
}

fn decode<T: serde::de::DeserializeOwned + Default>(
    path: &str,
    v: Node,
    diags: &mut Vec<Diagnostic>,
) -> T {
    match crate::decode::from_node::<T>(&v) {
        Ok(t) => t,
        Err(e) => {
            diags.push(Diagnostic::new(
                &v.span,
                path,
                format!("cannot be read: {e}"),
            ));
            T::default()
        }
    }
}

/// Folds `env_file` into `environment` (compose-spec `05-services.md#env_file`):
/// later files win, `environment` wins over every file, and a key without a
/// value takes the project environment's value.
fn environment(
    svc: &mut Node,
    env: &IndexMap<String, String>,
    path: &str,
    diags: &mut Vec<Diagnostic>,
) {
    let Some(m) = svc.as_map_mut() else { return };
    let own: Mapping = m
        .get("environment")
        .and_then(Node::as_map)
        .cloned()
        .unwrap_or_default();
    let files: Vec<(String, bool, Span)> = m
        .get("env_file")
        .and_then(Node::as_seq)
        .map(|items| {
            items
                .iter()
                .filter_map(|it| {
                    let p = it.get("path").and_then(Node::as_str)?.to_string();
                    let req = it.get("required").and_then(Node::as_bool).unwrap_or(true);
                    Some((p, req, it.span.clone()))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut result: IndexMap<String, Option<String>> = IndexMap::new();
    for (file, required, span) in &files {
        // Interpolation inside an env_file: the project environment first, then the
        // service's own `environment`, then earlier values (compose-go types/project.go).
        let earlier: IndexMap<String, Option<String>> = result.clone();
        let lookup = |k: &str| {
            env.get(k)
                .cloned()
                .or_else(|| own.get(k).and_then(Node::as_str).map(str::to_string))
        };
        let fallback = |k: &str| earlier.get(k).cloned().flatten();
        let at = join(path, "env_file");
        if let Some(values) = read_kv_file(
            &KvFile {
                kind: "env file",
                path: file,
                required: *required,
                span,
                at: &at,
            },
            &lookup,
            &fallback,
            diags,
        ) {
            result.extend(values.into_iter().map(|(k, v)| (k, Some(v))));
        }
    }
    for (k, v) in &own {
        let value = match v.as_scalar() {
            Some(s) if !v.is_null() => Some(s.text.clone()),
            _ => env
                .get(&k.name)
                .cloned()
                .or_else(|| result.get(&k.name).cloned().flatten()),
        };
        result.insert(k.name.clone(), value);
    }
    if let Some(b) = m
        .get_mut("build")
        .and_then(Node::as_map_mut)
        .and_then(|b| b.get_mut("args"))
        .and_then(Node::as_map_mut)
    {
        for (k, v) in b.iter_mut() {
            if v.is_null() {
                if let Some(val) = env.get(&k.name) {
                    *v = Node::str(val.clone(), v.span.clone());
                }
            }
        }
    }
    if result.is_empty() {
        return;
    }
    let span = svc.span.clone();
    let map: Mapping = result
        .into_iter()
        .map(|(k, v)| {
            let node = match v {
                Some(s) => Node::str(s, span.clone()),
                None => Node::null(span.clone()),
            };
            (
                Key {
                    name: k,
                    span: span.clone(),
                },
                node,
            )
        })
        .collect();
    if let Some(m) = svc.as_map_mut() {
        m.insert(
            Key {
                name: "environment".into(),
                span: span.clone(),
            },
            Node::map(map, span),
        );
    }
}

/// An `env_file` or `label_file` entry, with where it is written.
struct KvFile<'a> {
    /// `env file` or `label file`, for messages.
    kind: &'a str,
    path: &'a str,
    required: bool,
    span: &'a Span,
    at: &'a str,
}

/// Reads one `env_file` or `label_file` (the dotenv format); a missing file is
/// a problem only when it is required.
fn read_kv_file(
    f: &KvFile<'_>,
    lookup: &dyn Fn(&str) -> Option<String>,
    fallback: &dyn Fn(&str) -> Option<String>,
    diags: &mut Vec<Diagnostic>,
) -> Option<IndexMap<String, String>> {
    let (kind, file) = (f.kind, f.path);
    let p = Path::new(file);
    if p.is_dir() || (f.required && !p.exists()) {
        let what = if p.is_dir() {
            "is a directory"
        } else {
            "not found"
        };
        diags.push(
            Diagnostic::new(f.span, f.at, format!("{kind} {file} {what}"))
                .hint("create it, or mark it `required: false`"),
        );
        return None;
    }
    let text = match std::fs::read_to_string(p) {
        Ok(t) => t,
        Err(_) if !f.required => return None,
        Err(e) => {
            diags.push(Diagnostic::new(
                f.span,
                f.at,
                format!("cannot read {kind} {file}: {e}"),
            ));
            return None;
        }
    };
    match dotenv::parse_with_fallback(&text, lookup, fallback) {
        Ok(values) => Some(values),
        Err(e) => {
            diags.push(Diagnostic::new(
                f.span,
                f.at,
                format!("{file}:{}: {}", e.line, e.message),
            ));
            None
        }
    }
}

/// Folds `label_file` into `labels`: later files win, inline labels win over files.
fn labels(svc: &mut Node, path: &str, diags: &mut Vec<Diagnostic>) {
    let Some(m) = svc.as_map_mut() else { return };
    let Some(files) = m.get("label_file").and_then(Node::as_seq).cloned() else {
        return;
    };
    let mut result: IndexMap<String, String> = IndexMap::new();
    let none = |_: &str| None;
    for f in files.iter().filter(|f| f.as_str().is_some()) {
        let at = join(path, "label_file");
        if let Some(values) = read_kv_file(
            &KvFile {
                kind: "label file",
                path: f.as_str().unwrap_or_default(),
                required: true,
                span: &f.span,
                at: &at,
            },
            &none,
            &none,
            diags,
        ) {
            result.extend(values);
        }
    }
    let span = svc.span.clone();
    let Some(m) = svc.as_map_mut() else { return };
    let own = m
        .get("labels")
        .and_then(Node::as_map)
        .cloned()
        .unwrap_or_default();
    let mut merged: Mapping = result
        .into_iter()
        .map(|(k, v)| {
            (
                Key {
                    name: k,
                    span: span.clone(),
                },
                Node::str(v, span.clone()),
            )
        })
        .collect();
    merged.extend(own);
    m.insert(
        Key {
            name: "labels".into(),
            span: span.clone(),
        },
        Node::map(merged, span),
    );
}

/// `links`, `volumes_from` and `network_mode: service:x` imply a dependency (compose-go `normalize.go`).
fn implicit_dependencies(svc: &mut Node) {
    let mut implied: Vec<(String, Span)> = Vec::new();
    if let Some(links) = svc.get("links").and_then(Node::as_seq) {
        for l in links {
            if let Some(s) = l.as_str() {
                implied.push((s.split(':').next().unwrap_or(s).to_string(), l.span.clone()));
            }
        }
    }
    if let Some(vf) = svc.get("volumes_from").and_then(Node::as_seq) {
        for v in vf {
            if let Some(s) = v.as_str().filter(|s| !s.starts_with("container:")) {
                implied.push((s.split(':').next().unwrap_or(s).to_string(), v.span.clone()));
            }
        }
    }
    for key in ["network_mode", "ipc", "pid"] {
        if let Some(n) = svc.get(key) {
            if let Some(s) = n.as_str().and_then(|s| s.strip_prefix("service:")) {
                implied.push((s.to_string(), n.span.clone()));
            }
        }
    }
    if implied.is_empty() {
        return;
    }
    let Some(m) = svc.as_map_mut() else { return };
    let span = m
        .get("depends_on")
        .map(|d| d.span.clone())
        .unwrap_or_else(|| implied[0].1.clone());
    let deps = m
        .entry(Key {
            name: "depends_on".into(),
            span: span.clone(),
        })
        .or_insert_with(|| Node::map(Mapping::default(), span.clone()));
    let Some(dm) = deps.as_map_mut() else { return };
    for (name, sp) in implied {
        if !dm.contains_key(name.as_str()) {
            let mut d = Mapping::default();
            d.insert(
                Key {
                    name: "condition".into(),
                    span: sp.clone(),
                },
                Node::str("service_started", sp.clone()),
            );
            d.insert(
                Key {
                    name: "required".into(),
                    span: sp.clone(),
                },
                Node::bool(true, sp.clone()),
            );
            dm.insert(
                Key {
                    name,
                    span: sp.clone(),
                },
                Node::map(d, sp),
            );
        }
    }
}

/// Consistency checks (compose-go `loader/validate.go` and `graph`): every reference
/// resolves, names are unique, no dependency cycle.
fn check(
    services: &Mapping,
    disabled: &Mapping,
    resources: &BTreeMap<&str, Mapping>,
    loader: &mut Loader<'_>,
) {
    let diags = &mut loader.diags;
    let names: Vec<&str> = services.keys().map(|k| k.name.as_str()).collect();
    let undefined = |kind: &str, name: &str, span: &Span, path: String, candidates: &[&str]| {
        let mut d = Diagnostic::new(span, path, format!("refers to undefined {kind} `{name}`"));
        if let Some(m) = did_you_mean(name, candidates.iter().copied()) {
            d = d.hint(format!("did you mean `{m}`?"));
        } else if kind != "service" {
            d = d.hint(format!("declare it under the top-level `{kind}s` key"));
        }
        d
    };
    let mut container_names: IndexMap<String, String> = IndexMap::new();
    let net_names: Vec<&str> = resources["networks"]
        .keys()
        .map(|k| k.name.as_str())
        .collect();
    let vol_names: Vec<&str> = resources["volumes"]
        .keys()
        .map(|k| k.name.as_str())
        .collect();
    for (k, svc) in services {
        let path = join("services", &k.name);
        if let Some(deps) = svc.get("depends_on").and_then(Node::as_map) {
            for (dk, dv) in deps {
                if services.contains_key(dk.name.as_str()) {
                    continue;
                }
                let required = dv.get("required").and_then(Node::as_bool).unwrap_or(true);
                if !required {
                    loader.warnings.push(format!("service `{}` depends on `{}`, which is not in the project; skipped as it is not required", k.name, dk.name));
                    continue;
                }
                let dpath = format!("{path}.depends_on.{}", dk.name);
                let d = if let Some(off) = disabled.get(dk.name.as_str()) {
                    let profiles: Vec<&str> = off
                        .get("profiles")
                        .and_then(Node::as_seq)
                        .map(|v| v.iter().filter_map(Node::as_str).collect())
                        .unwrap_or_default();
                    Diagnostic::new(&dk.span, dpath, format!("service \"{}\" depends on service \"{}\", which is disabled by its profiles", k.name, dk.name))
                        .hint(format!("enable it with --profile {}", profiles.first().copied().unwrap_or_default()))
                } else {
                    let mut d = Diagnostic::new(
                        &dk.span,
                        dpath,
                        format!(
                            "service \"{}\" depends on undefined service \"{}\"",
                            k.name, dk.name
                        ),
                    );
                    if let Some(m) = did_you_mean(&dk.name, names.iter().copied()) {
                        d = d.hint(format!("did you mean `{m}`?"));
                    }
                    d
                };
                diags.push(d);
            }
        }
        if let Some(nets) = svc.get("networks").and_then(Node::as_map) {
            for (nk, _) in nets {
                if !resources["networks"].contains_key(nk.name.as_str()) {
                    diags.push(undefined(
                        "network",
                        &nk.name,
                        &nk.span,
                        format!("{path}.networks.{}", nk.name),
                        &net_names,
                    ));
                }
            }
        }
        if let Some(vols) = svc.get("volumes").and_then(Node::as_seq) {
            for (i, v) in vols.iter().enumerate() {
                let is_volume = v.get("type").and_then(Node::as_str) == Some("volume");
                if let (true, Some(src)) = (is_volume, v.get("source").and_then(Node::as_str)) {
                    if !resources["volumes"].contains_key(src) {
                        diags.push(undefined(
                            "volume",
                            src,
                            &v.span,
                            format!("{path}.volumes[{i}]"),
                            &vol_names,
                        ));
                    }
                }
            }
        }
        for kind in ["secrets", "configs"] {
            let defined: Vec<&str> = resources[kind].keys().map(|k| k.name.as_str()).collect();
            if let Some(items) = svc.get(kind).and_then(Node::as_seq) {
                for (i, it) in items.iter().enumerate() {
                    if let Some(src) = it.get("source").and_then(Node::as_str) {
                        if !resources[kind].contains_key(src) {
                            let singular = kind.trim_end_matches('s');
                            diags.push(undefined(
                                singular,
                                src,
                                &it.span,
                                format!("{path}.{kind}[{i}]"),
                                &defined,
                            ));
                        }
                    }
                }
            }
        }
        for key in ["network_mode", "ipc", "pid"] {
            if let Some(n) = svc.get(key) {
                if let Some(target) = n.as_str().and_then(|s| s.strip_prefix("service:")) {
                    if !services.contains_key(target) {
                        diags.push(Diagnostic::new(
                            &n.span,
                            join(&path, key),
                            format!(
                                "service \"{}\" depends on undefined service \"{target}\"",
                                k.name
                            ),
                        ));
                    }
                }
            }
        }
        if let Some(cn) = svc.get("container_name") {
            if let Some(c) = cn.as_str() {
                if let Some(other) = container_names.insert(c.to_string(), k.name.clone()) {
                    diags.push(
                        Diagnostic::new(
                            &cn.span,
                            join(&path, "container_name"),
                            format!("container name `{c}` is already used by service `{other}`"),
                        )
                        .hint("container names must be unique"),
                    );
                }
                let scaled = svc
                    .get("deploy")
                    .and_then(|d| d.get("replicas"))
                    .and_then(Node::as_i64)
                    .unwrap_or(1)
                    > 1
                    || svc.get("scale").and_then(Node::as_i64).unwrap_or(1) > 1;
                if scaled {
                    diags.push(Diagnostic::new(
                        &cn.span,
                        join(&path, "container_name"),
                        "a service with a fixed container_name cannot have more than one replica",
                    ));
                }
            }
        }
    }
    let graph: BTreeMap<&str, Vec<&str>> = services
        .iter()
        .map(|(k, s)| {
            let mut deps: Vec<&str> = s
                .get("depends_on")
                .and_then(Node::as_map)
                .map(|m| m.keys().map(|d| d.name.as_str()).collect())
                .unwrap_or_default();
            deps.sort_unstable();
            (k.name.as_str(), deps)
        })
        .collect();
    if let Some(cycle) = find_cycle(&graph) {
        let first = cycle[0];
        let span = services
            .get_key_value(first)
            .map(|(k, _)| k.span.clone())
            .unwrap_or_default();
        diags.push(Diagnostic::new(
            &span,
            join("services", first),
            format!("dependency cycle detected: {}", cycle.join(" -> ")),
        ));
    }
}

/// Finds a dependency cycle, deterministically: services are visited in name
/// order and dependencies in name order, and the path is reported from the
/// first service of the cycle that the walk enters, back to itself.
pub fn find_cycle<'a>(graph: &BTreeMap<&'a str, Vec<&'a str>>) -> Option<Vec<&'a str>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let mut marks: BTreeMap<&str, Mark> = graph.keys().map(|k| (*k, Mark::New)).collect();
    let mut stack: Vec<&'a str> = Vec::new();
    fn visit<'a>(
        n: &'a str,
        graph: &BTreeMap<&'a str, Vec<&'a str>>,
        marks: &mut BTreeMap<&'a str, Mark>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<&'a str>> {
        marks.insert(n, Mark::Active);
        stack.push(n);
        for &d in graph.get(n).map(Vec::as_slice).unwrap_or_default() {
            match marks.get(d).copied() {
                Some(Mark::Active) => {
                    let start = stack.iter().position(|x| *x == d).unwrap_or(0);
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(d);
                    return Some(cycle);
                }
                Some(Mark::New) => {
                    if let Some(c) = visit(d, graph, marks, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        marks.insert(n, Mark::Done);
        None
    }
    for &n in graph.keys() {
        if marks.get(n) == Some(&Mark::New) {
            if let Some(c) = visit(n, graph, &mut marks, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

/// Reports a dependency cycle in a loaded project, if there is one (used by the planner).
pub fn project_cycle(project: &Project) -> Option<Vec<String>> {
    let graph: BTreeMap<&str, Vec<&str>> = project
        .services
        .iter()
        .map(|(k, s)| {
            let mut deps: Vec<&str> = s.depends_on.keys().map(String::as_str).collect();
            deps.sort_unstable();
            (k.as_str(), deps)
        })
        .collect();
    find_cycle(&graph).map(|c| c.into_iter().map(String::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycle_path_is_deterministic() {
        let g: BTreeMap<&str, Vec<&str>> = [
            ("service1", vec!["service2"]),
            ("service2", vec!["service3"]),
            ("service3", vec!["service1"]),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            find_cycle(&g),
            Some(vec!["service1", "service2", "service3", "service1"])
        );
        let g: BTreeMap<&str, Vec<&str>> = [("a", vec!["a"])].into_iter().collect();
        assert_eq!(find_cycle(&g), Some(vec!["a", "a"]));
        let g: BTreeMap<&str, Vec<&str>> = [("a", vec!["b"]), ("b", vec![])].into_iter().collect();
        assert_eq!(find_cycle(&g), None);
    }
}
