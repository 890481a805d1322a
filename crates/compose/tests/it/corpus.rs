//! Every YAML file of the corpus loads, or fails with a located error where it is
//! meant to fail (issue #2). Never a panic.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hb_compose::{load, Error};

use crate::support::{corpus, options};

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("readable")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            yaml_files(&p, out);
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")) {
            out.push(p);
        }
    }
}

/// `path<TAB>expected substring of the error`, one per line.
fn expected_failures() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(corpus().join("expected-failures.txt"))
        .expect("expected-failures.txt");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (p, why) = l.split_once('\t').unwrap_or((l, ""));
            (p.to_string(), why.to_string())
        })
        .collect()
}

#[test]
fn every_corpus_file_loads_or_fails_located() {
    let root = corpus();
    let mut files = Vec::new();
    yaml_files(&root, &mut files);
    assert!(
        files.len() > 300,
        "the corpus is missing: {} files",
        files.len()
    );
    let expected = expected_failures();
    let mut problems = Vec::new();
    let mut seen_failures = 0;
    for f in &files {
        let rel = f
            .strip_prefix(&root)
            .expect("inside")
            .to_string_lossy()
            .into_owned();
        let dir = f.parent().expect("has a parent");
        let name = f
            .file_name()
            .expect("a file")
            .to_string_lossy()
            .into_owned();
        let result = load(&options(dir, &[&name], &[]));
        match (result, expected.get(&rel)) {
            (Ok(_), None) => {}
            (Ok(_), Some(_)) => problems.push(format!("{rel}: loaded, but is listed as failing")),
            (Err(e), Some(why)) => {
                seen_failures += 1;
                let text = e.to_string();
                if !text.contains(why.as_str()) {
                    problems.push(format!(
                        "{rel}: expected an error containing {why:?}, got: {text}"
                    ));
                }
                if let Error::Invalid(diags) = &e {
                    for d in diags {
                        if d.span.line == 0 {
                            problems.push(format!("{rel}: diagnostic without a line: {d}"));
                        }
                    }
                }
            }
            (Err(e), None) => {
                problems.push(format!("{rel}\t{}", e.to_string().replace('\n', " | ")))
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert_eq!(
        seen_failures,
        expected.len(),
        "every listed failure is a corpus file"
    );
}

/// The multi-file sets of the corpus, layered as their projects document it.
#[test]
fn multi_file_sets_load() {
    let sets: &[(&str, &[&str], &[&str])] = &[
        (
            "real-world/opentelemetry-demo",
            &[
                "compose.yaml",
                "compose.full.yaml",
                "compose.observability.yaml",
            ],
            &[".env", ".env.override"],
        ),
        (
            "real-world/mattermost-docker",
            &["docker-compose.yml", "docker-compose.without-nginx.yml"],
            &["env.example"],
        ),
        (
            "real-world/netbox-docker",
            &["docker-compose.yml", "docker-compose.test.yml"],
            &[],
        ),
        (
            "real-world/docker-zulip",
            &["compose.yaml", "compose.override.yaml.example"],
            &[],
        ),
        (
            "compose-go/cli/testdata/simple",
            &["compose.yaml", "compose-with-overrides.yaml"],
            &[],
        ),
    ];
    for (dir, files, env_files) in sets {
        let mut opts = options(&corpus().join(dir), files, &[]);
        opts.env_files = env_files.iter().map(PathBuf::from).collect();
        if let Err(e) = load(&opts) {
            panic!("{dir}: {e}");
        }
    }
}
