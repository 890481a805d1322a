//! Loading the project a command works on: the compose files, or — when
//! there are none — what `hb-detect` recognises in the directory.

use std::io::Read;

use anyhow::{Context, Result};
use hb_compose::{Loaded, Options};

use crate::cli::ProjectArgs;

/// Turns the global flags and the process environment into loader options.
pub fn options(args: &ProjectArgs) -> Result<Options> {
    let working_dir = std::env::current_dir().context("cannot read the current directory")?;
    let stdin = if args.files.iter().any(|f| f.as_os_str() == "-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read the compose file from standard input")?;
        Some(s)
    } else {
        None
    };
    Ok(Options {
        working_dir,
        files: args.files.clone(),
        stdin,
        project_directory: args.project_directory.clone(),
        project_name: args.project_name.clone(),
        env_files: args.env_files.clone(),
        profiles: args.profiles.clone(),
        services: Vec::new(),
        environment: std::env::vars().collect(),
        skip_consistency: false,
        remote_loaders: Vec::new(),
    })
}

/// Loads the project, falling back to detection when no compose file exists.
/// Warnings go to standard error.
pub fn load(args: &ProjectArgs) -> Result<Loaded> {
    let opts = options(args)?;
    let loaded = match hb_compose::load(&opts) {
        Err(hb_compose::Error::NoComposeFile { dir }) if args.files.is_empty() => {
            let Some(d) = hb_detect::detect(&dir) else {
                anyhow::bail!(
                    "no compose file found in {} or any parent directory, and no known project type was recognised there; write a compose.yaml (see docs/getting-started.md)",
                    dir.display()
                );
            };
            note(&format!("no compose file: detected a {} project ({}); `hb init` writes it out as compose.yaml", d.kind, d.reasons.join("; ")));
            let detected = Options {
                files: vec!["-".into()],
                stdin: Some(d.compose_yaml),
                project_directory: Some(dir),
                ..opts
            };
            hb_compose::load(&detected)?
        }
        other => other?,
    };
    for w in &loaded.warnings {
        note(&format!("warning: {w}"));
    }
    Ok(loaded)
}

/// A line for the user on standard error.
pub fn note(msg: &str) {
    #[allow(clippy::print_stderr)]
    {
        eprintln!("{msg}");
    }
}
