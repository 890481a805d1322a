//! Published ports: a free-port check that names who holds a taken port, and the
//! `hb-proxy` process that serves a container's ports on the host.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{Error, Result};

/// One published port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// `tcp` or `udp`.
    pub protocol: String,
    /// Where the host listens (`127.0.0.1:8080` by default).
    pub host: SocketAddr,
    /// The container's address and port in the project namespace.
    pub target: SocketAddr,
}

impl Publish {
    /// The proxy's argument for it: `tcp,127.0.0.1:8080,10.100.0.2:80`.
    pub fn arg(&self) -> String {
        format!("{},{},{}", self.protocol, self.host, self.target)
    }

    /// Reads [`Publish::arg`] back.
    pub fn parse(s: &str) -> Option<Self> {
        let mut it = s.split(',');
        let (protocol, host, target) = (it.next()?, it.next()?, it.next()?);
        if it.next().is_some() || !matches!(protocol, "tcp" | "udp") {
            return None;
        }
        Some(Publish {
            protocol: protocol.to_string(),
            host: host.parse().ok()?,
            target: target.parse().ok()?,
        })
    }
}

/// A running proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Its pid.
    pub pid: u32,
}

/// Fails with [`Error::PortTaken`] (naming the process that holds it, when
/// /proc tells) unless `p.host` can be bound now.
pub fn check_free(p: &Publish) -> Result<()> {
    let taken = match p.protocol.as_str() {
        "udp" => UdpSocket::bind(p.host).err(),
        _ => TcpListener::bind(p.host).err(),
    };
    match taken {
        Some(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(Error::PortTaken {
            addr: format!("{}/{}", p.host, p.protocol),
            holder: holder(&p.protocol, p.host.port())
                .map(|h| format!(" by {h}"))
                .unwrap_or_default(),
        }),
        Some(e) => Err(Error::Proxy {
            container: String::new(),
            message: format!("cannot listen on {}: {e}", p.host),
        }),
        None => Ok(()),
    }
}

/// A port nobody listens on now, for a container port published without a host port.
pub fn free_port() -> Option<u16> {
    portpicker::pick_unused_port()
}

/// `pid N (command line)` of the process holding `port`, from /proc/net and /proc/*/fd.
pub fn holder(protocol: &str, port: u16) -> Option<String> {
    let tables: &[&str] = if protocol == "udp" {
        &["/proc/net/udp", "/proc/net/udp6"]
    } else {
        &["/proc/net/tcp", "/proc/net/tcp6"]
    };
    let inode = tables
        .iter()
        .find_map(|t| socket_inode(t, port, protocol == "tcp"))?;
    let target = format!("socket:[{inode}]");
    for proc_entry in fs::read_dir("/proc").ok()?.flatten() {
        let name = proc_entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = fs::read_dir(proc_entry.path().join("fd")) else {
            continue;
        };
        if fds
            .flatten()
            .any(|fd| fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == target.as_str()))
        {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            return Some(format!("pid {pid} ({})", cmd.trim()));
        }
    }
    None
}

/// The inode of the socket bound to `port` in a /proc/net table (listening, for TCP).
fn socket_inode(table: &str, port: u16, listening: bool) -> Option<u64> {
    let text = fs::read_to_string(table).ok()?;
    text.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
        let local_port = f.get(1)?.rsplit(':').next()?;
        let ok =
            u16::from_str_radix(local_port, 16).ok()? == port && (!listening || *f.get(3)? == "0A");
        ok.then(|| f.get(9)?.parse().ok()).flatten()
    })
}

/// Starts `hb-proxy` for a container: it listens on each `host` address and
/// forwards into namespace `netns`. Returns once it listens (or says why not).
/// Its pid goes to `dir/proxy.pid`, its messages to `dir/proxy.log`.
pub fn start_proxy(
    proxy: &Path,
    netns: &Path,
    container: &str,
    dir: &Path,
    maps: &[Publish],
) -> Result<Published> {
    use std::os::unix::process::CommandExt;
    let io_err = |path: PathBuf| move |source| Error::Io { path, source };
    let log_path = dir.join("proxy.log");
    let log = fs::File::create(&log_path).map_err(io_err(log_path.clone()))?;
    let mut child = Command::new(proxy)
        .arg("--netns")
        .arg(netns)
        .args(maps.iter().map(Publish::arg))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        // Its own process group: it outlives the CLI and ignores its Ctrl-C.
        .process_group(0)
        .spawn()
        .map_err(|e| Error::Proxy {
            container: container.to_string(),
            message: format!("cannot run {}: {e}", proxy.display()),
        })?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    if line.trim() != "ready" {
        let _ = child.kill();
        let _ = child.wait();
        let message = fs::read_to_string(&log_path).unwrap_or_default();
        return Err(Error::Proxy {
            container: container.to_string(),
            message: message.trim().to_string(),
        });
    }
    let pid_path = dir.join("proxy.pid");
    fs::write(&pid_path, child.id().to_string()).map_err(io_err(pid_path))?;
    Ok(Published { pid: child.id() })
}

/// Stops the container's proxy, if it runs (checked by name, so a reused pid is
/// never signalled).
pub fn stop_proxy(dir: &Path) {
    let pid_path = dir.join("proxy.pid");
    let Some(pid) = fs::read_to_string(&pid_path)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
    else {
        return;
    };
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if comm.trim() == "hb-proxy" {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        // Reap it if it is our child (a long-lived CLI); otherwise init does.
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    }
    let _ = fs::remove_file(pid_path);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_round_trip() {
        let p = Publish {
            protocol: "udp".into(),
            host: "127.0.0.1:5353".parse().expect("addr"),
            target: "10.100.0.2:53".parse().expect("addr"),
        };
        assert_eq!(p.arg(), "udp,127.0.0.1:5353,10.100.0.2:53");
        assert_eq!(Publish::parse(&p.arg()), Some(p));
        assert_eq!(Publish::parse("sctp,1.2.3.4:1,1.2.3.4:2"), None);
        let v6 = Publish::parse("tcp,[::1]:8080,10.100.0.2:80").expect("v6");
        assert_eq!(v6.host.port(), 8080);
    }

    #[test]
    fn a_taken_port_names_its_holder() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let host = l.local_addr().expect("addr");
        let p = Publish {
            protocol: "tcp".into(),
            host,
            target: "10.100.0.2:80".parse().expect("addr"),
        };
        let e = check_free(&p).expect_err("taken").to_string();
        assert!(
            e.contains(&format!(
                "{host}/tcp is already in use by pid {}",
                std::process::id()
            )),
            "{e}"
        );
        assert!(e.contains("--auto-ports"), "{e}");
        drop(l);
        check_free(&p).expect("free again");
    }
}
