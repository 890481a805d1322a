//! `.env` and `env_file` parsing with the rules of compose-go's dotenv
//! package: `export` prefixes, single quotes literal (with `\'`), double
//! quotes with escapes, multi-line quoted values, inline comments, bare keys
//! inherited from the environment, and interpolation of `${...}` in unquoted
//! and double-quoted values.

use indexmap::IndexMap;

use crate::interpolate::{Interpolator, TemplateError};

/// A parse error with its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DotenvError {
    /// The line where the problem is.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Parses an env file.
///
/// `lookup` is consulted before the file's own earlier values when a value
/// refers to a variable (compose-go: "lookups prefer the OS env"), and for
/// bare `KEY` lines; a bare key it does not know is left out.
pub fn parse(
    source: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<IndexMap<String, String>, DotenvError> {
    parse_with_fallback(source, lookup, &|_| None)
}

/// Like [`parse`], with `fallback` consulted after the file's own earlier
/// values (a service's earlier `env_file`s).
pub fn parse_with_fallback(
    source: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    fallback: &dyn Fn(&str) -> Option<String>,
) -> Result<IndexMap<String, String>, DotenvError> {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let mut out: IndexMap<String, String> = IndexMap::new();
    let lines: Vec<&str> = source
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut i = 0;
    while i < lines.len() {
        let line_no = i + 1;
        let line = lines[i].trim_start();
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line
            .strip_prefix("export ")
            .map(str::trim_start)
            .unwrap_or(line);
        let Some(eq) = line.find('=') else {
            let key = line.trim();
            if key.contains(char::is_whitespace) {
                return Err(DotenvError {
                    line: line_no,
                    message: "key cannot contain a space".into(),
                });
            }
            if let Some(v) = lookup(key) {
                out.insert(key.to_string(), v);
            }
            continue;
        };
        let key = line[..eq].trim();
        if key.contains(char::is_whitespace) {
            return Err(DotenvError {
                line: line_no,
                message: "key cannot contain a space".into(),
            });
        }
        let valid_key = key
            .as_bytes()
            .first()
            .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_');
        let rest = line[eq + 1..].trim_start();
        let (value, interpolate) = match rest.as_bytes().first() {
            Some(q @ (b'\'' | b'"')) => {
                let quote = *q as char;
                // A quoted value may run over several lines.
                let mut text = rest[1..].to_string();
                let closed = loop {
                    if let Some(end) = closing_quote(&text, quote) {
                        break Some(end);
                    }
                    if i >= lines.len() {
                        break None;
                    }
                    text.push('\n');
                    text.push_str(lines[i]);
                    i += 1;
                };
                let Some(end) = closed else {
                    return Err(DotenvError {
                        line: line_no,
                        message: format!("unterminated quoted value for `{key}`"),
                    });
                };
                let raw = &text[..end];
                if quote == '\'' {
                    (raw.replace("\\'", "'"), false)
                } else {
                    (unescape_double(raw), true)
                }
            }
            _ => {
                // An unquoted value ends at an inline comment: a `#` after whitespace.
                let mut v = rest;
                if let Some(pos) = rest.find(" #").or_else(|| rest.find("\t#")) {
                    v = &rest[..pos];
                }
                (v.trim().to_string(), true)
            }
        };
        if !valid_key {
            continue;
        }
        let value = if interpolate && value.contains('$') {
            let earlier = out.clone();
            let f = |name: &str| {
                lookup(name)
                    .or_else(|| earlier.get(name).cloned())
                    .or_else(|| fallback(name))
            };
            let mut interp = Interpolator::new(&f);
            match interp.expand(&value) {
                Ok(v) => v,
                Err(TemplateError::Invalid(_)) => value,
                Err(TemplateError::Required { name, message }) => {
                    return Err(DotenvError {
                        line: line_no,
                        message: format!("required variable {name} is missing a value: {message}"),
                    })
                }
            }
        } else {
            value
        };
        out.insert(key.to_string(), value);
    }
    Ok(out)
}

fn closing_quote(text: &str, quote: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
        } else if c == quote {
            return Some(i);
        }
    }
    None
}

fn unescape_double(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some('$') => out.push_str("$$"),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<String> {
        None
    }

    fn get<'a>(m: &'a IndexMap<String, String>, k: &str) -> &'a str {
        m.get(k).map(String::as_str).unwrap_or("<absent>")
    }

    #[test]
    fn plain_trims_and_drops_comments() {
        let m = parse("OPTION_A=1\nOPTION_C= 3\nOPTION_E = 5\n456 = ABC\nOPTION_F = \nOPTION_H = my string # Inline comment\n", &none)
            .expect("parses");
        assert_eq!(get(&m, "OPTION_C"), "3");
        assert_eq!(get(&m, "OPTION_E"), "5");
        assert_eq!(get(&m, "OPTION_F"), "");
        assert_eq!(get(&m, "OPTION_H"), "my string");
        assert_eq!(m.len(), 5, "{m:?}");
    }

    #[test]
    fn quotes_escapes_and_multiline() {
        let src = "A='\\n'\nB=\"\\n\"\nC = \"echo 'asd'\" # c\nJ = 'first\nsecond'\nK='Let\\'s go!'\nexport U='x=1?y=2'\n";
        let m = parse(src, &none).expect("parses");
        assert_eq!(get(&m, "A"), "\\n");
        assert_eq!(get(&m, "B"), "\n");
        assert_eq!(get(&m, "C"), "echo 'asd'");
        assert_eq!(get(&m, "J"), "first\nsecond");
        assert_eq!(get(&m, "K"), "Let's go!");
        assert_eq!(get(&m, "U"), "x=1?y=2");
    }

    #[test]
    fn substitutions_prefer_the_environment() {
        let src = "OPTION_A=1\nOPTION_B=${OPTION_A}\nOPTION_C=$OPTION_B\nOPTION_D=${OPTION_A}_${OPTION_B}\nOPTION_E=${NOPE}\n";
        let m = parse(src, &none).expect("parses");
        assert_eq!(get(&m, "OPTION_D"), "1_1");
        assert_eq!(get(&m, "OPTION_E"), "");
        let os = |k: &str| (k == "OPTION_A").then(|| "5".to_string());
        let m = parse(src, &os).expect("parses");
        assert_eq!(get(&m, "OPTION_A"), "1");
        assert_eq!(get(&m, "OPTION_B"), "5");
        let m = parse("OPTION_A=${OPTION_A:-1}\n", &none).expect("parses");
        assert_eq!(get(&m, "OPTION_A"), "1");
    }

    #[test]
    fn bare_keys_inherit_or_vanish() {
        let os = |k: &str| (k == "HOME").then(|| "/root".to_string());
        let m = parse("HOME\nNOT_THERE\n", &os).expect("parses");
        assert_eq!(get(&m, "HOME"), "/root");
        assert!(!m.contains_key("NOT_THERE"));
    }

    #[test]
    fn invalid_line_is_reported_with_its_number() {
        let src = "# some comments\nfoo=\"\n  a\n  multine\n  value\n\"\nINVALID LINE\nzot=qix";
        let e = parse(src, &none).expect_err("invalid");
        assert_eq!(
            e,
            DotenvError {
                line: 7,
                message: "key cannot contain a space".into()
            }
        );
    }

    #[test]
    fn bom_dots_and_dashes() {
        let m = parse(
            "\u{feff}VAR.WITH.DOTS=dots\nVAR-WITH-DASHES=dashes\n",
            &none,
        )
        .expect("parses");
        assert_eq!(get(&m, "VAR.WITH.DOTS"), "dots");
        assert_eq!(get(&m, "VAR-WITH-DASHES"), "dashes");
    }
}
