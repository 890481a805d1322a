//! Helpers for tests that publish ports and watch processes: a free port, an
//! HTTP GET polled until its answer says something, a child process that dies
//! with the test, the lines a child prints, gathered as they come, and Ctrl-C.

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
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

/// The lines `from` yields (a child's stderr), gathered by a thread as they come.
pub fn gather_lines(from: impl Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let into = lines.clone();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(from).lines().map_while(Result::ok) {
            into.lock().expect("lines").push(l);
        }
    });
    lines
}

/// The first of `lines` containing `what`, waiting up to `within` for it to
/// come; panics with every line so far if it does not.
pub fn line_with(lines: &Mutex<Vec<String>>, what: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        if let Some(l) = lines
            .lock()
            .expect("lines")
            .iter()
            .find(|l| l.contains(what))
        {
            return l.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no line with {what:?} in {:#?}",
            lines.lock().expect("lines")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How many network interfaces the host's own namespace has (`ip -o link`), to
/// tell a container on the host's network from one in a namespace of its own.
pub fn host_links() -> usize {
    let out = std::process::Command::new("ip")
        .args(["-o", "link"])
        .output()
        .expect("ip runs");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// Sends `child` SIGINT, as Ctrl-C at its terminal would.
pub fn ctrl_c(child: &std::process::Child) {
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(sent, "kill -INT {}", child.id());
}
