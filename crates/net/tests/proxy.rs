//! hb-proxy end to end: a namespace of the test's own, echo servers in it, and
//! the proxy carrying TCP (with half-close) and UDP (per client) from the
//! host's loopback into it — the path a published port takes.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hb_net::ports::{start_proxy, stop_proxy};
use hb_net::Publish;
use hb_test_support::net::free_port;
use hb_test_support::privileged;

const ECHO: &str = r#"
import socket, threading
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("127.0.0.1", 7001)); t.listen()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 7002))
def udp():
    while True:
        data, peer = u.recvfrom(65536)
        u.sendto(b"udp:" + data, peer)
threading.Thread(target=udp, daemon=True).start()
print("ready", flush=True)
while True:
    c, _ = t.accept()
    data = b""
    while True:
        b = c.recv(65536)
        if not b:
            break
        data += b
    c.sendall(b"tcp:" + data)
    c.close()
"#;

struct Ns(String);

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn ip(args: &[&str]) {
    let s = Command::new("ip").args(args).status().expect("ip runs");
    assert!(s.success(), "ip {args:?}");
}

#[test]
#[ignore = "privileged: root, iproute2, python3"]
fn tcp_and_udp_reach_a_server_inside_a_namespace() {
    if !privileged(&["ip", "python3"]) {
        return;
    }
    let ns = Ns(format!("hbtest-proxy-{}", std::process::id()));
    ip(&["netns", "add", &ns.0]);
    ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
    let mut echo: Child = Command::new("ip")
        .args(["netns", "exec", &ns.0, "python3", "-c", ECHO])
        .stdout(Stdio::piped())
        .spawn()
        .expect("echo server");
    let mut ready = [0u8; 6];
    echo.stdout
        .as_mut()
        .expect("stdout")
        .read_exact(&mut ready)
        .expect("ready");

    let dir = tempfile::tempdir().expect("tempdir");
    let (tcp_port, udp_port) = (free_port(), free_port());
    let maps = [
        Publish::parse(&format!("tcp,127.0.0.1:{tcp_port},127.0.0.1:7001")).expect("map"),
        Publish::parse(&format!("udp,127.0.0.1:{udp_port},127.0.0.1:7002")).expect("map"),
    ];
    let proxy = Path::new(env!("CARGO_BIN_EXE_hb-proxy"));
    let netns = Path::new("/run/netns").join(&ns.0);
    let p = start_proxy(proxy, &netns, "test", dir.path(), &maps).expect("proxy starts");

    // TCP, with the client's half-close passed on (the server answers at EOF).
    let mut s = TcpStream::connect(("127.0.0.1", tcp_port)).expect("connect");
    s.write_all(b"hello").expect("write");
    s.shutdown(Shutdown::Write).expect("half-close");
    let mut got = String::new();
    s.read_to_string(&mut got).expect("read");
    assert_eq!(got, "tcp:hello");

    // UDP, two clients, each answered on its own.
    let a = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let b = UdpSocket::bind("127.0.0.1:0").expect("bind");
    for s in [&a, &b] {
        s.set_read_timeout(Some(Duration::from_secs(3)))
            .expect("timeout");
    }
    a.send_to(b"from-a", ("127.0.0.1", udp_port)).expect("send");
    b.send_to(b"from-b", ("127.0.0.1", udp_port)).expect("send");
    let mut buf = [0u8; 64];
    let n = a.recv(&mut buf).expect("a's answer");
    assert_eq!(&buf[..n], b"udp:from-a");
    let n = b.recv(&mut buf).expect("b's answer");
    assert_eq!(&buf[..n], b"udp:from-b");

    // The same host port cannot be had twice: the second proxy says why.
    let e = start_proxy(proxy, &netns, "again", dir.path(), &maps[..1]).expect_err("taken");
    assert!(e.to_string().contains("cannot listen on"), "{e}");

    stop_proxy(dir.path());
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(format!("/proc/{}/comm", p.pid))
        .is_ok_and(|c| c.trim() == "hb-proxy")
    {
        assert!(Instant::now() < deadline, "the proxy outlived stop_proxy");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        TcpStream::connect(("127.0.0.1", tcp_port)).is_err(),
        "the port is free again"
    );
    let _ = echo.kill();
    let _ = echo.wait();
}
