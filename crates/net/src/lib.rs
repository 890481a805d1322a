//! Project networks: what makes the containers of one project reach each other
//! by name and the host reach their published ports, and nothing else.
//!
//! Each project gets a network namespace holding one bridge per compose network;
//! each container gets a namespace of its own with a veth into every bridge it is
//! on and an address from that network's subnet. The project namespace has no
//! uplink, so a container has no route off the machine (not even a DNS query: its
//! `resolv.conf` names no server and names come from `/etc/hosts`). Published
//! ports are served on the host by `hb-proxy`, which listens in the host
//! namespace and connects from inside the project's.
//!
//! ```text
//! host ns ── hb-proxy (127.0.0.1:8080) ──connect──┐
//! project ns (hbp…):  bridge hbr0 10.100.0.1/16 ◄─┘ ── vh… ─┐
//! container ns (hbc…):                         eth0 10.100.0.2/16
//! ```
//!
//! Namespaces are bind-mounted under `/run/netns` (as podman's are), so `ip -n`
//! and `ip netns list` show them; their names carry the runtime's tag of
//! `$HB_RUN`, so two hb roots (the tests make many) never meet.
//!
//! Non-goals: deciding which containers exist or which addresses they get (the
//! engine does, and remembers them).

pub mod hosts;
pub mod ip;
pub mod ports;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

pub use ip::{Ip, RealIp};
pub use ports::{Publish, Published};

/// Why a network operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `ip` failed.
    #[error("cannot set up the network ({what}): {stderr}")]
    Ip {
        /// What hb was doing.
        what: String,
        /// `ip`'s message.
        stderr: String,
    },
    /// A host port is taken.
    #[error("port {addr} is already in use{holder}: stop it, publish another port, or run `hb up --auto-ports` to map free ports instead")]
    PortTaken {
        /// The address asked for.
        addr: String,
        /// ` by pid N (command)`, when /proc tells.
        holder: String,
    },
    /// The proxy did not come up.
    #[error("cannot publish ports for {container}: {message}")]
    Proxy {
        /// The container.
        container: String,
        /// What went wrong.
        message: String,
    },
    /// A file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A network has no addresses left.
    #[error("network {network} has no free address left (it holds {max} containers)")]
    Full {
        /// The network.
        network: String,
        /// Its size.
        max: u32,
    },
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// The most networks one project can have (each a /16 of 10.100.0.0/8 upwards).
pub const MAX_NETWORKS: u32 = 150;

/// A project network's subnet: network `index` of the project gets
/// `10.(100+index).0.0/16`, its bridge the first address. Projects live in
/// separate namespaces, so they may all use the same subnets.
pub fn subnet(index: u32) -> (Ipv4Addr, u8) {
    (
        Ipv4Addr::new(10, (100 + index.min(MAX_NETWORKS)) as u8, 0, 0),
        16,
    )
}

/// The bridge's (gateway's) address on network `index`.
pub fn gateway(index: u32) -> Ipv4Addr {
    host_address(index, 1)
}

/// The `n`th address of network `index` (1 is the gateway; containers start at 2).
pub fn host_address(index: u32, n: u32) -> Ipv4Addr {
    let (base, _) = subnet(index);
    Ipv4Addr::from(u32::from(base) + n)
}

/// The usable container numbers of a network: 2 ..= 65534.
pub const HOSTS: std::ops::RangeInclusive<u32> = 2..=65534;

/// One attachment of a container to a project network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The network's index in the project (its bridge is `hbr<index>`).
    pub network: u32,
    /// The container's address on it.
    pub address: Ipv4Addr,
}

/// The network side of hb: names namespaces and sets them up through [`Ip`].
pub struct Net<'a> {
    tag: String,
    ip: &'a dyn Ip,
}

impl<'a> Net<'a> {
    /// The networks of the hb whose runtime directory has `tag`
    /// (`hb_runtime::container::Runtime::tag`).
    pub fn new(tag: &str, ip: &'a dyn Ip) -> Self {
        Net {
            tag: tag.to_string(),
            ip,
        }
    }

    /// The project's namespace name.
    pub fn project_ns(&self, project: &str) -> String {
        format!("hbp{}-{project}", self.tag)
    }

    /// A container's namespace name.
    pub fn container_ns(&self, container: &str) -> String {
        format!("hbc{}-{container}", self.tag)
    }

    /// The nsfs file a container joins.
    pub fn ns_path(name: &str) -> PathBuf {
        Path::new(ip::NETNS_DIR).join(name)
    }

    /// Creates the project's namespace with a bridge per network index, unless
    /// it is already there with them.
    pub fn ensure_project(&self, project: &str, networks: &[u32]) -> Result<()> {
        let ns = self.project_ns(project);
        if !Self::ns_path(&ns).exists() {
            self.ip.run(
                None,
                &format!("netns add {ns}\n"),
                "create the project namespace",
            )?;
            self.ip
                .run(Some(&ns), "link set lo up\n", "bring up loopback")?;
        }
        let have = self.ip.links(&ns)?;
        let mut cmds = String::new();
        for i in networks {
            let br = format!("hbr{i}");
            if have.iter().any(|l| l == &br) {
                continue;
            }
            let (_, prefix) = subnet(*i);
            cmds.push_str(&format!(
                "link add {br} type bridge\naddr add {}/{prefix} dev {br}\nlink set {br} up\n",
                gateway(*i)
            ));
        }
        if !cmds.is_empty() {
            self.ip
                .run(Some(&ns), &cmds, "create the project's bridges")?;
        }
        Ok(())
    }

    /// Gives a container a namespace of its own with a veth on each network's
    /// bridge; returns the namespace file for its runtime spec. Any namespace
    /// left from an earlier container of that name is replaced.
    pub fn attach(&self, project: &str, container: &str, on: &[Attachment]) -> Result<PathBuf> {
        let pns = self.project_ns(project);
        let cns = self.container_ns(container);
        if Self::ns_path(&cns).exists() {
            self.detach(container)?;
        }
        self.ip.run(
            None,
            &format!("netns add {cns}\n"),
            "create the container's namespace",
        )?;
        let mut veths = String::new();
        let mut names = Vec::new();
        let mut bridge = String::new();
        let mut inside = String::from("link set lo up\n");
        for (k, a) in on.iter().enumerate() {
            // The host end's name must be unique in the project namespace and at most 15 bytes.
            let vh = veth_name(container, k);
            let (_, prefix) = subnet(a.network);
            // The MAC follows from the address, as Docker derives it (02:42 and
            // the IPv4 bytes): a container recreated at the same address keeps
            // its MAC, so the neighbour entries the bridge side cached stay true
            // (with a fresh random MAC they point at the old container's veth
            // until they expire, and the proxy's connections go nowhere).
            let mac = mac_for(a.address);
            veths.push_str(&format!(
                "link add {vh} netns {pns} type veth peer name eth{k} address {mac} netns {cns}\n"
            ));
            bridge.push_str(&format!("link set {vh} master hbr{} up\n", a.network));
            inside.push_str(&format!(
                "addr add {}/{prefix} dev eth{k}\nlink set eth{k} up\n",
                a.address
            ));
            names.push(vh);
        }
        // The first network's bridge is the default route: it leads nowhere but the
        // project (no uplink), which makes an unknown address fail fast.
        if let Some(first) = on.first() {
            inside.push_str(&format!(
                "route add default via {}\n",
                gateway(first.network)
            ));
        }
        let done = self
            .make_veths(&pns, &names, &veths)
            .and_then(|_| {
                self.ip
                    .run(Some(&pns), &bridge, "attach the veths to the bridges")
            })
            .and_then(|_| {
                self.ip
                    .run(Some(&cns), &inside, "configure the container's interfaces")
            });
        if let Err(e) = done {
            let _ = self.detach(container);
            return Err(e);
        }
        Ok(Self::ns_path(&cns))
    }

    /// Creates the veths. The kernel frees a deleted namespace's veths lazily,
    /// so the host end of an earlier container of the same name may still be
    /// there, or going: it is removed (if it has not gone meanwhile) and the
    /// creation tried again, for up to a second.
    fn make_veths(&self, pns: &str, names: &[String], batch: &str) -> Result<()> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        loop {
            let stale: String = self
                .ip
                .links(pns)?
                .iter()
                .filter(|l| names.contains(l))
                .map(|l| format!("link del {l}\n"))
                .collect();
            if !stale.is_empty() {
                let _ = self.ip.run(Some(pns), &stale, "remove a stale veth");
            }
            match self.ip.run(None, batch, "create the container's veths") {
                Err(Error::Ip { stderr, .. })
                    if stderr.contains("File exists") && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                other => return other,
            }
        }
    }

    /// Removes a container's namespace. Its veths go with it, asynchronously
    /// (deleting them one by one waits for the kernel, ~20 ms each): [`Net::attach`]
    /// clears one still there when the name comes back.
    pub fn detach(&self, container: &str) -> Result<()> {
        let cns = self.container_ns(container);
        if Self::ns_path(&cns).exists() {
            let deleted = self.ip.run(
                None,
                &format!("netns del {cns}\n"),
                "remove the container's namespace",
            );
            // Deleted meanwhile by another removal of the same container: done.
            if Self::ns_path(&cns).exists() {
                deleted?;
            }
        }
        Ok(())
    }

    /// A way from the project to the host, for `extra_hosts: host-gateway`: a
    /// veth between the host and the project namespace on a /30 of 169.254/16
    /// (link-local, so nothing routes it anywhere), with the project side
    /// masqueraded (nftables) so replies find their way back whatever the
    /// container's own address. The project namespace routes only that /30 to
    /// the host: a container reaches the host's address on it and nothing
    /// beyond. Returns the host's address, which containers know as
    /// `host.docker.internal`. Kept until the project namespace goes.
    pub fn ensure_host_gateway(&self, project: &str) -> Result<Ipv4Addr> {
        let pns = self.project_ns(project);
        let name = format!("hbg{:08x}", fnv(&pns) as u32);
        if let Some(addr) = self.ip.address(None, &name)? {
            return Ok(addr);
        }
        // A /30 the host does not use yet, starting where the name's hash points.
        let used = self.ip.addresses(None)?;
        let start = fnv(&name) as u32 % 16_384;
        let block = (0..16_384)
            .map(|i| (start + i) % 16_384)
            .map(|b| Ipv4Addr::from(u32::from(Ipv4Addr::new(169, 254, 0, 0)) + b * 4))
            .find(|base| {
                let b = u32::from(*base);
                !used.iter().any(|u| (u32::from(*u) & !3) == b)
            })
            .ok_or_else(|| Error::Ip {
                what: "choose an address for the host gateway".into(),
                stderr: "169.254.0.0/16 is full".into(),
            })?;
        let host = Ipv4Addr::from(u32::from(block) + 1);
        let inside = Ipv4Addr::from(u32::from(block) + 2);
        self.ip.run(
            None,
            &format!(
                "link add {name} type veth peer name hbgw netns {pns}\naddr add {host}/30 dev {name}\nlink set {name} up\n"
            ),
            "create the host gateway",
        )?;
        self.ip.run(
            Some(&pns),
            &format!("addr add {inside}/30 dev hbgw\nlink set hbgw up\n"),
            "configure the host gateway",
        )?;
        self.ip.gateway_nat(&pns, "hbgw")?;
        Ok(host)
    }

    /// Removes the project's namespace and its bridges, and the namespaces of
    /// `containers` if any are left.
    pub fn remove_project(&self, project: &str, containers: &[String]) -> Result<()> {
        let prefix = self.container_ns(&format!("{project}-"));
        let mut left: Vec<String> = containers.iter().map(|c| self.container_ns(c)).collect();
        left.extend(
            self.namespaces()
                .into_iter()
                .filter(|n| n.starts_with(&prefix)),
        );
        left.sort();
        left.dedup();
        for cns in left {
            if Self::ns_path(&cns).exists() {
                self.ip.run(
                    None,
                    &format!("netns del {cns}\n"),
                    "remove a container's namespace",
                )?;
            }
        }
        let ns = self.project_ns(project);
        if Self::ns_path(&ns).exists() {
            self.ip.run(
                None,
                &format!("netns del {ns}\n"),
                "remove the project namespace",
            )?;
        }
        Ok(())
    }

    /// Every namespace of this hb root (for leak checks and `hb doctor`).
    pub fn namespaces(&self) -> Vec<String> {
        let mine = |n: &str| {
            n.strip_prefix("hbp")
                .or_else(|| n.strip_prefix("hbc"))
                .is_some_and(|r| r.starts_with(&format!("{}-", self.tag)))
        };
        let mut out: Vec<String> = std::fs::read_dir(ip::NETNS_DIR)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| mine(n))
            .collect();
        out.sort();
        out
    }
}

/// A container interface's MAC: `02:42` (locally administered) and the address's bytes.
fn mac_for(a: Ipv4Addr) -> String {
    let [b0, b1, b2, b3] = a.octets();
    format!("02:42:{b0:02x}:{b1:02x}:{b2:02x}:{b3:02x}")
}

/// The host end of a container's `k`th veth: unique in the project namespace,
/// at most 15 bytes (IFNAMSIZ).
fn veth_name(container: &str, k: usize) -> String {
    format!("vh{:08x}{k}", fnv(container) as u32)
}

/// FNV-1a: a stable, dependency-free hash for short names.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[derive(Default)]
    struct Recorder(RefCell<Vec<(Option<String>, String)>>);

    impl Ip for Recorder {
        fn run(&self, ns: Option<&str>, batch: &str, _what: &str) -> Result<()> {
            self.0
                .borrow_mut()
                .push((ns.map(str::to_string), batch.to_string()));
            Ok(())
        }
        fn links(&self, _ns: &str) -> Result<Vec<String>> {
            Ok(vec!["lo".into(), "hbr0".into()])
        }
        fn address(&self, _ns: Option<&str>, _link: &str) -> Result<Option<Ipv4Addr>> {
            Ok(None)
        }
        fn addresses(&self, _ns: Option<&str>) -> Result<Vec<Ipv4Addr>> {
            Ok(vec![Ipv4Addr::new(169, 254, 0, 1)])
        }
        fn gateway_nat(&self, ns: &str, link: &str) -> Result<()> {
            self.0
                .borrow_mut()
                .push((Some(ns.to_string()), format!("nat {link}")));
            Ok(())
        }
    }

    #[test]
    fn addresses_follow_the_network_index() {
        assert_eq!(gateway(0), Ipv4Addr::new(10, 100, 0, 1));
        assert_eq!(host_address(2, 300), Ipv4Addr::new(10, 102, 1, 44));
        assert_eq!(subnet(1), (Ipv4Addr::new(10, 101, 0, 0), 16));
    }

    #[test]
    fn attach_puts_each_end_in_its_namespace() {
        let rec = Recorder::default();
        let net = Net::new("1a2b3c", &rec);
        net.ensure_project("shop", &[0, 1]).expect("ensure");
        let calls = rec.0.borrow().clone();
        let bridges = &calls.last().expect("a call").1;
        assert!(!bridges.contains("hbr0 type bridge"), "hbr0 exists already");
        assert!(bridges.contains("link add hbr1 type bridge\naddr add 10.101.0.1/16 dev hbr1"));

        rec.0.borrow_mut().clear();
        net.attach(
            "shop",
            "shop-web-1",
            &[Attachment {
                network: 1,
                address: Ipv4Addr::new(10, 101, 0, 5),
            }],
        )
        .expect("attach");
        let calls = rec.0.borrow().clone();
        let pns = net.project_ns("shop");
        let cns = net.container_ns("shop-web-1");
        assert_eq!(calls[0], (None, format!("netns add {cns}\n")));
        assert_eq!(calls[1].0, None);
        assert!(calls[1].1.contains(&format!(
            "netns {pns} type veth peer name eth0 address 02:42:0a:65:00:05 netns {cns}"
        )));
        assert_eq!(calls[2].0.as_deref(), Some(pns.as_str()));
        assert!(calls[2].1.contains("master hbr1 up"));
        assert_eq!(calls[3].0.as_deref(), Some(cns.as_str()));
        assert!(calls[3].1.contains("addr add 10.101.0.5/16 dev eth0"));
        assert!(calls[3].1.ends_with("route add default via 10.101.0.1\n"));
    }

    #[test]
    fn the_host_gateway_takes_a_free_link_local_block() {
        let rec = Recorder::default();
        let net = Net::new("1a2b3c", &rec);
        let host = net.ensure_host_gateway("shop").expect("gateway");
        assert_eq!(host.octets()[..2], [169, 254]);
        assert_eq!(host.octets()[3] % 4, 1, "the first address of a /30");
        let calls = rec.0.borrow().clone();
        assert!(calls[0].1.contains(&format!("addr add {host}/30")));
        assert!(calls[1].1.contains("dev hbgw"));
        assert_eq!(calls[2].1, "nat hbgw");
    }

    #[test]
    fn roots_get_distinct_names() {
        let rec = Recorder::default();
        let a = Net::new("1a2b3c", &rec);
        let b = Net::new("4d5e6f", &rec);
        assert_ne!(a.project_ns("p"), b.project_ns("p"));
        assert!(a.container_ns("p-web-1").starts_with("hbc"));
    }
}
