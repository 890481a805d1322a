//! hb-proxy: serves a container's published ports on the host.
//!
//! ```text
//! hb-proxy --netns /run/netns/hbp…-shop tcp,127.0.0.1:8080,10.100.0.2:80 [udp,…]
//! ```
//!
//! It binds every host address first (in the host's network namespace), then
//! moves into the project's namespace, so each connection it makes to a
//! container starts inside the project and the project's addresses never
//! appear on the host. Prints `ready` on stdout once it listens, or exits 1 with
//! the reason on stderr. A thread per TCP connection direction; UDP keeps one
//! socket per client address, as docker-proxy does.

#![allow(clippy::print_stdout, clippy::print_stderr)] // its protocol: `ready` on stdout, reasons on stderr

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hb_net::Publish;

enum Listener {
    Tcp(TcpListener, SocketAddr),
    Udp(UdpSocket, SocketAddr),
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (netns, maps) = match args.split_first() {
        Some((flag, rest)) if flag == "--netns" && !rest.is_empty() => (&rest[0], &rest[1..]),
        _ => die("usage: hb-proxy --netns PATH PROTO,HOST:PORT,TARGET:PORT..."),
    };
    let mut listeners = Vec::new();
    for m in maps {
        let Some(p) = Publish::parse(m) else {
            die(&format!("bad mapping {m:?}"));
        };
        let l = match p.protocol.as_str() {
            "udp" => UdpSocket::bind(p.host).map(|s| Listener::Udp(s, p.target)),
            _ => TcpListener::bind(p.host).map(|s| Listener::Tcp(s, p.target)),
        };
        match l {
            Ok(l) => listeners.push(l),
            Err(e) => die(&format!("cannot listen on {}/{}: {e}", p.host, p.protocol)),
        }
    }
    // Every thread started from here on is in the project's namespace.
    let ns = std::fs::File::open(netns).unwrap_or_else(|e| die(&format!("{netns}: {e}")));
    if let Err(e) = nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET) {
        die(&format!("cannot enter {netns}: {e}"));
    }
    let mut threads = Vec::new();
    for l in listeners {
        threads.push(std::thread::spawn(move || match l {
            Listener::Tcp(l, target) => serve_tcp(l, target),
            Listener::Udp(s, target) => serve_udp(s, target),
        }));
    }
    println!("ready");
    let _ = std::io::stdout().flush();
    for t in threads {
        let _ = t.join();
    }
}

fn die(msg: &str) -> ! {
    eprintln!("hb-proxy: {msg}");
    std::process::exit(1)
}

fn serve_tcp(l: TcpListener, target: SocketAddr) {
    for conn in l.incoming() {
        let Ok(client) = conn else { continue };
        std::thread::spawn(move || {
            // A container that is starting may not listen yet: a refused
            // connection is closed, as Docker's proxy does, so the client retries.
            let Ok(upstream) = TcpStream::connect_timeout(&target, Duration::from_secs(5)) else {
                let _ = client.shutdown(Shutdown::Both);
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = upstream.set_nodelay(true);
            let (Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone()) else {
                return;
            };
            let back = std::thread::spawn(move || pipe(u2, c2));
            pipe(client, upstream);
            let _ = back.join();
        });
    }
}

/// Copies until EOF, then passes the half-close on.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

fn serve_udp(host: UdpSocket, target: SocketAddr) {
    let host = Arc::new(host);
    let clients: Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>> = Arc::default();
    let mut buf = [0u8; 65536];
    loop {
        let Ok((n, from)) = host.recv_from(&mut buf) else {
            continue;
        };
        let known = clients.lock().ok().and_then(|c| c.get(&from).cloned());
        let upstream = match known {
            Some(u) => u,
            None => {
                let any: SocketAddr = if target.is_ipv4() {
                    "0.0.0.0:0"
                } else {
                    "[::]:0"
                }
                .parse()
                .unwrap_or(target);
                let Ok(u) = UdpSocket::bind(any).and_then(|u| u.connect(target).map(|_| u)) else {
                    continue;
                };
                let u = Arc::new(u);
                let _ = u.set_read_timeout(Some(Duration::from_secs(60)));
                if let Ok(mut c) = clients.lock() {
                    c.insert(from, u.clone());
                }
                let (host, u2, clients) = (host.clone(), u.clone(), clients.clone());
                std::thread::spawn(move || {
                    let mut buf = [0u8; 65536];
                    // Replies until the client has been quiet for a minute.
                    while let Ok(n) = u2.recv(&mut buf) {
                        let _ = host.send_to(&buf[..n], from);
                    }
                    if let Ok(mut c) = clients.lock() {
                        c.remove(&from);
                    }
                });
                u
            }
        };
        let _ = upstream.send(&buf[..n]);
    }
}
