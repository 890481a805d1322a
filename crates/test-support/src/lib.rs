//! Test helpers shared by hb's crates (dev-only, never shipped):
//!
//! - [`privileged`]: the gate for tests that need root, the kernel and the
//!   fixture registries. Such tests are `#[ignore = "privileged: …"]`;
//!   `scripts/test.sh` runs them with `--include-ignored` and
//!   `HB_TEST_PRIVILEGED=require`, under which a missing prerequisite fails
//!   the test instead of letting it pass without checking anything.
//! - [`Registries`]: the registries `tests/fixtures/registry.sh` started.
//! - [`tree`]: snapshots of directory trees, to compare unpacked images.
//! - [`fake_registry`]: a registry on 127.0.0.1 that misbehaves on purpose.
//! - [`leaks::leaks`]: what a removed container or project left behind.
//! - [`net`]: a free port, an HTTP GET polled until it says something, a
//!   child killed with the test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

pub mod fake_registry;
pub mod leaks;
pub mod net;
pub mod tree;

/// True when a privileged test may run. Without its prerequisites it panics
/// under `HB_TEST_PRIVILEGED=require`, else returns false (the test then
/// returns early; it is `#[ignore]`d in plain `cargo test`).
pub fn privileged(needs: &[&str]) -> bool {
    let mut missing: Vec<String> = Vec::new();
    if !is_root() {
        missing.push("root".into());
    }
    for n in needs {
        let present = match *n {
            "registry" => Registries::from_env().is_some(),
            tool => which(tool),
        };
        if !present {
            missing.push((*n).to_string());
        }
    }
    if missing.is_empty() {
        return true;
    }
    if std::env::var("HB_TEST_PRIVILEGED").as_deref() == Ok("require") {
        panic!(
            "privileged test without its prerequisites: {} (scripts/test.sh sets them up)",
            missing.join(", ")
        );
    }
    eprintln!("skipping: needs {}", missing.join(", "));
    false
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// `name` (hb-shim, hb-proxy) beside the `hb` binary under test, which finds
/// them there. Panics, saying what to do, when it is missing: `cargo test -p
/// hb-cli` builds `hb` alone, and a container without its shim never starts.
pub fn companion(hb: &std::path::Path, name: &str) -> std::path::PathBuf {
    let p = hb.with_file_name(name);
    assert!(
        p.is_file(),
        "{} is missing: build the workspace first (`cargo build --workspace`; scripts/test.sh does)",
        p.display()
    );
    p
}

/// True if `tool` is on PATH.
pub fn which(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

/// The fixture registries (see `tests/fixtures/registry.sh`).
#[derive(Debug, Clone)]
pub struct Registries {
    /// Anonymous.
    pub anon: String,
    /// htpasswd basic auth.
    pub basic: String,
    /// Bearer tokens.
    pub token: String,
    /// The user the protected ones accept.
    pub user: String,
    /// Its password.
    pub password: String,
}

impl Registries {
    /// From the `HB_TEST_REGISTRY*` variables, if set.
    pub fn from_env() -> Option<Self> {
        let v = |k: &str| std::env::var(k).ok().filter(|s| !s.is_empty());
        Some(Registries {
            anon: v("HB_TEST_REGISTRY")?,
            basic: v("HB_TEST_REGISTRY_BASIC")?,
            token: v("HB_TEST_REGISTRY_TOKEN")?,
            user: v("HB_TEST_REGISTRY_USER")?,
            password: v("HB_TEST_REGISTRY_PASSWORD")?,
        })
    }
}

/// Runs `cmd` (its program, arguments, environment and directory) on a
/// terminal of its own — script(1) gives it one — feeding `input` as typed.
pub fn on_terminal(cmd: &std::process::Command, input: &str) -> std::process::Output {
    use std::io::Write;
    let quote = |s: &std::ffi::OsStr| format!("'{}'", s.to_string_lossy().replace('\'', r"'\''"));
    let line: Vec<String> = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(quote)
        .collect();
    let mut script = std::process::Command::new("script");
    script
        .args(["-qec", &line.join(" "), "/dev/null"])
        .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    if let Some(dir) = cmd.get_current_dir() {
        script.current_dir(dir);
    }
    let mut child = script.spawn().expect("script(1) runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("input");
    child.wait_with_output().expect("script ends")
}
