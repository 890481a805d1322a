//! Running containers under `crun`. So far: the host checks behind
//! `hb doctor` — whether this machine can run containers at all, and what to
//! do when it cannot. The OCI runtime spec, rootfs, shim and operations come
//! with issue #4.
//!
//! Every OS touchpoint goes through the small [`host::Host`] trait, so the
//! checks' reasoning is tested against made-up hosts as well as the real one.
//!
//! ```no_run
//! let report = hb_runtime::doctor::check(&hb_runtime::host::RealHost, std::path::Path::new("/var/lib/hb"));
//! for c in &report {
//!     println!("{:5} {}: {}", c.status, c.name, c.detail);
//! }
//! ```

use std::path::PathBuf;

pub mod doctor;
pub mod host;
pub mod spec;

/// What can go wrong running containers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Neither the image nor the container names a command.
    #[error(
        "nothing to run: the image has no Entrypoint or Cmd and none was given; pass a command"
    )]
    NoCommand,
    /// A user that the image's /etc/passwd or /etc/group does not know.
    #[error("cannot run as user {user:?}: {reason}")]
    User {
        /// As given.
        user: String,
        /// Why.
        reason: String,
    },
    /// An unknown capability name.
    #[error("unknown capability {name}; see capabilities(7) for the names")]
    Capability {
        /// The name.
        name: String,
    },
    /// The runtime spec could not be built.
    #[error("cannot build the runtime spec: {0}")]
    Spec(String),
    /// A file or mount operation failed.
    #[error("{}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;
