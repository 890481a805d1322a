//! `hb graph`: the start order of the services.

use std::process::ExitCode;

use anyhow::Result;
use hb_plan::Graph;

use crate::cli::{GraphArgs, GraphFormat, ProjectArgs};
use crate::commands::print;
use crate::project;

pub fn run(args: &ProjectArgs, a: &GraphArgs) -> Result<ExitCode> {
    let loaded = project::load(args)?;
    let g = Graph::new(&loaded.project)?;
    let text = match a.format {
        GraphFormat::Text => g.to_text(),
        GraphFormat::Json => serde_json::to_string(&g)? + "\n",
        GraphFormat::Dot => g.to_dot(),
    };
    print(&text)?;
    Ok(ExitCode::SUCCESS)
}
