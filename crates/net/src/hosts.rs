//! `/etc/hosts` for a container on project networks: every service, alias and
//! container name it can reach, as Docker's embedded DNS would answer them.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// One container as others on a network see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Its address on the network.
    pub address: Ipv4Addr,
    /// The network's index.
    pub network: u32,
    /// Its names: container name, service name, hostname, aliases.
    pub names: Vec<String>,
}

/// The host lines for a container on `networks`: each peer on one of them
/// (itself first, so its own names resolve to its own address), one line per
/// address, names not repeated. `extra` lines (`extra_hosts`) come last.
pub fn lines(me: &str, networks: &[u32], peers: &[Peer], extra: &[String]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mine = peers
        .iter()
        .filter(|p| p.names.first().is_some_and(|n| n == me));
    let others = peers
        .iter()
        .filter(|p| p.names.first().is_none_or(|n| n != me));
    for p in mine.chain(others) {
        if !networks.contains(&p.network) {
            continue;
        }
        let names: Vec<&str> = p
            .names
            .iter()
            .map(String::as_str)
            .filter(|n| seen.insert(n.to_string()))
            .collect();
        if !names.is_empty() {
            out.push(format!("{}\t{}", p.address, names.join(" ")));
        }
    }
    out.extend(extra.iter().cloned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(a: u8, network: u32, names: &[&str]) -> Peer {
        Peer {
            address: Ipv4Addr::new(10, 100, 0, a),
            network,
            names: names.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn own_names_first_and_other_networks_left_out() {
        let peers = [
            peer(2, 0, &["p-db-1", "db"]),
            peer(3, 0, &["p-web-1", "web", "www"]),
            peer(4, 1, &["p-hidden-1", "hidden"]),
            peer(5, 0, &["p-web-2", "web"]),
        ];
        let l = lines(
            "p-web-1",
            &[0],
            &peers,
            &["192.0.2.1\thost.docker.internal".into()],
        );
        assert_eq!(
            l,
            [
                "10.100.0.3\tp-web-1 web www",
                "10.100.0.2\tp-db-1 db",
                "10.100.0.5\tp-web-2",
                "192.0.2.1\thost.docker.internal"
            ]
        );
    }
}
