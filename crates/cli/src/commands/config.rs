//! `hb config`: the normalized project, as `docker compose config` prints it.

use std::process::ExitCode;

use anyhow::{Context, Result};
use hb_compose::Project;
use serde_json::Value;

use crate::cli::{ConfigArgs, ConfigFormat, ProjectArgs};
use crate::commands::print;
use crate::project;

pub fn run(args: &ProjectArgs, a: &ConfigArgs) -> Result<ExitCode> {
    let loaded = project::load(args)?;
    let p = &loaded.project;
    if a.quiet {
        return Ok(ExitCode::SUCCESS);
    }
    let lines = |items: Vec<String>| items.into_iter().map(|s| s + "\n").collect::<String>();
    let text = if a.services {
        lines(p.services.keys().cloned().collect())
    } else if a.volumes {
        lines(p.volumes.keys().cloned().collect())
    } else if a.list_profiles {
        let mut all: Vec<String> = p
            .services
            .values()
            .chain(p.disabled.values())
            .flat_map(|s| s.profiles.clone())
            .collect();
        all.sort();
        all.dedup();
        lines(all)
    } else if a.images {
        lines(
            p.services
                .iter()
                .map(|(name, s)| image_of(p, name, s))
                .collect(),
        )
    } else {
        render(p, a.format)?
    };
    match &a.output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => print(&text)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The image a service runs: its `image`, else the name Compose gives a built one.
fn image_of(p: &Project, name: &str, s: &hb_compose::Service) -> String {
    s.image
        .clone()
        .unwrap_or_else(|| format!("{}-{name}", p.name))
}

/// The project as YAML or JSON, service keys in alphabetical order as Compose prints them.
pub fn render(p: &Project, format: ConfigFormat) -> Result<String> {
    let mut v = serde_json::to_value(p)?;
    if let Some(Value::Object(services)) = v.get_mut("services") {
        for svc in services.values_mut() {
            if let Value::Object(m) = svc {
                m.sort_keys();
            }
        }
    }
    Ok(match format {
        ConfigFormat::Json => serde_json::to_string_pretty(&v)? + "\n",
        ConfigFormat::Yaml => serde_yaml::to_string(&v)?,
    })
}
