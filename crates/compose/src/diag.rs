//! Diagnostics: every problem with its file, line, key path and, where it
//! helps, what to do about it.

use std::fmt;

use crate::yaml::Span;

/// One problem found in a compose project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where it is.
    pub span: Span,
    /// The key path, e.g. `services.web.ports[0]` (empty for the whole file).
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// What to do, e.g. "did you mean `environment`?".
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A diagnostic without a hint.
    pub fn new(span: &Span, path: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            span: span.clone(),
            path: path.into(),
            message: message.into(),
            hint: None,
        }
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.span)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        write!(f, "{}", self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

/// A key path built on the stack while walking a tree, rendered
/// (`services.web.ports[0]`) only when a problem is reported.
#[derive(Debug, Clone, Copy)]
pub enum KeyPath<'a> {
    /// The document.
    Root,
    /// A mapping key under a parent.
    Key(&'a KeyPath<'a>, &'a str),
    /// A sequence index under a parent.
    Index(&'a KeyPath<'a>, usize),
}

impl KeyPath<'_> {
    /// True for the document itself.
    pub fn is_root(&self) -> bool {
        matches!(self, KeyPath::Root)
    }

    /// True for `services.<name>`.
    pub fn is_service(&self) -> bool {
        matches!(
            self,
            KeyPath::Key(KeyPath::Key(KeyPath::Root, "services"), _)
        )
    }
}

impl fmt::Display for KeyPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyPath::Root => Ok(()),
            KeyPath::Key(parent, k) if parent.is_root() => write!(f, "{k}"),
            KeyPath::Key(parent, k) => write!(f, "{parent}.{k}"),
            KeyPath::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

impl From<&KeyPath<'_>> for String {
    fn from(p: &KeyPath<'_>) -> String {
        p.to_string()
    }
}

impl From<KeyPath<'_>> for String {
    fn from(p: KeyPath<'_>) -> String {
        p.to_string()
    }
}

/// Joins a key path: `services` + `web` → `services.web`.
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Appends an index: `ports` + 0 → `ports[0]`.
pub fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// The closest of `candidates` to `word`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_render_like_compose() {
        let root = KeyPath::Root;
        let services = KeyPath::Key(&root, "services");
        let web = KeyPath::Key(&services, "web");
        let ports = KeyPath::Key(&web, "ports");
        assert_eq!(
            KeyPath::Index(&ports, 0).to_string(),
            "services.web.ports[0]"
        );
        assert!(web.is_service() && !ports.is_service() && root.is_root());
    }

    #[test]
    fn suggests_close_keys_only() {
        let keys = ["environment", "entrypoint", "image", "ports"];
        assert_eq!(did_you_mean("enviroment", keys), Some("environment"));
        assert_eq!(did_you_mean("imgae", keys), Some("image"));
        assert_eq!(did_you_mean("zzz", keys), None);
    }
}
