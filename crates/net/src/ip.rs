//! The seam to the kernel's network configuration: iproute2's `ip`, fed whole
//! batches (`ip -batch -`) so that setting up a container costs three process
//! starts, not a dozen.

use std::io::Write;
use std::net::Ipv4Addr;
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
    /// The IPv4 address of `link` in `ns` (`None`: hb's own), if it exists.
    fn address(&self, ns: Option<&str>, link: &str) -> Result<Option<Ipv4Addr>>;
    /// Every IPv4 address in `ns`.
    fn addresses(&self, ns: Option<&str>) -> Result<Vec<Ipv4Addr>>;
    /// In namespace `ns`: forwarding on, and what leaves by `link` masqueraded.
    fn gateway_nat(&self, ns: &str, link: &str) -> Result<()>;
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

/// Runs `cmd` with `input` on its standard input; its stderr is the error.
fn feed(mut cmd: Command, input: &str, what: &str) -> Result<()> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(what, e))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
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

impl Ip for RealIp {
    fn run(&self, ns: Option<&str>, batch: &str, what: &str) -> Result<()> {
        let mut cmd = ip_cmd(ns);
        cmd.args(["-batch", "-"]);
        feed(cmd, batch, what)
    }

    fn address(&self, ns: Option<&str>, link: &str) -> Result<Option<Ipv4Addr>> {
        let out = ip_cmd(ns)
            .args(["-o", "-4", "addr", "show", "dev", link])
            .output()
            .map_err(|e| failed("read an address", e))?;
        // A link that does not exist is no error here: it is what we learn.
        Ok(parse_addresses(&String::from_utf8_lossy(&out.stdout))
            .into_iter()
            .next())
    }

    fn addresses(&self, ns: Option<&str>) -> Result<Vec<Ipv4Addr>> {
        let out = ip_cmd(ns)
            .args(["-o", "-4", "addr", "show"])
            .output()
            .map_err(|e| failed("list addresses", e))?;
        Ok(parse_addresses(&String::from_utf8_lossy(&out.stdout)))
    }

    fn gateway_nat(&self, ns: &str, link: &str) -> Result<()> {
        let rules = format!(
            "table ip hb {{\n  chain post {{\n    type nat hook postrouting priority srcnat;\n    oifname \"{link}\" masquerade\n  }}\n}}\n"
        );
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            ns,
            "sh",
            "-c",
            "echo 1 > /proc/sys/net/ipv4/ip_forward && nft -f -",
        ]);
        feed(cmd, &rules, "masquerade the host gateway (nftables)").map_err(|e| match e {
            Error::Ip { what, stderr } => Error::Ip {
                what,
                stderr: format!("{stderr} (is nftables installed?)"),
            },
            other => other,
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

/// The addresses in `ip -o -4 addr` output (`2: eth0    inet 10.0.0.2/24 brd …`).
fn parse_addresses(text: &str) -> Vec<Ipv4Addr> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            it.find(|w| *w == "inet")?;
            it.next()?.split('/').next()?.parse().ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_read_from_ip_output() {
        let text = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n2: eth0    inet 10.0.0.2/24 brd 10.0.0.255 scope global eth0\n";
        assert_eq!(
            parse_addresses(text),
            [Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)]
        );
    }
}
