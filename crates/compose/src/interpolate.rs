//! Variable interpolation as the compose-spec defines it (`12-interpolation.md`):
//! `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`,
//! `${VAR?error}`, `${VAR:+replacement}`, `${VAR+replacement}`, nested
//! expressions in defaults and replacements, and `$$` for a literal `$`.
//!
//! As in compose-go, a `$` followed by anything else (`$(date)`, `$1`, a lone
//! `$`) is left as it is, and only a malformed `${...}` is an error.

use std::collections::BTreeSet;

/// Why a template could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// The text is not a valid template.
    Invalid(String),
    /// `${VAR:?message}` or `${VAR?message}` and the variable is unset (or empty).
    Required {
        /// The variable.
        name: String,
        /// The message from the template.
        message: String,
    },
}

/// Expands templates, remembering which variables were missing.
pub struct Interpolator<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    /// Variables referenced without a default while unset.
    pub missing: BTreeSet<String>,
}

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

impl<'a> Interpolator<'a> {
    /// An interpolator reading variables through `lookup`.
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Interpolator {
            lookup,
            missing: BTreeSet::new(),
        }
    }

    /// Expands every expression in `input`.
    pub fn expand(&mut self, input: &str) -> Result<String, TemplateError> {
        if !input.contains('$') {
            return Ok(input.to_string());
        }
        let b = input.as_bytes();
        let mut out = String::with_capacity(input.len());
        let mut i = 0;
        let mut literal_start = 0;
        while i < b.len() {
            if b[i] != b'$' {
                i += 1;
                continue;
            }
            out.push_str(&input[literal_start..i]);
            let next = b.get(i + 1).copied();
            match next {
                Some(b'$') => {
                    out.push('$');
                    i += 2;
                }
                Some(b'{') => {
                    let close = matching_brace(b, i + 1).ok_or_else(|| invalid(input))?;
                    let expr = &input[i + 2..close];
                    let value = self.braced(expr, input)?;
                    out.push_str(&value);
                    i = close + 1;
                }
                Some(c) if is_name_start(c) => {
                    let start = i + 1;
                    let mut end = start;
                    while end < b.len() && is_name_char(b[end]) {
                        end += 1;
                    }
                    let name = &input[start..end];
                    match (self.lookup)(name) {
                        Some(v) => out.push_str(&v),
                        None => {
                            self.missing.insert(name.to_string());
                        }
                    }
                    i = end;
                }
                _ => {
                    out.push('$');
                    i += 1;
                }
            }
            literal_start = i;
        }
        out.push_str(&input[literal_start..]);
        Ok(out)
    }

    fn braced(&mut self, expr: &str, whole: &str) -> Result<String, TemplateError> {
        let b = expr.as_bytes();
        if b.is_empty() || !is_name_start(b[0]) {
            return Err(invalid(whole));
        }
        let mut n = 1;
        while n < b.len() && is_name_char(b[n]) {
            n += 1;
        }
        let name = &expr[..n];
        let rest = &expr[n..];
        let value = (self.lookup)(name);
        if rest.is_empty() {
            return Ok(match value {
                Some(v) => v,
                None => {
                    self.missing.insert(name.to_string());
                    String::new()
                }
            });
        }
        let (colon, op, arg) = match rest.as_bytes() {
            [b':', op @ (b'-' | b'?' | b'+'), ..] => (true, *op, &rest[2..]),
            [op @ (b'-' | b'?' | b'+'), ..] => (false, *op, &rest[1..]),
            _ => return Err(invalid(whole)),
        };
        // With a colon, an empty value counts as unset.
        let set = match &value {
            Some(v) => !(colon && v.is_empty()),
            None => false,
        };
        match op {
            b'-' => {
                if set {
                    Ok(value.unwrap_or_default())
                } else {
                    self.expand(arg)
                }
            }
            b'+' => {
                if set {
                    self.expand(arg)
                } else {
                    Ok(String::new())
                }
            }
            _ => {
                if set {
                    Ok(value.unwrap_or_default())
                } else {
                    let message = self.expand(arg)?;
                    Err(TemplateError::Required {
                        name: name.to_string(),
                        message,
                    })
                }
            }
        }
    }
}

fn invalid(whole: &str) -> TemplateError {
    TemplateError::Invalid(whole.to_string())
}

/// The index of the `}` closing the `{` at `open`, counting nested `${`.
fn matching_brace(b: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = open;
    while i < b.len() {
        match b[i] {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn run(input: &str) -> Result<String, TemplateError> {
        let env: HashMap<&str, &str> = [("SET", "value"), ("EMPTY", ""), ("PORT", "8080")]
            .into_iter()
            .collect();
        let lookup = move |k: &str| env.get(k).map(|v| v.to_string());
        Interpolator::new(&lookup).expand(input)
    }

    #[test]
    fn each_form() {
        let ok = |i: &str| run(i).expect("expands");
        assert_eq!(ok("$SET"), "value");
        assert_eq!(ok("${SET}"), "value");
        assert_eq!(ok("a-${SET}-b"), "a-value-b");
        assert_eq!(ok("${UNSET}"), "");
        assert_eq!(ok("${UNSET:-def}"), "def");
        assert_eq!(ok("${EMPTY:-def}"), "def");
        assert_eq!(ok("${EMPTY-def}"), "");
        assert_eq!(ok("${UNSET-def}"), "def");
        assert_eq!(ok("${SET:+rep}"), "rep");
        assert_eq!(ok("${EMPTY:+rep}"), "");
        assert_eq!(ok("${EMPTY+rep}"), "rep");
        assert_eq!(ok("${UNSET+rep}"), "");
        assert_eq!(ok("$$SET"), "$SET");
        assert_eq!(ok("$${SET}"), "${SET}");
        assert_eq!(ok("${UNSET:-${PORT}}"), "8080");
        assert_eq!(ok("${UNSET:-${ALSO:-x${SET}y}}"), "xvaluey");
        assert_eq!(ok("${UNSET:-a b:c}"), "a b:c");
        assert_eq!(ok("no dollars"), "no dollars");
    }

    #[test]
    fn required_forms() {
        assert_eq!(run("${SET:?boom}"), Ok("value".into()));
        assert_eq!(run("${EMPTY?boom}"), Ok("".into()));
        assert_eq!(
            run("${EMPTY:?need it}"),
            Err(TemplateError::Required {
                name: "EMPTY".into(),
                message: "need it".into()
            })
        );
        assert_eq!(
            run("${UNSET?need ${SET}}"),
            Err(TemplateError::Required {
                name: "UNSET".into(),
                message: "need value".into()
            })
        );
    }

    #[test]
    fn a_dollar_without_a_name_is_literal() {
        for lit in ["$1", "a $", "$ x", "echo $(date)", "100$"] {
            assert_eq!(run(lit).as_deref(), Ok(lit), "{lit}");
        }
    }

    #[test]
    fn invalid_templates() {
        for bad in ["${", "${SET", "${}", "${1A}", "${SET:x}", "a ${ b"] {
            assert!(matches!(run(bad), Err(TemplateError::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn missing_variables_are_recorded_once() {
        let lookup = |_: &str| None;
        let mut i = Interpolator::new(&lookup);
        i.expand("$A ${A} ${B:-x} ${C-}").expect("ok");
        assert_eq!(
            i.missing.iter().cloned().collect::<Vec<_>>(),
            vec!["A".to_string()]
        );
    }
}
