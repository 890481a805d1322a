//! Container lifecycle: create (overlay rootfs over the image's layers, the
//! /etc files, the runtime spec), start (a detached `hb-shim` running crun),
//! wait, logs, remove (leaving no mount, directory or crun state behind).
//!
//! ```text
//! $HB_ROOT/containers/<id>/
//!   config.json   the OCI runtime spec (this directory is the bundle)
//!   rootfs/       overlay: lowerdir = the image's layers, upperdir = upper/
//!   upper/ work/  the container's own changes
//!   hosts resolv.conf hostname
//!   container.json  what hb keeps of it: its image, layers and labels
//!   ctr.log       stdout/stderr in CRI format (written by hb-shim)
//!   status        {"state": "running"|"exited", "exit_code": …} (written by hb-shim)
//! ```

use std::fs;
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hb_image::LocalImage;
use serde::Deserialize;

use crate::cri::{parse_cri, LogLine};
use crate::host::{Mounts, RealMounts};
use crate::spec::{self, EtcFiles, ImageDefaults, Overrides, SpecInput};
use crate::wake::{Wake, Watching};
use crate::{Error, Result};

/// Where a reader of a container's log got to ([`Runtime::logs_and_cursor`]):
/// the log file it reads, open, and the start of a line not complete yet.
#[derive(Debug)]
pub struct LogCursor {
    path: PathBuf,
    file: Option<fs::File>,
    rest: Vec<u8>,
}

impl LogCursor {
    /// A cursor at the start of `c`'s current log file (`ctr.log`).
    pub fn at_start(c: &Container) -> Self {
        LogCursor {
            path: c.dir.join("ctr.log"),
            file: None,
            rest: Vec::new(),
        }
    }

    /// A cursor at the end of `c`'s log: only what is written from now on.
    pub fn at_end(c: &Container) -> Self {
        use std::io::{Seek, SeekFrom};
        let mut cursor = Self::at_start(c);
        cursor.file = fs::File::open(&cursor.path)
            .and_then(|mut f| f.seek(SeekFrom::End(0)).map(|_| f))
            .ok();
        cursor
    }

    /// The lines written since the last call — following the shim's
    /// rotations: the file read goes on being read to its end (the shim
    /// writes only to the newest), then the new `ctr.log` from its start.
    pub fn next_lines(&mut self) -> Result<Vec<LogLine>> {
        use std::os::unix::fs::MetadataExt;
        let mut out = Vec::new();
        loop {
            if self.file.is_none() {
                match fs::File::open(&self.path) {
                    Ok(f) => self.file = Some(f),
                    // Not written yet, or removed with its container.
                    Err(_) => return Ok(out),
                }
            }
            self.drain(&mut out)?;
            let current = fs::metadata(&self.path).ok();
            let held = self.file.as_ref().and_then(|f| f.metadata().ok());
            let rotated = current
                .zip(held)
                .is_some_and(|(p, f)| (p.dev(), p.ino()) != (f.dev(), f.ino()));
            if !rotated {
                return Ok(out);
            }
            // What the shim wrote to it between the read and its rotation.
            self.drain(&mut out)?;
            self.file = None;
            self.rest.clear();
        }
    }

    /// Reads the open file to its end: its complete lines into `out`.
    fn drain(&mut self, out: &mut Vec<LogLine>) -> Result<()> {
        use std::io::Read;
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        file.read_to_end(&mut self.rest)
            .map_err(io_err(&self.path))?;
        let complete = self
            .rest
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        out.extend(
            String::from_utf8_lossy(&self.rest[..complete])
                .lines()
                .filter_map(parse_cri),
        );
        self.rest.drain(..complete);
        Ok(())
    }
}

/// The file of a container's directory that keeps what hb knows of it
/// beyond its spec: one file, not four (each file made and deleted costs a
/// container's start and removal an inode).
const RECORD: &str = "container.json";

/// What [`RECORD`] holds.
#[derive(Debug, Default, serde::Serialize, Deserialize)]
struct Record {
    /// The image's name, as given.
    image: String,
    /// The overlay's lower dirs, lowest first: the image's layers, then hb's
    /// mount points. Kept so that the rootfs can be mounted again after a
    /// reboot (mounts do not survive one).
    layers: Vec<PathBuf>,
    /// Removed when it exits (`--rm`): mounted volatile, again after a reboot too.
    #[serde(default)]
    ephemeral: bool,
    /// The labels it was created with (`dev.hb.project`, …).
    #[serde(default)]
    labels: std::collections::BTreeMap<String, String>,
}

/// Marks a container being removed (`Runtime::remove`); the shim reads it too.
const REMOVING: &str = "removing";

/// Where containers live, the programs that run them, and the mounts they need.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// `$HB_ROOT`.
    pub root: PathBuf,
    /// `$HB_RUN` (crun's state goes under `crun/`).
    pub run: PathBuf,
    /// The crun binary.
    pub crun: PathBuf,
    /// The hb-shim binary.
    pub shim: PathBuf,
    /// Root filesystem mounts (the machine's, unless a test injects others).
    pub mounts: Arc<dyn Mounts>,
}

impl Runtime {
    /// A runtime over these directories and programs, mounting on this machine.
    pub fn new(root: PathBuf, run: PathBuf, crun: PathBuf, shim: PathBuf) -> Self {
        Runtime {
            root,
            run,
            crun,
            shim,
            mounts: Arc::new(RealMounts),
        }
    }
}

/// A container hb created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// Its id (name).
    pub id: String,
    /// Its directory (also the OCI bundle).
    pub dir: PathBuf,
    /// What creating it had to tone down (ulimits above hb's own), for the user.
    pub warnings: Vec<String>,
}

/// How the shim supervises a container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Supervision {
    /// `no`, `always`, `on-failure[:N]`, `unless-stopped`.
    pub restart: Option<String>,
    /// The healthcheck, if any.
    pub health: Option<HealthSpec>,
    /// Rotate the log past this many bytes (`logging.options.max-size`).
    pub log_max_size: Option<u64>,
    /// Keep this many log files, the current one included (`max-file`; default 1).
    pub log_max_files: Option<u32>,
    /// For a container with a terminal: the Unix socket crun sends its master
    /// end to (the attached CLI listens there).
    pub console_socket: Option<PathBuf>,
    /// For a detached container with a terminal (compose `tty: true`): the
    /// shim takes the terminal itself and writes what it prints to the log.
    pub tty_log: bool,
    /// `--rm`: the shim removes the container once it has exited for good —
    /// after whoever [`Runtime::attach`]ed to it lets go — as Docker's daemon
    /// does (`AutoRemove`), so the container goes even if the CLI that ran
    /// it is killed, and with `-d --rm`. For a container without a network
    /// of its own: the shim knows nothing of network attachments.
    pub remove: bool,
    /// `-d --rm` for a container whose removal is more than its files (on a
    /// bridge: its address, its port proxy): once it has exited for good,
    /// the shim runs `<this program> container rm --force <id>` — hb itself,
    /// which knows the rest — unless a removal is under way already.
    pub remove_with: Option<PathBuf>,
}

/// An attached CLI's hold on a container that removes itself ([`Supervision::remove`]):
/// its shim removes nothing while this lives (a shared lock on the container's
/// directory, which the shim takes exclusively — a lock file would be one more
/// inode made and deleted per container), so the CLI reads the log to its end first.
/// Let go by dropping it — or by the CLI's death.
#[derive(Debug)]
pub struct Attached(#[allow(dead_code)] fs::File);

/// An hb-shim started ahead of its container ([`Runtime::prespawn`]): its
/// end of the socket the container is handed over on. Dropped unused, the
/// shim exits.
#[derive(Debug)]
pub struct Prespawned(std::os::fd::OwnedFd);

/// A healthcheck (compose `healthcheck`, or the image's `Healthcheck`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSpec {
    /// `["CMD", args…]` or `["CMD-SHELL", command]` (`["NONE"]` disables).
    pub test: Vec<String>,
    /// Between checks (Docker's default 30 s).
    pub interval: Duration,
    /// Per check (default 30 s).
    pub timeout: Duration,
    /// Consecutive failures before unhealthy (default 3).
    pub retries: u32,
    /// Failures before this much time has passed do not count.
    pub start_period: Duration,
    /// Between checks during the start period (default 5 s).
    pub start_interval: Duration,
}

impl HealthSpec {
    /// Docker's defaults around a test.
    pub fn with_test(test: Vec<String>) -> Self {
        HealthSpec {
            test,
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(30),
            retries: 3,
            start_period: Duration::ZERO,
            start_interval: Duration::from_secs(5),
        }
    }

    /// The image's `Healthcheck`, with Docker's defaults where it leaves a field
    /// unset or zero (the image config's durations are nanoseconds).
    pub fn from_image(h: &hb_image::config::ImageHealthcheck) -> Self {
        let mut spec = HealthSpec::with_test(h.test.clone());
        let ns = |v: Option<u64>, default: Duration| {
            v.filter(|n| *n > 0)
                .map(Duration::from_nanos)
                .unwrap_or(default)
        };
        spec.interval = ns(h.interval, spec.interval);
        spec.timeout = ns(h.timeout, spec.timeout);
        spec.start_period = ns(h.start_period, spec.start_period);
        spec.start_interval = ns(h.start_interval, spec.start_interval);
        spec.retries = h.retries.filter(|r| *r > 0).unwrap_or(spec.retries);
        spec
    }

    /// The command to run in the container, or `None` for `NONE`.
    pub fn argv(&self) -> Option<Vec<String>> {
        match self.test.split_first() {
            Some((k, rest)) if k == "CMD" && !rest.is_empty() => Some(rest.to_vec()),
            Some((k, rest)) if k == "CMD-SHELL" && !rest.is_empty() => {
                Some(vec!["/bin/sh".into(), "-c".into(), rest.join(" ")])
            }
            Some((k, _)) if k == "NONE" => None,
            Some(_) => Some(self.test.clone()),
            None => None,
        }
    }

    /// The shim's `--health` argument.
    fn to_arg(&self) -> Option<String> {
        let argv = self.argv()?;
        let ms = |d: Duration| d.as_millis().to_string();
        let mut f = vec![
            ms(self.interval),
            ms(self.timeout),
            self.retries.to_string(),
            ms(self.start_period),
            ms(self.start_interval),
        ];
        f.extend(argv);
        Some(f.join("\u{1f}"))
    }
}

/// A healthcheck's state, as the shim records it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Health {
    /// `starting`, `healthy`, `unhealthy`.
    pub status: String,
    /// Consecutive failures.
    pub failing_streak: u32,
    /// The last checks.
    #[serde(default)]
    pub log: Vec<serde_json::Value>,
}

/// How `crun exec` is run.
enum ExecMode<'a> {
    /// Output captured.
    Plain,
    /// In the background.
    Detach,
    /// On a terminal whose master end goes to this socket.
    Console(&'a Path),
}

/// What the shim records.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Status {
    /// `starting` (until the shim runs), `running`, `restarting`, `exited` or `failed`.
    pub state: String,
    /// How many times the restart policy has restarted it.
    #[serde(default)]
    pub restarts: u32,
    /// The exit code, once exited (128 + signal when killed).
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// Why the shim failed, if it did.
    #[serde(default)]
    pub error: Option<String>,
    /// The shim's process id (its last record keeps it: an attached `run`
    /// moves a `--rm` container into the trash under it, see [`Runtime::let_go`]).
    #[serde(default)]
    pub shim_pid: Option<u32>,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What the image's config says about running it.
pub fn image_defaults(image: &LocalImage) -> ImageDefaults {
    let c = &image.config.config;
    ImageDefaults {
        entrypoint: c.entrypoint.clone(),
        cmd: c.cmd.clone(),
        env: c.env.clone().unwrap_or_default(),
        working_dir: c.working_dir.clone(),
        user: c.user.clone(),
    }
}

/// Container ids: what crun accepts and hb names files after.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && id.as_bytes()[0].is_ascii_alphanumeric()
}

impl Runtime {
    fn dir(&self, id: &str) -> PathBuf {
        self.root.join("containers").join(id)
    }

    /// The container `id`, if it exists.
    pub fn get(&self, id: &str) -> Option<Container> {
        let dir = self.dir(id);
        dir.join("config.json").is_file().then(|| Container {
            id: id.to_string(),
            dir,
            warnings: Vec::new(),
        })
    }

    /// Every container, by id.
    pub fn list(&self) -> Vec<Container> {
        let mut out: Vec<Container> = fs::read_dir(self.root.join("containers"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| self.get(&e.file_name().to_string_lossy()))
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// Creates a container: mounts its rootfs and writes its bundle. Undone entirely if any step fails.
    pub fn create(&self, id: &str, image: &LocalImage, overrides: &Overrides) -> Result<Container> {
        if !valid_id(id) {
            return Err(Error::Name { id: id.to_string() });
        }
        let dir = self.dir(id);
        if dir.join("config.json").exists() {
            return Err(Error::Exists { id: id.to_string() });
        }
        if dir.exists() {
            // A create that was interrupted (hb killed) before it wrote the
            // bundle: finish undoing it.
            self.remove(&Container {
                id: id.to_string(),
                dir: dir.clone(),
                warnings: Vec::new(),
            })?;
        }
        // A removed container's directory, emptied, if one is kept: ten
        // inodes fewer to make (see `recycle`).
        if !crate::recycle::claim(&self.spares(), &dir) {
            fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        }
        let mut c = Container {
            id: id.to_string(),
            dir,
            warnings: Vec::new(),
        };
        match self.prepare(&c, image, overrides) {
            Ok(warnings) => {
                c.warnings = warnings;
                Ok(c)
            }
            Err(e) => {
                // Keep the original error; the cleanup is best effort.
                let _ = self.remove(&c);
                Err(e)
            }
        }
    }

    fn prepare(
        &self,
        c: &Container,
        image: &LocalImage,
        overrides: &Overrides,
    ) -> Result<Vec<String>> {
        let (rootfs, upper, work) = (
            c.dir.join("rootfs"),
            c.dir.join("upper"),
            c.dir.join("work"),
        );
        for d in [&rootfs, &upper, &work] {
            match fs::create_dir(d) {
                // Kept, empty, with a spare directory.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                r => r.map_err(io_err(d))?,
            }
        }
        // The image's layers under hb's mount points; recorded first, so that
        // the rootfs can be mounted again after a reboot.
        let mut lowers = image.layers.clone();
        lowers.push(self.mount_points()?);
        let record = Record {
            image: image.record.name.clone(),
            layers: lowers,
            ephemeral: overrides.ephemeral,
            labels: overrides.labels.iter().cloned().collect(),
        };
        let record_file = c.dir.join(RECORD);
        let json = serde_json::to_vec(&record).map_err(|e| Error::Spec(e.to_string()))?;
        crate::recycle::write(&record_file, &json).map_err(io_err(&record_file))?;
        self.mount_rootfs(&record.layers, &upper, &work, overrides.ephemeral, &rootfs)?;
        let hostname = overrides
            .hostname
            .clone()
            .unwrap_or_else(|| c.id.chars().take(63).collect());
        let etc = EtcFiles {
            hosts: c.dir.join("hosts"),
            resolv_conf: c.dir.join("resolv.conf"),
            hostname: c.dir.join("hostname"),
        };
        // Into the files kept with a spare directory, where it was one.
        let write =
            |p: &Path, text: &str| crate::recycle::write(p, text.as_bytes()).map_err(io_err(p));
        let mut hosts =
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n".to_string();
        if overrides.hosts.is_empty() {
            hosts.push_str(&format!("127.0.1.1\t{hostname}\n"));
        }
        for line in &overrides.hosts {
            hosts.push_str(line);
            hosts.push('\n');
        }
        write(&etc.hosts, &hosts)?;
        // Without a network there is only the loopback interface, so no resolver to point at.
        write(
            &etc.resolv_conf,
            overrides
                .resolv_conf
                .as_deref()
                .unwrap_or("# hb: this container has no network but loopback\n"),
        )?;
        write(&etc.hostname, &format!("{hostname}\n"))?;
        let cgroups_path = format!("/hb/{}", self.cgroup_name(&c.id));
        let init = if overrides.init {
            spec::find_init()
        } else {
            None
        };
        let (spec, warnings) = spec::build(&SpecInput {
            id: &c.id,
            rootfs: &rootfs,
            image: &image_defaults(image),
            overrides,
            etc: &etc,
            cgroups_path: &cgroups_path,
            init: init.as_deref(),
        })?;
        let config = c.dir.join("config.json");
        let json = serde_json::to_vec_pretty(&spec).map_err(|e| Error::Spec(e.to_string()))?;
        crate::recycle::write(&config, &json).map_err(io_err(&config))?;
        Ok(warnings)
    }

    /// Starts the container under a detached hb-shim.
    pub fn start(&self, c: &Container, supervision: &Supervision) -> Result<()> {
        self.start_with(c, supervision, None)
    }

    /// An hb-shim started ahead of its container, waiting for it (see
    /// [`crate::handoff`]); pass it to [`Runtime::start_with`]. `None` if it
    /// cannot be started (the container's start will say why).
    pub fn prespawn(&self) -> Option<Prespawned> {
        use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
        let (ours, theirs) = socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .ok()?;
        self.shim_command()
            .arg("--wait")
            .arg("--crun")
            .arg(&self.crun)
            .stdin(Stdio::from(theirs))
            .spawn()
            .ok()?;
        Some(Prespawned(ours))
    }

    /// [`Runtime::start`], handing the container to `shim` if one was started
    /// ahead ([`Runtime::prespawn`]; a new one is spawned if it is gone).
    pub fn start_with(
        &self,
        c: &Container,
        supervision: &Supervision,
        shim: Option<Prespawned>,
    ) -> Result<()> {
        let crun_root = self.run.join("crun");
        fs::create_dir_all(&crun_root).map_err(io_err(&crun_root))?;
        self.ensure_rootfs(c)?;
        let status = c.dir.join("status");
        let watching = Wake::get().and_then(|w| w.watch(&c.dir));
        let wake = watching.as_ref().map(Watching::wake);
        // The shim's lock, taken here before the shim has the container and
        // handed to it (as its stdin, or over its socket): held from now until
        // the shim exits, even if this process dies in between, so `status`
        // tells a start under way from an interrupted one — and a shim that
        // runs already is never doubled.
        let lock_path = c.dir.join("shim.lock");
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        if lock_exclusive(&lock) {
            let _ = fs::remove_file(c.dir.join("stop-requested"));
            // A first status (a new directory, or a spare's emptied file) is
            // written in place: no reader holds an older one to see half of,
            // and no inode is made for it (see `recycle`).
            let starting = b"{\"state\":\"starting\"}\n";
            if fs::metadata(&status).map_or(true, |m| m.len() == 0) {
                crate::recycle::write(&status, starting)
            } else {
                crate::replace::write_atomic(&status, starting)
            }
            .map_err(io_err(&status))?;
            let args = self.shim_args(c, supervision, &crun_root);
            // With this process's watcher, for the shim to close after this
            // process has exited (see `handoff`).
            let watcher = Wake::get().map(Wake::descriptor);
            let handed = shim.is_some_and(|s| {
                // With crun's sealed copy made here, where there is time for
                // it while the shim starts (see `handoff`).
                let crun = crate::sealed::copy(&self.crun).ok();
                let fds = crate::handoff::Descriptors {
                    lock: lock.as_fd(),
                    watcher,
                    crun: crun.as_ref().map(|c| c.as_fd()),
                };
                crate::handoff::send(s.0.as_fd(), &args, fds).is_ok()
            });
            if !handed {
                let stdin = lock.try_clone().map_err(io_err(&lock_path))?;
                self.shim_command()
                    .args(&args)
                    .stdin(stdin)
                    .spawn()
                    .map_err(|e| Error::Io {
                        path: self.shim.clone(),
                        source: e,
                    })?;
            }
        }
        drop(lock);
        self.wait_started(c, &crun_root, wake)
    }

    /// hb-shim, detached: no output, and a process group of its own, so a
    /// Ctrl-C at the terminal does not reach it and it outlives the CLI.
    fn shim_command(&self) -> Command {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(&self.shim);
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        cmd
    }

    /// The container's hb-shim arguments.
    fn shim_args(&self, c: &Container, supervision: &Supervision, crun_root: &Path) -> Vec<String> {
        let mut args: Vec<String> = Vec::new();
        let mut arg = |k: &str, v: &dyn std::fmt::Display| {
            args.push(k.to_string());
            args.push(v.to_string());
        };
        if let Some(r) = &supervision.restart {
            arg("--restart", r);
        }
        if let Some(h) = supervision.health.as_ref().and_then(HealthSpec::to_arg) {
            arg("--health", &h);
        }
        if let Some(n) = supervision.log_max_size {
            arg("--log-max-size", &n);
        }
        if let Some(n) = supervision.log_max_files {
            arg("--log-max-files", &n);
        }
        if let Some(sock) = &supervision.console_socket {
            arg("--console-socket", &sock.display());
        } else if supervision.tty_log {
            arg("--tty-log", &"yes");
        }
        if supervision.remove {
            arg("--remove-into", &self.trash().display());
        }
        if let Some(hb) = &supervision.remove_with {
            arg("--remove-with", &hb.display());
        }
        arg("--crun", &self.crun.display());
        arg("--root", &crun_root.display());
        arg("--bundle", &c.dir.display());
        arg("--id", &c.id);
        arg("--log", &c.dir.join("ctr.log").display());
        arg("--status", &c.dir.join("status").display());
        args
    }

    /// Returns once the container a shim started runs, or has exited already.
    fn wait_started(&self, c: &Container, crun_root: &Path, wake: Option<&Wake>) -> Result<()> {
        let status = c.dir.join("status");
        // Return once the container runs — crun has its state, so `pause`,
        // `exec` and `kill` find it — or has already exited; the shim's status
        // says which. Whoever looks next (another `hb up`) sees a supervised
        // container and never starts a second shim for it.
        // The shim has crun write the container's pid file once crun has its
        // state and the container runs: its appearance wakes this wait.
        let deadline = Instant::now() + Duration::from_secs(10);
        let crun_state = crun_root.join(&c.id).join("status");
        loop {
            let seen = wake.map(Wake::generation);
            let recorded: Option<Status> = fs::read(&status)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            match recorded.as_ref().map(|s| s.state.as_str()) {
                Some("running") if crun_state.exists() => return Ok(()),
                Some("starting") | Some("running") | None => {}
                Some(_) => return Ok(()), // exited, restarting or failed: the shim said so
            }
            if Instant::now() > deadline {
                return Err(Error::Shim {
                    id: c.id.clone(),
                    message: format!(
                        "{} did not start the container in 10 s",
                        self.shim.display()
                    ),
                });
            }
            nap(wake, seen, Duration::from_millis(50));
        }
    }

    /// The layer every container's rootfs has on top of its image's: empty
    /// `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname` for hb's bind
    /// mounts to cover (Docker's "init layer" is the same idea). Without it,
    /// for an image that lacks them, crun makes them in the container's upper
    /// dir — a copy-up of /etc and three files, made and deleted on disk for
    /// every container. Made once per hb root, atomically.
    fn mount_points(&self) -> Result<PathBuf> {
        let dir = self.root.join("mountpoints");
        let done = dir.join("etc/hostname");
        if done.exists() {
            return Ok(dir);
        }
        // One thread of this process at a time (`hb up` creates containers in
        // parallel); other processes make theirs under another name.
        static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = MAKING.lock().unwrap_or_else(|e| e.into_inner());
        if done.exists() {
            return Ok(dir);
        }
        let tmp = self
            .root
            .join("tmp")
            .join(format!("mountpoints.{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        let etc = tmp.join("etc");
        fs::create_dir_all(&etc).map_err(io_err(&etc))?;
        for name in ["hosts", "resolv.conf", "hostname"] {
            let f = etc.join(name);
            fs::write(&f, "").map_err(io_err(&f))?;
        }
        match fs::rename(&tmp, &dir) {
            Ok(()) => Ok(dir),
            // Another hb made it first.
            Err(_) if done.exists() => {
                let _ = fs::remove_dir_all(&tmp);
                Ok(dir)
            }
            Err(e) => Err(io_err(&dir)(e)),
        }
    }

    /// Mounts the container's rootfs again if it is not (after a reboot), from
    /// the layers recorded when it was created; its own changes are in `upper/`.
    pub fn ensure_rootfs(&self, c: &Container) -> Result<()> {
        let rootfs = c.dir.join("rootfs");
        if self.mounts.is_mountpoint(&rootfs) {
            return Ok(());
        }
        // Someone may have cleared the hb root's own layer; it is remade alike.
        self.mount_points()?;
        let Record {
            layers, ephemeral, ..
        } = self.record(c)?;
        if let Some(missing) = layers.iter().find(|l| !l.is_dir()) {
            return Err(Error::Io {
                path: missing.clone(),
                source: io::Error::other(format!(
                    "a layer of {}'s image is gone (pruned?); recreate the container",
                    c.id
                )),
            });
        }
        // The overlay's work dir must be empty to mount again.
        let work = c.dir.join("work");
        let _ = fs::remove_dir_all(&work);
        fs::create_dir_all(&work).map_err(io_err(&work))?;
        self.mount_rootfs(&layers, &c.dir.join("upper"), &work, ephemeral, &rootfs)
    }

    /// What hb keeps of a container ([`RECORD`]); from the four files of a
    /// container an earlier hb made, where that is what there is.
    fn record(&self, c: &Container) -> Result<Record> {
        let path = c.dir.join(RECORD);
        match fs::read(&path) {
            Ok(json) => serde_json::from_slice(&json).map_err(|e| Error::Io {
                path: path.clone(),
                source: io::Error::other(e),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let layers_file = c.dir.join("layers");
                Ok(Record {
                    image: fs::read_to_string(c.dir.join("image")).unwrap_or_default(),
                    layers: fs::read_to_string(&layers_file)
                        .map_err(io_err(&layers_file))?
                        .lines()
                        .map(PathBuf::from)
                        .collect(),
                    ephemeral: c.dir.join("ephemeral").exists(),
                    labels: fs::read(c.dir.join("labels.json"))
                        .ok()
                        .and_then(|b| serde_json::from_slice(&b).ok())
                        .unwrap_or_default(),
                })
            }
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// The overlay a container's rootfs is: the image's layers under its own upper dir.
    fn mount_rootfs(
        &self,
        layers: &[PathBuf],
        upper: &Path,
        work: &Path,
        volatile: bool,
        target: &Path,
    ) -> Result<()> {
        self.mounts
            .overlay(layers, Some((upper, work)), volatile, target)
            .map_err(io_err(target))
    }

    /// The labels it was created with (`dev.hb.project`, `dev.hb.service`, …).
    pub fn labels(&self, c: &Container) -> std::collections::BTreeMap<String, String> {
        self.record(c).map(|r| r.labels).unwrap_or_default()
    }

    /// The image name a container was created from.
    pub fn image_of(&self, c: &Container) -> String {
        self.record(c).map(|r| r.image).unwrap_or_default()
    }

    /// What the shim last recorded, if anything yet.
    pub fn status(&self, c: &Container) -> Option<Status> {
        let read = || -> Option<Status> {
            fs::read(c.dir.join("status"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
        };
        let supervised = |s: &Status| s.state == "running" || s.state == "restarting";
        let mut s = read()?;
        if s.state == "starting" {
            // Started: a shim is on its way (it will write its status) — or the
            // start was interrupted before it ran, and the container is merely created.
            if !shim_lock_held(&c.dir) {
                s.state = "created".into();
            }
            return Some(s);
        }
        let Some(pid) = s.shim_pid.filter(|p| supervised(&s) && !shim_alive(*p)) else {
            return Some(s);
        };
        // The shim records the exit before it exits: read again, in case it did
        // both between the first read and the check.
        let mut s = read()?;
        // A shim that was killed cannot record anything any more: say so rather
        // than report a container as running that nothing supervises.
        if supervised(&s) {
            s.state = "failed".into();
            s.error = Some(format!("its shim (pid {pid}) is gone; the container's state is unknown: remove it with `hb container rm --force {}`", c.id));
        }
        Some(s)
    }

    /// Waits until the container has exited (or `timeout` passes) and returns its exit code.
    pub fn wait(&self, c: &Container, timeout: Duration) -> Result<i32> {
        let deadline = Instant::now() + timeout;
        let watching = Wake::get().and_then(|w| w.watch(&c.dir));
        let wake = watching.as_ref().map(Watching::wake);
        loop {
            let seen = wake.map(Wake::generation);
            match self.status(c) {
                Some(Status {
                    state,
                    exit_code: Some(code),
                    ..
                }) if state == "exited" => return Ok(code),
                Some(Status { state, error, .. }) if state == "failed" => {
                    return Err(Error::Shim {
                        id: c.id.clone(),
                        message: error.unwrap_or_default(),
                    })
                }
                None if !c.dir.exists() => return Err(Error::Removed { id: c.id.clone() }),
                _ => {}
            }
            let now = Instant::now();
            if now > deadline {
                return Err(Error::Timeout {
                    id: c.id.clone(),
                    waited: timeout,
                });
            }
            nap(wake, seen, (deadline - now).min(Duration::from_millis(50)));
        }
    }

    /// Holds a container that removes itself ([`Supervision::remove`]) until
    /// the returned [`Attached`] is dropped. Take it before [`Runtime::start`]:
    /// a container may exit as soon as it starts.
    pub fn attach(&self, c: &Container) -> Result<Attached> {
        let f = fs::File::open(&c.dir).map_err(io_err(&c.dir))?;
        rustix::fs::flock(&f, rustix::fs::FlockOperation::LockShared)
            .map_err(io::Error::from)
            .map_err(io_err(&c.dir))?;
        Ok(Attached(f))
    }

    /// Lets go of a container that removes itself (see [`Runtime::attach`])
    /// once it has exited, its name free: moved into the trash, where its
    /// shim (which waits for this) deletes it.
    pub fn let_go(&self, c: &Container, held: Attached, timeout: Duration) -> Result<()> {
        // Moved here, under the name its shim gives it (`<id>.<shim pid>`),
        // rather than by the shim: it would first have to wake up for the lock.
        let trash = self.trash();
        let moved = self.status(c).and_then(|s| s.shim_pid).is_some_and(|pid| {
            fs::create_dir_all(&trash).is_ok()
                && fs::rename(&c.dir, trash.join(format!("{}.{pid}", c.id))).is_ok()
        });
        drop(held);
        if moved {
            return Ok(());
        }
        // Polled, not watched: this process (a CLI) exits next, and one with
        // a watch left on a directory being deleted waits 5–20 ms as it exits
        // (see `Watching`). The shim's move takes ~0.2 ms.
        let deadline = Instant::now() + timeout;
        while c.dir.exists() {
            if Instant::now() > deadline {
                return Err(Error::Shim {
                    id: c.id.clone(),
                    message: format!(
                        "its shim had not removed it {timeout:?} after it exited; remove it with `hb container rm --force {}`",
                        c.id
                    ),
                });
            }
            std::thread::sleep(Duration::from_micros(100));
        }
        Ok(())
    }

    /// Where shims move the containers they remove, to delete them there:
    /// the name is free the moment the directory moves.
    pub fn trash(&self) -> PathBuf {
        self.root.join("trash")
    }

    /// Where removed containers' directories are kept for the next ones.
    fn spares(&self) -> PathBuf {
        self.root.join(crate::recycle::SPARES)
    }

    fn crun(&self, args: &[&str]) -> Result<std::process::Output> {
        let (mut cmd, _copy) = self.crun_command(args.first().copied().unwrap_or(""));
        cmd.args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::Io {
                path: self.crun.clone(),
                source: e,
            })
    }

    /// `crun --root …`, ready for `op`'s arguments; for `exec`, which starts a
    /// process in a container, from a sealed copy (see [`crate::sealed`]),
    /// to keep open until it has spawned.
    fn crun_command(&self, op: &str) -> (Command, Option<fs::File>) {
        let (mut cmd, copy) = if op == "exec" {
            crate::sealed::command(&self.crun)
        } else {
            (Command::new(&self.crun), None)
        };
        cmd.arg("--root").arg(self.run.join("crun"));
        (cmd, copy)
    }

    /// Runs `crun OP ARGS… ID`: its stdout, or its stderr as the error.
    pub(crate) fn crun_out(&self, op: &'static str, args: &[&str], id: &str) -> Result<Vec<u8>> {
        let mut all = vec![op];
        all.extend_from_slice(args);
        all.push(id);
        let out = self.crun(&all)?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        Err(Error::Crun {
            id: id.to_string(),
            op,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }

    /// True while the shim supervises the container (starting, running, or
    /// waiting to restart).
    pub fn running(&self, c: &Container) -> bool {
        self.status(c)
            .is_some_and(|s| matches!(s.state.as_str(), "running" | "restarting" | "starting"))
    }

    /// The healthcheck's state, if the container has one.
    pub fn health(&self, c: &Container) -> Option<Health> {
        fs::read(c.dir.join("health"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    }

    /// Tells the shim not to restart the container after it next exits (a
    /// manual stop or kill, as Docker's restart policies read it).
    pub fn request_stop(&self, c: &Container) {
        let _ = fs::write(c.dir.join("stop-requested"), "");
    }

    /// Sends `signal` (a name like `TERM` or `SIGKILL`, or a number) to the container's init process.
    pub fn kill(&self, c: &Container, signal: &str) -> Result<()> {
        let sig = signal.trim_start_matches("SIG");
        let out = self.crun(&["kill", &c.id, sig])?;
        // Between two runs of a restarting container crun has no (complete) state:
        // there is nothing to signal, and the stop request keeps it from running again.
        let state = self.run.join("crun").join(&c.id).join("status");
        // "No such process": it exited between our look and the signal — done.
        let gone = String::from_utf8_lossy(&out.stderr).contains("No such process");
        if !out.status.success() && !gone && self.running(c) && state.exists() {
            return Err(Error::Crun {
                id: c.id.clone(),
                op: "kill",
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(())
    }

    /// Stops the container: `signal` (the image's StopSignal or TERM), then SIGKILL
    /// after `grace`. Returns the exit code.
    pub fn stop(&self, c: &Container, signal: &str, grace: Duration) -> Result<i32> {
        if !self.running(c) {
            return self.wait(c, Duration::ZERO);
        }
        self.request_stop(c);
        self.kill(c, signal)?;
        match self.wait(c, grace) {
            Ok(code) => Ok(code),
            Err(Error::Timeout { .. }) => {
                self.kill(c, "KILL")?;
                self.wait(c, Duration::from_secs(10))
            }
            Err(e) => Err(e),
        }
    }

    /// Runs a command in the running container (no TTY), returning its exit code,
    /// stdout and stderr. `env` goes over the container's environment (`None` unsets).
    pub fn exec(
        &self,
        c: &Container,
        command: &[String],
        env: &[(String, Option<String>)],
        user: Option<&str>,
        workdir: Option<&str>,
    ) -> Result<(i32, Vec<u8>, Vec<u8>)> {
        let args = self.exec_args(c, command, env, user, workdir, ExecMode::Plain)?;
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.crun(&refs)?;
        Ok((out.status.code().unwrap_or(255), out.stdout, out.stderr))
    }

    /// Starts a command in the running container and returns at once (`exec -d`).
    pub fn exec_detached(
        &self,
        c: &Container,
        command: &[String],
        env: &[(String, Option<String>)],
        user: Option<&str>,
        workdir: Option<&str>,
    ) -> Result<()> {
        let args = self.exec_args(c, command, env, user, workdir, ExecMode::Detach)?;
        // The detached process inherits crun's stdio: pipes would keep us
        // waiting for it, so it gets none (and crun's own message is lost).
        let (mut cmd, _copy) = self.crun_command("exec");
        let status = cmd
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| Error::Io {
                path: self.crun.clone(),
                source: e,
            })?;
        if status.success() {
            return Ok(());
        }
        Err(Error::Crun {
            id: c.id.clone(),
            op: "exec",
            stderr: format!("{status}; run it without -d to see why"),
        })
    }

    /// Starts a command in the running container on a new terminal: crun sends
    /// the terminal's master end to `console_socket` (a listening Unix socket
    /// the caller accepts on); the returned crun process exits with the
    /// command's exit code.
    pub fn exec_console(
        &self,
        c: &Container,
        command: &[String],
        env: &[(String, Option<String>)],
        user: Option<&str>,
        workdir: Option<&str>,
        console_socket: &Path,
    ) -> Result<std::process::Child> {
        let args = self.exec_args(
            c,
            command,
            env,
            user,
            workdir,
            ExecMode::Console(console_socket),
        )?;
        let (mut cmd, _copy) = self.crun_command("exec");
        cmd.args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| Error::Io {
                path: self.crun.clone(),
                source: e,
            })
    }

    fn exec_args(
        &self,
        c: &Container,
        command: &[String],
        env: &[(String, Option<String>)],
        user: Option<&str>,
        workdir: Option<&str>,
        mode: ExecMode<'_>,
    ) -> Result<Vec<String>> {
        if !self.running(c) {
            return Err(Error::NotRunning { id: c.id.clone() });
        }
        let mut args: Vec<String> = vec!["exec".into()];
        match mode {
            ExecMode::Plain => {}
            ExecMode::Detach => args.push("--detach".into()),
            ExecMode::Console(socket) => {
                args.push("--tty".into());
                args.push(format!("--console-socket={}", socket.display()));
            }
        }
        // `crun exec --env` replaces the environment: give the container's own
        // (from its spec) with the overrides on top, as `docker exec -e` does.
        let config = c.dir.join("config.json");
        let spec: serde_json::Value =
            serde_json::from_slice(&fs::read(&config).map_err(io_err(&config))?)
                .map_err(|e| Error::Spec(e.to_string()))?;
        let base: Vec<String> = spec["process"]["env"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        let hostname = spec["hostname"].as_str().unwrap_or(&c.id).to_string();
        for kv in spec::env(&base, env, &hostname) {
            args.push("--env".into());
            args.push(kv);
        }
        if let Some(u) = user {
            let rootfs = c.dir.join("rootfs");
            let r = spec::resolve_user(&rootfs, Some(u))?;
            args.push("--user".into());
            args.push(format!("{}:{}", r.uid, r.gid));
        }
        if let Some(w) = workdir {
            args.push("--cwd".into());
            args.push(w.into());
        }
        args.push(c.id.clone());
        args.extend(command.iter().cloned());
        Ok(args)
    }

    /// The log lines written so far, the rotated files' first (`ctr.log.N` …
    /// `ctr.log.1`, then `ctr.log`).
    pub fn logs(&self, c: &Container) -> Result<Vec<LogLine>> {
        self.logs_and_cursor(c).map(|(lines, _)| lines)
    }

    /// [`Runtime::logs`], and a cursor where they end: what is written after
    /// comes from [`LogCursor::next_lines`], without the log read again.
    pub fn logs_and_cursor(&self, c: &Container) -> Result<(Vec<LogLine>, LogCursor)> {
        let mut rotated: Vec<(u32, PathBuf)> = fs::read_dir(&c.dir)
            .map_err(io_err(&c.dir))?
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let n = name.strip_prefix("ctr.log.")?.parse().ok()?;
                Some((n, e.path()))
            })
            .collect();
        rotated.sort_by_key(|f| std::cmp::Reverse(f.0));
        let mut out = Vec::new();
        for (_, path) in rotated {
            match fs::read_to_string(&path) {
                Ok(t) => out.extend(t.lines().filter_map(parse_cri)),
                // Rotated away between the listing and the read.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::Io { path, source: e }),
            }
        }
        let mut cursor = LogCursor::at_start(c);
        out.extend(cursor.next_lines()?);
        Ok((out, cursor))
    }

    /// Removes the container: stops it if it runs, unmounts its rootfs, deletes
    /// crun's state and its directory.
    pub fn remove(&self, c: &Container) -> Result<()> {
        // Marked first: a shim told to have its container removed
        // (`Supervision::remove_with`) leaves it to this removal.
        let _ = fs::write(c.dir.join(REMOVING), "");
        // No restart after this (a shim that recorded a final exit has nothing
        // left to restart); then crun's state, when it has any (a container
        // that exited was deleted by `crun run` itself: two process starts saved).
        if self.status(c).is_none_or(|s| s.state != "exited") {
            self.request_stop(c);
        }
        if self.run.join("crun").join(&c.id).exists() {
            let _ = self.crun(&["kill", &c.id, "KILL"]);
            let _ = self.crun(&["delete", "--force", &c.id]);
        }
        // A shim still recording the exit writes into the directory: let it
        // finish (it holds its lock until it exits) before deleting it.
        let deadline = Instant::now() + Duration::from_secs(5);
        while shim_lock_held(&c.dir) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let rootfs = c.dir.join("rootfs");
        let mut idle = true;
        if self.mounts.is_mountpoint(&rootfs) {
            match self.mounts.unmount_idle(&rootfs) {
                Ok(at_once) => idle = at_once,
                // Unmounted meanwhile by another removal (a `-d --rm`
                // container's shim has hb remove it as it exits): as good as
                // done here.
                Err(_) if !self.mounts.is_mountpoint(&rootfs) => {}
                Err(e) => return Err(io_err(&rootfs)(e)),
            }
        }
        // Out of `containers/` in one move, so that it is listed until
        // nothing of it is left there (gone already if its shim removed it,
        // `--rm`); then kept for the next container (see `recycle`) only once
        // its overlay is gone: one a process still holds (unmounted lazily)
        // goes on using `upper/` and `work/`.
        let trash = self.trash();
        let gone = trash.join(format!("{}.{}", c.id, std::process::id()));
        match fs::create_dir_all(&trash).and_then(|()| fs::rename(&c.dir, &gone)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&c.dir)(e)),
            Ok(()) => {
                let removed = if idle {
                    crate::recycle::recycle(&gone, &self.spares())
                } else {
                    fs::remove_dir_all(&gone)
                };
                match removed {
                    // A shim's sweep of the trash took it meanwhile.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    r => r.map_err(io_err(&gone))?,
                }
            }
        }
        remove_cgroups(&self.cgroup_name(&c.id))
    }

    /// Six hex digits naming this runtime directory, so that two hb roots (the
    /// tests make many) never share a cgroup or a network namespace name.
    pub fn tag(&self) -> String {
        let h = self
            .run
            .display()
            .to_string()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        format!("{:06x}", h & 0xff_ffff)
    }

    /// The container's cgroup under `hb/` in each hierarchy: `<id>.<tag>`.
    pub fn cgroup_name(&self, id: &str) -> String {
        format!("{id}.{}", self.tag())
    }
}

/// Sleeps until a watched status changes (or `most` passes); without inotify,
/// for a short poll's worth.
fn nap(wake: Option<&Wake>, seen: Option<u64>, most: Duration) {
    match (wake, seen) {
        (Some(w), Some(seen)) => w.wait(seen, most),
        _ => std::thread::sleep(most.min(Duration::from_micros(500))),
    }
}

/// Removes what crun left of the container's cgroups (`/hb/<name>` in each
/// hierarchy): when its processes are still exiting as `crun delete --force`
/// runs — a container whose shim was killed — the kernel refuses the rmdir
/// (EBUSY) and crun goes on. A cgroup goes with rmdir, never a recursive delete.
fn remove_cgroups(name: &str) -> Result<()> {
    let base = Path::new("/sys/fs/cgroup");
    let mut left: Vec<PathBuf> = fs::read_dir(base)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("hb").join(name))
        .chain([base.join("hb").join(name)])
        .filter(|d| d.is_dir())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        left.retain(|d| fs::remove_dir(d).is_err() && d.is_dir());
        match left.first() {
            None => return Ok(()),
            Some(d) if Instant::now() > deadline => {
                return Err(Error::Io {
                    path: d.clone(),
                    source: io::Error::other(
                        "the container's cgroup is still in use; remove it with rmdir once its processes are gone",
                    ),
                })
            }
            Some(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// True if `pid` is a live hb-shim process.
/// Takes the shim's lock (see `start`), unless a shim (or a start under way)
/// holds it; a `status` holding it shared for a moment is waited out.
fn lock_exclusive(lock: &fs::File) -> bool {
    use rustix::fs::{flock, FlockOperation};
    for _ in 0..20 {
        if flock(lock, FlockOperation::NonBlockingLockExclusive).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_micros(250));
    }
    false
}

/// True while a shim, or a start that will hand it one, holds the lock.
fn shim_lock_held(dir: &Path) -> bool {
    use rustix::fs::{flock, FlockOperation};
    fs::File::open(dir.join("shim.lock"))
        .is_ok_and(|f| flock(&f, FlockOperation::NonBlockingLockShared).is_err())
}

fn shim_alive(pid: u32) -> bool {
    crate::procfs::process_alive(pid, "hb-shim")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mounts that fail as a kernel without overlayfs would.
    #[derive(Debug)]
    struct NoOverlay;

    impl Mounts for NoOverlay {
        fn overlay(
            &self,
            _: &[PathBuf],
            _: Option<(&Path, &Path)>,
            _: bool,
            _: &Path,
        ) -> io::Result<()> {
            Err(io::Error::from_raw_os_error(19)) // ENODEV: unknown filesystem type
        }
        fn unmount(&self, _: &Path) -> io::Result<()> {
            Ok(())
        }
        fn is_mountpoint(&self, _: &Path) -> bool {
            false
        }
    }

    #[test]
    fn a_failed_rootfs_mount_undoes_the_create_and_says_where() {
        let d = tempfile::tempdir().expect("tempdir");
        let mut rt = Runtime::new(
            d.path().to_path_buf(),
            d.path().join("run"),
            "crun".into(),
            "hb-shim".into(),
        );
        rt.mounts = Arc::new(NoOverlay);
        let image = LocalImage {
            record: hb_image::ImageRecord {
                name: "busybox".into(),
                manifest: String::new(),
                config: String::new(),
                index: None,
                size: 0,
                stored: 0,
            },
            manifest: serde_json::from_str(
                r#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":0},"layers":[]}"#,
            )
            .expect("manifest"),
            config: hb_image::ImageConfig::default(),
            layers: vec![d.path().join("layer")],
        };
        let err = rt
            .create("c1", &image, &Overrides::default())
            .expect_err("no overlay, no container");
        assert!(
            err.to_string().contains("containers/c1/rootfs"),
            "the error names the mount point: {err}"
        );
        assert!(!d.path().join("containers/c1").exists(), "nothing left");
    }

    #[test]
    fn an_image_healthcheck_keeps_docker_defaults_where_it_is_silent() {
        let h = hb_image::config::ImageHealthcheck {
            test: vec!["CMD-SHELL".into(), "true".into()],
            interval: Some(2_000_000_000),
            timeout: Some(0),
            retries: None,
            ..Default::default()
        };
        let s = HealthSpec::from_image(&h);
        assert_eq!(s.interval, Duration::from_secs(2));
        assert_eq!(s.timeout, Duration::from_secs(30), "0 means the default");
        assert_eq!((s.retries, s.start_interval), (3, Duration::from_secs(5)));
        assert_eq!(
            s.argv(),
            Some(vec!["/bin/sh".into(), "-c".into(), "true".into()])
        );
    }

    /// A runtime rooted at `root`, and the directory of a container `id` in it.
    fn with_container(root: &Path, id: &str) -> (Runtime, Container) {
        let rt = Runtime::new(
            root.to_path_buf(),
            root.join("run"),
            "crun".into(),
            "hb-shim".into(),
        );
        let c = Container {
            id: id.into(),
            dir: root.join("containers").join(id),
            warnings: Vec::new(),
        };
        fs::create_dir_all(&c.dir).expect("dir");
        (rt, c)
    }

    #[test]
    fn a_container_an_earlier_hb_made_is_read_from_its_four_files() {
        let d = tempfile::tempdir().expect("tempdir");
        let (rt, c) = with_container(d.path(), "old");
        fs::write(c.dir.join("layers"), "/l/1\n/l/mountpoints\n").expect("layers");
        fs::write(c.dir.join("ephemeral"), "").expect("ephemeral");
        fs::write(c.dir.join("labels.json"), r#"{"dev.hb.project":"p"}"#).expect("labels");
        fs::write(c.dir.join("image"), "busybox:1").expect("image");
        let r = rt.record(&c).expect("read");
        assert_eq!(r.layers, [PathBuf::from("/l/1"), "/l/mountpoints".into()]);
        assert!(r.ephemeral);
        assert_eq!(
            (rt.image_of(&c), rt.labels(&c)["dev.hb.project"].as_str()),
            ("busybox:1".into(), "p")
        );
        // A new one keeps it all in container.json, which wins.
        let new = Record {
            image: "busybox:2".into(),
            ..Record::default()
        };
        fs::write(c.dir.join(RECORD), serde_json::to_vec(&new).expect("json")).expect("record");
        assert_eq!(rt.image_of(&c), "busybox:2");
        assert!(rt.labels(&c).is_empty() && !rt.record(&c).expect("read").ephemeral);
    }

    #[test]
    fn a_log_cursor_reads_only_what_is_new_across_rotations() {
        use std::io::Write;
        let d = tempfile::tempdir().expect("tempdir");
        let (rt, c) = with_container(d.path(), "chatty");
        let log = c.dir.join("ctr.log");
        let line = |n: u32| format!("2026-11-30T00:00:00.{n:09}Z stdout F line {n}\n");
        let append = |text: &str| {
            let mut f = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .expect("log");
            f.write_all(text.as_bytes()).expect("write");
        };
        let texts = |lines: Vec<LogLine>| lines.into_iter().map(|l| l.text).collect::<Vec<_>>();
        fs::write(c.dir.join("ctr.log.1"), line(1)).expect("rotated");
        append(&line(2));
        let (lines, mut cursor) = rt.logs_and_cursor(&c).expect("logs");
        assert_eq!(texts(lines), ["line 1", "line 2"]);
        assert!(cursor.next_lines().expect("read").is_empty(), "nothing new");
        // Half a line waits for its end.
        let third = line(3);
        append(&third[..10]);
        assert!(cursor.next_lines().expect("read").is_empty());
        append(&third[10..]);
        assert_eq!(texts(cursor.next_lines().expect("read")), ["line 3"]);
        // The shim writes one more line, rotates (ctr.log -> ctr.log.1), and
        // goes on in a new ctr.log: all of it comes, once, in order.
        append(&line(4));
        fs::rename(&log, c.dir.join("ctr.log.1")).expect("rotate");
        append(&line(5));
        assert_eq!(
            texts(cursor.next_lines().expect("read")),
            ["line 4", "line 5"]
        );
        // From the end: only what comes after.
        let mut tail = LogCursor::at_end(&c);
        append(&line(6));
        assert_eq!(texts(tail.next_lines().expect("read")), ["line 6"]);
        assert_eq!(texts(cursor.next_lines().expect("read")), ["line 6"]);
    }

    #[test]
    fn ids_are_checked() {
        assert!(valid_id("web-1") && valid_id("a.b_c"));
        assert!(!valid_id("") && !valid_id("-x") && !valid_id("a/b") && !valid_id("../x"));
    }

    #[test]
    fn a_start_under_way_holds_the_shim_lock_and_an_interrupted_one_reads_as_created() {
        let d = tempfile::tempdir().expect("tempdir");
        let (rt, c) = with_container(d.path(), "c1");
        fs::write(c.dir.join("status"), "{\"state\":\"starting\"}\n").expect("status");
        let state = || rt.status(&c).map(|s| s.state);
        // Nobody holds the lock (no file even): the start was interrupted.
        assert_eq!(state().as_deref(), Some("created"));
        // A start or its shim holds it (as the shim's stdin does): under way,
        // and a second start does not take it.
        let held = fs::File::create(c.dir.join("shim.lock")).expect("lock file");
        assert!(lock_exclusive(&held));
        assert_eq!(state().as_deref(), Some("starting"));
        let other = fs::File::open(c.dir.join("shim.lock")).expect("lock file");
        assert!(
            !lock_exclusive(&other),
            "a second start would double the shim"
        );
        // The holder gone: created again.
        drop(held);
        assert_eq!(state().as_deref(), Some("created"));
    }
}
