//! Integration tests of the image crate: pulls from the real fixture
//! registries (privileged), and fault injection with a fake registry.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod faults;
mod offline;
mod pulls;

use std::path::Path;
use std::sync::Arc;

use hb_image::auth::RegistryConfig;
use hb_image::registry::{Client, Retry};
use hb_image::{Puller, Store};

/// Fast retries for tests.
pub fn retry() -> Retry {
    Retry {
        retries: 3,
        backoff: std::time::Duration::from_millis(10),
    }
}

/// A puller over a fresh store in `root`, with Docker credentials from `docker_config`.
pub fn puller(root: &Path, docker_config: Option<&Path>) -> Puller {
    let store = Arc::new(Store::open(root).expect("store"));
    let client = Arc::new(
        Client::new(
            RegistryConfig::default(),
            docker_config.map(Path::to_path_buf),
            retry(),
        )
        .expect("client"),
    );
    Puller {
        client,
        store,
        retry: retry(),
    }
}
