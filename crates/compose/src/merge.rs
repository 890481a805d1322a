//! Merging canonical documents: several `-f` files, `include`d files under the
//! including one, and a service under the one it `extends`
//! (compose-spec `13-merge.md`).
//!
//! Both sides are already in canonical long syntax, so most rules fall out of
//! the shape: mappings merge key by key (environment, labels, depends_on,
//! networks, build args), scalars are replaced, and sequences are appended.
//! The exceptions sit in two tables keyed by tree path: `REPLACED` for
//! sequences that are replaced whole, and `UNIQUE_BY` for sequences whose
//! entries are unique by a key, where a later entry replaces an earlier one.
//! `!reset` removes an inherited value; `!override` replaces it unmerged.

use crate::yaml::{Node, Tag, Value};

/// Paths whose value is replaced whole rather than merged.
const REPLACED: &[&str] = &[
    "services.*.command",
    "services.*.entrypoint",
    "services.*.healthcheck.test",
    "services.*.extra_hosts",
];

/// How the entries of a sequence are told apart.
#[derive(Clone, Copy)]
enum Unique {
    /// The entry itself (strings, or whole values).
    Itself,
    /// A key of a mapping entry.
    Field(&'static str),
    /// The mount target: `target`, else `<dir>/<source>`.
    MountTarget(&'static str),
    /// A published port: host ip, published, target and protocol together.
    Port,
    /// A device mapping `host:container[:perm]`: the container path.
    Device,
}

/// Sequences whose entries are unique (compose-go `override/uncity.go`).
const UNIQUE_BY: &[(&str, Unique)] = &[
    ("services.*.volumes", Unique::Field("target")),
    ("services.*.ports", Unique::Port),
    ("services.*.expose", Unique::Itself),
    ("services.*.secrets", Unique::MountTarget("/run/secrets")),
    ("services.*.configs", Unique::MountTarget("")),
    ("services.*.env_file", Unique::Field("path")),
    ("services.*.label_file", Unique::Itself),
    ("services.*.cap_add", Unique::Itself),
    ("services.*.cap_drop", Unique::Itself),
    ("services.*.dns", Unique::Itself),
    ("services.*.dns_opt", Unique::Itself),
    ("services.*.dns_search", Unique::Itself),
    ("services.*.profiles", Unique::Itself),
    ("services.*.tmpfs", Unique::Itself),
    ("services.*.links", Unique::Itself),
    ("services.*.devices", Unique::Device),
    ("services.*.networks.*.aliases", Unique::Itself),
    ("services.*.build.tags", Unique::Itself),
    ("services.*.build.platforms", Unique::Itself),
    ("services.*.build.cache_from", Unique::Itself),
    ("services.*.security_opt", Unique::Itself),
    ("services.*.group_add", Unique::Itself),
];

fn matches(pattern: &str, path: &[&str]) -> bool {
    let mut n = 0;
    for (i, seg) in pattern.split('.').enumerate() {
        match path.get(i) {
            Some(p) if seg == "*" || seg == *p => n += 1,
            _ => return false,
        }
    }
    n == path.len()
}

/// Merges `over` onto `base` at `path` (segments, e.g. `["services", "web"]`).
pub fn merge(base: Node, over: Node, path: &mut Vec<String>) -> Node {
    match over.tag {
        Some(Tag::Override) => return strip(over),
        Some(Tag::Reset) => return over,
        None => {}
    }
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    if REPLACED.iter().any(|pat| matches(pat, &p)) {
        return strip(over);
    }
    // compose-go: `logging` is only merged when both sides name the same driver (or one names none).
    if matches("services.*.logging", &p) {
        let d1 = base
            .get("driver")
            .and_then(Node::as_str)
            .map(str::to_string);
        let d2 = over
            .get("driver")
            .and_then(Node::as_str)
            .map(str::to_string);
        if d1.is_some() && d2.is_some() && d1 != d2 {
            return strip(over);
        }
    }
    let unique = UNIQUE_BY
        .iter()
        .find(|(pat, _)| matches(pat, &p))
        .map(|(_, u)| *u);
    let span = over.span.clone();
    match (base.value, over.value) {
        (Value::Map(mut b), Value::Map(o)) => {
            for (k, v) in o {
                // Extension fields are replaced, never merged (compose-go `mergeMappings`).
                match b
                    .get_mut(k.name.as_str())
                    .filter(|_| !k.name.starts_with("x-"))
                {
                    Some(slot) => {
                        let old = std::mem::replace(slot, Node::null(v.span.clone()));
                        path.push(k.name.clone());
                        *slot = merge(old, v, path);
                        path.pop();
                    }
                    None => {
                        b.insert(k, strip(v));
                    }
                }
            }
            Node::map(b, span)
        }
        (Value::Seq(mut b), Value::Seq(o)) => {
            b.extend(o.into_iter().map(strip));
            if let Some(u) = unique {
                b = dedup(b, u);
            }
            Node::seq(b, span)
        }
        (_, value) => strip(Node {
            value,
            span,
            tag: None,
        }),
    }
}

/// Removes merge tags from a tree (a `!reset` becomes null, handled by [`finish`]).
fn strip(mut n: Node) -> Node {
    if n.tag == Some(Tag::Override) {
        n.tag = None;
    }
    match &mut n.value {
        Value::Map(m) => {
            let old = std::mem::take(m);
            *m = old.into_iter().map(|(k, v)| (k, strip(v))).collect();
        }
        Value::Seq(items) => {
            let old = std::mem::take(items);
            *items = old.into_iter().map(strip).collect();
        }
        Value::Scalar(_) => {}
    }
    n
}

/// Removes every `!reset` node (and its key) once all merging is done.
pub fn finish(n: &mut Node) {
    match &mut n.value {
        Value::Map(m) => {
            m.retain(|_, v| v.tag != Some(Tag::Reset));
            m.values_mut().for_each(finish);
        }
        Value::Seq(items) => {
            items.retain(|v| v.tag != Some(Tag::Reset));
            items.iter_mut().for_each(finish);
        }
        Value::Scalar(_) => {}
    }
    n.tag = None;
}

fn unique_key(n: &Node, u: Unique) -> String {
    let s = |k: &str| {
        n.get(k)
            .and_then(Node::as_str)
            .unwrap_or_default()
            .to_string()
    };
    match u {
        Unique::Itself => n.to_json().to_string(),
        Unique::Field(f) => match n.get(f) {
            Some(_) => s(f),
            None => n.to_json().to_string(),
        },
        Unique::MountTarget(dir) => match n.get("target").and_then(Node::as_str) {
            Some(t) => t.to_string(),
            None => format!("{dir}/{}", s("source")),
        },
        Unique::Port => {
            let target = n.get("target").and_then(Node::as_i64).unwrap_or_default();
            format!(
                "{}:{}:{}/{}",
                s("host_ip"),
                s("published"),
                target,
                s("protocol")
            )
        }
        Unique::Device => {
            let text = n.as_str().unwrap_or_default();
            let mut parts = text.split(':');
            let host = parts.next().unwrap_or_default();
            parts.next().unwrap_or(host).to_string()
        }
    }
}

/// Keeps one entry per key, at the first entry's position, with the last entry's value.
fn dedup(items: Vec<Node>, u: Unique) -> Vec<Node> {
    let mut out: Vec<Node> = Vec::with_capacity(items.len());
    let mut keys: Vec<String> = Vec::with_capacity(items.len());
    for it in items {
        let k = unique_key(&it, u);
        match keys.iter().position(|x| *x == k) {
            Some(i) => out[i] = it,
            None => {
                keys.push(k);
                out.push(it);
            }
        }
    }
    out
}

/// Merges a list of canonical documents in order (later files win).
pub fn merge_documents(docs: Vec<Node>) -> Option<Node> {
    let mut iter = docs.into_iter();
    let mut acc = iter.next()?;
    for d in iter {
        acc = merge(acc, d, &mut Vec::new());
    }
    Some(acc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::{document, Context};
    use std::path::Path;
    use std::sync::Arc;

    fn load(src: &str) -> Node {
        let mut n = crate::yaml::parse(src, &Arc::from("m.yaml")).expect("parses");
        let mut cx = Context {
            base_dir: Path::new("/p"),
            home: None,
            diags: vec![],
        };
        document(&mut n, &mut cx);
        n
    }

    fn merged(a: &str, b: &str) -> serde_json::Value {
        let mut m = merge(load(a), load(b), &mut Vec::new());
        finish(&mut m);
        m.to_json()["services"]["s"].clone()
    }

    #[test]
    fn scalars_replaced_and_mappings_merged() {
        let s = merged(
            "services:\n  s:\n    image: a\n    environment: [A=1, B=2]\n    labels: {x: '1'}\n",
            "services:\n  s:\n    image: b\n    environment: {B: '3', C: '4'}\n",
        );
        assert_eq!(s["image"], "b");
        assert_eq!(
            s["environment"],
            serde_json::json!({"A": "1", "B": "3", "C": "4"})
        );
        assert_eq!(s["labels"], serde_json::json!({"x": "1"}));
    }

    #[test]
    fn command_entrypoint_and_healthcheck_test_are_replaced() {
        let s = merged(
            "services:\n  s:\n    command: a b\n    entrypoint: [x]\n    healthcheck: {test: [CMD, a], retries: 3}\n",
            "services:\n  s:\n    command: [c]\n    healthcheck: {test: b}\n",
        );
        assert_eq!(s["command"], serde_json::json!(["c"]));
        assert_eq!(s["entrypoint"], serde_json::json!(["x"]));
        assert_eq!(
            s["healthcheck"],
            serde_json::json!({"test": ["CMD-SHELL", "b"], "retries": 3})
        );
    }

    #[test]
    fn ports_appended_and_deduplicated() {
        let s = merged(
            "services:\n  s:\n    ports: ['80:80']\n",
            "services:\n  s:\n    ports: ['80:80', '81:81']\n",
        );
        assert_eq!(s["ports"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn volumes_keyed_by_target() {
        let s = merged(
            "services:\n  s:\n    volumes: ['a:/data', './x:/x']\n",
            "services:\n  s:\n    volumes: ['b:/data', '/y']\n",
        );
        let v = s["volumes"].as_array().cloned().unwrap_or_default();
        assert_eq!(v.len(), 3);
        assert_eq!(v[0]["source"], "b");
    }

    #[test]
    fn depends_on_merged_by_service() {
        let s = merged(
            "services:\n  s:\n    depends_on: [a]\n",
            "services:\n  s:\n    depends_on: {b: {condition: service_healthy}}\n",
        );
        assert_eq!(s["depends_on"]["b"]["condition"], "service_healthy");
        assert_eq!(s["depends_on"]["a"]["condition"], "service_started");
    }

    #[test]
    fn reset_and_override_tags() {
        let s = merged(
            "services:\n  s:\n    command: sleep infinity\n    ports: ['80:80']\n    environment: {A: '1'}\n",
            "services:\n  s:\n    command: !reset null\n    ports: !override ['81:81']\n    environment: !reset {}\n",
        );
        assert!(s.get("command").is_none(), "{s}");
        assert!(s.get("environment").is_none(), "{s}");
        assert_eq!(s["ports"].as_array().map(Vec::len), Some(1));
        assert_eq!(s["ports"][0]["target"], 81);
    }

    #[test]
    fn logging_with_another_driver_is_replaced() {
        let s = merged(
            "services:\n  s:\n    logging: {driver: json-file, options: {max-size: 1m}}\n",
            "services:\n  s:\n    logging: {driver: syslog}\n",
        );
        assert_eq!(s["logging"], serde_json::json!({"driver": "syslog"}));
        let s = merged(
            "services:\n  s:\n    logging: {driver: json-file, options: {max-size: 1m}}\n",
            "services:\n  s:\n    logging: {options: {max-file: '3'}}\n",
        );
        assert_eq!(
            s["logging"]["options"],
            serde_json::json!({"max-size": "1m", "max-file": "3"})
        );
    }

    #[test]
    fn extensions_are_replaced_not_merged() {
        let mut m = merge(
            load("x-a: {k: 1, j: 2}\n"),
            load("x-a: {k: 3}\n"),
            &mut Vec::new(),
        );
        finish(&mut m);
        assert_eq!(m.to_json()["x-a"], serde_json::json!({"k": 3}));
    }
}
