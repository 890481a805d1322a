//! Loopback helpers for tests that publish ports: a free port, an HTTP GET
//! polled until its answer says something, and a child process that dies
//! with the test.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A TCP port on 127.0.0.1 that nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `GET path` on 127.0.0.1:`port` (HTTP/1.0, the whole answer), every 10 ms
/// until the answer contains `want`: `Ok((answer, how long it took))`, or after
/// `within` the last answer as `Err`.
pub fn get_until(
    port: u16,
    path: &str,
    want: &str,
    within: Duration,
) -> Result<(String, Duration), String> {
    let t = Instant::now();
    let mut last = String::new();
    while t.elapsed() < within {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let _ =
                s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes());
            let mut body = String::new();
            let _ = s.read_to_string(&mut body);
            if body.contains(want) {
                return Ok((body, t.elapsed()));
            }
            last = body;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(last)
}

/// A process of the test's (`hb watch`, `hb daemon`) that must not outlive a
/// failed assertion: killed and reaped when dropped.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
