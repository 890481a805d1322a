//! The image configuration the runtime needs (image-spec `config.md`, plus
//! Docker's `Healthcheck`, which the OCI spec does not define).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An image's config blob, the parts hb reads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// `amd64`, `arm64`, …
    #[serde(default)]
    pub architecture: String,
    /// `linux`.
    #[serde(default)]
    pub os: String,
    /// CPU variant (`v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// How to run it.
    #[serde(default)]
    pub config: RunConfig,
    /// The layers' uncompressed digests, lowest first.
    #[serde(default)]
    pub rootfs: RootFs,
    /// Creation time, as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
}

/// `rootfs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    /// `layers`.
    #[serde(default, rename = "type")]
    pub kind: String,
    /// The `diff_ids`: sha256 of each uncompressed layer.
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

/// `config`: what the runtime uses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    /// `uid`, `uid:gid`, `name`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `8080/tcp` → `{}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    /// `KEY=VALUE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// Entrypoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Cmd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// Volumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    /// Working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Stop signal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Docker's healthcheck.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<ImageHealthcheck>,
}

/// Docker's `Healthcheck` in an image config (durations in nanoseconds).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageHealthcheck {
    /// `["CMD", …]`, `["CMD-SHELL", …]`, `["NONE"]`.
    #[serde(default)]
    pub test: Vec<String>,
    /// Nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<u64>,
    /// Nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// Nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<u64>,
    /// Nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<u64>,
    /// Failures before unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_docker_config_with_a_healthcheck() {
        let json = r#"{"architecture":"amd64","os":"linux","config":{"User":"1000:1000","Env":["PATH=/bin","FOO=bar"],
            "Entrypoint":["/bin/sh","-c"],"Cmd":["echo hi"],"WorkingDir":"/home/hb","ExposedPorts":{"8080/tcp":{}},
            "Volumes":{"/data":{}},"Labels":{"a":"b"},"StopSignal":"SIGINT",
            "Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":1000000000,"Retries":3}},
            "rootfs":{"type":"layers","diff_ids":["sha256:aa"]}}"#;
        let c: ImageConfig = serde_json::from_str(json).expect("parses");
        assert_eq!(c.config.user.as_deref(), Some("1000:1000"));
        assert_eq!(
            c.config.entrypoint,
            Some(vec!["/bin/sh".to_string(), "-c".to_string()])
        );
        assert_eq!(c.config.stop_signal.as_deref(), Some("SIGINT"));
        assert_eq!(
            c.config.healthcheck.as_ref().and_then(|h| h.retries),
            Some(3)
        );
        assert_eq!(c.rootfs.diff_ids.len(), 1);
    }
}
