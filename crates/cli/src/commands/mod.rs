//! One module per verb; each turns its arguments into a request and calls the library.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{Cli, Command};

mod config;
mod graph;
mod init;

/// Runs the chosen verb.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Config(a) => config::run(&cli.project, &a),
        Command::Graph(a) => graph::run(&cli.project, &a),
        Command::Init(a) => init::run(&a),
    }
}

/// Writes `text` to standard output.
pub fn print(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}
