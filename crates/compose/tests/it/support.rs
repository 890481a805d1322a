//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

use hb_compose::{load, Loaded, Options, Result};
use indexmap::IndexMap;

/// The directory holding the copied corpus.
pub fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// Options for loading `files` from `dir` with a fixed environment.
pub fn options(dir: &Path, files: &[&str], env: &[(&str, &str)]) -> Options {
    let mut environment: IndexMap<String, String> = IndexMap::new();
    environment.insert("HOME".into(), "/home/test".into());
    for (k, v) in env {
        environment.insert((*k).into(), (*v).into());
    }
    Options {
        working_dir: dir.to_path_buf(),
        files: files.iter().map(PathBuf::from).collect(),
        environment,
        ..Default::default()
    }
}

/// Loads `files` from `dir` (relative to the corpus) with `env`.
pub fn load_in(dir: &str, files: &[&str], env: &[(&str, &str)]) -> Result<Loaded> {
    load(&options(&corpus().join(dir), files, env))
}

/// Loads and returns the project as JSON (what `hb config --format json` prints, before key sorting).
pub fn json_in(dir: &str, files: &[&str], env: &[(&str, &str)]) -> serde_json::Value {
    match load_in(dir, files, env) {
        Ok(l) => serde_json::to_value(&l.project).expect("serializes"),
        Err(e) => panic!("{dir} {files:?}: {e}"),
    }
}

/// The error text of a load that must fail.
pub fn error_in(dir: &str, files: &[&str], env: &[(&str, &str)]) -> String {
    match load_in(dir, files, env) {
        Ok(_) => panic!("{dir} {files:?} loaded, but should fail"),
        Err(e) => e.to_string(),
    }
}

/// The absolute path of a corpus entry, as the loader prints it.
pub fn corpus_path(rel: &str) -> String {
    corpus().join(rel).display().to_string()
}

/// The first service of a project (as JSON) that has `key`.
pub fn service_with(project: &serde_json::Value, key: &str) -> serde_json::Value {
    project["services"]
        .as_object()
        .and_then(|m| m.values().find(|s| s.get(key).is_some()))
        .cloned()
        .unwrap_or_else(|| panic!("no service has `{key}`"))
}
