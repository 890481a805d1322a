//! The argument grammar, as `docker compose` spells it: global options before the verb.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// hb: dev environments from compose files, without a Docker engine.
#[derive(Debug, Parser)]
#[command(name = "hb", version, about, propagate_version = true)]
pub struct Cli {
    /// Where the project is and how to read it.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The options every project command shares (`docker compose`'s global flags).
#[derive(Debug, Args, Clone, Default)]
pub struct ProjectArgs {
    /// Compose file(s), in order; `-` reads standard input
    #[arg(short = 'f', long = "file", global = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Project name (default: `name:` in the file, else the directory name)
    #[arg(short = 'p', long = "project-name", global = true, value_name = "NAME")]
    pub project_name: Option<String>,
    /// Directory relative paths are resolved against (default: the first file's directory)
    #[arg(long, global = true, value_name = "DIR")]
    pub project_directory: Option<PathBuf>,
    /// Variables for interpolation, instead of `.env` (repeatable)
    #[arg(long = "env-file", global = true, value_name = "FILE")]
    pub env_files: Vec<PathBuf>,
    /// Enable services of this profile (repeatable)
    #[arg(long = "profile", global = true, value_name = "PROFILE")]
    pub profiles: Vec<String>,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the project and print it in canonical form
    Config(ConfigArgs),
    /// Print the start order: waves of services that may start in parallel
    Graph(GraphArgs),
    /// Detect the project type and write a compose.yaml for it
    Init(InitArgs),
}

/// `hb config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = ConfigFormat::Yaml)]
    pub format: ConfigFormat,
    /// Only validate; print nothing unless there is a problem
    #[arg(short, long)]
    pub quiet: bool,
    /// Print the service names, one per line
    #[arg(long)]
    pub services: bool,
    /// Print the volume names, one per line
    #[arg(long)]
    pub volumes: bool,
    /// Print the profile names, one per line
    #[arg(long = "profiles", id = "list_profiles")]
    pub list_profiles: bool,
    /// Print the image names, one per line
    #[arg(long)]
    pub images: bool,
    /// Write to this file instead of standard output
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Output formats of `hb config`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ConfigFormat {
    /// YAML, as `docker compose config` prints it
    Yaml,
    /// JSON
    Json,
}

/// `hb graph`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
    pub format: GraphFormat,
}

/// Output formats of `hb graph`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GraphFormat {
    /// Waves and edges, for people
    Text,
    /// `{"waves": [...], "edges": [...]}`
    Json,
    /// Graphviz
    Dot,
}

/// `hb init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Overwrite an existing compose.yaml
    #[arg(long)]
    pub force: bool,
    /// Print the file instead of writing it
    #[arg(long)]
    pub dry_run: bool,
}
