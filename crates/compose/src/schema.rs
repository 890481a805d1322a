//! Validation against the compose-spec JSON schema, directly on the
//! position-keeping YAML tree so every problem points at a file and line.
//!
//! The schema is compose-go's copy (vendored in `schemas/compose-spec.json`).
//! It uses a small part of JSON Schema: `type`, `properties`,
//! `patternProperties`, `additionalProperties`, `required`, `enum`, `oneOf`,
//! `anyOf`, `allOf`, `$ref` into `$defs`/`definitions`, `items`,
//! `uniqueItems`, `minimum`, `maximum`, `pattern`, `minItems`, `not` and
//! `const`. Annotations (`description`, `format`, `deprecated`, …) are
//! ignored. A keyword outside that list is ignored too; the unit tests pin
//! that the vendored schema uses none.

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value as J;

use crate::diag::{did_you_mean, Diagnostic, KeyPath};
use crate::yaml::{Kind, Node, Value};

/// The vendored compose-spec schema (compose-go's copy, which knows `pre_start` and `models`).
pub const COMPOSE_SPEC_JSON: &str = include_str!("../../../schemas/compose-spec.json");

/// A schema compiled for validation: every `$ref` resolved to an index, every
/// keyword a field, every pattern a built regex. Validating then does no JSON
/// lookups, which matters on files with a thousand services.
pub struct Schema {
    nodes: Vec<Compiled>,
    top: usize,
}

/// The JSON types a `type` keyword allows.
#[derive(Default, Clone)]
struct Types {
    names: Vec<String>,
}

/// How keys without a `properties` or `patternProperties` entry are treated.
#[derive(Default)]
enum Additional {
    #[default]
    Allowed,
    Forbidden,
    Schema(usize),
}

/// A `patternProperties` key: `^x-` (most of them) without the regex engine.
enum Pattern {
    Prefix(String),
    Regex(Regex),
    /// A pattern the regex crate cannot build: matches everything, like an absent check.
    Any,
}

impl Pattern {
    /// Builds a pattern, reusing a regex already built for the same text.
    fn new(p: &str, built: &mut HashMap<String, Regex>) -> Self {
        let literal = |s: &str| !s.chars().any(|c| "\\.+*?()|[]{}^$".contains(c));
        match p.strip_prefix('^') {
            Some(rest) if literal(rest) => Pattern::Prefix(rest.to_string()),
            _ => match built.get(p) {
                Some(r) => Pattern::Regex(r.clone()),
                None => match Regex::new(p) {
                    Ok(r) => {
                        built.insert(p.to_string(), r.clone());
                        Pattern::Regex(r)
                    }
                    Err(_) => Pattern::Any,
                },
            },
        }
    }

    fn is_match(&self, text: &str) -> bool {
        match self {
            Pattern::Prefix(p) => text.starts_with(p.as_str()),
            Pattern::Regex(r) => r.is_match(text),
            Pattern::Any => true,
        }
    }
}

/// One schema object with its keywords.
#[derive(Default)]
struct Compiled {
    /// `true`/`false` schemas.
    always: Option<bool>,
    types: Option<Types>,
    enumeration: Option<Vec<J>>,
    constant: Option<J>,
    alternatives: Vec<Vec<usize>>,
    all_of: Vec<usize>,
    not: Option<usize>,
    items: Option<usize>,
    min_items: Option<u64>,
    unique_items: bool,
    pattern: Option<(String, Pattern)>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    properties: indexmap::IndexMap<String, usize, foldhash::fast::RandomState>,
    pattern_properties: Vec<(Pattern, usize)>,
    required: Vec<String>,
    additional: Additional,
}

/// The compose-spec schema, compiled once.
pub fn compose_spec() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        #[allow(clippy::expect_used)]
        let root = serde_json::from_str(COMPOSE_SPEC_JSON)
            .expect("the vendored compose-spec schema is valid JSON");
        Schema::new(root)
    })
}

struct Compiler<'j> {
    root: &'j J,
    nodes: Vec<Compiled>,
    refs: HashMap<&'j str, usize>,
    regexes: HashMap<String, Regex>,
}

impl<'j> Compiler<'j> {
    fn compile(&mut self, schema: &'j J) -> usize {
        if let Some(r) = schema.get("$ref").and_then(J::as_str) {
            if let Some(&i) = self.refs.get(r) {
                return i;
            }
            // Reserve the slot first: definitions refer to themselves.
            let i = self.nodes.len();
            self.nodes.push(Compiled::default());
            self.refs.insert(r, i);
            let target = r.strip_prefix('#').and_then(|p| self.root.pointer(p));
            let c = match target {
                Some(t) => self.build(t),
                None => Compiled::default(),
            };
            self.nodes[i] = c;
            return i;
        }
        let c = self.build(schema);
        self.nodes.push(c);
        self.nodes.len() - 1
    }

    fn build(&mut self, schema: &'j J) -> Compiled {
        let obj = match schema {
            J::Bool(b) => {
                return Compiled {
                    always: Some(*b),
                    ..Default::default()
                }
            }
            J::Object(o) => o,
            _ => return Compiled::default(),
        };
        if obj.contains_key("$ref") {
            let i = self.compile(schema);
            return Compiled {
                all_of: vec![i],
                ..Default::default()
            };
        }
        let mut c = Compiled::default();
        for (k, v) in obj {
            match k.as_str() {
                "type" => {
                    let names = match v {
                        J::String(s) => vec![s.clone()],
                        J::Array(a) => a.iter().filter_map(J::as_str).map(String::from).collect(),
                        _ => Vec::new(),
                    };
                    c.types = Some(Types { names });
                }
                "enum" => c.enumeration = v.as_array().cloned(),
                "const" => c.constant = Some(v.clone()),
                "oneOf" | "anyOf" => {
                    let branches = v
                        .as_array()
                        .map(|a| a.iter().map(|b| self.compile(b)).collect())
                        .unwrap_or_default();
                    c.alternatives.push(branches);
                }
                "allOf" => {
                    c.all_of = v
                        .as_array()
                        .map(|a| a.iter().map(|b| self.compile(b)).collect())
                        .unwrap_or_default()
                }
                "not" => c.not = Some(self.compile(v)),
                "items" => c.items = Some(self.compile(v)),
                "minItems" => c.min_items = v.as_u64(),
                "uniqueItems" => c.unique_items = v == &J::Bool(true),
                "pattern" => {
                    c.pattern = v
                        .as_str()
                        .map(|p| (p.to_string(), Pattern::new(p, &mut self.regexes)))
                }
                "minimum" => c.minimum = v.as_f64(),
                "maximum" => c.maximum = v.as_f64(),
                "properties" => {
                    for (name, s) in v.as_object().into_iter().flatten() {
                        let i = self.compile(s);
                        c.properties.insert(name.clone(), i);
                    }
                }
                "patternProperties" => {
                    for (p, s) in v.as_object().into_iter().flatten() {
                        let i = self.compile(s);
                        c.pattern_properties
                            .push((Pattern::new(p, &mut self.regexes), i));
                    }
                }
                "required" => {
                    c.required = v
                        .as_array()
                        .map(|a| a.iter().filter_map(J::as_str).map(String::from).collect())
                        .unwrap_or_default()
                }
                "additionalProperties" => {
                    c.additional = match v {
                        J::Bool(false) => Additional::Forbidden,
                        J::Object(_) => Additional::Schema(self.compile(v)),
                        _ => Additional::Allowed,
                    }
                }
                _ => {}
            }
        }
        c
    }
}

impl Schema {
    /// Compiles a parsed JSON schema.
    pub fn new(root: J) -> Self {
        let mut compiler = Compiler {
            root: &root,
            nodes: Vec::new(),
            refs: HashMap::new(),
            regexes: HashMap::new(),
        };
        let top = compiler.compile(&root);
        Schema {
            nodes: compiler.nodes,
            top,
        }
    }

    /// Validates `node`, returning every problem found.
    pub fn validate(&self, node: &Node) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        self.check(self.top, node, &KeyPath::Root, &mut out);
        out
    }

    fn check(&self, at: usize, node: &Node, path: &KeyPath<'_>, out: &mut Vec<Diagnostic>) {
        let c = &self.nodes[at];
        match c.always {
            Some(true) => return,
            Some(false) => {
                out.push(Diagnostic::new(&node.span, path, "is not allowed here"));
                return;
            }
            None => {}
        }
        if let Some(t) = &c.types {
            if !type_matches(t, node) {
                out.push(Diagnostic::new(
                    &node.span,
                    path,
                    format!("must be {}, not {}", describe_type(t), node.type_name()),
                ));
                return;
            }
        }
        if let Some(values) = &c.enumeration {
            let v = node.to_json();
            if !values.contains(&v)
                && !values
                    .iter()
                    .any(|e| e.as_str().is_some() && e.as_str() == node.as_str())
            {
                let allowed: Vec<String> = values.iter().map(|v| v.to_string()).collect();
                out.push(Diagnostic::new(
                    &node.span,
                    path,
                    format!("must be one of {}", allowed.join(", ")),
                ));
            }
        }
        if let Some(k) = &c.constant {
            if &node.to_json() != k {
                out.push(Diagnostic::new(&node.span, path, format!("must be {k}")));
            }
        }
        for branches in &c.alternatives {
            self.alternatives(branches, node, path, out);
        }
        for &s in &c.all_of {
            self.check(s, node, path, out);
        }
        if let Some(not) = c.not {
            let mut tmp = Vec::new();
            self.check(not, node, path, &mut tmp);
            if tmp.is_empty() {
                out.push(Diagnostic::new(
                    &node.span,
                    path,
                    "is not allowed in this form",
                ));
            }
        }
        match &node.value {
            Value::Map(map) => self.check_object(c, map, node, path, out),
            Value::Seq(items) => {
                if let Some(s) = c.items {
                    for (i, it) in items.iter().enumerate() {
                        self.check(s, it, &KeyPath::Index(path, i), out);
                    }
                }
                if let Some(min) = c.min_items {
                    if (items.len() as u64) < min {
                        out.push(Diagnostic::new(
                            &node.span,
                            path,
                            format!("needs at least {min} item(s)"),
                        ));
                    }
                }
                if c.unique_items {
                    let values: Vec<J> = items.iter().map(Node::to_json).collect();
                    for (i, v) in values.iter().enumerate() {
                        if values[..i].contains(v) {
                            out.push(Diagnostic::new(
                                &items[i].span,
                                KeyPath::Index(path, i),
                                format!("duplicate entry {v}"),
                            ));
                        }
                    }
                }
            }
            Value::Scalar(s) => {
                if let (Some((text, pattern)), Kind::Str) = (&c.pattern, s.kind) {
                    if !pattern.is_match(&s.text) {
                        out.push(Diagnostic::new(
                            &node.span,
                            path,
                            format!("`{}` does not match the pattern {text}", s.text),
                        ));
                    }
                }
                let n = match s.kind {
                    Kind::Int(i) => Some(i as f64),
                    Kind::Float(f) => Some(f),
                    _ => None,
                };
                if let Some(n) = n {
                    if let Some(min) = c.minimum.filter(|m| n < *m) {
                        out.push(Diagnostic::new(
                            &node.span,
                            path,
                            format!("must be at least {min}"),
                        ));
                    }
                    if let Some(max) = c.maximum.filter(|m| n > *m) {
                        out.push(Diagnostic::new(
                            &node.span,
                            path,
                            format!("must be at most {max}"),
                        ));
                    }
                }
            }
        }
    }

    fn check_object(
        &self,
        c: &Compiled,
        map: &crate::yaml::Mapping,
        node: &Node,
        path: &KeyPath<'_>,
        out: &mut Vec<Diagnostic>,
    ) {
        for r in &c.required {
            if !map.contains_key(r.as_str()) {
                out.push(Diagnostic::new(
                    &node.span,
                    path,
                    format!("missing required key `{r}`"),
                ));
            }
        }
        for (key, value) in map {
            let child = KeyPath::Key(path, &key.name);
            let mut matched = false;
            if let Some(&s) = c.properties.get(&key.name) {
                matched = true;
                self.check(s, value, &child, out);
            }
            for (pattern, s) in &c.pattern_properties {
                if pattern.is_match(&key.name) {
                    matched = true;
                    self.check(*s, value, &child, out);
                }
            }
            if matched {
                continue;
            }
            match c.additional {
                Additional::Forbidden => {
                    let mut d =
                        Diagnostic::new(&key.span, child, format!("unknown key `{}`", key.name));
                    if let Some(m) =
                        did_you_mean(&key.name, c.properties.keys().map(String::as_str))
                    {
                        d = d.hint(format!("did you mean `{m}`?"));
                    } else if path.is_root() || path.is_service() {
                        d = d.hint("extension keys must start with `x-`");
                    }
                    out.push(d);
                }
                Additional::Schema(s) => self.check(s, value, &child, out),
                Additional::Allowed => {}
            }
        }
    }

    /// `oneOf`/`anyOf`. A value valid for any branch is accepted: compose-go's
    /// schema has no overlapping `oneOf` branches that matter to users.
    fn alternatives(
        &self,
        branches: &[usize],
        node: &Node,
        path: &KeyPath<'_>,
        out: &mut Vec<Diagnostic>,
    ) {
        let mut results: Vec<Vec<Diagnostic>> = Vec::with_capacity(branches.len());
        for &b in branches {
            let mut tmp = Vec::new();
            self.check(b, node, path, &mut tmp);
            if tmp.is_empty() {
                return;
            }
            results.push(tmp);
        }
        // No branch matched. The branches whose type fits are the form the user was
        // writing: report the one with the fewest problems below this node; if none
        // gets past the type, say which forms exist.
        let here = path.to_string();
        let best = branches
            .iter()
            .zip(results)
            .filter(|(b, r)| {
                self.types_of(**b).is_none_or(|t| type_matches(t, node))
                    && r.iter().any(|d| d.path != here)
            })
            .map(|(_, r)| r)
            .min_by_key(Vec::len);
        if let Some(mut r) = best {
            out.append(&mut r);
            return;
        }
        let forms: Vec<String> = branches
            .iter()
            .filter_map(|b| self.types_of(*b).map(describe_type))
            .collect();
        let msg = if forms.is_empty() {
            "does not match any allowed form".to_string()
        } else {
            format!("must be {}, not {}", dedup_join(forms), node.type_name())
        };
        out.push(Diagnostic::new(&node.span, path, msg));
    }

    /// The `type` of a schema, looking through a `$ref`.
    fn types_of(&self, at: usize) -> Option<&Types> {
        let c = &self.nodes[at];
        match (&c.types, c.all_of.as_slice()) {
            (Some(t), _) => Some(t),
            (None, [only]) => self.nodes[*only].types.as_ref(),
            _ => None,
        }
    }
}

fn dedup_join(mut v: Vec<String>) -> String {
    let mut seen = Vec::new();
    v.retain(|x| {
        if seen.contains(x) {
            false
        } else {
            seen.push(x.clone());
            true
        }
    });
    v.join(" or ")
}

fn type_matches(t: &Types, node: &Node) -> bool {
    t.names.iter().any(|s| one_type(s, node))
}

fn one_type(t: &str, node: &Node) -> bool {
    match (&node.value, t) {
        (Value::Map(_), "object") => true,
        (Value::Seq(_), "array") => true,
        (Value::Scalar(s), _) => {
            matches!(
                (s.kind, t),
                (Kind::Null, "null")
                    | (Kind::Bool(_), "boolean")
                    | (Kind::Int(_), "integer" | "number")
                    | (Kind::Float(_), "number")
                    | (Kind::Str, "string")
            ) || matches!((s.kind, t), (Kind::Float(f), "integer") if f.fract() == 0.0)
        }
        _ => false,
    }
}

fn describe_type(t: &Types) -> String {
    let word = |s: &str| match s {
        "object" => "a mapping",
        "array" => "a list",
        "string" => "a string",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "a boolean",
        "null" => "null",
        _ => "a value",
    };
    t.names
        .iter()
        .map(|s| word(s))
        .collect::<Vec<_>>()
        .join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn validate(src: &str) -> Vec<Diagnostic> {
        let node = crate::yaml::parse(src, &Arc::from("c.yaml")).expect("parses");
        compose_spec().validate(&node)
    }

    #[test]
    fn the_vendored_schema_uses_only_supported_keywords() {
        let known = [
            "type",
            "properties",
            "patternProperties",
            "additionalProperties",
            "required",
            "enum",
            "oneOf",
            "anyOf",
            "allOf",
            "$ref",
            "items",
            "uniqueItems",
            "minimum",
            "maximum",
            "pattern",
            "minItems",
            "not",
            "const",
            "description",
            "format",
            "deprecated",
            "default",
            "examples",
            "title",
            "$schema",
            "$id",
            "$defs",
            "definitions",
            "$comment",
        ];
        fn walk(v: &J, known: &[&str], in_props: bool, bad: &mut Vec<String>) {
            if let J::Object(o) = v {
                for (k, x) in o {
                    if in_props {
                        walk(x, known, false, bad);
                        continue;
                    }
                    if !known.contains(&k.as_str()) {
                        bad.push(k.clone());
                    }
                    let children_are_names = matches!(
                        k.as_str(),
                        "properties" | "patternProperties" | "$defs" | "definitions"
                    );
                    walk(x, known, children_are_names, bad);
                }
            } else if let J::Array(a) = v {
                for x in a {
                    walk(x, known, false, bad);
                }
            }
        }
        let mut bad = Vec::new();
        let root: J = serde_json::from_str(COMPOSE_SPEC_JSON).expect("json");
        walk(&root, &known, false, &mut bad);
        assert!(bad.is_empty(), "unsupported schema keywords: {bad:?}");
    }

    #[test]
    fn valid_file_passes() {
        let d = validate("services:\n  web:\n    image: nginx\n    ports: ['80:80', {target: 81}]\n    restart: 'no'\n");
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn misspelled_key_is_located_with_a_suggestion() {
        let d = validate("services:\n  web:\n    image: nginx\n    enviroment:\n      A: b\n");
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].path, "services.web.enviroment");
        assert_eq!((d[0].span.line, d[0].span.col), (4, 5));
        assert_eq!(d[0].hint.as_deref(), Some("did you mean `environment`?"));
    }

    #[test]
    fn wrong_types_are_reported_all_at_once() {
        // Strings are allowed where interpolation may put them (`privileged: ${X}`);
        // the canonical stage checks their text.
        let d =
            validate("services:\n  a:\n    image: [x]\n  b:\n    ports: 80\n    privileged: {}\n");
        assert_eq!(d.len(), 3, "{d:?}");
        assert!(d
            .iter()
            .any(|x| x.path == "services.a.image" && x.message.contains("must be a string")));
        assert!(d.iter().any(|x| x.path == "services.b.ports"));
        assert!(d.iter().any(|x| x.path == "services.b.privileged"));
    }
}
