//! Running containers under `crun`: the OCI runtime spec by Docker's rules
//! ([`spec`]), the overlay rootfs and lifecycle — create, start, stop, kill,
//! pause, exec, logs, remove ([`container`]) —, stats and processes
//! ([`observe`]), the per-container `hb-shim` (`src/bin/hb-shim.rs`: logs,
//! exit status, restart policies, healthchecks), and the host checks behind
//! `hb doctor` ([`doctor`]). Networks are `hb-net`'s.
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

pub mod console;
pub mod container;
pub mod copy;
pub mod cri;
pub mod doctor;
pub mod handoff;
pub mod host;
pub mod observe;
pub mod procfs;
mod recycle;
mod replace;
pub mod sealed;
pub mod spec;
mod wake;

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
    /// A container id crun would refuse.
    #[error("invalid container name {id:?}: use letters, digits, `_`, `.` and `-`, starting with a letter or digit")]
    Name {
        /// As given.
        id: String,
    },
    /// A container with this name exists.
    #[error("a container named {id} already exists; remove it with `hb container rm {id}` or pick another --name")]
    Exists {
        /// The name.
        id: String,
    },
    /// The shim could not run the container.
    #[error("container {id}: {message}")]
    Shim {
        /// The container.
        id: String,
        /// What the shim recorded.
        message: String,
    },
    /// crun failed.
    #[error("container {id}: crun {op} failed: {stderr}")]
    Crun {
        /// The container.
        id: String,
        /// The operation.
        op: &'static str,
        /// The tail of crun's stderr.
        stderr: String,
    },
    /// The operation needs a running container.
    #[error("container {id} is not running; `hb container ls` shows its status")]
    NotRunning {
        /// The container.
        id: String,
    },
    /// The container is gone: its shim removed it when it exited (`--rm`),
    /// taking the exit code with it.
    #[error("container {id} was removed when it exited (--rm)")]
    Removed {
        /// The container.
        id: String,
    },
    /// The container did not exit in time.
    #[error("container {id} was still running after {waited:?}")]
    Timeout {
        /// The container.
        id: String,
        /// How long hb waited.
        waited: std::time::Duration,
    },
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
