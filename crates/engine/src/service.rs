//! A compose service as the runtime wants it: the runtime spec's overrides, the
//! shim's supervision, the config hash that tells "unchanged" from "recreate".

use std::path::{Path, PathBuf};
use std::time::Duration;

use hb_compose::{Project, Service};
use hb_runtime::container::{HealthSpec, Supervision};
use hb_runtime::spec::{MountRequest, Overrides};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// The hash of everything that makes a service's containers: its configuration
/// as loaded (environment files and interpolation already applied) and the
/// image's config digest. A change in either recreates them, as in Compose.
pub fn config_hash(service: &Service, image_config: &str) -> String {
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(service).unwrap_or_default());
    h.update(image_config.as_bytes());
    hex::encode(&h.finalize()[..16])
}

fn duration(service: &str, key: &str, v: Option<&str>) -> Result<Option<Duration>> {
    v.map(|s| {
        hb_compose::units::parse_duration(s).ok_or_else(|| Error::Service {
            service: service.to_string(),
            message: format!("{key} `{s}` is not a duration: write it like 30s or 1m30s"),
        })
    })
    .transpose()
}

/// The healthcheck: the service's, else the image's; none when disabled.
pub fn health(name: &str, s: &Service, image: &hb_image::LocalImage) -> Result<Option<HealthSpec>> {
    let from_image = image
        .config
        .config
        .healthcheck
        .as_ref()
        .map(HealthSpec::from_image);
    let Some(h) = &s.healthcheck else {
        return Ok(from_image);
    };
    if h.disable {
        return Ok(None);
    }
    let mut spec = match (&h.test, from_image) {
        (Some(t), _) => HealthSpec::with_test(t.clone()),
        (None, Some(i)) => i,
        (None, None) => return Ok(None),
    };
    if let Some(d) = duration(name, "healthcheck.interval", h.interval.as_deref())? {
        spec.interval = d;
    }
    if let Some(d) = duration(name, "healthcheck.timeout", h.timeout.as_deref())? {
        spec.timeout = d;
    }
    if let Some(d) = duration(name, "healthcheck.start_period", h.start_period.as_deref())? {
        spec.start_period = d;
    }
    if let Some(d) = duration(
        name,
        "healthcheck.start_interval",
        h.start_interval.as_deref(),
    )? {
        spec.start_interval = d;
    }
    if let Some(r) = h.retries {
        spec.retries = r as u32;
    }
    Ok(spec.argv().map(|_| spec))
}

/// How the shim supervises the service's containers.
pub fn supervision(name: &str, s: &Service, image: &hb_image::LocalImage) -> Result<Supervision> {
    let options = s.other.get("logging").and_then(|l| l.get("options"));
    let option = |k: &str| options.and_then(|o| o.get(k)).and_then(|v| v.as_str());
    let log_max_size = option("max-size")
        .map(|v| {
            hb_compose::units::parse_size(v).ok_or_else(|| Error::Service {
                service: name.to_string(),
                message: format!("logging.options.max-size `{v}` is not a size: write it like 10m"),
            })
        })
        .transpose()?;
    let log_max_files = option("max-file")
        .map(|v| {
            v.parse::<u32>().map_err(|_| Error::Service {
                service: name.to_string(),
                message: format!("logging.options.max-file `{v}` is not a count"),
            })
        })
        .transpose()?;
    Ok(Supervision {
        restart: s.restart.clone(),
        health: health(name, s, image)?,
        log_max_size,
        log_max_files,
        console_socket: None,
        tty_log: tty(s),
        remove: false,
        remove_with: None,
    })
}

/// `tty: true`: the service's process gets a terminal (its output, \r\n and
/// all, goes to the log through the shim, which holds the terminal).
pub fn tty(s: &Service) -> bool {
    s.other.get("tty").and_then(|v| v.as_bool()) == Some(true)
}

/// The stop signal and grace period (Compose's default: SIGTERM, 10 s).
pub fn stop_how(s: &Service, image: Option<&hb_image::LocalImage>) -> (String, Duration) {
    let signal = s
        .stop_signal
        .clone()
        .or_else(|| image.and_then(|i| i.config.config.stop_signal.clone()))
        .unwrap_or_else(|| "TERM".into());
    let grace = s
        .stop_grace_period
        .as_deref()
        .and_then(hb_compose::units::parse_duration)
        .unwrap_or(Duration::from_secs(10));
    (signal, grace)
}

/// Where a named volume lives: `$HB_ROOT/volumes/<name>` where the name is the
/// volume's `name:` or `<project>_<key>`, as Docker names it.
pub fn volume_dir(root: &Path, project: &Project, key: &str) -> PathBuf {
    let name = project
        .volumes
        .get(key)
        .and_then(|r| r.name.clone())
        .unwrap_or_else(|| format!("{}_{key}", project.name.as_str()));
    root.join("volumes").join(name)
}

/// A named volume to fill from the image on first use (Docker copies the
/// image's content at the mount point into an empty new volume).
#[derive(Debug, Clone)]
pub struct NewVolume {
    /// The volume's directory.
    pub dir: PathBuf,
    /// Where it is mounted in the container.
    pub target: String,
}

/// The runtime overrides of a service (everything but the network, which the
/// executor adds). Creates missing bind sources and volume dirs, as Compose does;
/// returns the volumes created now.
pub fn overrides(
    root: &Path,
    project: &Project,
    name: &str,
    s: &Service,
    anon_dir: &Path,
) -> Result<(Overrides, Vec<NewVolume>)> {
    let err = |message: String| Error::Service {
        service: name.to_string(),
        message,
    };
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let mut mounts = Vec::new();
    let mut fresh = Vec::new();
    for (i, m) in s.volumes.iter().enumerate() {
        match m.kind.as_str() {
            "bind" => {
                let source = PathBuf::from(m.source.clone().unwrap_or_default());
                if !source.exists() {
                    std::fs::create_dir_all(&source).map_err(io(&source))?;
                }
                mounts.push(MountRequest::Bind {
                    source,
                    target: m.target.clone(),
                    read_only: m.read_only,
                });
            }
            "volume" => {
                let dir = match &m.source {
                    Some(key) => volume_dir(root, project, key),
                    // Anonymous: lives and goes with the container.
                    None => anon_dir.join(i.to_string()),
                };
                let external = m
                    .source
                    .as_ref()
                    .and_then(|k| project.volumes.get(k))
                    .is_some_and(|v| v.external);
                if external && !dir.is_dir() {
                    return Err(err(format!(
                        "external volume {} does not exist; hb keeps volumes as directories: create it with `mkdir -p {}`",
                        m.source.clone().unwrap_or_default(),
                        dir.display()
                    )));
                }
                if !dir.exists() {
                    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
                    fresh.push(NewVolume {
                        dir: dir.clone(),
                        target: m.target.clone(),
                    });
                }
                mounts.push(MountRequest::Bind {
                    source: dir,
                    target: m.target.clone(),
                    read_only: m.read_only,
                });
            }
            "tmpfs" => mounts.push(MountRequest::Tmpfs {
                target: m.target.clone(),
                size: m
                    .other
                    .get("tmpfs")
                    .and_then(|t| t.get("size"))
                    .and_then(|v| v.as_u64()),
            }),
            other => {
                return Err(err(format!(
                    "volume type `{other}` ({}) is not supported; use bind, volume or tmpfs",
                    m.target
                )))
            }
        }
    }
    for t in &s.tmpfs {
        mounts.push(MountRequest::Tmpfs {
            target: t.split(':').next().unwrap_or(t).to_string(),
            size: None,
        });
    }
    mounts.extend(secret_mounts(project, name, s)?);
    let limits = s
        .deploy
        .as_ref()
        .and_then(|d| d.other.get("resources"))
        .and_then(|r| r.get("limits"));
    let limit_size = |k: &str| {
        limits.and_then(|l| l.get(k)).and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(hb_compose::units::parse_size))
        })
    };
    let limit_cpus = limits.and_then(|l| l.get("cpus")).and_then(|v| {
        v.as_f64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    });
    let other_u64 = |k: &str| {
        s.other.get(k).and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(hb_compose::units::parse_size))
        })
    };
    let mut o = Overrides {
        entrypoint: s.entrypoint.clone(),
        command: s.command.clone(),
        env: s
            .environment
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        user: s.user.clone(),
        working_dir: s.working_dir.clone(),
        hostname: s.hostname.clone(),
        read_only: s.read_only.unwrap_or(false),
        cap_add: s.cap_add.clone(),
        cap_drop: s.cap_drop.clone(),
        memory: s.mem_limit.or_else(|| limit_size("memory")),
        memory_swap: other_u64("memswap_limit"),
        cpus: s.cpus.or(limit_cpus),
        cpu_shares: other_u64("cpu_shares"),
        pids: s
            .pids_limit
            .or_else(|| limits.and_then(|l| l.get("pids")).and_then(|v| v.as_i64())),
        mounts,
        init: s.init.unwrap_or(false),
        terminal: tty(s),
        privileged: s.privileged.unwrap_or(false),
        sysctls: s
            .other
            .get("sysctls")
            .and_then(|v| v.as_object())
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str().map_or_else(|| v.to_string(), str::to_string),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        shm_size: other_u64("shm_size"),
        ulimits: s
            .other
            .get("ulimits")
            .and_then(|v| v.as_object())
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| {
                        let soft = v.get("soft").and_then(|x| x.as_u64()).or(v.as_u64())?;
                        let hard = v.get("hard").and_then(|x| x.as_u64()).unwrap_or(soft);
                        Some((k.clone(), soft, hard))
                    })
                    .collect()
            })
            .unwrap_or_default(),
        ..Overrides::default()
    };
    for opt in s
        .other
        .get("security_opt")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
    {
        // seccomp, apparmor and label options are accepted and not acted on
        // (docs/stacks.md says so); an unknown one is an error.
        hb_runtime::spec::security_opt(&mut o, opt).map_err(|e| err(e.to_string()))?;
    }
    Ok((o, fresh))
}

/// `secrets:` and `configs:` from files, read-only at `/run/secrets/<name>` and
/// at the config's target (default `/<name>`), as Compose mounts them.
fn secret_mounts(project: &Project, name: &str, s: &Service) -> Result<Vec<MountRequest>> {
    let mut out = Vec::new();
    for (kind, defs, default_dir) in [
        ("secrets", &project.secrets, "/run/secrets/"),
        ("configs", &project.configs, "/"),
    ] {
        let Some(items) = s.other.get(kind).and_then(|v| v.as_array()) else {
            continue;
        };
        for it in items {
            let Some(source) = it.get("source").and_then(|v| v.as_str()) else {
                continue;
            };
            let file = defs
                .get(source)
                .and_then(|r| r.other.get("file"))
                .and_then(|f| f.as_str())
                .ok_or_else(|| Error::Service {
                    service: name.to_string(),
                    message: format!(
                        "{kind} `{source}`: only file-based {kind} are supported (give it `file:`)"
                    ),
                })?;
            let target = match it.get("target").and_then(|v| v.as_str()) {
                Some(t) if t.starts_with('/') => t.to_string(),
                Some(t) => format!("{default_dir}{t}"),
                None => format!("{default_dir}{source}"),
            };
            out.push(MountRequest::Bind {
                source: PathBuf::from(file),
                target,
                read_only: true,
            });
        }
    }
    Ok(out)
}
