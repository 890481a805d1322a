//! Canonical long syntax: every short form rewritten to the long form
//! `docker compose config` prints, and every relative path made absolute
//! against the directory the file's paths are relative to.
//!
//! Runs on each file after interpolation and schema validation, so the shapes
//! here are the ones the schema allows; a value that still does not fit is
//! reported as a diagnostic and left alone. Tags (`!reset`, `!override`)
//! survive the rewrite so the merge stage can honour them.

use std::path::{Component, Path, PathBuf};

use crate::diag::{join, Diagnostic};
use crate::units::{format_duration, parse_duration, parse_port, parse_size, parse_volume};
use crate::yaml::{Key, Kind, Mapping, Node, Scalar, Span, Value};

/// What canonicalisation needs besides the tree.
pub struct Context<'a> {
    /// Relative paths are resolved against this directory.
    pub base_dir: &'a Path,
    /// `$HOME`, for `~` in paths.
    pub home: Option<&'a str>,
    /// Problems found.
    pub diags: Vec<Diagnostic>,
}

/// Rewrites a whole compose document in place.
pub fn document(doc: &mut Node, cx: &mut Context<'_>) {
    let Some(map) = doc.as_map_mut() else { return };
    if let Some(services) = map.get_mut("services").and_then(Node::as_map_mut) {
        for (name, svc) in services.iter_mut() {
            service(svc, &join("services", &name.name), cx);
        }
    }
    for kind in ["networks", "volumes", "secrets", "configs"] {
        if let Some(defs) = map.get_mut(kind).and_then(Node::as_map_mut) {
            for (name, def) in defs.iter_mut() {
                resource(kind, def, cx, &format!("{kind}.{}", name.name));
            }
        }
    }
    if let Some(include) = map.get_mut("include") {
        if let Value::Seq(items) = &mut include.value {
            for it in items.iter_mut() {
                if it.as_str().is_some() {
                    let span = it.span.clone();
                    *it = keyed(&span, vec![("path", it.clone())]);
                }
            }
        }
    }
}

/// A mapping node from `(key, value)` pairs.
fn keyed(span: &Span, pairs: Vec<(&str, Node)>) -> Node {
    let map: Mapping = pairs
        .into_iter()
        .map(|(k, v)| {
            (
                Key {
                    name: k.to_string(),
                    span: span.clone(),
                },
                v,
            )
        })
        .collect();
    Node::map(map, span.clone())
}

fn insert(map: &mut Mapping, key: &str, value: Node) {
    let span = value.span.clone();
    map.insert(
        Key {
            name: key.to_string(),
            span,
        },
        value,
    );
}

/// Lexically normalised absolute path (`..` and `.` removed), as compose-go does.
pub fn absolute(base: &Path, p: &str, home: Option<&str>) -> String {
    // A Windows absolute path (`C:\\x`, `C:/x`) is kept as written (compose-go does the same).
    if p.len() >= 3
        && p.as_bytes()[0].is_ascii_alphabetic()
        && p.as_bytes()[1] == b':'
        && matches!(p.as_bytes()[2], b'\\' | b'/')
    {
        return p.to_string();
    }
    let expanded: PathBuf = if p == "~" {
        PathBuf::from(home.unwrap_or("~"))
    } else if let (Some(rest), Some(h)) = (p.strip_prefix("~/"), home) {
        Path::new(h).join(rest)
    } else {
        base.join(p)
    };
    let mut out = PathBuf::new();
    for c in expanded.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out.to_string_lossy().into_owned()
}

fn is_remote_context(s: &str) -> bool {
    s.contains("://") || s.starts_with("git@") || s.starts_with("github.com/")
}

/// True for a reference to a compose file that is not a local path: a URL
/// (`oci://…`, `https://…`), `git@host:repo`, or any `scheme:rest` whose
/// scheme is two characters or more (`C:\x` is a Windows drive, not a scheme).
pub fn is_remote_reference(s: &str) -> bool {
    if is_remote_context(s) {
        return true;
    }
    match s.split_once(':') {
        Some((scheme, _)) => {
            scheme.len() >= 2
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'))
        }
        None => false,
    }
}

fn make_path(node: &mut Node, cx: &Context<'_>) {
    if let Some(s) = node.as_str().map(str::to_string) {
        let abs = absolute(cx.base_dir, &s, cx.home);
        node.value = Value::Scalar(Scalar {
            text: abs,
            kind: Kind::Str,
        });
    }
}

/// `KEY=VALUE` lists become mappings; values become strings (null stays null).
fn list_or_dict(node: &mut Node, keep_null: bool) {
    match &mut node.value {
        Value::Seq(items) => {
            let mut map = Mapping::default();
            for it in items.iter() {
                let Some(text) = it.as_str() else { continue };
                let (k, v) = match text.split_once('=') {
                    Some((k, v)) => (k.to_string(), Node::str(v, it.span.clone())),
                    None => (text.to_string(), Node::null(it.span.clone())),
                };
                map.insert(
                    Key {
                        name: k,
                        span: it.span.clone(),
                    },
                    v,
                );
            }
            node.value = Value::Map(map);
        }
        Value::Map(map) => {
            for v in map.values_mut() {
                stringify(v, keep_null);
            }
        }
        _ => {}
    }
}

fn stringify(v: &mut Node, keep_null: bool) {
    if let Value::Scalar(s) = &mut v.value {
        match s.kind {
            Kind::Null if keep_null => {}
            Kind::Null => {
                *s = Scalar {
                    text: String::new(),
                    kind: Kind::Str,
                }
            }
            _ => s.kind = Kind::Str,
        }
    }
}

fn string_to_list(node: &mut Node) {
    if node.as_str().is_some() {
        let item = Node::str(node.as_str().unwrap_or_default(), node.span.clone());
        node.value = Value::Seq(vec![item]);
    }
}

fn shell_split(node: &mut Node, path: &str, cx: &mut Context<'_>) {
    if node.as_scalar().is_some_and(|s| s.kind == Kind::Str) {
        let text = node.as_str().unwrap_or_default().to_string();
        match shell_words::split(&text) {
            Ok(words) => {
                node.value = Value::Seq(
                    words
                        .into_iter()
                        .map(|w| Node::str(w, node.span.clone()))
                        .collect(),
                )
            }
            Err(e) => cx.diags.push(Diagnostic::new(
                &node.span,
                path,
                format!("cannot split `{text}` into words: {e}"),
            )),
        }
    } else if let Value::Seq(items) = &mut node.value {
        for it in items {
            stringify(it, false);
        }
    }
}

/// Rewrites a non-null scalar with `parse`, or reports at its place that it is
/// not `expected`. Maps and lists are left to the schema, which already checked them.
fn convert(
    node: &mut Node,
    path: &str,
    cx: &mut Context<'_>,
    expected: &str,
    hint: Option<&str>,
    parse: impl Fn(&Scalar) -> Option<Scalar>,
) {
    let Some(s) = node.as_scalar().filter(|s| s.kind != Kind::Null) else {
        return;
    };
    match parse(s) {
        Some(new) => node.value = Value::Scalar(new),
        None => {
            let mut d =
                Diagnostic::new(&node.span, path, format!("`{}` is not {expected}", s.text));
            if let Some(h) = hint {
                d = d.hint(h);
            }
            cx.diags.push(d);
        }
    }
}

fn duration(node: &mut Node, path: &str, cx: &mut Context<'_>) {
    convert(
        node,
        path,
        cx,
        "a duration",
        Some("write it like 30s, 1m30s or 500ms"),
        |s| {
            parse_duration(&s.text).map(|d| Scalar {
                text: format_duration(d),
                kind: Kind::Str,
            })
        },
    );
}

fn size(node: &mut Node, path: &str, cx: &mut Context<'_>) {
    convert(
        node,
        path,
        cx,
        "a size",
        Some("write it like 512m, 1g or 1048576"),
        |s| {
            parse_size(&s.text).map(|n| Scalar {
                text: n.to_string(),
                kind: Kind::Int(n as i64),
            })
        },
    );
}

fn float(node: &mut Node, path: &str, cx: &mut Context<'_>) {
    convert(node, path, cx, "a number", None, |s| {
        let f = s.text.trim().parse::<f64>().ok()?;
        Some(Scalar {
            text: s.text.clone(),
            kind: Kind::Float(f),
        })
    });
}

fn integer(node: &mut Node, path: &str, cx: &mut Context<'_>) {
    convert(node, path, cx, "a whole number", None, |s| {
        let n = match s.kind {
            Kind::Int(n) => n,
            _ => s.text.trim().parse().ok()?,
        };
        Some(Scalar {
            text: n.to_string(),
            kind: Kind::Int(n),
        })
    });
}

fn boolean(node: &mut Node, path: &str, cx: &mut Context<'_>) {
    convert(node, path, cx, "true or false", None, |s| {
        let b = match (s.kind, s.text.as_str()) {
            (Kind::Bool(b), _) => b,
            (_, "true" | "True" | "TRUE") => true,
            (_, "false" | "False" | "FALSE") => false,
            _ => return None,
        };
        Some(Scalar {
            text: b.to_string(),
            kind: Kind::Bool(b),
        })
    });
}

/// File modes are octal: `0440` (read as octal by YAML) and `"0440"` both mean 0o440.
fn file_mode(node: &mut Node, path: &str, cx: &mut Context<'_>) {
    convert(
        node,
        path,
        cx,
        "an octal file mode",
        Some("write it like 0440"),
        |s| {
            let m = match s.kind {
                Kind::Int(n) => n,
                Kind::Str => i64::from_str_radix(s.text.trim_start_matches("0o"), 8).ok()?,
                _ => return None,
            };
            Some(Scalar {
                text: format!("0{m:o}"),
                kind: Kind::Str,
            })
        },
    );
}

fn with_mut(map: &mut Mapping, key: &str, f: impl FnOnce(&mut Node)) {
    if let Some(n) = map.get_mut(key) {
        f(n);
    }
}

fn service(svc: &mut Node, path: &str, cx: &mut Context<'_>) {
    let Some(map) = svc.as_map_mut() else {
        if svc.is_null() {
            // compose-go accepts `service:` with nothing under it as an empty service.
            svc.value = Value::Map(Mapping::default());
        }
        return;
    };
    let p = |k: &str| join(path, k);
    if let Some(b) = map.get_mut("build") {
        build(b, &p("build"), cx);
    }
    for key in ["command", "entrypoint"] {
        if let Some(n) = map.get_mut(key) {
            shell_split(n, &p(key), cx);
        }
    }
    with_mut(map, "environment", |n| list_or_dict(n, true));
    for key in ["labels", "annotations", "sysctls", "storage_opt"] {
        with_mut(map, key, |n| list_or_dict(n, false));
    }
    if let Some(n) = map.get_mut("env_file") {
        env_files(n, cx);
    }
    if let Some(n) = map.get_mut("label_file") {
        string_to_list(n);
        if let Value::Seq(items) = &mut n.value {
            items.iter_mut().for_each(|it| make_path(it, cx));
        }
    }
    for key in [
        "tmpfs",
        "dns",
        "dns_search",
        "dns_opt",
        "devices",
        "cap_add",
        "cap_drop",
        "security_opt",
        "group_add",
    ] {
        with_mut(map, key, |n| {
            string_to_list(n);
            if let Value::Seq(items) = &mut n.value {
                items.iter_mut().for_each(|i| stringify(i, false));
            }
        });
    }
    if let Some(n) = map.get_mut("ports") {
        ports(n, &p("ports"), cx);
    }
    if let Some(Value::Seq(items)) = map.get_mut("expose").map(|n| &mut n.value) {
        items.iter_mut().for_each(|i| stringify(i, false));
    }
    if let Some(n) = map.get_mut("volumes") {
        volumes(n, &p("volumes"), cx);
    }
    if let Some(n) = map.get_mut("depends_on") {
        depends_on(n);
    }
    if let Some(n) = map.get_mut("healthcheck") {
        healthcheck(n, &p("healthcheck"), cx);
    }
    if let Some(n) = map.get_mut("networks") {
        names_to_map(n);
    }
    if let Some(n) = map.get_mut("extra_hosts") {
        extra_hosts(n);
    }
    for key in ["secrets", "configs"] {
        if let Some(Value::Seq(items)) = map.get_mut(key).map(|n| &mut n.value) {
            for (i, it) in items.iter_mut().enumerate() {
                if it.as_str().is_some() {
                    let span = it.span.clone();
                    *it = keyed(&span, vec![("source", it.clone())]);
                }
                if let Some(m) = it.as_map_mut() {
                    with_mut(m, "mode", |n| {
                        file_mode(n, &format!("{path}.{key}[{i}].mode"), cx)
                    });
                }
            }
        }
    }
    if let Some(n) = map.get_mut("extends") {
        if n.as_str().is_some() {
            let span = n.span.clone();
            *n = keyed(&span, vec![("service", n.clone())]);
        }
        if let Some(m) = n.as_map_mut() {
            with_mut(m, "file", |f| {
                if !f.as_str().is_some_and(is_remote_reference) {
                    make_path(f, cx);
                }
            });
        }
    }
    for key in ["mem_limit", "memswap_limit", "mem_reservation", "shm_size"] {
        if let Some(n) = map.get_mut(key) {
            size(n, &p(key), cx);
        }
    }
    if let Some(n) = map.get_mut("cpus") {
        float(n, &p("cpus"), cx);
    }
    for key in [
        "cpu_shares",
        "cpu_quota",
        "cpu_period",
        "pids_limit",
        "scale",
        "oom_score_adj",
        "cpu_count",
        "cpu_percent",
    ] {
        if let Some(n) = map.get_mut(key) {
            integer(n, &p(key), cx);
        }
    }
    for key in [
        "privileged",
        "read_only",
        "init",
        "tty",
        "stdin_open",
        "oom_kill_disable",
    ] {
        if let Some(n) = map.get_mut(key) {
            boolean(n, &p(key), cx);
        }
    }
    if let Some(n) = map.get_mut("stop_grace_period") {
        duration(n, &p("stop_grace_period"), cx);
    }
    for key in [
        "user",
        "restart",
        "hostname",
        "working_dir",
        "stop_signal",
        "container_name",
        "image",
        "platform",
        "pull_policy",
    ] {
        with_mut(map, key, |n| stringify(n, true));
    }
    if let Some(n) = map.get_mut("ulimits") {
        if let Some(m) = n.as_map_mut() {
            for (k, v) in m.iter_mut() {
                let lp = format!("{path}.ulimits.{}", k.name);
                if let Some(inner) = v.as_map_mut() {
                    for key in ["soft", "hard"] {
                        with_mut(inner, key, |x| integer(x, &format!("{lp}.{key}"), cx));
                    }
                } else {
                    integer(v, &lp, cx);
                }
            }
        }
    }
    if let Some(n) = map.get_mut("deploy") {
        deploy(n, &p("deploy"), cx);
    }
    if let Some(n) = map.get_mut("logging").and_then(Node::as_map_mut) {
        with_mut(n, "options", |o| list_or_dict(o, false));
    }
    if let Some(watch) = map
        .get_mut("develop")
        .and_then(Node::as_map_mut)
        .and_then(|d| d.get_mut("watch"))
    {
        if let Value::Seq(rules) = &mut watch.value {
            for r in rules.iter_mut().filter_map(Node::as_map_mut) {
                with_mut(r, "path", |n| make_path(n, cx));
                with_mut(r, "ignore", string_to_list);
                with_mut(r, "include", string_to_list);
            }
        }
    }
}

fn build(b: &mut Node, path: &str, cx: &mut Context<'_>) {
    if b.as_str().is_some() {
        let span = b.span.clone();
        let tag = b.tag;
        *b = keyed(&span, vec![("context", b.clone())]);
        b.tag = tag;
        if let Some(m) = b.as_map_mut() {
            with_mut(m, "context", |c| c.tag = None);
        }
    }
    let span = b.span.clone();
    let Some(m) = b.as_map_mut() else { return };
    match m.get_mut("context") {
        Some(c) => {
            if let Some(s) = c.as_str().map(str::to_string) {
                if !is_remote_context(&s) {
                    make_path(c, cx);
                }
            }
        }
        None => insert(
            m,
            "context",
            Node::str(cx.base_dir.to_string_lossy(), span.clone()),
        ),
    }
    if !m.contains_key("dockerfile") && !m.contains_key("dockerfile_inline") {
        insert(m, "dockerfile", Node::str("Dockerfile", span.clone()));
    }
    with_mut(m, "args", |n| list_or_dict(n, true));
    with_mut(m, "labels", |n| list_or_dict(n, false));
    with_mut(m, "additional_contexts", |n| {
        list_or_dict(n, false);
        if let Some(cm) = n.as_map_mut() {
            for v in cm.values_mut() {
                if v.as_str()
                    .is_some_and(|s| !s.contains("://") && !s.contains(':'))
                {
                    make_path(v, cx);
                }
            }
        }
    });
    with_mut(m, "ssh", |n| {
        if let Value::Seq(items) = &n.value {
            let map: Mapping = items
                .iter()
                .filter_map(|i| i.as_str().map(|s| (s, i.span.clone())))
                .map(|(s, sp)| match s.split_once('=') {
                    Some((k, v)) => (
                        Key {
                            name: k.to_string(),
                            span: sp.clone(),
                        },
                        Node::str(v, sp),
                    ),
                    None => (
                        Key {
                            name: s.to_string(),
                            span: sp.clone(),
                        },
                        Node::str("", sp),
                    ),
                })
                .collect();
            n.value = Value::Map(map);
        }
    });
    with_mut(m, "extra_hosts", extra_hosts);
    with_mut(m, "shm_size", |n| size(n, &join(path, "shm_size"), cx));
    with_mut(m, "no_cache", |n| boolean(n, &join(path, "no_cache"), cx));
    with_mut(m, "pull", |n| boolean(n, &join(path, "pull"), cx));
    if let Some(Value::Seq(items)) = m.get_mut("secrets").map(|n| &mut n.value) {
        for it in items.iter_mut() {
            if it.as_str().is_some() {
                let span = it.span.clone();
                *it = keyed(&span, vec![("source", it.clone())]);
            }
            if let Some(sm) = it.as_map_mut() {
                with_mut(sm, "mode", |n| {
                    file_mode(n, &join(path, "secrets.mode"), cx)
                });
            }
        }
    }
}

fn env_files(n: &mut Node, cx: &mut Context<'_>) {
    string_to_list(n);
    let Value::Seq(items) = &mut n.value else {
        return;
    };
    for it in items.iter_mut() {
        let span = it.span.clone();
        if it.as_str().is_some() {
            *it = keyed(
                &span,
                vec![
                    ("path", it.clone()),
                    ("required", Node::bool(true, span.clone())),
                ],
            );
        }
        if let Some(m) = it.as_map_mut() {
            with_mut(m, "path", |p| make_path(p, cx));
            if !m.contains_key("required") {
                insert(m, "required", Node::bool(true, span.clone()));
            }
        }
    }
}

fn ports(n: &mut Node, path: &str, cx: &mut Context<'_>) {
    let Value::Seq(items) = &mut n.value else {
        return;
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, it) in items.drain(..).enumerate() {
        let ipath = format!("{path}[{i}]");
        let span = it.span.clone();
        if it.as_map().is_none() {
            let Some(text) = it.as_str() else { continue };
            match parse_port(text) {
                Ok(specs) => {
                    for s in specs {
                        let mut pairs = vec![("mode", Node::str("ingress", span.clone()))];
                        if let Some(ip) = s.host_ip {
                            pairs.push(("host_ip", Node::str(ip, span.clone())));
                        }
                        pairs.push(("target", Node::int(i64::from(s.target), span.clone())));
                        if let Some(p) = s.published {
                            pairs.push(("published", Node::str(p, span.clone())));
                        }
                        pairs.push(("protocol", Node::str(s.protocol, span.clone())));
                        out.push(keyed(&span, pairs));
                    }
                }
                Err(e) => {
                    cx.diags.push(Diagnostic::new(
                        &span,
                        ipath,
                        format!("invalid port `{text}`: {e}"),
                    ));
                    out.push(it);
                }
            }
            continue;
        }
        // Long syntax: fill defaults and put the keys in the order compose prints them.
        let mut it = it;
        let Some(m) = it.as_map_mut() else { continue };
        let mut sorted = Mapping::default();
        let take = |m: &mut Mapping, k: &str| m.shift_remove_entry(k);
        let mode = take(m, "mode")
            .map(|(_, v)| v)
            .unwrap_or_else(|| Node::str("ingress", span.clone()));
        insert(&mut sorted, "mode", mode);
        if let Some((k, v)) = take(m, "host_ip") {
            sorted.insert(k, v);
        }
        if let Some((k, mut v)) = take(m, "target") {
            integer(&mut v, &join(&ipath, "target"), cx);
            if let Some(t) = v.as_i64() {
                if !(1..=65535).contains(&t) {
                    cx.diags.push(Diagnostic::new(
                        &v.span,
                        join(&ipath, "target"),
                        format!("port {t} is out of range 1-65535"),
                    ));
                }
            }
            sorted.insert(k, v);
        }
        if let Some((k, mut v)) = take(m, "published") {
            stringify(&mut v, true);
            if let Some(p) = v.as_str() {
                if let Err(e) = crate::units::parse_range(p) {
                    cx.diags.push(Diagnostic::new(
                        &v.span,
                        join(&ipath, "published"),
                        format!("invalid published port `{p}`: {e}"),
                    ));
                }
            }
            sorted.insert(k, v);
        }
        let proto = take(m, "protocol")
            .map(|(_, v)| v)
            .unwrap_or_else(|| Node::str("tcp", span.clone()));
        insert(&mut sorted, "protocol", proto);
        sorted.extend(m.drain(..));
        it.value = Value::Map(sorted);
        out.push(it);
    }
    *items = out;
}

fn volumes(n: &mut Node, path: &str, cx: &mut Context<'_>) {
    let Value::Seq(items) = &mut n.value else {
        return;
    };
    for (i, it) in items.iter_mut().enumerate() {
        let span = it.span.clone();
        let ipath = format!("{path}[{i}]");
        if let Some(text) = it.as_str().map(str::to_string) {
            match parse_volume(&text) {
                Ok(v) => {
                    let mut pairs = vec![("type", Node::str(v.kind, span.clone()))];
                    if let Some(src) = &v.source {
                        let src = if v.kind == "bind" {
                            absolute(cx.base_dir, src, cx.home)
                        } else {
                            src.clone()
                        };
                        pairs.push(("source", Node::str(src, span.clone())));
                    }
                    pairs.push(("target", Node::str(v.target.clone(), span.clone())));
                    if v.read_only {
                        pairs.push(("read_only", Node::bool(true, span.clone())));
                    }
                    if v.kind == "bind" {
                        let mut b = vec![("create_host_path", Node::bool(true, span.clone()))];
                        if let Some(p) = v.propagation {
                            b.push(("propagation", Node::str(p, span.clone())));
                        }
                        if let Some(z) = v.selinux {
                            b.push(("selinux", Node::str(z, span.clone())));
                        }
                        pairs.push(("bind", keyed(&span, b)));
                    } else {
                        let mut vol = vec![];
                        if v.nocopy {
                            vol.push(("nocopy", Node::bool(true, span.clone())));
                        }
                        pairs.push(("volume", keyed(&span, vol)));
                    }
                    let tag = it.tag;
                    *it = keyed(&span, pairs);
                    it.tag = tag;
                }
                Err(e) => cx.diags.push(Diagnostic::new(
                    &span,
                    ipath,
                    format!("invalid volume `{text}`: {e}"),
                )),
            }
            continue;
        }
        let Some(m) = it.as_map_mut() else { continue };
        let kind = m
            .get("type")
            .and_then(Node::as_str)
            .unwrap_or("volume")
            .to_string();
        if kind == "bind" {
            with_mut(m, "source", |s| make_path(s, cx));
        }
        with_mut(m, "read_only", |b| {
            boolean(b, &join(&ipath, "read_only"), cx)
        });
        if let Some(t) = m.get_mut("tmpfs").and_then(Node::as_map_mut) {
            with_mut(t, "size", |s| size(s, &join(&ipath, "tmpfs.size"), cx));
        }
    }
}

/// The short syntax `[a, b]` as the long one `{a: null, b: null}` (service
/// `networks`, `depends_on`); each key keeps its item's span.
fn names_to_map(n: &mut Node) {
    if let Value::Seq(items) = &n.value {
        let m: Mapping = items
            .iter()
            .filter_map(|i| {
                let key = Key {
                    name: i.as_str()?.to_string(),
                    span: i.span.clone(),
                };
                Some((key, Node::null(i.span.clone())))
            })
            .collect();
        n.value = Value::Map(m);
    }
}

fn depends_on(n: &mut Node) {
    let span = n.span.clone();
    names_to_map(n);
    let Some(m) = n.as_map_mut() else { return };
    for v in m.values_mut() {
        if v.is_null() {
            v.value = Value::Map(Mapping::default());
        }
        if let Some(dm) = v.as_map_mut() {
            if !dm.contains_key("condition") {
                insert(dm, "condition", Node::str("service_started", span.clone()));
            }
            if !dm.contains_key("required") {
                insert(dm, "required", Node::bool(true, span.clone()));
            }
        }
    }
}

fn healthcheck(n: &mut Node, path: &str, cx: &mut Context<'_>) {
    let Some(m) = n.as_map_mut() else { return };
    if let Some(t) = m.get_mut("test") {
        if let Some(text) = t.as_str().map(str::to_string) {
            let span = t.span.clone();
            t.value = Value::Seq(vec![
                Node::str("CMD-SHELL", span.clone()),
                Node::str(text, span),
            ]);
        }
    }
    for key in ["interval", "timeout", "start_period", "start_interval"] {
        with_mut(m, key, |d| duration(d, &join(path, key), cx));
    }
    with_mut(m, "retries", |r| integer(r, &join(path, "retries"), cx));
    with_mut(m, "disable", |b| boolean(b, &join(path, "disable"), cx));
}

fn extra_hosts(n: &mut Node) {
    let mut entries: Vec<(String, String, Span)> = Vec::new();
    match &n.value {
        Value::Seq(items) => {
            for it in items {
                let Some(text) = it.as_str() else { continue };
                // `host=ip` (the canonical form) or `host:ip` (the legacy one).
                let split = text.split_once('=').or_else(|| text.split_once(':'));
                if let Some((h, ip)) = split {
                    entries.push((
                        h.to_string(),
                        ip.trim_start_matches('[').trim_end_matches(']').to_string(),
                        it.span.clone(),
                    ));
                }
            }
        }
        Value::Map(m) => {
            for (k, v) in m {
                match &v.value {
                    Value::Seq(ips) => {
                        for ip in ips.iter().filter_map(Node::as_str) {
                            entries.push((k.name.clone(), ip.to_string(), v.span.clone()));
                        }
                    }
                    _ => entries.push((
                        k.name.clone(),
                        v.as_str().unwrap_or_default().to_string(),
                        v.span.clone(),
                    )),
                }
            }
        }
        Value::Scalar(_) => return,
    }
    entries.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    n.value = Value::Seq(
        entries
            .into_iter()
            .map(|(h, ip, sp)| Node::str(format!("{h}={ip}"), sp))
            .collect(),
    );
}

fn deploy(n: &mut Node, path: &str, cx: &mut Context<'_>) {
    let Some(m) = n.as_map_mut() else { return };
    with_mut(m, "replicas", |r| integer(r, &join(path, "replicas"), cx));
    with_mut(m, "labels", |l| list_or_dict(l, false));
    if let Some(res) = m.get_mut("resources").and_then(Node::as_map_mut) {
        for part in ["limits", "reservations"] {
            if let Some(lim) = res.get_mut(part).and_then(Node::as_map_mut) {
                let lp = format!("{path}.resources.{part}");
                with_mut(lim, "memory", |x| size(x, &join(&lp, "memory"), cx));
                with_mut(lim, "cpus", |x| float(x, &join(&lp, "cpus"), cx));
                with_mut(lim, "pids", |x| integer(x, &join(&lp, "pids"), cx));
            }
        }
    }
    if let Some(rp) = m.get_mut("restart_policy").and_then(Node::as_map_mut) {
        for key in ["delay", "window"] {
            with_mut(rp, key, |d| {
                duration(d, &format!("{path}.restart_policy.{key}"), cx)
            });
        }
        with_mut(rp, "max_attempts", |x| {
            integer(x, &format!("{path}.restart_policy.max_attempts"), cx)
        });
    }
    for cfg in ["update_config", "rollback_config"] {
        if let Some(c) = m.get_mut(cfg).and_then(Node::as_map_mut) {
            for key in ["delay", "monitor"] {
                with_mut(c, key, |d| duration(d, &format!("{path}.{cfg}.{key}"), cx));
            }
        }
    }
}

fn resource(kind: &str, def: &mut Node, cx: &mut Context<'_>, path: &str) {
    if def.is_null() {
        def.value = Value::Map(Mapping::default());
    }
    let Some(m) = def.as_map_mut() else { return };
    // Legacy `external: {name: X}` becomes `name: X` + `external: true` (compose-spec 07-volumes).
    let legacy_name = m
        .get("external")
        .and_then(|e| e.get("name"))
        .and_then(Node::as_str)
        .map(str::to_string);
    if let Some(name) = legacy_name {
        let span = m
            .get("external")
            .map(|e| e.span.clone())
            .unwrap_or_default();
        insert(m, "name", Node::str(name, span.clone()));
        insert(m, "external", Node::bool(true, span));
    }
    with_mut(m, "external", |e| boolean(e, &join(path, "external"), cx));
    with_mut(m, "labels", |l| list_or_dict(l, false));
    with_mut(m, "driver_opts", |l| list_or_dict(l, false));
    if kind == "secrets" || kind == "configs" {
        with_mut(m, "file", |f| make_path(f, cx));
    }
    if kind == "networks" {
        for key in ["internal", "attachable", "enable_ipv6"] {
            with_mut(m, key, |b| boolean(b, &join(path, key), cx));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn canon(src: &str) -> (serde_json::Value, Vec<Diagnostic>) {
        let mut node = crate::yaml::parse(src, &Arc::from("c.yaml")).expect("parses");
        let mut cx = Context {
            base_dir: Path::new("/proj"),
            home: Some("/home/u"),
            diags: vec![],
        };
        document(&mut node, &mut cx);
        (node.to_json(), cx.diags)
    }

    fn svc(src: &str) -> serde_json::Value {
        let (j, d) = canon(&format!("services:\n  s:\n{src}"));
        assert!(d.is_empty(), "{d:?}");
        j["services"]["s"].clone()
    }

    #[test]
    fn command_is_split_like_a_shell() {
        let s =
            svc("    command: bundle exec thin -p 3000\n    entrypoint: [\"/bin/sh\", \"-c\"]\n");
        assert_eq!(
            s["command"],
            serde_json::json!(["bundle", "exec", "thin", "-p", "3000"])
        );
        assert_eq!(s["entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
        let s = svc("    command: sh -c 'echo \"a b\"'\n");
        assert_eq!(
            s["command"],
            serde_json::json!(["sh", "-c", "echo \"a b\""])
        );
    }

    #[test]
    fn environment_and_labels_become_maps_of_strings() {
        let s = svc("    environment: [A=1, B, C=x=y]\n    labels: {n: 1, b: true}\n");
        assert_eq!(
            s["environment"],
            serde_json::json!({"A": "1", "B": null, "C": "x=y"})
        );
        assert_eq!(s["labels"], serde_json::json!({"n": "1", "b": "true"}));
    }

    #[test]
    fn ports_in_long_form() {
        let s = svc("    ports: ['8080:80', 9000, {target: 81, published: 8081}]\n");
        assert_eq!(
            s["ports"],
            serde_json::json!([
                {"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp"},
                {"mode": "ingress", "target": 9000, "protocol": "tcp"},
                {"mode": "ingress", "target": 81, "published": "8081", "protocol": "tcp"}
            ])
        );
        let (_, d) = canon("services:\n  s:\n    ports: ['90-80:80']\n");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].path, "services.s.ports[0]");
    }

    #[test]
    fn volumes_in_long_form_with_absolute_paths() {
        let s = svc("    volumes: ['./src:/app:ro', 'data:/data', '/anon', '~/x:/x']\n");
        assert_eq!(
            s["volumes"][0],
            serde_json::json!({"type": "bind", "source": "/proj/src", "target": "/app", "read_only": true, "bind": {"create_host_path": true}})
        );
        assert_eq!(
            s["volumes"][1],
            serde_json::json!({"type": "volume", "source": "data", "target": "/data", "volume": {}})
        );
        assert_eq!(
            s["volumes"][2],
            serde_json::json!({"type": "volume", "target": "/anon", "volume": {}})
        );
        assert_eq!(s["volumes"][3]["source"], "/home/u/x");
    }

    #[test]
    fn depends_on_healthcheck_and_build() {
        let s = svc("    depends_on: [db]\n    healthcheck:\n      test: echo \"hello world\"\n      interval: 90s\n    build: ../app\n");
        assert_eq!(
            s["depends_on"],
            serde_json::json!({"db": {"condition": "service_started", "required": true}})
        );
        assert_eq!(
            s["healthcheck"]["test"],
            serde_json::json!(["CMD-SHELL", "echo \"hello world\""])
        );
        assert_eq!(s["healthcheck"]["interval"], "1m30s");
        assert_eq!(
            s["build"],
            serde_json::json!({"context": "/app", "dockerfile": "Dockerfile"})
        );
    }

    #[test]
    fn sizes_modes_and_extra_hosts() {
        let s = svc("    mem_limit: 50M\n    extra_hosts: ['b:1.2.3.4', 'a=::1']\n    secrets: [{source: s, mode: 0440}]\n    sysctls: {net.core.somaxconn: 1024}\n");
        assert_eq!(s["mem_limit"], 52428800);
        assert_eq!(s["extra_hosts"], serde_json::json!(["a=::1", "b=1.2.3.4"]));
        assert_eq!(s["secrets"][0]["mode"], "0440");
        assert_eq!(s["sysctls"]["net.core.somaxconn"], "1024");
    }

    #[test]
    fn remote_references_are_told_from_paths() {
        for r in [
            "oci://docker.io/x/y:1",
            "git@github.com:a/b.git",
            "https://h/x.yaml",
            "remote:compose.yaml",
        ] {
            assert!(is_remote_reference(r), "{r}");
        }
        for p in [
            "./x.yaml",
            "/abs/x.yaml",
            "x.yaml",
            "C:\\x\\y.yaml",
            "../a:b",
        ] {
            assert!(!is_remote_reference(p), "{p}");
        }
    }

    #[test]
    fn legacy_external_name() {
        let (j, _) = canon("networks:\n  n:\n    external:\n      name: real\n");
        assert_eq!(
            j["networks"]["n"],
            serde_json::json!({"external": true, "name": "real"})
        );
    }
}
