//! `hb init`: write the detected project out as `compose.yaml`, for the user to own.

use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use crate::cli::InitArgs;
use crate::commands::print;
use crate::project::note;

pub fn run(a: &InitArgs) -> Result<ExitCode> {
    let dir = std::env::current_dir().context("cannot read the current directory")?;
    if let Some(existing) = hb_compose::FILE_NAMES
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.exists())
    {
        if !a.force && !a.dry_run {
            bail!(
                "{} already exists; `hb config` shows what it defines (pass --force to replace it)",
                existing.display()
            );
        }
    }
    let Some(d) = hb_detect::detect(&dir) else {
        bail!(
            "could not tell what kind of project {} is (no package.json, requirements.txt, go.mod, Cargo.toml, Gemfile, pom.xml, composer.json, Dockerfile or index.html); write a compose.yaml by hand (see docs/getting-started.md)",
            dir.display()
        );
    };
    if a.dry_run {
        print(&d.compose_yaml)?;
        return Ok(ExitCode::SUCCESS);
    }
    let path = dir.join("compose.yaml");
    std::fs::write(&path, &d.compose_yaml)
        .with_context(|| format!("cannot write {}", path.display()))?;
    note(&format!("detected a {} project:", d.kind));
    for r in &d.reasons {
        note(&format!("  - {r}"));
    }
    note(&format!(
        "wrote {}; review it, then run `hb up`",
        path.display()
    ));
    Ok(ExitCode::SUCCESS)
}
