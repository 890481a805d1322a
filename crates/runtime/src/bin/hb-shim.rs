//! `hb-shim`: one small process per container, like podman's conmon. It runs
//! `crun run` in the foreground, writes the container's stdout and stderr to a
//! log file in the CRI format (`RFC3339NANO stdout|stderr F|P text`), records
//! the exit code in a status file written atomically, and removes crun's
//! state when the container is gone. The CLI (or the daemon) starts it in a
//! process group of its own and may exit: the container keeps running. Its
//! stdin is the container's `shim.lock`, locked by whoever started it: held
//! until the shim exits, it tells a start under way from an interrupted one.
//!
//! Standard library only (and `rustix` for a lock and an unmount) — no async
//! runtime — so it stays small.
//!
//! It also applies the restart policy (`--restart no|always|on-failure[:N]|unless-stopped`,
//! with Docker's backoff: 100 ms doubling to a minute; never after `hb container stop`), and runs
//! the healthcheck (`--health`) through `crun exec`, keeping `health` beside `status` current.
//!
//! Usage: hb-shim --crun PATH --root DIR --bundle DIR --id ID --log FILE --status FILE
//!        [--restart POLICY] [--health SPEC] [--log-max-size N] [--log-max-files N]
//!        [--console-socket PATH] [--tty-log yes] [--remove-into TRASH] [--remove-with HB]
//!    or: hb-shim --wait [--crun PATH]   (the same arguments and the lock come over
//!        stdin, `handoff`; meanwhile it makes its sealed copy of crun, `sealed`)
//!
//! `--remove-into TRASH`, for `--rm`: once the container has exited for good,
//! the shim removes it (see `remove_container`). `--remove-with HB`, for
//! `-d --rm` on a bridge: hb removes it (see `remove_with`).
//!
//! `--tty-log yes`, for a detached container with a terminal (compose `tty:
//! true`): the shim listens on `console.sock` beside the status file, takes
//! the terminal crun hands over, and copies what it prints to the log as
//! stdout.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rustix::process::PidfdFlags;

// Std-only, shared with the library (which reads the log back); the shim
// only writes, so the reading half is unused here.
#[path = "../cri.rs"]
#[allow(dead_code)]
mod cri;
use cri::timestamp;

// Receiving a terminal from crun: shared with the library (the attached CLI).
#[path = "../console.rs"]
mod console;

// crun from a sealed copy, so that it need not copy and re-execute itself.
#[path = "../sealed.rs"]
mod sealed;

// Whether a shim that left something in the trash still lives.
#[path = "../procfs.rs"]
mod procfs;

// Status records replaced without ext4's write-back on rename.
#[path = "../replace.rs"]
mod replace;

// A removed container's directory kept for the next one.
#[path = "../recycle.rs"]
#[allow(dead_code)]
mod recycle;

// A container handed to a shim started ahead of it; the shim only receives.
#[path = "../handoff.rs"]
#[allow(dead_code)]
mod handoff;

/// A log line longer than this is split into partial (`P`) lines.
const MAX_LINE: usize = 16 * 1024;

/// Writes a status (or health) record so that a reader never sees half of it.
fn write_atomic(path: &Path, content: &str) -> io::Result<()> {
    replace::write_atomic(path, content.as_bytes())
}

/// The container's log file, rotated at a size limit as Docker's json-file
/// driver rotates (`max-size`, `max-file`): `ctr.log` is current, `ctr.log.1`
/// the one before, up to `ctr.log.<max_files - 1>`.
struct LogFile {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: Option<u64>,
    max_files: u32,
}

impl LogFile {
    fn open(path: &Path, max_size: Option<u64>, max_files: u32) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(LogFile {
            path: path.to_path_buf(),
            file,
            size,
            max_size,
            max_files: max_files.max(1),
        })
    }

    fn write_line(&mut self, line: &[u8]) {
        if let Some(max) = self.max_size {
            if self.size > 0 && self.size + line.len() as u64 > max {
                let _ = self.rotate();
            }
        }
        if self.file.write_all(line).is_ok() {
            self.size += line.len() as u64;
        }
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let numbered = |i: u32| PathBuf::from(format!("{}.{i}", self.path.display()));
        for i in (1..self.max_files.saturating_sub(1)).rev() {
            let _ = fs::rename(numbered(i), numbered(i + 1));
        }
        if self.max_files > 1 {
            fs::rename(&self.path, numbered(1))?;
        }
        self.file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

/// Copies one stream into the shared log, a CRI line per line.
fn pump(stream: impl Read, name: &'static str, log: Arc<Mutex<LogFile>>) {
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
            // A terminal ends its lines with \r\n.
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
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
            f.write_line(&line);
        }
    }
}

fn args(given: Vec<String>) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    let mut it = given.into_iter();
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

/// When to run the container again after it exits (compose `restart`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Restart {
    No,
    Always,
    OnFailure(Option<u32>),
    UnlessStopped,
}

fn parse_restart(s: &str) -> Result<Restart, String> {
    match s {
        "" | "no" => Ok(Restart::No),
        "always" => Ok(Restart::Always),
        "unless-stopped" => Ok(Restart::UnlessStopped),
        "on-failure" => Ok(Restart::OnFailure(None)),
        other => match other.strip_prefix("on-failure:").map(str::parse::<u32>) {
            Some(Ok(n)) => Ok(Restart::OnFailure(Some(n))),
            _ => Err(format!("unknown restart policy {other:?}")),
        },
    }
}

/// Whether to restart after exit code `code`, having restarted `restarts` times.
fn should_restart(policy: Restart, code: i32, restarts: u32) -> bool {
    match policy {
        Restart::No => false,
        Restart::Always | Restart::UnlessStopped => true,
        Restart::OnFailure(max) => code != 0 && max.is_none_or(|m| restarts < m),
    }
}

/// Docker's restart backoff: 100 ms, doubling, at most a minute.
fn backoff(restarts: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1u64 << restarts.min(20)))
        .min(Duration::from_secs(60))
}

/// A healthcheck, from `--health` (`interval_ms timeout_ms retries start_period_ms start_interval_ms ARGV…`,
/// the fields separated by ASCII unit separators so any argument survives).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Health {
    interval: Duration,
    timeout: Duration,
    retries: u32,
    start_period: Duration,
    start_interval: Duration,
    argv: Vec<String>,
}

fn parse_health(s: &str) -> Result<Health, String> {
    let f: Vec<&str> = s.split('\u{1f}').collect();
    if f.len() < 6 {
        return Err(
            "--health needs interval, timeout, retries, start period, start interval and a command"
                .into(),
        );
    }
    let ms = |i: usize| {
        f[i].parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| format!("bad number {:?}", f[i]))
    };
    Ok(Health {
        interval: ms(0)?,
        timeout: ms(1)?,
        retries: f[2]
            .parse()
            .map_err(|_| format!("bad retries {:?}", f[2]))?,
        start_period: ms(3)?,
        start_interval: ms(4)?,
        argv: f[5..].iter().map(|x| x.to_string()).collect(),
    })
}

fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Runs the healthcheck until `done`, keeping `health` (a JSON file) current:
/// `starting` until the first success, `healthy`, or `unhealthy` after `retries`
/// consecutive failures (failures in the start period do not count).
fn check_health(
    h: Health,
    crun: String,
    root: String,
    id: String,
    file: PathBuf,
    done: Arc<AtomicBool>,
) {
    let began = Instant::now();
    let mut state = "starting";
    let mut streak = 0u32;
    let mut log: Vec<String> = Vec::new();
    let write = |state: &str, streak: u32, log: &[String]| {
        let _ = write_atomic(
            &file,
            &format!(
                "{{\"status\":\"{state}\",\"failing_streak\":{streak},\"log\":[{}]}}\n",
                log.join(",")
            ),
        );
    };
    write(state, streak, &log);
    while !done.load(Ordering::SeqCst) {
        let in_start = began.elapsed() < h.start_period;
        let wait = if in_start && state == "starting" && !h.start_interval.is_zero() {
            h.start_interval
        } else {
            h.interval
        };
        let until = Instant::now() + wait;
        while Instant::now() < until {
            if done.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10).min(wait));
        }
        let start = timestamp(SystemTime::now());
        let (mut cmd, _copy) = sealed::command(Path::new(&crun));
        cmd.args(["--root", &root, "exec", &id])
            .args(&h.argv)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let (code, output) = match cmd.spawn() {
            Ok(mut child) => {
                let deadline = Instant::now() + h.timeout;
                let code = loop {
                    match child.try_wait() {
                        Ok(Some(s)) => break s.code().unwrap_or(1),
                        Ok(None) if Instant::now() > deadline => {
                            let _ = child.kill();
                            let _ = child.wait();
                            break -1;
                        }
                        Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                        Err(_) => break 1,
                    }
                };
                let mut out = String::new();
                if let Some(mut o) = child.stdout.take() {
                    let _ = o.by_ref().take(4096).read_to_string(&mut out);
                }
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.by_ref().take(4096).read_to_string(&mut out);
                }
                (code, out)
            }
            Err(e) => (1, format!("cannot run {crun}: {e}")),
        };
        if done.load(Ordering::SeqCst) {
            return;
        }
        if code == 0 {
            state = "healthy";
            streak = 0;
        } else if !in_start || state != "starting" {
            streak += 1;
            if streak >= h.retries.max(1) {
                state = "unhealthy";
            }
        }
        let output = if code == -1 {
            format!("timed out after {:?}", h.timeout)
        } else {
            output
        };
        log.push(format!(
            "{{\"start\":\"{start}\",\"exit_code\":{code},\"output\":{}}}",
            json_str(&output)
        ));
        if log.len() > 5 {
            log.remove(0);
        }
        write(state, streak, &log);
    }
}

/// The console socket crun hands a `tty: true` container's terminal to:
/// `console.sock` beside the status file (made afresh on every start).
fn tty_socket(status: &Path) -> io::Result<(std::os::unix::net::UnixListener, PathBuf)> {
    let path = status.with_file_name("console.sock");
    let _ = fs::remove_file(&path);
    let l = std::os::unix::net::UnixListener::bind(&path)?;
    l.set_nonblocking(true)?;
    Ok((l, path))
}

/// Waits for crun to connect and hand over the terminal; `None` if the
/// container ended first (crun failed before it made one).
fn accept_terminal(
    listener: &std::os::unix::net::UnixListener,
    done: &AtomicBool,
) -> Option<std::os::fd::OwnedFd> {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(false);
                return console::receive_terminal(&stream).ok();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if done.load(Ordering::SeqCst) {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(_) => return None,
        }
    }
}

/// The status recorded when the container has exited (`state`: `exited`, or
/// `restarting` under a restart policy); with the shim's pid, which an
/// attached `run` names the trashed directory after (`Runtime::let_go`).
fn exit_record(state: &str, code: i32, started: &str, finished: &str, restarts: u32) -> String {
    format!(
        "{{\"state\":\"{state}\",\"exit_code\":{code},\"started_at\":\"{started}\",\"finished_at\":\"{finished}\",\"restarts\":{restarts},\"shim_pid\":{}}}\n",
        std::process::id()
    )
}

fn fail(status: &Path, message: &str) -> ExitCode {
    let _ = write_atomic(
        status,
        &format!("{{\"state\":\"failed\",\"error\":{}}}\n", json_str(message)),
    );
    ExitCode::FAILURE
}

/// The container has exited and will not run again: with `--remove-into`,
/// it goes (`--rm`). `attached`: its directory, opened as the shim started
/// (an attached CLI may move it away).
fn done_for_good(a: &HashMap<String, String>, attached: Option<&File>) -> ExitCode {
    if let Some(hb) = a.get("remove-with") {
        remove_with(hb, &a["bundle"], &a["id"]);
    }
    let Some(trash) = a.get("remove-into") else {
        return ExitCode::SUCCESS;
    };
    match remove_container(
        Path::new(&a["bundle"]),
        &a["id"],
        Path::new(trash),
        attached,
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(io::stderr(), "hb-shim: cannot remove {}: {e}", a["id"]);
            ExitCode::FAILURE
        }
    }
}

/// `--remove-with HB` (`-d --rm` on a bridge): the container is removed by
/// `HB container rm --force ID`, which also gives back its address and stops
/// its port proxy — things this shim knows nothing of. Started, not waited
/// for: the removal waits for this shim's lock, which goes as the shim exits.
/// Not when a removal is under way already (`hb container rm` marks the
/// container first).
fn remove_with(hb: &str, bundle: &str, id: &str) {
    use std::os::unix::process::CommandExt;
    if Path::new(bundle).join("removing").exists() {
        return;
    }
    let _ = Command::new(hb)
        .args(["container", "rm", "--force", id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn();
}

/// Removes an exited container: waits until no CLI is attached (it holds a
/// shared lock on the directory while it reads the log to its end), moves its
/// directory into `trash` as `<id>.<shim pid>` — its name is free from then
/// on — then unmounts its rootfs and deletes it. An attached CLI makes that
/// move itself before it lets go, so that it need not wait for this shim to
/// wake (`Runtime::let_go`). crun removed its own state and the cgroups when
/// `crun run` ended.
fn remove_container(
    bundle: &Path,
    id: &str,
    trash: &Path,
    attached: Option<&File>,
) -> io::Result<()> {
    if let Some(attached) = attached {
        rustix::fs::flock(attached, rustix::fs::FlockOperation::LockExclusive)?;
    }
    fs::create_dir_all(trash)?;
    let gone = trash.join(format!("{id}.{}", std::process::id()));
    match fs::rename(bundle, &gone) {
        Err(e) if e.kind() == io::ErrorKind::NotFound && gone.exists() => {}
        r => r?,
    }
    delete(&gone, trash)?;
    // What shims killed half-way through a removal left (`<id>.<pid>` of a
    // pid that is no live shim's) goes with this one.
    for e in fs::read_dir(trash)?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name
            .rsplit_once('.')
            .and_then(|(_, p)| p.parse::<u32>().ok());
        if pid.is_some_and(|p| !shim_alive(p)) {
            let _ = delete(&e.path(), trash);
        }
    }
    Ok(())
}

/// Unmounts a container directory's rootfs and keeps the directory, emptied,
/// for the next container (`spares/` beside the trash) — or deletes it, where
/// a process still holds the rootfs: that overlay lives on, using `upper/`
/// and `work/`. Then detached, so that nothing below can keep the delete from
/// reaching through the mount into the image's layers.
fn delete(dir: &Path, trash: &Path) -> io::Result<()> {
    use rustix::io::Errno;
    use rustix::mount::{unmount, UnmountFlags};
    let rootfs = dir.join("rootfs");
    let idle = match unmount(&rootfs, UnmountFlags::empty()) {
        // Not a mount point (any more), or unmounted now.
        Ok(()) | Err(Errno::INVAL) | Err(Errno::NOENT) => true,
        Err(Errno::BUSY) => match unmount(&rootfs, UnmountFlags::DETACH) {
            Ok(()) | Err(Errno::INVAL) => false,
            Err(e) => return Err(e.into()),
        },
        Err(e) => return Err(e.into()),
    };
    if idle {
        recycle::recycle(dir, &trash.with_file_name(recycle::SPARES))
    } else {
        fs::remove_dir_all(dir)
    }
}

/// True if `pid` is a live hb-shim.
fn shim_alive(pid: u32) -> bool {
    procfs::process_alive(pid, "hb-shim")
}

/// Holds the CLI's inotify descriptor until the CLI has exited (its pidfd
/// turns readable once the process is gone, its descriptors closed), then
/// closes it: the last close, which waits ~1 ms for the kernel to retire the
/// watches, is then this thread's, not the CLI's exit (see `handoff`).
fn hold_until_exit(watcher: OwnedFd, cli: OwnedFd) {
    use rustix::event::{poll, PollFd, PollFlags};
    let held = std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || {
            let mut fds = [PollFd::new(&cli, PollFlags::IN)];
            while let Err(rustix::io::Errno::INTR) = poll(&mut fds, None) {}
            drop(watcher);
        });
    // No thread: closed now, and the CLI's exit waits as it would have.
    drop(held);
}

fn main() -> ExitCode {
    // `--wait`: started ahead of its container, which comes over stdin with
    // the arguments (see `handoff`); the lock then comes with it, and is
    // held as long as `_lock` lives — the shim's whole life.
    let mut given: Vec<String> = std::env::args().skip(1).collect();
    let mut _lock = None;
    // The sealed copy of crun the CLI made while this shim started (~0.2 ms
    // off the path to crun's start; see `handoff`). The first run uses it, if
    // it is of the crun that is to run.
    let mut made: Option<(PathBuf, (Command, Option<File>))> = None;
    if given.first().is_some_and(|a| a == "--wait") {
        // The CLI that started this shim, watched from now: it is alive (it
        // sends the container next), so the pid is still its own.
        let cli = rustix::process::getppid()
            .and_then(|p| rustix::process::pidfd_open(p, PidfdFlags::empty()).ok());
        match handoff::receive(io::stdin()) {
            Ok(handed) => {
                if let (Some(watcher), Some(cli)) = (handed.watcher, cli) {
                    hold_until_exit(watcher, cli);
                }
                if let (Some(copy), [_, flag, crun]) = (handed.crun, given.as_slice()) {
                    if flag == "--crun" {
                        let made_by_cli = sealed::command_from(Path::new(crun), File::from(copy));
                        made = Some((PathBuf::from(crun), made_by_cli));
                    }
                }
                (given, _lock) = (handed.args, Some(handed.lock));
            }
            // The CLI failed before it had a container, or died: nothing to run.
            Err(_) => return ExitCode::SUCCESS,
        }
    }
    let a = match args(given) {
        Ok(a) => a,
        Err(e) => {
            let _ = writeln!(
                io::stderr(),
                "hb-shim: {e}\nusage: hb-shim --crun PATH --root DIR --bundle DIR --id ID --log FILE --status FILE [--restart POLICY] [--health SPEC]"
            );
            return ExitCode::from(2);
        }
    };
    let status = PathBuf::from(&a["status"]);
    let policy = match parse_restart(a.get("restart").map(String::as_str).unwrap_or("no")) {
        Ok(p) => p,
        Err(e) => return fail(&status, &e),
    };
    let health = match a.get("health").map(|h| parse_health(h)).transpose() {
        Ok(h) => h,
        Err(e) => return fail(&status, &e),
    };
    // Written by `hb container stop`/`rm` before they signal: no restart after that.
    let stop_requested = status.with_file_name("stop-requested");
    let max_size = a.get("log-max-size").and_then(|v| v.parse().ok());
    let max_files = a
        .get("log-max-files")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    // Opened now: an attached CLI moves the directory away once it has read
    // everything (see `remove_container`).
    let attached = a
        .get("remove-into")
        .and_then(|_| File::open(&a["bundle"]).ok());
    let log = match LogFile::open(Path::new(&a["log"]), max_size, max_files) {
        Ok(f) => Arc::new(Mutex::new(f)),
        Err(e) => return fail(&status, &format!("cannot open the log: {e}")),
    };
    let mut restarts = 0u32;
    loop {
        let started = timestamp(SystemTime::now());
        // With a terminal, crun sends its master end to the console socket (the
        // attached CLI); the container's output goes there, not to the log.
        let own_tty = a.get("tty-log").is_some_and(|v| v == "yes");
        let tty_listener = if own_tty {
            match tty_socket(&status) {
                Ok(l) => Some(l),
                Err(e) => {
                    return fail(
                        &status,
                        &format!("cannot listen for the container's terminal: {e}"),
                    )
                }
            }
        } else {
            None
        };
        let console: Vec<String> = match (&tty_listener, a.get("console-socket")) {
            (Some((_, path)), _) => vec![format!("--console-socket={}", path.display())],
            (None, Some(s)) => vec![format!("--console-socket={s}")],
            (None, None) => Vec::new(),
        };
        let (mut crun, copy) = match made.take() {
            Some((path, made)) if path == Path::new(&a["crun"]) => made,
            _ => sealed::command(Path::new(&a["crun"])),
        };
        let spawned = crun
            .args(["--root", &a["root"], "run"])
            .args(&console)
            // Written once crun has its state and the container runs: it wakes
            // an `hb` waiting in `start` (inotify on the bundle directory).
            .arg(format!("--pid-file={}/pid", a["bundle"]))
            .args(["--bundle", &a["bundle"], &a["id"]])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        // crun maps its copy now; the shim need not hold it for the container's life.
        drop(copy);
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => return fail(&status, &format!("cannot run {}: {e}", a["crun"])),
        };
        let _ = write_atomic(
            &status,
            &format!(
                "{{\"state\":\"running\",\"shim_pid\":{},\"crun_pid\":{},\"started_at\":\"{started}\",\"restarts\":{restarts}}}\n",
                std::process::id(),
                child.id()
            ),
        );
        let out = child.stdout.take().map(|s| {
            let log = log.clone();
            std::thread::spawn(move || pump(s, "stdout", log))
        });
        let err = child.stderr.take().map(|s| {
            let log = log.clone();
            std::thread::spawn(move || pump(s, "stderr", log))
        });
        let done = Arc::new(AtomicBool::new(false));
        let tty = tty_listener.map(|(listener, _)| {
            let (log, done) = (log.clone(), done.clone());
            std::thread::spawn(move || {
                if let Some(master) = accept_terminal(&listener, &done) {
                    pump(File::from(master), "stdout", log);
                }
            })
        });
        let checker = health.clone().map(|h| {
            let (crun, root, id, file, done) = (
                a["crun"].clone(),
                a["root"].clone(),
                a["id"].clone(),
                status.with_file_name("health"),
                done.clone(),
            );
            std::thread::spawn(move || check_health(h, crun, root, id, file, done))
        });
        // The exit record's file, made while the container runs: the CLI
        // waiting for the exit code waits for one inode less.
        let exit_file = replace::Prepared::new(&status);
        let code = match child.wait() {
            Ok(s) => {
                use std::os::unix::process::ExitStatusExt;
                s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
            }
            Err(_) => 255,
        };
        done.store(true, Ordering::SeqCst);
        for t in [out, err, tty].into_iter().flatten() {
            let _ = t.join();
        }
        if let Some(t) = checker {
            let _ = t.join();
        }
        // `crun run` removes its state when the container exits; if it died before
        // it could (killed itself), the state goes here.
        if Path::new(&a["root"]).join(&a["id"]).exists() {
            let _ = Command::new(&a["crun"])
                .args(["--root", &a["root"], "delete", "--force", &a["id"]])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let finished = timestamp(SystemTime::now());
        let again = !stop_requested.exists() && should_restart(policy, code, restarts);
        let state = if again { "restarting" } else { "exited" };
        let record = exit_record(state, code, &started, &finished, restarts);
        let _ = match exit_file {
            Ok(prepared) => prepared.commit(record.as_bytes()),
            Err(_) => write_atomic(&status, &record),
        };
        if !again {
            return done_for_good(&a, attached.as_ref());
        }
        let wait_until = Instant::now() + backoff(restarts);
        while Instant::now() < wait_until {
            if stop_requested.exists() {
                let _ = write_atomic(
                    &status,
                    &exit_record("exited", code, &started, &finished, restarts),
                );
                return done_for_good(&a, attached.as_ref());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        restarts += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn restart_policies() {
        assert_eq!(
            parse_restart("on-failure:3"),
            Ok(Restart::OnFailure(Some(3)))
        );
        assert!(parse_restart("sometimes").is_err());
        assert!(!should_restart(Restart::No, 1, 0));
        assert!(should_restart(Restart::Always, 0, 100));
        assert!(should_restart(Restart::OnFailure(None), 1, 100));
        assert!(!should_restart(Restart::OnFailure(None), 0, 0));
        assert!(should_restart(Restart::OnFailure(Some(2)), 1, 1));
        assert!(!should_restart(Restart::OnFailure(Some(2)), 1, 2));
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(3), Duration::from_millis(800));
        assert_eq!(backoff(30), Duration::from_secs(60));
    }

    #[test]
    fn health_specs_parse() {
        let h = parse_health(
            "100\u{1f}50\u{1f}3\u{1f}1000\u{1f}10\u{1f}/bin/sh\u{1f}-c\u{1f}test -f /x",
        )
        .expect("parses");
        assert_eq!(
            (h.interval, h.retries, h.argv.len()),
            (Duration::from_millis(100), 3, 3)
        );
        assert!(parse_health("1\u{1f}2").is_err());
        assert_eq!(json_str("a\"b\n"), "\"a\\\"b\\n\"");
    }

    #[test]
    fn the_log_rotates_at_its_size_keeping_max_files() {
        let d = std::env::temp_dir().join(format!("hb-shim-rot-{}", std::process::id()));
        fs::create_dir_all(&d).expect("dir");
        let path = d.join("ctr.log");
        let mut log = LogFile::open(&path, Some(100), 3).expect("log");
        for i in 0..10 {
            log.write_line(format!("{i:039}\n").as_bytes()); // 40 bytes a line
        }
        let read = |p: &Path| fs::read_to_string(p).unwrap_or_default();
        // Two lines a file; the current one and two older ones kept.
        assert_eq!(read(&path).lines().count(), 2);
        assert!(read(&path).ends_with(&format!("{:039}\n", 9)));
        assert!(read(&d.join("ctr.log.1")).starts_with(&format!("{:039}", 6)));
        assert!(read(&d.join("ctr.log.2")).starts_with(&format!("{:039}", 4)));
        assert!(!d.join("ctr.log.3").exists());
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn streams_become_cri_lines() {
        let d = std::env::temp_dir().join(format!("hb-shim-test-{}", std::process::id()));
        let log = Arc::new(Mutex::new(LogFile::open(&d, None, 1).expect("log")));
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
