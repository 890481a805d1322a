//! The compose-spec model and loader.
//!
//! Turns what a user typed (`-f`, `-p`, `--env-file`, `--profile`, the
//! environment) and the compose files it names into a normalized [`Project`]:
//! every short syntax in its long form, every path absolute, `.env`,
//! interpolation, `include`, `extends`, several files merged, profiles
//! applied, and the whole thing checked against the compose-spec schema and
//! for consistency. Every problem is reported at once, with file, line and key
//! path.
//!
//! Synchronous and deterministic: no processes, no clock, and the process
//! environment is passed in ([`Options::environment`]). It does not touch
//! containers.
//!
//! ```no_run
//! let opts = hb_compose::Options { working_dir: "/src/app".into(), ..Default::default() };
//! let loaded = hb_compose::load(&opts)?;
//! for (name, svc) in &loaded.project.services {
//!     println!("{name}: {:?}", svc.image);
//! }
//! # Ok::<(), hb_compose::Error>(())
//! ```

use std::path::PathBuf;

pub mod canonical;
pub mod decode;
pub mod diag;
pub mod dotenv;
mod finish;
pub mod interpolate;
mod load;
pub mod merge;
pub mod model;
pub mod schema;
pub mod units;
pub mod yaml;

pub use diag::Diagnostic;
pub use finish::{find_cycle, project_cycle};
pub use load::{discover, load, Loaded, Options, RemoteLoader, FILE_NAMES};
pub use model::{
    Build, Dependency, Healthcheck, Mount, Port, Project, ProjectName, Resource, Service,
};

/// What can go wrong loading a project.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No compose file in the directory or its parents.
    #[error("no compose file found in {} or any parent directory (looked for {}); run `hb init` to create one, or pass -f FILE", dir.display(), FILE_NAMES.join(", "))]
    NoComposeFile {
        /// Where the search started.
        dir: PathBuf,
    },
    /// A file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An env file is malformed.
    #[error("{}{}: {message}", path.display(), if *line > 0 { format!(":{line}") } else { String::new() })]
    EnvFile {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 for the whole file).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// `-p`, `COMPOSE_PROJECT_NAME` or `name:` is not a valid project name.
    #[error(transparent)]
    ProjectName(#[from] model::InvalidProjectName),
    /// No project name can be derived from the directory.
    #[error("project name must not be empty: {} gives none; pass -p NAME or set `name:` in the compose file", dir.display())]
    EmptyProjectName {
        /// The project directory.
        dir: PathBuf,
    },
    /// The project has problems, every one listed.
    #[error("{}", render(.0))]
    Invalid(Vec<Diagnostic>),
}

fn render(diags: &[Diagnostic]) -> String {
    let mut s = if diags.len() == 1 {
        "the compose project is invalid:".to_string()
    } else {
        format!("the compose project has {} problems:", diags.len())
    };
    for d in diags {
        s.push_str("\n  ");
        s.push_str(&d.to_string());
    }
    s
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;
