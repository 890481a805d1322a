//! `.dockerignore` (docs.docker.com/build/concepts/context/#dockerignore-files),
//! with moby's `patternmatcher` rules: one pattern a line, `#` comments,
//! paths cleaned and taken relative to the context root, `*` and `?` within a
//! path component, `**` across any number of them, `!` re-including what an
//! earlier pattern excluded; the last pattern that matches decides. A pattern
//! that matches a directory excludes everything under it.

use globset::{GlobBuilder, GlobMatcher};

/// One pattern.
#[derive(Debug, Clone)]
struct Rule {
    glob: GlobMatcher,
    exception: bool,
}

/// A parsed `.dockerignore`.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    rules: Vec<Rule>,
}

/// Cleans a path as Go's `filepath.Clean` does, relative to the root: no
/// leading `/` or `./`, no `.` components, `..` folded (never above the root).
pub fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

impl Ignore {
    /// Parses the file's text; a pattern globset cannot read is an error naming its line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut rules = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exception, pattern) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let pattern = clean(pattern);
            if pattern.is_empty() {
                continue;
            }
            let glob = GlobBuilder::new(&pattern)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| format!(".dockerignore:{}: `{line}`: {e}", i + 1))?
                .compile_matcher();
            rules.push(Rule { glob, exception });
        }
        Ok(Ignore { rules })
    }

    /// True when `rel` (a cleaned path relative to the context) is excluded.
    pub fn excluded(&self, rel: &str) -> bool {
        let mut out = false;
        for r in &self.rules {
            // The path itself or any directory above it.
            let hit = std::iter::successors(Some(rel), |p| p.rsplit_once('/').map(|(a, _)| a))
                .any(|p| r.glob.is_match(p));
            if hit {
                out = !r.exception;
            }
        }
        out
    }

    /// True when some `!` pattern could re-include a path under an excluded
    /// directory, so the walk must still look inside it.
    pub fn has_exceptions(&self) -> bool {
        self.rules.iter().any(|r| r.exception)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_matching_pattern_decides() {
        let i = Ignore::parse(
            "# build output\n*.pyc\nnode_modules\n/secrets/*\n!secrets/public.txt\n**/tmp\n",
        )
        .expect("parses");
        assert!(i.excluded("a.pyc"));
        assert!(!i.excluded("pkg/a.pyc"), "`*` stays within one component");
        assert!(
            i.excluded("node_modules/x/y.js"),
            "a directory takes its content"
        );
        assert!(i.excluded("secrets/key"));
        assert!(!i.excluded("secrets/public.txt"));
        assert!(i.excluded("deep/down/tmp/f"));
        assert!(!i.excluded("app.py"));
        assert!(i.has_exceptions());
    }

    #[test]
    fn paths_are_cleaned() {
        assert_eq!(clean("./a//b/./c/"), "a/b/c");
        assert_eq!(clean("/a/../../b"), "b");
        let i = Ignore::parse("./build/\n").expect("parses");
        assert!(i.excluded("build/out.o"));
    }
}
