//! Where hb keeps things and how it reaches registries: `$HB_ROOT`, `$HB_CONFIG`,
//! Docker's credential file, the image store and the registry client.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use hb_image::auth::{docker_config_path, RegistryConfig};
use hb_image::registry::{Client, Retry};
use hb_image::{Puller, Store};

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

fn home() -> PathBuf {
    env("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
}

/// `$HB_ROOT`: `/var/lib/hb` for root, else `$XDG_DATA_HOME/hb`.
pub fn hb_root() -> PathBuf {
    if let Some(r) = env("HB_ROOT") {
        return PathBuf::from(r);
    }
    if nix::unistd::Uid::effective().is_root() {
        PathBuf::from("/var/lib/hb")
    } else {
        env("XDG_DATA_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| home().join(".local/share"))
            .join("hb")
    }
}

/// hb's config file: `$HB_CONFIG`, else `~/.config/hb/config.toml`.
pub fn config_path() -> PathBuf {
    env("HB_CONFIG").map(PathBuf::from).unwrap_or_else(|| {
        env("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| home().join(".config"))
            .join("hb/config.toml")
    })
}

/// Docker's `config.json`, where credentials live.
pub fn docker_config() -> Option<PathBuf> {
    docker_config_path(&|k| std::env::var(k).ok())
}

/// The image store.
pub fn store() -> Result<Arc<Store>> {
    let root = hb_root();
    Ok(Arc::new(Store::open(&root).with_context(|| {
        format!("cannot open the image store in {}", root.display())
    })?))
}

/// The registry client.
pub fn client() -> Result<Arc<Client>> {
    let config = RegistryConfig::load(&config_path())?;
    Ok(Arc::new(Client::new(
        config,
        docker_config(),
        Retry::default(),
    )?))
}

/// A puller over the store and the client.
pub fn puller() -> Result<Puller> {
    Ok(Puller {
        client: client()?,
        store: store()?,
        retry: Retry::default(),
    })
}

/// A runtime for the commands that talk to the network.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `$HB_RUN`: `/run/hb` for root, else `$XDG_RUNTIME_DIR/hb`.
pub fn hb_run() -> PathBuf {
    if let Some(r) = env("HB_RUN") {
        return PathBuf::from(r);
    }
    if nix::unistd::Uid::effective().is_root() {
        PathBuf::from("/run/hb")
    } else {
        env("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir)
            .join("hb")
    }
}

/// The container runtime: crun from `$HB_CRUN` or PATH, hb-shim from `$HB_SHIM`
/// or beside the `hb` binary.
pub fn runtime_dirs() -> hb_runtime::container::Runtime {
    let shim = companion("HB_SHIM", "hb-shim");
    let crun = env("HB_CRUN")
        .map(PathBuf::from)
        .unwrap_or_else(|| on_path("crun"));
    hb_runtime::container::Runtime::new(hb_root(), hb_run(), crun, shim)
}

/// The engine: the runtime, the store, a puller, `hb-proxy` from `$HB_PROXY` or
/// beside the `hb` binary.
pub fn engine() -> Result<hb_engine::Engine> {
    Ok(hb_engine::Engine {
        rt: runtime_dirs(),
        store: store()?,
        puller: Some(puller()?),
        proxy: proxy(),
        ip: Box::new(hb_net::RealIp),
    })
}

/// `hb-proxy`: `$HB_PROXY`, else beside the `hb` binary, else from PATH.
pub fn proxy() -> PathBuf {
    companion("HB_PROXY", "hb-proxy")
}

/// One of the binaries installed with `hb`: `$VAR`, else beside `hb`, else from PATH.
fn companion(var: &str, name: &str) -> PathBuf {
    env(var).map(PathBuf::from).unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(|d| d.join(name)))
            .filter(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from(name))
    })
}

/// `name` found on PATH, as an absolute path (so the shim, which starts crun on
/// every restart, does not walk PATH each time); `name` itself if not found.
fn on_path(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(name))
                .find(|c| c.is_file())
        })
        .unwrap_or_else(|| PathBuf::from(name))
}
