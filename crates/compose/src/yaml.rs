//! A YAML tree that remembers where every node came from.
//!
//! serde_yaml (deprecated upstream) loses positions and has no way to see the
//! `!reset`/`!override` tags compose-spec uses, so the loader reads YAML with
//! the event parser of `yaml-rust2` (a maintained YAML 1.2 parser) and builds
//! this tree itself: anchors and aliases expanded, merge keys (`<<: *a`,
//! `<<: [*a, *b]`) applied, tags kept, and a [`Span`] on every node and key.
//!
//! Scalars keep their source text. Plain scalars are resolved with the YAML
//! 1.2 core schema as compose-go (go-yaml v3) reads them: `no`, `on`, `0:0`
//! stay strings, but a leading-zero integer such as `0440` is octal.
//! Consumers that want a string (environment values, labels) use the text, so
//! `PIN: 0123` stays `0123`.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use indexmap::IndexMap;
use yaml_rust2::parser::{Event, Parser, Tag as YamlTag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Where a node starts: file, line and column (both 1-based).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Span {
    /// The file as the user named it (or `-` for stdin, `<generated>` for synthesized nodes).
    pub file: Arc<str>,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub col: u32,
}

impl Span {
    /// A span for nodes hb makes itself.
    pub fn generated() -> Self {
        Span {
            file: Arc::from("<generated>"),
            line: 0,
            col: 0,
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file)
        } else {
            write!(f, "{}:{}:{}", self.file, self.line, self.col)
        }
    }
}

/// The compose-spec merge tags (compose-spec `13-merge.md`, "Reset value" and "Replace value").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag {
    /// `!reset`: drop the value inherited from earlier files or `extends`.
    Reset,
    /// `!override`: replace the inherited value instead of merging.
    Override,
}

/// What a scalar resolved to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// `null`, `~` or empty.
    Null,
    /// `true`/`false` in their YAML 1.2 spellings.
    Bool(bool),
    /// An integer (decimal, `0o`, `0x`, or go-yaml's leading-zero octal).
    Int(i64),
    /// A float, `.inf` or `.nan`.
    Float(f64),
    /// Anything else, and every quoted or block scalar.
    Str,
}

/// A scalar with its source text.
#[derive(Clone, Debug, PartialEq)]
pub struct Scalar {
    /// The text as written (after YAML unescaping).
    pub text: String,
    /// The resolved type.
    pub kind: Kind,
}

/// A mapping key with its own position.
#[derive(Clone, Debug)]
pub struct Key {
    /// The key text.
    pub name: String,
    /// Where the key is written.
    pub span: Span,
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for Key {}
impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}
impl std::borrow::Borrow<str> for Key {
    fn borrow(&self) -> &str {
        &self.name
    }
}

/// A mapping in document order. Hashed with foldhash: keys are short and
/// looked up constantly, and SipHash was a tenth of the load time.
pub type Mapping = IndexMap<Key, Node, foldhash::fast::RandomState>;

/// The value of a node.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A scalar.
    Scalar(Scalar),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping.
    Map(Mapping),
}

/// A YAML node with its position and tag.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Where the node starts.
    pub span: Span,
    /// A compose merge tag, if any.
    pub tag: Option<Tag>,
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Where the problem is.
    pub span: Span,
    /// What is wrong.
    pub message: String,
}

/// Aliases may expand to at most this many nodes in one document: a guard
/// against "billion laughs" documents that would exhaust memory.
const MAX_EXPANDED_NODES: usize = 1_000_000;
/// Nesting deeper than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 256;

impl Node {
    /// A string node.
    pub fn str(text: impl Into<String>, span: Span) -> Self {
        Node {
            value: Value::Scalar(Scalar {
                text: text.into(),
                kind: Kind::Str,
            }),
            span,
            tag: None,
        }
    }
    /// An integer node.
    pub fn int(n: i64, span: Span) -> Self {
        Node {
            value: Value::Scalar(Scalar {
                text: n.to_string(),
                kind: Kind::Int(n),
            }),
            span,
            tag: None,
        }
    }
    /// A boolean node.
    pub fn bool(b: bool, span: Span) -> Self {
        Node {
            value: Value::Scalar(Scalar {
                text: b.to_string(),
                kind: Kind::Bool(b),
            }),
            span,
            tag: None,
        }
    }
    /// A float node.
    pub fn float(f: f64, span: Span) -> Self {
        Node {
            value: Value::Scalar(Scalar {
                text: f.to_string(),
                kind: Kind::Float(f),
            }),
            span,
            tag: None,
        }
    }
    /// A null node.
    pub fn null(span: Span) -> Self {
        Node {
            value: Value::Scalar(Scalar {
                text: String::new(),
                kind: Kind::Null,
            }),
            span,
            tag: None,
        }
    }
    /// A sequence node.
    pub fn seq(items: Vec<Node>, span: Span) -> Self {
        Node {
            value: Value::Seq(items),
            span,
            tag: None,
        }
    }
    /// A mapping node.
    pub fn map(map: Mapping, span: Span) -> Self {
        Node {
            value: Value::Map(map),
            span,
            tag: None,
        }
    }

    /// The mapping, if this is one.
    pub fn as_map(&self) -> Option<&Mapping> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
    /// The mapping, mutably, if this is one.
    pub fn as_map_mut(&mut self) -> Option<&mut Mapping> {
        match &mut self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
    /// The sequence, if this is one.
    pub fn as_seq(&self) -> Option<&Vec<Node>> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }
    /// The scalar, if this is one.
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.value {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }
    /// The text of a non-null scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s) if s.kind != Kind::Null => Some(&s.text),
            _ => None,
        }
    }
    /// True for a null scalar.
    pub fn is_null(&self) -> bool {
        matches!(
            &self.value,
            Value::Scalar(Scalar {
                kind: Kind::Null,
                ..
            })
        )
    }
    /// A boolean, accepting the string spellings interpolation produces.
    pub fn as_bool(&self) -> Option<bool> {
        match &self.value {
            Value::Scalar(Scalar {
                kind: Kind::Bool(b),
                ..
            }) => Some(*b),
            Value::Scalar(s) => match s.text.as_str() {
                "true" | "True" | "TRUE" => Some(true),
                "false" | "False" | "FALSE" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }
    /// An integer, accepting numeric strings.
    pub fn as_i64(&self) -> Option<i64> {
        match &self.value {
            Value::Scalar(Scalar {
                kind: Kind::Int(n), ..
            }) => Some(*n),
            Value::Scalar(s) => s.text.trim().parse().ok(),
            _ => None,
        }
    }
    /// Looks up a key of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map().and_then(|m| m.get(key))
    }
    /// A short word for the node's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            Value::Map(_) => "a mapping",
            Value::Seq(_) => "a list",
            Value::Scalar(s) => match s.kind {
                Kind::Null => "null",
                Kind::Bool(_) => "a boolean",
                Kind::Int(_) => "an integer",
                Kind::Float(_) => "a number",
                Kind::Str => "a string",
            },
        }
    }

    /// Converts to JSON (for typed decoding and `--format json`).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Scalar(s) => match s.kind {
                Kind::Null => J::Null,
                Kind::Bool(b) => J::Bool(b),
                Kind::Int(n) => J::from(n),
                Kind::Float(f) => serde_json::Number::from_f64(f)
                    .map(J::Number)
                    .unwrap_or(J::String(s.text.clone())),
                Kind::Str => J::String(s.text.clone()),
            },
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(m) => J::Object(
                m.iter()
                    .map(|(k, v)| (k.name.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// Builds a tree from JSON, every node with `span`.
    pub fn from_json(v: &serde_json::Value, span: &Span) -> Node {
        use serde_json::Value as J;
        match v {
            J::Null => Node::null(span.clone()),
            J::Bool(b) => Node::bool(*b, span.clone()),
            J::Number(n) => match n.as_i64() {
                Some(i) => Node::int(i, span.clone()),
                None => Node::float(n.as_f64().unwrap_or(0.0), span.clone()),
            },
            J::String(s) => Node::str(s.clone(), span.clone()),
            J::Array(a) => Node::seq(
                a.iter().map(|x| Node::from_json(x, span)).collect(),
                span.clone(),
            ),
            J::Object(o) => Node::map(
                o.iter()
                    .map(|(k, x)| {
                        (
                            Key {
                                name: k.clone(),
                                span: span.clone(),
                            },
                            Node::from_json(x, span),
                        )
                    })
                    .collect(),
                span.clone(),
            ),
        }
    }
}

/// Resolves a plain scalar by the YAML 1.2 core schema, plus go-yaml's
/// leading-zero octal (compose-go reads `mode: 0440` as 0o440).
pub fn resolve_plain(text: &str) -> Kind {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Kind::Null,
        "true" | "True" | "TRUE" => return Kind::Bool(true),
        "false" | "False" | "FALSE" => return Kind::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Kind::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Kind::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Kind::Float(f64::NAN),
        _ => {}
    }
    let (neg, digits) = match text.as_bytes()[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let int = if let Some(oct) = digits.strip_prefix("0o") {
        i64::from_str_radix(oct, 8).ok()
    } else if let Some(hex) = digits.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if digits.len() > 1 && digits.starts_with('0') {
            i64::from_str_radix(digits, 8).ok()
        } else {
            digits.parse().ok()
        }
    } else {
        None
    };
    if let Some(n) = int {
        return Kind::Int(if neg { -n } else { n });
    }
    if is_float(digits) {
        if let Ok(f) = text.parse::<f64>() {
            return Kind::Float(f);
        }
    }
    Kind::Str
}

fn is_float(s: &str) -> bool {
    // [0-9]*(\.[0-9]*)?([eE][-+]?[0-9]+)? with at least one digit in the mantissa.
    let b = s.as_bytes();
    let mut i = 0;
    let mut mantissa = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
        mantissa += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
            mantissa += 1;
        }
    }
    if mantissa == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    i == b.len()
}

/// Parses one YAML document. An empty document is a null node.
pub fn parse(source: &str, file: &Arc<str>) -> Result<Node, SyntaxError> {
    let mut err = match parse_strict(source, file) {
        Ok(n) => return Ok(n),
        Err(e) => e,
    };
    // go-yaml (and so docker compose) accepts a flow collection whose closing
    // bracket sits at the parent key's indentation:
    //     command: [
    //       "start"
    //     ]
    // yaml-rust2 calls that "invalid indentation". Indentation before a closing
    // bracket carries no meaning in flow context, so indent such lines and retry.
    let mut text = source.to_string();
    for _ in 0..64 {
        if !err.message.contains("indentation") {
            break;
        }
        let Some(fixed) = indent_closing_bracket(&text, err.span.line as usize) else {
            break;
        };
        text = fixed;
        match parse_strict(&text, file) {
            Ok(n) => return Ok(n),
            Err(e) => err = e,
        }
    }
    Err(err)
}

fn indent_closing_bracket(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.split('\n').collect();
    let idx = line.checked_sub(1)?;
    let target = lines.get(idx)?;
    let trimmed = target.trim_start();
    if !(trimmed.starts_with(']') || trimmed.starts_with('}')) {
        return None;
    }
    let prev = lines[..idx].iter().rev().find(|l| !l.trim().is_empty())?;
    let indent = prev.len() - prev.trim_start().len();
    if indent <= target.len() - trimmed.len() {
        return None;
    }
    let mut out: Vec<String> = lines.iter().map(|l| (*l).to_string()).collect();
    out[idx] = format!("{}{trimmed}", " ".repeat(indent));
    Some(out.join("\n"))
}

fn parse_strict(source: &str, file: &Arc<str>) -> Result<Node, SyntaxError> {
    let mut builder = Builder {
        file: file.clone(),
        anchors: Default::default(),
        expanded: 0,
    };
    let mut parser = Parser::new_from_str(source);
    let span_of = |m: Marker| Span {
        file: file.clone(),
        line: m.line() as u32,
        col: m.col() as u32 + 1,
    };
    let err = |m: Marker, msg: String| SyntaxError {
        span: span_of(m),
        message: msg,
    };
    let mut root: Option<Node> = None;
    loop {
        let (ev, mark) = parser
            .next_token()
            .map_err(|e| err(*e.marker(), e.info().to_string()))?;
        match ev {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::DocumentStart => {
                if root.is_some() {
                    return Err(err(
                        mark,
                        "a compose file holds one YAML document; found a second `---`".into(),
                    ));
                }
                let (ev, mark) = parser
                    .next_token()
                    .map_err(|e| err(*e.marker(), e.info().to_string()))?;
                root = Some(builder.node(&mut parser, ev, mark, 0)?);
            }
            Event::StreamEnd => break,
            other => return Err(err(mark, format!("unexpected YAML event {other:?}"))),
        }
    }
    Ok(root.unwrap_or_else(|| {
        Node::null(Span {
            file: file.clone(),
            line: 1,
            col: 1,
        })
    }))
}

struct Builder {
    file: Arc<str>,
    anchors: std::collections::HashMap<usize, Node>,
    expanded: usize,
}

fn count_nodes(n: &Node) -> usize {
    1 + match &n.value {
        Value::Scalar(_) => 0,
        Value::Seq(s) => s.iter().map(count_nodes).sum(),
        Value::Map(m) => m.values().map(count_nodes).sum(),
    }
}

impl Builder {
    fn span(&self, m: Marker) -> Span {
        Span {
            file: self.file.clone(),
            line: m.line() as u32,
            col: m.col() as u32 + 1,
        }
    }

    fn error(&self, m: Marker, message: impl Into<String>) -> SyntaxError {
        SyntaxError {
            span: self.span(m),
            message: message.into(),
        }
    }

    fn next(&self, p: &mut Parser<std::str::Chars<'_>>) -> Result<(Event, Marker), SyntaxError> {
        p.next_token()
            .map_err(|e| self.error(*e.marker(), e.info().to_string()))
    }

    fn tag(&self, tag: Option<YamlTag>, m: Marker) -> Result<(Option<Tag>, bool), SyntaxError> {
        // Returns the compose tag and whether the scalar is forced to a string (`!!str`).
        match tag {
            None => Ok((None, false)),
            Some(t) if t.handle == "!" && t.suffix == "reset" => Ok((Some(Tag::Reset), false)),
            Some(t) if t.handle == "!" && t.suffix == "override" => {
                Ok((Some(Tag::Override), false))
            }
            Some(t) if t.handle == "tag:yaml.org,2002:" => Ok((None, t.suffix == "str")),
            Some(t) => Err(self.error(
                m,
                format!(
                    "unknown YAML tag `{}{}`: compose files may use `!reset` and `!override`",
                    t.handle, t.suffix
                ),
            )),
        }
    }

    fn node(
        &mut self,
        p: &mut Parser<std::str::Chars<'_>>,
        ev: Event,
        mark: Marker,
        depth: usize,
    ) -> Result<Node, SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(self.error(mark, format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        match ev {
            Event::Alias(id) => {
                let node = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| self.error(mark, "alias to an unknown anchor"))?;
                self.expanded += count_nodes(&node);
                if self.expanded > MAX_EXPANDED_NODES {
                    return Err(self.error(
                        mark,
                        "aliases expand to too many nodes (is this a \"billion laughs\" document?)",
                    ));
                }
                Ok(node)
            }
            Event::Scalar(text, style, anchor, tag) => {
                let (tag, force_str) = self.tag(tag, mark)?;
                let kind = if style == TScalarStyle::Plain && !force_str {
                    resolve_plain(&text)
                } else {
                    Kind::Str
                };
                let node = Node {
                    value: Value::Scalar(Scalar { text, kind }),
                    span: self.span(mark),
                    tag,
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                Ok(node)
            }
            Event::SequenceStart(anchor, tag) => {
                let (tag, _) = self.tag(tag, mark)?;
                let mut items = Vec::new();
                loop {
                    let (ev, m) = self.next(p)?;
                    if ev == Event::SequenceEnd {
                        break;
                    }
                    items.push(self.node(p, ev, m, depth + 1)?);
                }
                let node = Node {
                    value: Value::Seq(items),
                    span: self.span(mark),
                    tag,
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                Ok(node)
            }
            Event::MappingStart(anchor, tag) => {
                let (tag, _) = self.tag(tag, mark)?;
                let map = self.mapping(p, depth)?;
                let node = Node {
                    value: Value::Map(map),
                    span: self.span(mark),
                    tag,
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                Ok(node)
            }
            other => Err(self.error(mark, format!("unexpected YAML event {other:?}"))),
        }
    }

    fn mapping(
        &mut self,
        p: &mut Parser<std::str::Chars<'_>>,
        depth: usize,
    ) -> Result<Mapping, SyntaxError> {
        let mut explicit = Mapping::default();
        let mut merges: Vec<Node> = Vec::new();
        loop {
            let (ev, kmark) = self.next(p)?;
            if ev == Event::MappingEnd {
                break;
            }
            let is_merge =
                matches!(&ev, Event::Scalar(t, TScalarStyle::Plain, _, None) if t == "<<");
            let key_node = self.node(p, ev, kmark, depth + 1)?;
            let (vev, vmark) = self.next(p)?;
            let value = self.node(p, vev, vmark, depth + 1)?;
            if is_merge {
                merges.push(value);
                continue;
            }
            let name = match key_node.value {
                Value::Scalar(s) => s.text,
                _ => return Err(self.error(kmark, "mapping keys must be scalars")),
            };
            if explicit.contains_key(name.as_str()) {
                return Err(self.error(
                    kmark,
                    format!("key `{name}` is defined twice in this mapping"),
                ));
            }
            explicit.insert(
                Key {
                    name,
                    span: key_node.span,
                },
                value,
            );
        }
        // YAML merge key (https://yaml.org/type/merge.html): explicit keys win over
        // merged ones; among merged mappings, the earlier one wins. Merged keys
        // follow the explicit ones.
        for m in merges {
            merge_into(&mut explicit, m)?;
        }
        Ok(explicit)
    }
}

/// Adds the keys of a merged mapping (or list of mappings) that `out` lacks.
fn merge_into(out: &mut Mapping, merged: Node) -> Result<(), SyntaxError> {
    let sources = match merged.value {
        Value::Map(m) => vec![m],
        Value::Seq(items) => {
            let mut maps = Vec::with_capacity(items.len());
            for it in items {
                match it.value {
                    Value::Map(m) => maps.push(m),
                    _ => {
                        return Err(SyntaxError {
                            span: it.span,
                            message: "a merge key (`<<`) list may only hold mappings".into(),
                        })
                    }
                }
            }
            maps
        }
        _ => {
            return Err(SyntaxError {
                span: merged.span,
                message: "a merge key (`<<`) needs a mapping or a list of mappings".into(),
            })
        }
    };
    for src in sources {
        for (k, v) in src {
            if !out.contains_key(k.name.as_str()) {
                out.insert(k, v);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Node {
        parse(s, &Arc::from("t.yaml")).expect("parses")
    }

    #[test]
    fn yaml_1_2_scalars_as_compose_go_reads_them() {
        let n = p("a: no\nb: 0:0\nc: 0440\nd: on\ne: 12\nf: 1.5\ng: ~\nh: true\ni: '12'\nj: 0o17\nk: 1e3\nl: 08\n");
        let kind = |k: &str| n.get(k).and_then(|x| x.as_scalar()).map(|s| s.kind);
        assert_eq!(kind("a"), Some(Kind::Str));
        assert_eq!(kind("b"), Some(Kind::Str));
        assert_eq!(kind("c"), Some(Kind::Int(0o440)));
        assert_eq!(kind("d"), Some(Kind::Str));
        assert_eq!(kind("e"), Some(Kind::Int(12)));
        assert_eq!(kind("f"), Some(Kind::Float(1.5)));
        assert_eq!(kind("g"), Some(Kind::Null));
        assert_eq!(kind("h"), Some(Kind::Bool(true)));
        assert_eq!(kind("i"), Some(Kind::Str));
        assert_eq!(kind("j"), Some(Kind::Int(15)));
        assert_eq!(kind("k"), Some(Kind::Float(1000.0)));
        assert_eq!(kind("l"), Some(Kind::Float(8.0)));
        assert_eq!(n.get("c").and_then(Node::as_str), Some("0440"));
    }

    #[test]
    fn merge_keys_single_and_list_with_explicit_precedence() {
        let n = p("x: &a {k: 1, m: a}\ny: &b {k: 2, n: b}\ns:\n  <<: [*a, *b]\n  m: own\n");
        let s = n.get("s").expect("s");
        assert_eq!(s.get("k").and_then(Node::as_i64), Some(1));
        assert_eq!(s.get("m").and_then(Node::as_str), Some("own"));
        assert_eq!(s.get("n").and_then(Node::as_str), Some("b"));
        let n = p("x: &a {k: 1}\ns:\n  k: 2\n  <<: *a\n");
        assert_eq!(
            n.get("s").and_then(|s| s.get("k")).and_then(Node::as_i64),
            Some(2)
        );
    }

    #[test]
    fn tags_and_positions_are_kept() {
        let n = p("services:\n  a:\n    command: !reset null\n    ports: !override\n      - 80\n");
        let a = n.get("services").and_then(|s| s.get("a")).expect("a");
        assert_eq!(a.get("command").and_then(|c| c.tag), Some(Tag::Reset));
        let ports = a.get("ports").expect("ports");
        assert_eq!(ports.tag, Some(Tag::Override));
        let key = a
            .as_map()
            .and_then(|m| m.get_key_value("ports"))
            .map(|(k, _)| k.span.clone())
            .expect("key");
        assert_eq!((key.line, key.col), (4, 5));
    }

    #[test]
    fn errors_are_located_and_never_panic() {
        let e = parse("a: [1, 2\nb: 3\n", &Arc::from("t.yaml")).expect_err("unterminated");
        assert!(e.span.line >= 1, "{e:?}");
        let e = parse("a: 1\na: 2\n", &Arc::from("t.yaml")).expect_err("duplicate");
        assert_eq!(e.span.line, 2);
        assert!(parse("a: !custom x\n", &Arc::from("t.yaml")).is_err());
        assert!(parse("a: *nope\n", &Arc::from("t.yaml")).is_err());
        assert!(p("").is_null());
    }

    #[test]
    fn closing_bracket_at_the_key_indentation_is_accepted() {
        let n =
            p("svc:\n    command: [\n      \"start\",\n      \"--uri\"\n    ]\n    ports: [1]\n");
        let cmd = n
            .get("svc")
            .and_then(|s| s.get("command"))
            .and_then(Node::as_seq)
            .map(Vec::len);
        assert_eq!(cmd, Some(2));
    }

    #[test]
    fn billion_laughs_is_refused() {
        let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            doc.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n", p = i - 1));
        }
        assert!(parse(&doc, &Arc::from("t.yaml")).is_err());
    }
}
