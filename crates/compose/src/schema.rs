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
use std::sync::{Mutex, OnceLock};

use regex::Regex;
use serde_json::Value as J;

use crate::diag::{did_you_mean, index, join, Diagnostic};
use crate::yaml::{Kind, Node, Value};

/// The vendored compose-spec schema (compose-go's copy, which knows `pre_start` and `models`).
pub const COMPOSE_SPEC_JSON: &str = include_str!("../../../schemas/compose-spec.json");

/// A compiled schema.
pub struct Schema {
    root: J,
    regexes: Mutex<HashMap<String, Option<Regex>>>,
}

/// The compose-spec schema, parsed once.
pub fn compose_spec() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        #[allow(clippy::expect_used)]
        let root = serde_json::from_str(COMPOSE_SPEC_JSON)
            .expect("the vendored compose-spec schema is valid JSON");
        Schema::new(root)
    })
}

impl Schema {
    /// Wraps a parsed JSON schema.
    pub fn new(root: J) -> Self {
        Schema {
            root,
            regexes: Mutex::new(HashMap::new()),
        }
    }

    /// Validates `node`, returning every problem found.
    pub fn validate(&self, node: &Node) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        self.check(&self.root, node, "", &mut out);
        out
    }

    fn resolve<'s>(&'s self, mut schema: &'s J) -> &'s J {
        // Follow local references (`#/$defs/service`); depth-limited against loops.
        for _ in 0..32 {
            let Some(r) = schema.get("$ref").and_then(J::as_str) else {
                return schema;
            };
            let Some(pointer) = r.strip_prefix('#') else {
                return schema;
            };
            match self.root.pointer(pointer) {
                Some(s) => schema = s,
                None => return schema,
            }
        }
        schema
    }

    fn regex_matches(&self, pattern: &str, text: &str) -> bool {
        // The common `^x-` is answered without the regex engine.
        if pattern == "^x-" {
            return text.starts_with("x-");
        }
        let mut cache = self.regexes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(re) = cache.get(pattern) {
            return re.as_ref().is_none_or(|r| r.is_match(text));
        }
        let re = Regex::new(pattern).ok();
        let matched = re.as_ref().is_none_or(|r| r.is_match(text));
        cache.insert(pattern.to_string(), re);
        matched
    }

    fn check(&self, schema: &J, node: &Node, path: &str, out: &mut Vec<Diagnostic>) {
        let schema = self.resolve(schema);
        let obj = match schema {
            J::Bool(true) => return,
            J::Bool(false) => {
                out.push(Diagnostic::new(&node.span, path, "is not allowed here"));
                return;
            }
            J::Object(o) => o,
            _ => return,
        };
        if let Some(t) = obj.get("type") {
            if !type_matches(t, node) {
                out.push(Diagnostic::new(
                    &node.span,
                    path,
                    format!("must be {}, not {}", describe_type(t), node.type_name()),
                ));
                return;
            }
        }
        if let Some(J::Array(values)) = obj.get("enum") {
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
        if let Some(c) = obj.get("const") {
            if &node.to_json() != c {
                out.push(Diagnostic::new(&node.span, path, format!("must be {c}")));
            }
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(J::Array(branches)) = obj.get(key) {
                self.alternatives(branches, key == "oneOf", node, path, out);
            }
        }
        if let Some(J::Array(all)) = obj.get("allOf") {
            for s in all {
                self.check(s, node, path, out);
            }
        }
        if let Some(not) = obj.get("not") {
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
            Value::Map(map) => self.check_object(obj, map, node, path, out),
            Value::Seq(items) => {
                if let Some(s) = obj.get("items") {
                    for (i, it) in items.iter().enumerate() {
                        self.check(s, it, &index(path, i), out);
                    }
                }
                if let Some(min) = obj.get("minItems").and_then(J::as_u64) {
                    if (items.len() as u64) < min {
                        out.push(Diagnostic::new(
                            &node.span,
                            path,
                            format!("needs at least {min} item(s)"),
                        ));
                    }
                }
                if obj.get("uniqueItems") == Some(&J::Bool(true)) {
                    let values: Vec<J> = items.iter().map(Node::to_json).collect();
                    for (i, v) in values.iter().enumerate() {
                        if values[..i].contains(v) {
                            out.push(Diagnostic::new(
                                &items[i].span,
                                index(path, i),
                                format!("duplicate entry {v}"),
                            ));
                        }
                    }
                }
            }
            Value::Scalar(s) => {
                if let (Some(pattern), Kind::Str) = (obj.get("pattern").and_then(J::as_str), s.kind)
                {
                    if !self.regex_matches(pattern, &s.text) {
                        out.push(Diagnostic::new(
                            &node.span,
                            path,
                            format!("`{}` does not match the pattern {pattern}", s.text),
                        ));
                    }
                }
                let n = match s.kind {
                    Kind::Int(i) => Some(i as f64),
                    Kind::Float(f) => Some(f),
                    _ => None,
                };
                if let Some(n) = n {
                    if let Some(min) = obj.get("minimum").and_then(J::as_f64) {
                        if n < min {
                            out.push(Diagnostic::new(
                                &node.span,
                                path,
                                format!("must be at least {min}"),
                            ));
                        }
                    }
                    if let Some(max) = obj.get("maximum").and_then(J::as_f64) {
                        if n > max {
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
    }

    fn check_object(
        &self,
        obj: &serde_json::Map<String, J>,
        map: &crate::yaml::Mapping,
        node: &Node,
        path: &str,
        out: &mut Vec<Diagnostic>,
    ) {
        let props = obj.get("properties").and_then(J::as_object);
        let patterns = obj.get("patternProperties").and_then(J::as_object);
        if let Some(J::Array(req)) = obj.get("required") {
            for r in req.iter().filter_map(J::as_str) {
                if !map.contains_key(r) {
                    out.push(Diagnostic::new(
                        &node.span,
                        path,
                        format!("missing required key `{r}`"),
                    ));
                }
            }
        }
        for (key, value) in map {
            let child = join(path, &key.name);
            let mut matched = false;
            if let Some(s) = props.and_then(|p| p.get(&key.name)) {
                matched = true;
                self.check(s, value, &child, out);
            }
            if let Some(pp) = patterns {
                for (pattern, s) in pp {
                    if self.regex_matches(pattern, &key.name) {
                        matched = true;
                        self.check(s, value, &child, out);
                    }
                }
            }
            if matched {
                continue;
            }
            match obj.get("additionalProperties") {
                Some(J::Bool(false)) => {
                    let mut d =
                        Diagnostic::new(&key.span, &child, format!("unknown key `{}`", key.name));
                    let known = props
                        .map(|p| p.keys().map(String::as_str).collect::<Vec<_>>())
                        .unwrap_or_default();
                    if let Some(m) = did_you_mean(&key.name, known.iter().copied()) {
                        d = d.hint(format!("did you mean `{m}`?"));
                    } else if path.is_empty()
                        || path.starts_with("services.") && path.matches('.').count() == 1
                    {
                        d = d.hint("extension keys must start with `x-`");
                    }
                    out.push(d);
                }
                Some(s @ J::Object(_)) => self.check(s, value, &child, out),
                _ => {}
            }
        }
    }

    fn alternatives(
        &self,
        branches: &[J],
        one: bool,
        node: &Node,
        path: &str,
        out: &mut Vec<Diagnostic>,
    ) {
        let mut results: Vec<Vec<Diagnostic>> = Vec::with_capacity(branches.len());
        for b in branches {
            let mut tmp = Vec::new();
            self.check(b, node, path, &mut tmp);
            if tmp.is_empty() && !one {
                return;
            }
            results.push(tmp);
        }
        let passing = results.iter().filter(|r| r.is_empty()).count();
        if passing == 1 || (passing > 1 && !one) {
            return;
        }
        if passing > 1 {
            // compose-go's schema has no overlapping branches that matter to users;
            // a value valid for several alternatives is accepted.
            return;
        }
        // No branch matched. Report the errors of the branches whose type fits,
        // since that is the form the user was writing; else say which forms exist.
        let fitting: Vec<usize> = branches
            .iter()
            .enumerate()
            .filter(|(_, b)| {
                self.resolve(b)
                    .get("type")
                    .is_none_or(|t| type_matches(t, node))
            })
            .map(|(i, _)| i)
            .collect();
        if fitting.len() == 1 {
            out.append(&mut results[fitting[0]]);
            return;
        }
        if let Some(best) = fitting.iter().min_by_key(|i| results[**i].len()) {
            if !fitting.is_empty() && results[*best].iter().any(|d| d.path != path) {
                out.append(&mut results[*best]);
                return;
            }
        }
        let forms: Vec<String> = branches
            .iter()
            .filter_map(|b| self.resolve(b).get("type").map(describe_type))
            .collect();
        let msg = if forms.is_empty() {
            "does not match any allowed form".to_string()
        } else {
            format!("must be {}, not {}", dedup_join(forms), node.type_name())
        };
        out.push(Diagnostic::new(&node.span, path, msg));
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

fn type_matches(t: &J, node: &Node) -> bool {
    match t {
        J::String(s) => one_type(s, node),
        J::Array(a) => a.iter().filter_map(J::as_str).any(|s| one_type(s, node)),
        _ => true,
    }
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

fn describe_type(t: &J) -> String {
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
    match t {
        J::String(s) => word(s).to_string(),
        J::Array(a) => a
            .iter()
            .filter_map(J::as_str)
            .map(word)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "a value".to_string(),
    }
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
        walk(&compose_spec().root, &known, false, &mut bad);
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
