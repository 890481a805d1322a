//! Dockerfile parsing (the Dockerfile reference, docs.docker.com/reference/dockerfile),
//! the first piece of image builds (#7): text → instructions, each with its
//! line, every error with a line and a column. Pure: no files, no environment;
//! variables are expanded later, per build stage, with [`expand`].
//!
//! Handled: parser directives (`# syntax=` is noted and ignored, `# escape=`),
//! comments (also inside continuations), line continuations, heredocs
//! (`RUN <<EOF`, `<<-EOF`, quoted delimiters, several in one line), exec (JSON)
//! and shell forms, and the flags of FROM, RUN, COPY, ADD and HEALTHCHECK.
//! `ONBUILD` is refused with a message: hb builds do not run triggers.

use std::collections::BTreeMap;

/// A parse error: where and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Dockerfile:{line}:{col}: {message}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What is wrong and what to write instead.
    pub message: String,
}

/// A command in shell form (run by the stage's `SHELL`) or exec form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `RUN echo hi`: one string for the shell.
    Shell(String),
    /// `RUN ["echo", "hi"]`.
    Exec(Vec<String>),
}

/// One instruction, as written (variables not yet expanded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    /// `FROM [--platform=P] IMAGE [AS NAME]`.
    From {
        /// The image or an earlier stage.
        image: String,
        /// `AS name`.
        alias: Option<String>,
        /// `--platform`.
        platform: Option<String>,
    },
    /// `ARG NAME[=DEFAULT]`.
    Arg {
        /// The name.
        name: String,
        /// Its default.
        default: Option<String>,
    },
    /// `ENV K=V …` (or the legacy `ENV K V`).
    Env(Vec<(String, String)>),
    /// `LABEL K=V …`.
    Label(Vec<(String, String)>),
    /// `RUN [--mount=…] CMD`; heredoc bodies are part of the shell command.
    Run {
        /// The command.
        command: Command,
        /// `--mount=type=cache,target=/x,…` and other `--flag=value`s.
        flags: Vec<(String, String)>,
    },
    /// `COPY`/`ADD [--from=][--chown=][--chmod=] SRC… DEST`.
    Copy {
        /// `ADD` (local tar archives are unpacked) rather than `COPY`.
        add: bool,
        /// Sources (relative to the context, or to `--from`'s root).
        sources: Vec<String>,
        /// Destination.
        dest: String,
        /// `--from`, `--chown`, `--chmod`, `--link`, …
        flags: Vec<(String, String)>,
        /// Inline files from heredocs: (name, content).
        inline: Vec<(String, String)>,
    },
    /// `WORKDIR PATH`.
    Workdir(String),
    /// `USER NAME[:GROUP]`.
    User(String),
    /// `EXPOSE PORT[/PROTO] …`.
    Expose(Vec<String>),
    /// `VOLUME PATH …` or JSON.
    Volume(Vec<String>),
    /// `CMD`.
    Cmd(Command),
    /// `ENTRYPOINT`.
    Entrypoint(Command),
    /// `SHELL ["sh", "-c"]`.
    Shell(Vec<String>),
    /// `STOPSIGNAL SIG`.
    StopSignal(String),
    /// `HEALTHCHECK [--interval=…] CMD …` or `HEALTHCHECK NONE` (`None`).
    Healthcheck {
        /// The test, or `None` for `NONE`.
        command: Option<Command>,
        /// `--interval`, `--timeout`, `--start-period`, `--start-interval`, `--retries`.
        flags: Vec<(String, String)>,
    },
}

/// An instruction and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// 1-based line of its keyword.
    pub line: usize,
    /// The instruction.
    pub instruction: Instruction,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dockerfile {
    /// The escape character (`\\` unless `# escape=` says otherwise).
    pub escape: char,
    /// Instructions in order (ARGs before the first FROM included).
    pub instructions: Vec<Located>,
}

/// One logical line: its first physical line, text and heredoc bodies.
struct Logical {
    line: usize,
    text: String,
    heredocs: Vec<(String, String)>,
}

fn err(line: usize, col: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        line,
        col,
        message: message.into(),
    }
}

/// Parses a Dockerfile.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut escape = '\\';
    // Parser directives: only at the very top, before any comment or instruction.
    let mut first = 0;
    for (i, l) in lines.iter().enumerate() {
        let Some(d) = l.trim().strip_prefix('#') else {
            break;
        };
        let Some((k, v)) = d.split_once('=') else {
            break;
        };
        match k.trim().to_ascii_lowercase().as_str() {
            "escape" => match v.trim() {
                "\\" => escape = '\\',
                "`" => escape = '`',
                other => {
                    return Err(err(
                        i + 1,
                        1,
                        format!("escape must be \\ or `, not {other:?}"),
                    ))
                }
            },
            "syntax" | "check" => {}
            _ => break,
        }
        first = i + 1;
    }
    let logical = join_lines(&lines[first..], first, escape)?;
    let mut out = Vec::new();
    for l in logical {
        let trimmed = l.text.trim_start();
        let (keyword, rest) = trimmed
            .split_once(char::is_whitespace)
            .unwrap_or((trimmed, ""));
        let rest = rest.trim();
        let col = l.text.len() - trimmed.len() + 1;
        let instruction = instruction(&keyword.to_ascii_uppercase(), rest, &l, col)?;
        out.push(Located {
            line: l.line,
            instruction,
        });
    }
    if !out
        .iter()
        .any(|l| matches!(l.instruction, Instruction::From { .. }))
    {
        return Err(err(
            1,
            1,
            "no FROM: a Dockerfile starts from an image (FROM debian:12) or from scratch",
        ));
    }
    if let Some(bad) = out
        .iter()
        .take_while(|l| !matches!(l.instruction, Instruction::From { .. }))
        .find(|l| !matches!(l.instruction, Instruction::Arg { .. }))
    {
        return Err(err(bad.line, 1, "only ARG may come before the first FROM"));
    }
    Ok(Dockerfile {
        escape,
        instructions: out,
    })
}

/// Joins continuation lines, drops comments and blank lines, and reads heredoc bodies.
fn join_lines(lines: &[&str], offset: usize, escape: char) -> Result<Vec<Logical>, ParseError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let start = i;
        let l = lines[i];
        i += 1;
        if l.trim().is_empty() || l.trim_start().starts_with('#') {
            continue;
        }
        let mut text = String::new();
        let mut cur = l;
        loop {
            let t = cur.trim_end();
            if let Some(body) = t.strip_suffix(escape) {
                text.push_str(body);
                // The next non-comment line continues this one.
                loop {
                    if i >= lines.len() {
                        // A continuation at the end of the file ends the line.
                        out.push(Logical {
                            line: start + offset + 1,
                            text,
                            heredocs: Vec::new(),
                        });
                        return Ok(out);
                    }
                    let next = lines[i];
                    i += 1;
                    if next.trim_start().starts_with('#') || next.trim().is_empty() {
                        continue;
                    }
                    cur = next;
                    break;
                }
            } else {
                text.push_str(cur);
                break;
            }
        }
        // Heredocs: `<<EOF`, `<<-EOF`, `<<"EOF"`; bodies follow in order.
        let mut heredocs = Vec::new();
        for (name, strip) in heredoc_names(&text) {
            let mut body = String::new();
            let mut closed = false;
            while i < lines.len() {
                let b = lines[i];
                i += 1;
                let candidate = if strip { b.trim_start_matches('\t') } else { b };
                if candidate == name {
                    closed = true;
                    break;
                }
                body.push_str(candidate);
                body.push('\n');
            }
            if !closed {
                return Err(err(
                    start + offset + 1,
                    1,
                    format!(
                        "heredoc <<{name} is not closed: end it with a line holding only {name}"
                    ),
                ));
            }
            heredocs.push((name, body));
        }
        out.push(Logical {
            line: start + offset + 1,
            text,
            heredocs,
        });
    }
    Ok(out)
}

/// The heredoc delimiters a line opens, with whether `<<-` strips leading tabs.
fn heredoc_names(text: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("<<") {
        let after = &rest[at + 2..];
        let (strip, after) = match after.strip_prefix('-') {
            Some(a) => (true, a),
            None => (false, after),
        };
        let name: String = after
            .trim_start_matches(['"', '\''])
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty()
            && name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        {
            out.push((name, strip));
        }
        rest = &rest[at + 2..];
    }
    out
}

/// `--flag=value` words at the start of `rest`, and what follows them.
fn flags(rest: &str) -> (Vec<(String, String)>, &str) {
    let mut out = Vec::new();
    let mut r = rest.trim_start();
    while let Some(f) = r.strip_prefix("--") {
        let end = f.find(char::is_whitespace).unwrap_or(f.len());
        let word = &f[..end];
        let (k, v) = word.split_once('=').unwrap_or((word, "true"));
        out.push((k.to_string(), v.to_string()));
        r = f[end..].trim_start();
    }
    (out, r)
}

/// A JSON array of strings (exec form), if `rest` is one.
fn json_array(rest: &str) -> Option<Vec<String>> {
    let t = rest.trim();
    if !t.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(t).ok()
}

fn command(rest: &str) -> Command {
    match json_array(rest) {
        Some(a) => Command::Exec(a),
        None => Command::Shell(rest.to_string()),
    }
}

/// `K=V K2="v 2"` pairs (quotes removed).
fn pairs(
    rest: &str,
    l: &Logical,
    col: usize,
    what: &str,
) -> Result<Vec<(String, String)>, ParseError> {
    let words = shell_words(rest);
    let mut out = Vec::new();
    for w in &words {
        match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => out.push((k.to_string(), v.to_string())),
            _ => {
                return Err(err(
                    l.line,
                    col,
                    format!("{what} {w:?}: write it as KEY=VALUE"),
                ))
            }
        }
    }
    Ok(out)
}

/// Words split at whitespace, with single and double quotes grouping and removed.
fn shell_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                any = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (_, c) => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

fn instruction(
    keyword: &str,
    rest: &str,
    l: &Logical,
    col: usize,
) -> Result<Instruction, ParseError> {
    let need = |what: &str| -> Result<(), ParseError> {
        if rest.is_empty() {
            Err(err(l.line, col, format!("{keyword} needs {what}")))
        } else {
            Ok(())
        }
    };
    Ok(match keyword {
        "FROM" => {
            let (f, r) = flags(rest);
            let words: Vec<&str> = r.split_whitespace().collect();
            let (image, alias) = match words.as_slice() {
                [image] => (image.to_string(), None),
                [image, as_, name] if as_.eq_ignore_ascii_case("as") => (image.to_string(), Some(name.to_lowercase())),
                _ => return Err(err(l.line, col, "FROM takes IMAGE [AS NAME]")),
            };
            Instruction::From {
                image,
                alias,
                platform: f.into_iter().find(|(k, _)| k == "platform").map(|(_, v)| v),
            }
        }
        "ARG" => {
            need("a name")?;
            let (name, default) = match rest.split_once('=') {
                Some((n, d)) => (n.trim().to_string(), Some(shell_words(d).join(" "))),
                None => (rest.trim().to_string(), None),
            };
            Instruction::Arg { name, default }
        }
        "ENV" => {
            need("KEY=VALUE")?;
            if rest.split_whitespace().next().is_some_and(|w| w.contains('=')) {
                Instruction::Env(pairs(rest, l, col, "ENV")?)
            } else {
                // The legacy form: `ENV KEY value with spaces`.
                let (k, v) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                Instruction::Env(vec![(k.to_string(), v.trim().to_string())])
            }
        }
        "LABEL" => {
            need("KEY=VALUE")?;
            Instruction::Label(pairs(rest, l, col, "LABEL")?)
        }
        "RUN" => {
            need("a command")?;
            let (f, r) = flags(rest);
            // `RUN <<EOF` alone runs the body as a script; `RUN python3 <<EOF`
            // gives the shell the whole here-document, delimiters included.
            let only_markers = r.split_whitespace().all(|w| w.starts_with("<<"));
            let command = match l.heredocs.first() {
                None => command(r),
                Some((_, body)) if only_markers => Command::Shell(body.clone()),
                Some(_) => {
                    let mut shell = r.to_string();
                    for (delim, body) in &l.heredocs {
                        shell.push('\n');
                        shell.push_str(body);
                        shell.push_str(delim);
                    }
                    Command::Shell(shell)
                }
            };
            Instruction::Run { command, flags: f }
        }
        "COPY" | "ADD" => {
            let (f, r) = flags(rest);
            let mut words = json_array(r).unwrap_or_else(|| shell_words(r));
            let inline: Vec<(String, String)> = l.heredocs.clone();
            // `COPY <<EOF /dest`: the heredoc marker names an inline file.
            words.retain(|w| !w.starts_with("<<"));
            let min = if inline.is_empty() { 2 } else { 1 };
            if words.len() < min {
                return Err(err(l.line, col, format!("{keyword} takes SOURCE… DESTINATION")));
            }
            let dest = words.pop().unwrap_or_default();
            Instruction::Copy {
                add: keyword == "ADD",
                sources: words,
                dest,
                flags: f,
                inline,
            }
        }
        "WORKDIR" => {
            need("a path")?;
            Instruction::Workdir(rest.to_string())
        }
        "USER" => {
            need("a user")?;
            Instruction::User(rest.to_string())
        }
        "EXPOSE" => {
            need("a port")?;
            Instruction::Expose(rest.split_whitespace().map(str::to_string).collect())
        }
        "VOLUME" => {
            need("a path")?;
            Instruction::Volume(json_array(rest).unwrap_or_else(|| rest.split_whitespace().map(str::to_string).collect()))
        }
        "CMD" => Instruction::Cmd(command(rest)),
        "ENTRYPOINT" => Instruction::Entrypoint(command(rest)),
        "SHELL" => match json_array(rest) {
            Some(a) if !a.is_empty() => Instruction::Shell(a),
            _ => return Err(err(l.line, col, "SHELL takes a JSON array: SHELL [\"/bin/bash\", \"-c\"]")),
        },
        "STOPSIGNAL" => {
            need("a signal")?;
            Instruction::StopSignal(rest.to_string())
        }
        "HEALTHCHECK" => {
            let (f, r) = flags(rest);
            let (kind, cmd) = r.split_once(char::is_whitespace).unwrap_or((r, ""));
            match kind.to_ascii_uppercase().as_str() {
                "NONE" => Instruction::Healthcheck { command: None, flags: f },
                "CMD" if !cmd.trim().is_empty() => Instruction::Healthcheck {
                    command: Some(command(cmd.trim())),
                    flags: f,
                },
                _ => return Err(err(l.line, col, "HEALTHCHECK takes [OPTIONS] CMD command, or NONE")),
            }
        }
        "ONBUILD" => return Err(err(l.line, col, "ONBUILD is not supported: hb builds do not run triggers; move the instruction into the Dockerfile that uses this image")),
        "MAINTAINER" => Instruction::Label(vec![("maintainer".into(), rest.to_string())]),
        other => {
            return Err(err(
                l.line,
                col,
                format!("unknown instruction {other}: Dockerfiles know FROM, ARG, ENV, RUN, COPY, ADD, WORKDIR, USER, EXPOSE, VOLUME, LABEL, CMD, ENTRYPOINT, SHELL, STOPSIGNAL, HEALTHCHECK"),
            ))
        }
    })
}

/// Expands `$VAR`, `${VAR}`, `${VAR:-default}` and `${VAR:+alternate}` with
/// `vars` (unset: empty), as the builder does in FROM, ENV, ADD, COPY,
/// WORKDIR, USER, EXPOSE, VOLUME, LABEL, STOPSIGNAL and ARG. `\\$` stays a `$`.
pub fn expand(s: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && chars.get(i + 1) == Some(&'$') {
            out.push('$');
            i += 2;
            continue;
        }
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        if chars.get(i + 1) == Some(&'{') {
            let Some(close) = chars[i + 2..].iter().position(|c| *c == '}') else {
                out.push(c);
                i += 1;
                continue;
            };
            let inner: String = chars[i + 2..i + 2 + close].iter().collect();
            let value = match inner.split_once(":-") {
                Some((k, d)) => vars
                    .get(k)
                    .filter(|v| !v.is_empty())
                    .cloned()
                    .unwrap_or_else(|| d.to_string()),
                None => match inner.split_once(":+") {
                    Some((k, a)) => {
                        if vars.get(k).is_some_and(|v| !v.is_empty()) {
                            a.to_string()
                        } else {
                            String::new()
                        }
                    }
                    None => vars.get(&inner).cloned().unwrap_or_default(),
                },
            };
            out.push_str(&value);
            i += close + 3;
        } else {
            let name: String = chars[i + 1..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                .collect();
            if name.is_empty() {
                out.push(c);
                i += 1;
            } else {
                out.push_str(vars.get(&name).map(String::as_str).unwrap_or(""));
                i += 1 + name.chars().count();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(text: &str) -> Vec<Instruction> {
        parse(text)
            .expect("parses")
            .instructions
            .into_iter()
            .map(|l| l.instruction)
            .collect()
    }

    #[test]
    fn every_instruction_and_form() {
        let df = "# syntax=docker/dockerfile:1\n\
ARG BASE=debian:12\n\
FROM --platform=linux/amd64 ${BASE} AS build\n\
ENV A=1 B=\"two words\"\n\
ENV LEGACY value with spaces\n\
RUN --mount=type=cache,target=/root/.cache apt-get update && \\\n    # a comment in a continuation\n    apt-get install -y curl\n\
RUN [\"echo\", \"exec form\"]\n\
COPY --from=build --chown=1000:1000 --chmod=0644 a.txt b/ /dest/\n\
ADD [\"src dir\", \"/app\"]\n\
WORKDIR /app\n\
USER app:app\n\
EXPOSE 8000 53/udp\n\
VOLUME [\"/data\"]\n\
LABEL org.example.a=\"x y\" b=c\n\
SHELL [\"/bin/bash\", \"-c\"]\n\
HEALTHCHECK --interval=5s --retries=3 CMD curl -f http://localhost/ || exit 1\n\
STOPSIGNAL SIGINT\n\
CMD [\"serve\"]\n\
ENTRYPOINT /entry.sh\n";
        let i = only(df);
        assert_eq!(i.len(), 18);
        assert_eq!(
            i[0],
            Instruction::Arg {
                name: "BASE".into(),
                default: Some("debian:12".into())
            }
        );
        assert_eq!(
            i[1],
            Instruction::From {
                image: "${BASE}".into(),
                alias: Some("build".into()),
                platform: Some("linux/amd64".into())
            }
        );
        assert_eq!(
            i[2],
            Instruction::Env(vec![
                ("A".into(), "1".into()),
                ("B".into(), "two words".into())
            ])
        );
        assert_eq!(
            i[3],
            Instruction::Env(vec![("LEGACY".into(), "value with spaces".into())])
        );
        match &i[4] {
            Instruction::Run {
                command: Command::Shell(s),
                flags,
            } => {
                assert_eq!(
                    flags,
                    &[(
                        "mount".to_string(),
                        "type=cache,target=/root/.cache".to_string()
                    )]
                );
                assert!(
                    s.contains("apt-get update &&")
                        && s.contains("apt-get install -y curl")
                        && !s.contains("comment"),
                    "{s}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            i[5],
            Instruction::Run {
                command: Command::Exec(vec!["echo".into(), "exec form".into()]),
                flags: vec![]
            }
        );
        match &i[6] {
            Instruction::Copy {
                add: false,
                sources,
                dest,
                flags,
                ..
            } => {
                assert_eq!(
                    (sources.as_slice(), dest.as_str()),
                    (&["a.txt".to_string(), "b/".to_string()][..], "/dest/")
                );
                assert_eq!(flags.len(), 3);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(&i[7], Instruction::Copy { add: true, sources, .. } if sources == &["src dir".to_string()])
        );
        assert_eq!(
            i[10],
            Instruction::Expose(vec!["8000".into(), "53/udp".into()])
        );
        assert_eq!(
            i[12],
            Instruction::Label(vec![
                ("org.example.a".into(), "x y".into()),
                ("b".into(), "c".into())
            ])
        );
        assert!(
            matches!(&i[14], Instruction::Healthcheck { command: Some(Command::Shell(s)), flags } if s.starts_with("curl") && flags.len() == 2)
        );
        assert_eq!(
            i[17],
            Instruction::Entrypoint(Command::Shell("/entry.sh".into()))
        );
    }

    #[test]
    fn heredocs_escape_directive_and_lines() {
        let df = "# escape=`\nFROM scratch\nRUN <<EOF\necho one\necho two\nEOF\nCOPY <<-CONF /etc/app.conf\n\tkey=value\n\tCONF\nRUN echo `\n  continued\n";
        let d = parse(df).expect("parses");
        assert_eq!(d.escape, '`');
        let lines: Vec<usize> = d.instructions.iter().map(|l| l.line).collect();
        assert_eq!(lines, [2, 3, 7, 10]);
        assert!(
            matches!(&d.instructions[1].instruction, Instruction::Run { command: Command::Shell(s), .. } if s.ends_with("echo one\necho two\n"))
        );
        assert!(
            matches!(&d.instructions[2].instruction, Instruction::Copy { inline, dest, .. } if inline == &[("CONF".to_string(), "key=value\n".to_string())] && dest == "/etc/app.conf")
        );
        assert!(
            matches!(&d.instructions[3].instruction, Instruction::Run { command: Command::Shell(s), .. } if s.contains("echo") && s.contains("continued"))
        );
    }

    #[test]
    fn errors_say_where_and_what() {
        let e = parse("FROM a\nFOO bar\n").expect_err("unknown");
        assert_eq!((e.line, e.col), (2, 1));
        assert!(e.message.contains("unknown instruction FOO"), "{e}");
        let e = parse("FROM a\n  ONBUILD RUN x\n").expect_err("onbuild");
        assert_eq!((e.line, e.col), (2, 3));
        assert!(
            e.to_string()
                .starts_with("Dockerfile:2:3: ONBUILD is not supported"),
            "{e}"
        );
        assert!(parse("RUN x\n")
            .expect_err("no from")
            .message
            .contains("no FROM"));
        assert!(parse("ENV A=1\nFROM x\n")
            .expect_err("env first")
            .message
            .contains("only ARG"));
        assert!(parse("FROM x\nRUN <<EOF\nnever closed\n")
            .expect_err("heredoc")
            .message
            .contains("not closed"));
        assert!(parse("FROM x\nSHELL sh -c\n")
            .expect_err("shell")
            .message
            .contains("JSON array"));
        assert!(parse("FROM x\nCOPY onlyone\n")
            .expect_err("copy")
            .message
            .contains("SOURCE"));
    }

    #[test]
    fn variables_expand_as_the_builder_does() {
        let vars: BTreeMap<String, String> = [
            ("A".to_string(), "x".to_string()),
            ("E".to_string(), String::new()),
        ]
        .into();
        assert_eq!(
            expand("$A-${A}-${B:-def}-${A:+alt}-${E:-empty}-\\$A-$", &vars),
            "x-x-def-alt-empty-$A-$"
        );
    }
}
