//! `hb-shim`: one small process per container, like podman's conmon. It runs
//! `crun run` in the foreground, writes the container's stdout and stderr to a
//! log file in the CRI format (`RFC3339NANO stdout|stderr F|P text`), records
//! the exit code in a status file written atomically, and removes crun's
//! state when the container is gone. The CLI (or the daemon) starts it in a
//! process group of its own and may exit: the container keeps running.
//!
//! Standard library only — no async runtime — so it stays small.
//!
//! Usage: hb-shim --crun PATH --root DIR --bundle DIR --id ID --log FILE --status FILE

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// A log line longer than this is split into partial (`P`) lines.
const MAX_LINE: usize = 16 * 1024;

/// RFC 3339 with nanoseconds, UTC: what CRI logs use.
fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        d.subsec_nanos()
    )
}

/// Writes `content` to `path` through a temporary file and a rename, so a reader
/// never sees half of it.
fn write_atomic(path: &Path, content: &str) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp)?;
        f.write_all(content.as_bytes())?;
        f.sync_all()?;
    }
    fs::rename(tmp, path)
}

/// Copies one stream into the shared log, a CRI line per line.
fn pump(stream: impl Read, name: &'static str, log: Arc<Mutex<File>>) {
    let mut r = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = match r.by_ref().take(MAX_LINE as u64).read_until(b'\n', &mut buf) {
            Ok(n) => n,
            Err(_) => break,
        };
        if n == 0 {
            break;
        }
        let full = buf.last() == Some(&b'\n');
        if full {
            buf.pop();
        }
        let mut line = format!(
            "{} {name} {} ",
            timestamp(SystemTime::now()),
            if full { 'F' } else { 'P' }
        )
        .into_bytes();
        line.extend_from_slice(&buf);
        line.push(b'\n');
        if let Ok(mut f) = log.lock() {
            let _ = f.write_all(&line);
        }
    }
}

fn args() -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let key = k
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {k}"))?
            .to_string();
        let v = it.next().ok_or_else(|| format!("--{key} needs a value"))?;
        out.insert(key, v);
    }
    for need in ["crun", "root", "bundle", "id", "log", "status"] {
        if !out.contains_key(need) {
            return Err(format!("missing --{need}"));
        }
    }
    Ok(out)
}

fn main() -> ExitCode {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            let _ = writeln!(io::stderr(), "hb-shim: {e}\nusage: hb-shim --crun PATH --root DIR --bundle DIR --id ID --log FILE --status FILE");
            return ExitCode::from(2);
        }
    };
    let status = PathBuf::from(&a["status"]);
    let log = match OpenOptions::new().create(true).append(true).open(&a["log"]) {
        Ok(f) => Arc::new(Mutex::new(f)),
        Err(e) => {
            let _ = write_atomic(
                &status,
                &format!("{{\"state\":\"failed\",\"error\":\"cannot open the log: {e}\"}}\n"),
            );
            return ExitCode::FAILURE;
        }
    };
    let started = timestamp(SystemTime::now());
    let mut child = match Command::new(&a["crun"])
        .args([
            "--root",
            &a["root"],
            "run",
            "--bundle",
            &a["bundle"],
            &a["id"],
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            let _ = write_atomic(
                &status,
                &format!(
                    "{{\"state\":\"failed\",\"error\":\"cannot run {}: {e}\"}}\n",
                    a["crun"]
                ),
            );
            return ExitCode::FAILURE;
        }
    };
    let _ = write_atomic(
        &status,
        &format!("{{\"state\":\"running\",\"shim_pid\":{},\"crun_pid\":{},\"started_at\":\"{started}\"}}\n", std::process::id(), child.id()),
    );
    let out = child.stdout.take().map(|s| {
        let log = log.clone();
        std::thread::spawn(move || pump(s, "stdout", log))
    });
    let err = child.stderr.take().map(|s| {
        let log = log.clone();
        std::thread::spawn(move || pump(s, "stderr", log))
    });
    let code = match child.wait() {
        Ok(s) => {
            use std::os::unix::process::ExitStatusExt;
            s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
        }
        Err(_) => 255,
    };
    for t in [out, err].into_iter().flatten() {
        let _ = t.join();
    }
    if let Ok(f) = log.lock() {
        let _ = f.sync_all();
    }
    // The container is gone: crun's state for it goes too.
    let _ = Command::new(&a["crun"])
        .args(["--root", &a["root"], "delete", "--force", &a["id"]])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let finished = timestamp(SystemTime::now());
    let _ = write_atomic(&status, &format!("{{\"state\":\"exited\",\"exit_code\":{code},\"started_at\":\"{started}\",\"finished_at\":\"{finished}\"}}\n"));
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_rfc3339_nano_utc() {
        let t = UNIX_EPOCH + Duration::new(1_764_504_000, 123_456_789);
        assert_eq!(timestamp(t), "2025-11-30T12:00:00.123456789Z");
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            timestamp(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000000000Z"
        );
    }

    #[test]
    fn streams_become_cri_lines() {
        let d = std::env::temp_dir().join(format!("hb-shim-test-{}", std::process::id()));
        let log = Arc::new(Mutex::new(File::create(&d).expect("log")));
        let long = "x".repeat(MAX_LINE + 10);
        pump(format!("one\ntwo\n{long}\nlast").as_bytes(), "stderr", log);
        let text = fs::read_to_string(&d).expect("read");
        let _ = fs::remove_file(&d);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(
            lines[0].ends_with(" stderr F one") && lines[0].contains('T') && lines[0].contains('Z'),
            "{}",
            lines[0]
        );
        assert!(
            lines[2].contains(" stderr P xxx"),
            "a long line is split into a partial line"
        );
        assert!(lines[3].ends_with(" stderr F xxxxxxxxxx"));
        assert!(
            lines[4].ends_with(" stderr P last"),
            "no newline at the end: partial"
        );
    }
}
