//! The seam to the kernel's network configuration: iproute2's `ip`, fed whole
//! batches (`ip -batch -`) so that setting up a container costs three process
//! starts, not a dozen.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::{Error, Result};

/// Where `ip netns` keeps namespace files (iproute2's `NETNS_RUN_DIR`).
pub const NETNS_DIR: &str = "/run/netns";

/// Runs network configuration commands.
pub trait Ip {
    /// Runs `batch` (one `ip` command per line, without the `ip`) in namespace
    /// `ns` (`None`: hb's own). `what` says what for, in errors.
    fn run(&self, ns: Option<&str>, batch: &str, what: &str) -> Result<()>;
    /// The names of the links in namespace `ns`.
    fn links(&self, ns: &str) -> Result<Vec<String>>;
}

/// `ip` from PATH.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealIp;

fn ip_cmd(ns: Option<&str>) -> Command {
    let mut c = Command::new("ip");
    if let Some(ns) = ns {
        c.args(["-n", ns]);
    }
    c
}

fn failed(what: &str, e: std::io::Error) -> Error {
    Error::Ip {
        what: what.to_string(),
        stderr: format!("cannot run ip ({e}): install iproute2"),
    }
}

impl Ip for RealIp {
    fn run(&self, ns: Option<&str>, batch: &str, what: &str) -> Result<()> {
        let mut child = ip_cmd(ns)
            .args(["-batch", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| failed(what, e))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(batch.as_bytes())
                .map_err(|e| failed(what, e))?;
        }
        let out = child.wait_with_output().map_err(|e| failed(what, e))?;
        if out.status.success() {
            return Ok(());
        }
        Err(Error::Ip {
            what: what.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }

    fn links(&self, ns: &str) -> Result<Vec<String>> {
        let what = "list the project's links";
        let out = ip_cmd(Some(ns))
            .args(["-o", "link", "show"])
            .output()
            .map_err(|e| failed(what, e))?;
        if !out.status.success() {
            return Err(Error::Ip {
                what: what.into(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        // `2: hbr0: <BROADCAST,…` ; a veth shows as `vh…@if3`.
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split(':').nth(1))
            .map(|n| n.trim().split('@').next().unwrap_or("").to_string())
            .collect())
    }
}
