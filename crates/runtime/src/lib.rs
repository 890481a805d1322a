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

pub mod doctor;
pub mod host;
