//! `hb build`, and how builds show in `up`: one line per step, as
//! `docker compose build --progress plain` prints them.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use hb_engine::Event;

use crate::cli::{BuildArgs, Progress, ProjectArgs};
use crate::context;
use crate::project::note;

/// A build event as a line on standard error; RUN output only when `output`.
pub fn show(e: &Event, output: bool) {
    match e {
        Event::Building(svc) => note(&format!(" … building {svc}")),
        Event::Build { service, event } => match event {
            hb_build::Event::Step {
                stage,
                n,
                total,
                text,
                cached,
            } => note(&format!(
                "   {service} [{stage} {n}/{total}] {text}{}",
                if *cached { "  (cached)" } else { "" }
            )),
            hb_build::Event::Output { line, .. } if output => {
                note(&format!("   {service} | {line}"))
            }
            hb_build::Event::Output { .. } => {}
            hb_build::Event::Warning(w) => note(&format!("warning: {service}: {w}")),
        },
        Event::Built(b) => note(&format!(
            " ✔ {:<24} built in {:.0} ms ({} of {} steps cached) → {}",
            b.service,
            b.elapsed.as_secs_f64() * 1000.0,
            b.steps.1,
            b.steps.0,
            b.image.name
        )),
        _ => {}
    }
}

/// `--build-arg KEY=VALUE`, or `KEY` for this shell's value (left out when
/// unset, as Docker does).
pub fn build_args(flags: &[String]) -> BTreeMap<String, String> {
    flags
        .iter()
        .filter_map(|kv| match kv.split_once('=') {
            Some((k, v)) => Some((k.to_string(), v.to_string())),
            None => std::env::var(kv).ok().map(|v| (kv.clone(), v)),
        })
        .collect()
}

/// `hb build [SERVICE…]`.
pub fn run(pa: &ProjectArgs, a: &BuildArgs) -> Result<ExitCode> {
    let project = crate::project::load(pa)?.project;
    let args = build_args(&a.build_args);
    let opts = hb_engine::BuildOptions {
        no_cache: a.no_cache,
        pull: a.pull,
        args,
        cancel: None,
    };
    let progress = match (a.quiet, a.progress) {
        (true, _) | (_, Progress::Quiet) => None,
        (_, Progress::Plain) => Some(true),
        (_, Progress::Tty) => Some(false),
        (_, Progress::Auto) => Some(!std::io::stderr().is_terminal()),
    };
    let engine = context::engine()?;
    let started = Instant::now();
    let built = engine
        .build(&project, &a.services, &opts, &|e| {
            if let Some(output) = progress {
                show(&e, output);
            }
        })
        .with_context(|| format!("building {}", project.name.as_str()))?;
    if progress.is_some() && built.is_empty() {
        note("nothing to build: no service has `build:`");
    } else if progress.is_some() {
        note(&format!(
            "built {} image(s) in {:.0} ms",
            built.len(),
            started.elapsed().as_secs_f64() * 1000.0
        ));
    }
    Ok(ExitCode::SUCCESS)
}
