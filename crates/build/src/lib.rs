//! Image builds (#7): a Dockerfile's stages built into the image store with
//! the runtime hb already has — no BuildKit, no daemon.
//!
//! ```text
//! Dockerfile ─ parse ─► stages ─► waves of independent stages, in parallel
//!                                   │ per instruction: key = H(parent key, text, args, sources)
//!                                   │ cache hit ──► the stored layer
//!                                   │ RUN         ──► a container (runtime) ─┐
//!                                   │ COPY/ADD/WORKDIR ──► an overlay mount ─┴► upper dir ─► layer tar ─► store
//!                                   ▼
//!                   config + manifest ─► image `<project>-<service>` in the store
//! ```
//!
//! Layers are stored uncompressed (their digest is their diff-id), like the
//! layers `hb image import --from-dir` makes: a build never leaves the
//! machine, and compressing would only cost time (`hb image push` is not a
//! goal here).
//!
//! Non-goals: remote contexts (git or HTTP URLs), `ADD` from a URL,
//! `RUN --mount=type=secret|ssh`, `ONBUILD` triggers, multi-platform builds —
//! each refused with a message that says so.

pub mod cache;
pub mod context;
pub mod diff;
pub mod ignore;
mod stage;

use std::collections::BTreeMap;
use std::path::PathBuf;

use hb_image::{ImageRecord, ImageRef, Platform};

pub use stage::Builder;

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The Dockerfile does not parse.
    #[error("{}:{}:{}: {}", file.display(), source.line, source.col, source.message)]
    Parse {
        /// The Dockerfile.
        file: PathBuf,
        /// Where and what.
        source: hb_image::dockerfile::ParseError,
    },
    /// An instruction cannot be carried out as written.
    #[error("{}:{line}: {message}", file.display())]
    Instruction {
        /// The Dockerfile.
        file: PathBuf,
        /// Its line.
        line: usize,
        /// What is wrong and what to do.
        message: String,
    },
    /// A RUN step failed.
    #[error("{}:{line}: `{command}` exited with {code}{}", file.display(), tail(output))]
    Run {
        /// The Dockerfile.
        file: PathBuf,
        /// The RUN's line.
        line: usize,
        /// The command as run.
        command: String,
        /// Its exit code.
        code: i32,
        /// Its last lines of output.
        output: Vec<String>,
    },
    /// A source of COPY or ADD is missing or unreadable.
    #[error("{}: {message}", path.display())]
    Context {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A base image could not be found or stored.
    #[error("image {image}: {source}")]
    Image {
        /// The image.
        image: String,
        /// The error.
        source: hb_image::Error,
    },
    /// The runtime failed to run a step.
    #[error("{}:{line}: {source}", file.display())]
    Runtime {
        /// The Dockerfile.
        file: PathBuf,
        /// The RUN's line.
        line: usize,
        /// The error.
        source: hb_runtime::Error,
    },
    /// The cache table failed.
    #[error("build cache: {0}")]
    Cache(String),
    /// Stopped before a step, as asked (`Request::cancel`).
    #[error("cancelled")]
    Cancelled,
}

fn tail(output: &[String]) -> String {
    if output.is_empty() {
        return String::new();
    }
    format!("; its last output:\n  {}", output.join("\n  "))
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// The Dockerfile of a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dockerfile {
    /// A file (absolute, or relative to the context).
    Path(PathBuf),
    /// Its text (compose `dockerfile_inline`).
    Inline(String),
}

/// What to build.
#[derive(Debug, Clone)]
pub struct Request {
    /// The context directory.
    pub context: PathBuf,
    /// The Dockerfile.
    pub dockerfile: Dockerfile,
    /// Build args (`--build-arg`, compose `build.args`).
    pub args: BTreeMap<String, String>,
    /// The stage to stop at (default: the last).
    pub target: Option<String>,
    /// Labels added to the image.
    pub labels: BTreeMap<String, String>,
    /// Names for the image; the first is its name in messages.
    pub tags: Vec<ImageRef>,
    /// Run every step (`--no-cache`).
    pub no_cache: bool,
    /// Pull base images even when stored (`--pull`).
    pub pull: bool,
    /// RUN steps get the host's network (`network: host`) rather than only a
    /// loopback of their own.
    pub host_network: bool,
    /// The platform of `FROM scratch` images.
    pub platform: Platform,
    /// Set by someone else to stop the build before its next step.
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

/// Where base images come from: the store, else a registry.
pub trait Bases: Sync {
    /// The image, pulled when missing (always, with `pull`).
    fn fetch(&self, image: &ImageRef, pull: bool) -> hb_image::Result<ImageRecord>;
}

pub use hb_runtime::host::{Mounts, RealMounts};

/// What a build reports as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A step begins (or is taken from the cache).
    Step {
        /// The stage's name (`stage-N` when it has none).
        stage: String,
        /// 1-based step number within the stage.
        n: usize,
        /// Steps in the stage.
        total: usize,
        /// The instruction.
        text: String,
        /// Taken from the cache.
        cached: bool,
    },
    /// A line a RUN step printed.
    Output {
        /// The stage.
        stage: String,
        /// The line.
        line: String,
    },
    /// Something the user should know (an unused build arg).
    Warning(String),
}

/// A finished build.
#[derive(Debug, Clone)]
pub struct Built {
    /// The image as stored (under the first tag).
    pub image: ImageRecord,
    /// Steps that could be cached (RUN, COPY, ADD, WORKDIR) in the stages built.
    pub steps: usize,
    /// How many of them came from the cache.
    pub cached: usize,
}
