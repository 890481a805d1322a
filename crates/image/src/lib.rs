//! OCI images for hb: references, the registry client, the content store,
//! layer unpacking and the image config the runtime needs.
//!
//! hb pulls and stores images itself — no Docker, no containerd. A pull asks
//! the registry for the manifest (choosing the host's platform from an
//! index), fetches the config, then downloads every layer in parallel and
//! unpacks it while the bytes arrive into its own directory under
//! `$HB_ROOT/layers`, ready to be an overlayfs lower dir. Every blob's size
//! and digest and every layer's diff-id are checked before anything is kept.
//!
//! Non-goals: running containers (the `runtime` crate), building images.
//!
//! ```no_run
//! # async fn demo() -> hb_image::Result<()> {
//! use std::sync::Arc;
//! use hb_image::{auth::RegistryConfig, registry::{Client, Retry}, Platform, Puller, Quiet, Store};
//! let store = Arc::new(Store::open("/var/lib/hb".as_ref())?);
//! let client = Arc::new(Client::new(RegistryConfig::default(), None, Retry::default())?);
//! let puller = Puller { client, store, retry: Retry::default() };
//! let image: hb_image::ImageRef = "127.0.0.1:5000/busybox".parse()?;
//! let record = puller.pull(&image, &Platform::host(), Arc::new(Quiet)).await?;
//! println!("{} is {}", record.name, record.manifest);
//! # Ok(()) }
//! ```

use std::path::PathBuf;

pub mod auth;
pub mod config;
pub mod dockerfile;
pub mod ingest;
pub mod layout;
mod names;
pub mod pull;
pub mod reference;
pub mod registry;
pub mod store;
pub mod unpack;

pub use config::ImageConfig;
pub use pull::{Platform, Progress, Puller, Quiet};
pub use reference::{ImageRef, InvalidReference};
pub use store::{ImageRecord, LocalImage, Store};

/// What can go wrong with images.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A malformed image reference.
    #[error(transparent)]
    Reference(#[from] InvalidReference),
    /// The registry wants credentials, or refused the ones it got.
    #[error("pulling {image}: {registry} answered 401 Unauthorized ({detail}); run `hb login {registry}` with a user that may pull it")]
    Unauthorized {
        /// The image.
        image: String,
        /// The registry.
        registry: String,
        /// What the registry or token service said.
        detail: String,
    },
    /// The credentials are fine but may not pull this repository.
    #[error("pulling {image}: {registry} answered 403 Forbidden ({detail}); the user hb logged in as may not pull it")]
    Denied {
        /// The image.
        image: String,
        /// The registry.
        registry: String,
        /// What the registry said.
        detail: String,
    },
    /// The registry has no such manifest or blob.
    #[error("{image}: not found ({what}); check the name and the tag")]
    NotFound {
        /// The image.
        image: String,
        /// What was missing.
        what: String,
    },
    /// The index has no manifest for the platform asked for.
    #[error("{image} has no image for {wanted}; it has: {}", if available.is_empty() { "no platform information".to_string() } else { available.join(", ") })]
    NoPlatform {
        /// The image.
        image: String,
        /// The platform asked for.
        wanted: String,
        /// The platforms the index lists.
        available: Vec<String>,
    },
    /// A `--platform` that is not `os/arch[/variant]`.
    #[error(
        "invalid platform {given:?}: write it as os/arch or os/arch/variant, e.g. linux/arm64/v8"
    )]
    Platform {
        /// What was given.
        given: String,
    },
    /// The registry failed, even after retries.
    #[error("{url}: {} {message}", if *status == 0 { "failed:".to_string() } else { format!("HTTP {status}:") })]
    Http {
        /// The request.
        url: String,
        /// The last status (0 when there was none).
        status: u16,
        /// What went wrong.
        message: String,
    },
    /// The registry could not be reached.
    #[error("cannot reach {url}; check that the registry is up and the address is right")]
    Network {
        /// The request.
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// Bytes that do not match their digest: the registry (or something between) lies.
    #[error("{url}: the content's digest is {actual}, not the {expected} it should be; nothing was stored")]
    DigestMismatch {
        /// Where it came from.
        url: String,
        /// The digest asked for.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// A blob of the wrong length.
    #[error("{url}: got {actual} bytes where the manifest says {expected}; nothing was stored")]
    SizeMismatch {
        /// Where it came from.
        url: String,
        /// The size in the manifest.
        expected: u64,
        /// What arrived.
        actual: u64,
    },
    /// A layer whose uncompressed content does not match the config's diff_id.
    #[error("{image}: layer {layer} unpacks to {actual}, but the image config says {expected}; nothing was stored")]
    DiffIdMismatch {
        /// The image.
        image: String,
        /// The layer's digest.
        layer: String,
        /// The diff_id in the config.
        expected: String,
        /// The sha256 of the uncompressed tar.
        actual: String,
    },
    /// A manifest, index or config that cannot be used.
    #[error("{image}: {reason}")]
    Manifest {
        /// The image.
        image: String,
        /// What is wrong.
        reason: String,
    },
    /// A layer entry that would write outside its directory, or is otherwise refused.
    #[error("layer {layer}: entry `{entry}` refused: {reason}")]
    UnsafeEntry {
        /// The layer.
        layer: String,
        /// The entry's path in the archive.
        entry: String,
        /// Why.
        reason: String,
    },
    /// A layer archive that cannot be read.
    #[error("layer {layer} is not a readable tar archive")]
    Layer {
        /// The layer.
        layer: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file operation failed.
    #[error("{}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The state database failed.
    #[error("state database {}", path.display())]
    Db {
        /// The database file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// A config file (hb's TOML, Docker's config.json) cannot be read.
    #[error("{}: {message}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A Docker credential helper failed.
    #[error("credential helper {helper}: {message}")]
    Credentials {
        /// The helper program.
        helper: String,
        /// What went wrong.
        message: String,
    },
    /// No stored image has this name or digest.
    #[error("no image {name} in the store; `hb images` lists them, `hb pull {name}` fetches it")]
    ImageNotFound {
        /// What was asked for.
        name: String,
    },
    /// Stored data that does not parse.
    #[error("the store is damaged: {what}; remove the image and pull it again")]
    Corrupt {
        /// What is damaged.
        what: String,
    },
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;
