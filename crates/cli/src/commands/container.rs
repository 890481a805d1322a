//! `hb container run|ls|logs|rm`: one-off containers, as `docker run` makes them.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use hb_image::{ImageRef, Platform, Quiet};
use hb_runtime::container::{Container, HealthSpec, Runtime, Supervision};
use hb_runtime::cri::LogLine;
use hb_runtime::spec::{MountRequest, Overrides};

use crate::cli::{ListFormat, RunArgs};
use crate::commands::print;
use crate::context;

fn generated_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("hb-{:x}{:05x}", std::process::id(), nanos >> 12)
}

/// One log line to the stream it came from, with its time when asked.
fn emit(line: &LogLine, timestamps: bool) -> std::io::Result<()> {
    let end = if line.full { "\n" } else { "" };
    let time = if timestamps {
        format!("{} ", line.time)
    } else {
        String::new()
    };
    if line.stream == "stderr" {
        let mut e = std::io::stderr().lock();
        write!(e, "{time}{}{end}", line.text)?;
        e.flush()
    } else {
        let mut o = std::io::stdout().lock();
        write!(o, "{time}{}{end}", line.text)?;
        o.flush()
    }
}

pub fn run(a: &RunArgs) -> Result<ExitCode> {
    // Flags first: a typo is reported before any pull.
    let mut overrides = Overrides {
        entrypoint: a.entrypoint.as_ref().map(|e| {
            if e.is_empty() {
                vec![]
            } else {
                vec![e.clone()]
            }
        }),
        command: (!a.command.is_empty()).then(|| a.command.clone()),
        env: env_flags(&a.env),
        user: a.user.clone(),
        working_dir: a.workdir.clone(),
        hostname: a.hostname.clone(),
        read_only: a.read_only,
        cap_add: a.cap_add.clone(),
        cap_drop: a.cap_drop.clone(),
        memory: size_flag("--memory", a.memory.as_deref())?,
        memory_swap: None,
        cpus: a.cpus,
        cpu_shares: None,
        pids: a.pids_limit,
        mounts: mounts(a)?,
        init: a.init,
        privileged: a.privileged,
        sysctls: a
            .sysctl
            .iter()
            .map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .with_context(|| format!("--sysctl {kv:?}: write it as KEY=VALUE"))
            })
            .collect::<Result<_>>()?,
        shm_size: size_flag("--shm-size", a.shm_size.as_deref())?,
        ulimits: a.ulimit.iter().map(|u| ulimit(u)).collect::<Result<_>>()?,
        ephemeral: a.rm,
        ..Overrides::default()
    };
    for opt in &a.security_opt {
        if let Some(w) = hb_runtime::spec::security_opt(&mut overrides, opt)? {
            crate::project::note(&format!("warning: {w}"));
        }
    }
    // The shim starts now, while the store is opened and the container made
    // (~0.8 ms of its start-up off the path to crun; see runtime::handoff).
    let rt = context::runtime_dirs();
    let shim = rt.prespawn();
    let image = image_to_run(&a.image)?;
    let mut supervision = Supervision {
        restart: a.restart.clone(),
        health: health(a, &image)?,
        ..Supervision::default()
    };
    for opt in &a.log_opt {
        match opt.split_once('=') {
            Some(("max-size", v)) => {
                supervision.log_max_size = size_flag("--log-opt max-size", Some(v))?
            }
            Some(("max-file", v)) => {
                supervision.log_max_files = Some(
                    v.parse()
                        .with_context(|| format!("--log-opt {opt:?}: max-file is a count"))?,
                )
            }
            _ => bail!("--log-opt {opt:?}: hb knows max-size=SIZE and max-file=N"),
        }
    }
    let name = a.name.clone().unwrap_or_else(generated_name);
    let bridged = a.network == "bridge" || !a.publish.is_empty();
    if a.rm && a.restart.as_deref().is_some_and(|r| r != "no") {
        bail!("--rm and --restart conflict: a container that restarts is never removed (as with docker run)");
    }
    // The shim removes the container when it exits, as Docker's daemon does:
    // even if this CLI is killed, and with -d. A bridged one goes with its
    // address on the one-off network and its port proxy: attached, this run
    // removes it; detached, its shim has hb do it (`hb container rm`).
    supervision.remove = a.rm && !bridged;
    if a.rm && a.detach && bridged {
        supervision.remove_with = Some(std::env::current_exe().context(
            "-d --rm on a bridge: the container's shim runs this hb to remove it, and this hb cannot find its own path (/proc/self/exe); run it attached, or without --rm and `hb container rm` it",
        )?);
    }
    let ports = publish_flags(&a.publish)?;
    if a.network == "host" {
        if !ports.is_empty() {
            bail!("-p publishes ports of a bridged container; with --network host its ports are the host's already");
        }
        overrides.netns = hb_runtime::spec::NetNs::Host;
    }
    let address = if bridged {
        let (path, address) = bridge_attach(&rt, &name)?;
        overrides.netns = hb_runtime::spec::NetNs::Join(path);
        overrides.hosts = vec![format!("{address}\t{name}")];
        overrides.resolv_conf =
            Some("# hb: the one-off network has no way out\noptions ndots:0\n".into());
        overrides
            .labels
            .push((ONEOFF_NETWORK_LABEL.into(), ONEOFF_NETWORK.into()));
        Some(address)
    } else {
        None
    };
    // -t: a terminal, its master end sent by crun to a socket this run listens on.
    let console = if a.tty && !a.detach {
        overrides.terminal = true;
        let console = crate::commands::tty::Console::new(&rt, &name)?;
        supervision.console_socket = Some(console.path().to_path_buf());
        Some(console)
    } else {
        if a.tty {
            bail!("-t with -d: nothing would hold the terminal; use `hb container exec -it` on the running container");
        }
        None
    };
    let c = match rt.create(&name, &image, &overrides) {
        Ok(c) => c,
        Err(e) => {
            if bridged {
                let _ = bridge_detach(&rt, &name);
            }
            return Err(e.into());
        }
    };
    for w in &c.warnings {
        crate::project::note(&format!("warning: {w}"));
    }
    // Attached before it starts: a container may exit, and its shim remove
    // it, before this run has read its output.
    let attached = if supervision.remove && !a.detach {
        match rt.attach(&c) {
            Ok(held) => Some(held),
            Err(e) => {
                let _ = remove_one(&rt, &c);
                return Err(e.into());
            }
        }
    } else {
        None
    };
    if let Err(e) = rt
        .start_with(&c, &supervision, shim)
        .map_err(anyhow::Error::from)
        .and_then(|_| match address {
            Some(a) if !ports.is_empty() => publish(&rt, &c, a, &ports),
            _ => Ok(()),
        })
    {
        let _ = remove_one(&rt, &c);
        return Err(e);
    }
    if a.detach {
        print(&format!("{name}\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let code = match console {
        Some(console) => {
            let master = console.master(&mut || {
                Ok(rt
                    .status(&c)
                    .filter(|s| s.state == "exited" || s.state == "failed")
                    .map(|s| format!("the container {}", s.state)))
            })?;
            drop(console);
            crate::commands::tty::session(master)?;
            rt.wait(&c, Duration::from_secs(30))?
        }
        None => follow(&rt, &c, 0, false)?,
    };
    if let Some(held) = attached {
        rt.let_go(&c, held, Duration::from_secs(10))?;
    } else if a.rm && !supervision.remove {
        remove_one(&rt, &c)?;
    }
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

/// The image `name` names: from the store's name index, without opening the
/// database (see `Store::indexed`); else looked up in a read-only store (see
/// `Store::open_read_only`), which writes the index's file for next time;
/// else in the store read-write, else pulled. The read-only store is closed
/// first: within a process SQLite shares one mapping of `state.db-shm`, and
/// one opened read-only would leave every later connection (the puller's, the
/// network state's) unable to write.
fn image_to_run(name: &str) -> Result<hb_image::store::LocalImage> {
    let root = context::hb_root();
    if let Some(image) = hb_image::store::Store::indexed(&root, name) {
        return Ok(image);
    }
    if let Ok(store) = hb_image::store::Store::open_read_only(&root) {
        if let Ok(record) = store.find(name) {
            let _ = store.index_name(&record.name);
            return Ok(store.image(&record)?);
        }
    }
    let store = context::store()?;
    let record = match store.find(name) {
        Ok(r) => r,
        Err(_) => {
            let image_ref: ImageRef = name.parse()?;
            let puller = context::puller()?;
            context::runtime()?
                .block_on(puller.pull(&image_ref, &Platform::host(), Arc::new(Quiet)))
                .with_context(|| format!("cannot pull {image_ref}"))?
        }
    };
    Ok(store.image(&record)?)
}

/// The label of a one-off container on hb's one-off bridge network.
const ONEOFF_NETWORK_LABEL: &str = "dev.hb.network";
/// That network, kept like a project's (its namespace, its addresses in the state store).
const ONEOFF_NETWORK: &str = "hb-oneoff";

/// A namespace for a one-off container on the one-off bridge: its path and address.
fn bridge_attach(rt: &Runtime, name: &str) -> Result<(std::path::PathBuf, std::net::Ipv4Addr)> {
    let state = hb_engine::state::State::open(&rt.root)?;
    let idx = state.network_index(ONEOFF_NETWORK, "bridge")?;
    let host = state.address(ONEOFF_NETWORK, "bridge", name)?;
    let address = hb_net::host_address(idx, host);
    let net = hb_net::Net::new(&rt.tag(), &hb_net::RealIp);
    net.ensure_project(ONEOFF_NETWORK, &[idx])?;
    let path = net.attach(
        ONEOFF_NETWORK,
        name,
        &[hb_net::Attachment {
            network: idx,
            address,
        }],
    )?;
    Ok((path, address))
}

/// Undoes [`bridge_attach`]. The network itself stays for the next one-off
/// container, as Docker's default bridge does: making its namespace and bridge
/// again cost ~8 ms of a ~45 ms bridged `run --rm`. `hb network prune` removes it.
fn bridge_detach(rt: &Runtime, name: &str) -> Result<()> {
    hb_net::Net::new(&rt.tag(), &hb_net::RealIp).detach(name)?;
    hb_engine::state::State::open(&rt.root)?.forget_container(ONEOFF_NETWORK, name)?;
    Ok(())
}

/// `hb network prune`: removes the one-off network when no container is on it
/// (a project's networks go with `hb down`), and prints its name if it did.
pub fn network_prune() -> Result<ExitCode> {
    let rt = context::runtime_dirs();
    let net = hb_net::Net::new(&rt.tag(), &hb_net::RealIp);
    let used = rt
        .list()
        .iter()
        .any(|c| rt.labels(c).contains_key(ONEOFF_NETWORK_LABEL));
    if used || !net.namespaces().contains(&net.project_ns(ONEOFF_NETWORK)) {
        return Ok(ExitCode::SUCCESS);
    }
    net.remove_project(ONEOFF_NETWORK, &[])?;
    hb_engine::state::State::open(&rt.root)?.forget_project(ONEOFF_NETWORK)?;
    print(&format!("{ONEOFF_NETWORK}\n"))?;
    Ok(ExitCode::SUCCESS)
}

/// Removes a one-off container with its proxy and its place on the one-off network.
fn remove_one(rt: &Runtime, c: &Container) -> Result<()> {
    let bridged = rt.labels(c).contains_key(ONEOFF_NETWORK_LABEL);
    hb_net::ports::stop_proxy(&c.dir);
    // Its network first: the container is listed until all of it is gone.
    if bridged {
        bridge_detach(rt, &c.id)?;
    }
    rt.remove(c)?;
    Ok(())
}

/// `-p [IP:]HOST:CONTAINER[/PROTO]`, as `docker run -p` reads it.
fn publish_flags(flags: &[String]) -> Result<Vec<hb_compose::units::PortSpec>> {
    let mut out = Vec::new();
    for f in flags {
        let specs =
            hb_compose::units::parse_port(f).map_err(|e| anyhow::anyhow!("-p {f:?}: {e}"))?;
        for s in specs {
            if s.protocol == "sctp" {
                bail!("-p {f:?}: only tcp and udp can be published");
            }
            out.push(s);
        }
    }
    Ok(out)
}

/// Serves the ports on the host through hb-proxy (127.0.0.1 unless an IP is given).
fn publish(
    rt: &Runtime,
    c: &Container,
    address: std::net::Ipv4Addr,
    ports: &[hb_compose::units::PortSpec],
) -> Result<()> {
    let mut maps = Vec::new();
    for p in ports {
        let ip: std::net::IpAddr = p
            .host_ip
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or("127.0.0.1")
            .parse()?;
        let port = match p.published.as_deref() {
            Some(h) => h.parse::<u16>().with_context(|| {
                format!("-p: host port `{h}` is not a port (ranges are for compose files)")
            })?,
            None => hb_net::ports::free_port().context("no free host port")?,
        };
        let m = hb_net::Publish {
            protocol: p.protocol.clone(),
            host: std::net::SocketAddr::new(ip, port),
            target: std::net::SocketAddr::new(std::net::IpAddr::V4(address), p.target),
        };
        hb_net::ports::check_free(&m)?;
        crate::project::note(&format!("{}/{} → {}", m.host, m.protocol, p.target));
        maps.push(m);
    }
    let net = hb_net::Net::new(&rt.tag(), &hb_net::RealIp);
    let ns = hb_net::Net::ns_path(&net.project_ns(ONEOFF_NETWORK));
    hb_net::ports::start_proxy(&context::proxy(), &ns, &c.id, &c.dir, &maps)?;
    Ok(())
}

/// `-e KEY=VALUE`, or `-e KEY` to pass hb's own `KEY` (unset when hb has none),
/// as `docker run -e` and `docker exec -e` read them.
pub fn env_flags(flags: &[String]) -> Vec<(String, Option<String>)> {
    flags
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (kv.clone(), std::env::var(kv).ok()),
        })
        .collect()
}

/// A size flag (`--memory 512m`, `--shm-size 64m`), in bytes.
fn size_flag(flag: &str, value: Option<&str>) -> Result<Option<u64>> {
    value
        .map(|v| {
            hb_compose::units::parse_size(v)
                .with_context(|| format!("{flag} `{v}` is not a size: write it like 64m or 1g"))
        })
        .transpose()
}

/// `--ulimit NAME=SOFT[:HARD]` (as `docker run --ulimit`).
fn ulimit(spec: &str) -> Result<(String, u64, u64)> {
    let (name, vals) = spec
        .split_once('=')
        .with_context(|| format!("--ulimit {spec:?}: write it as NAME=SOFT[:HARD]"))?;
    let num = |v: &str| {
        v.parse::<u64>()
            .with_context(|| format!("--ulimit {spec:?}: `{v}` is not a number"))
    };
    let (soft, hard) = match vals.split_once(':') {
        Some((s, h)) => (num(s)?, num(h)?),
        None => (num(vals)?, num(vals)?),
    };
    if soft > hard {
        bail!("--ulimit {spec:?}: the soft limit is above the hard one");
    }
    Ok((name.to_string(), soft, hard))
}

/// `-v SOURCE:TARGET[:ro]` and `--tmpfs PATH`. Relative sources are relative to
/// here; a missing source directory is created, as Docker does.
fn mounts(a: &RunArgs) -> Result<Vec<MountRequest>> {
    let mut out = Vec::new();
    for v in &a.volume {
        let parts: Vec<&str> = v.split(':').collect();
        let (src, dst, ro) = match parts.as_slice() {
            [s, d] => (*s, *d, false),
            [s, d, "ro"] => (*s, *d, true),
            [s, d, "rw"] => (*s, *d, false),
            _ => bail!("invalid -v {v:?}: write it as SOURCE:TARGET or SOURCE:TARGET:ro"),
        };
        if !hb_compose::units::is_path_like(src) {
            bail!("-v {v:?}: named volumes belong to projects (`hb up`); give a host path (./dir, /abs/dir)");
        }
        if !dst.starts_with('/') {
            bail!("-v {v:?}: the target must be an absolute path in the container");
        }
        let cwd = std::env::current_dir()?;
        let source = std::path::PathBuf::from(hb_compose::canonical::absolute(
            &cwd,
            src,
            std::env::var("HOME").ok().as_deref(),
        ));
        if !source.exists() {
            std::fs::create_dir_all(&source)
                .with_context(|| format!("cannot create {}", source.display()))?;
        }
        out.push(MountRequest::Bind {
            source,
            target: dst.to_string(),
            read_only: ro,
        });
    }
    for t in &a.tmpfs {
        out.push(MountRequest::Tmpfs {
            target: t.clone(),
            size: None,
        });
    }
    Ok(out)
}

/// The healthcheck: `--health-*` flags over the image's HEALTHCHECK, or none.
fn health(a: &RunArgs, image: &hb_image::LocalImage) -> Result<Option<HealthSpec>> {
    if a.no_healthcheck {
        return Ok(None);
    }
    let dur = |s: &Option<String>| -> Result<Option<Duration>> {
        s.as_deref()
            .map(|d| {
                hb_compose::units::parse_duration(d)
                    .with_context(|| format!("`{d}` is not a duration: write it like 30s or 500ms"))
            })
            .transpose()
    };
    let from_image = image
        .config
        .config
        .healthcheck
        .as_ref()
        .map(HealthSpec::from_image);
    let mut spec = match (&a.health_cmd, from_image) {
        (Some(cmd), _) => HealthSpec::with_test(vec!["CMD-SHELL".into(), cmd.clone()]),
        (None, Some(s)) => s,
        (None, None) => return Ok(None),
    };
    if let Some(d) = dur(&a.health_interval)? {
        spec.interval = d;
    }
    if let Some(d) = dur(&a.health_timeout)? {
        spec.timeout = d;
    }
    if let Some(d) = dur(&a.health_start_period)? {
        spec.start_period = d;
    }
    if let Some(r) = a.health_retries {
        spec.retries = r;
    }
    Ok(Some(spec))
}

fn state(rt: &Runtime, c: &Container) -> String {
    let health = rt
        .health(c)
        .map(|h| format!(" ({})", h.status))
        .unwrap_or_default();
    match rt.status(c) {
        Some(s) if s.state == "exited" => format!("exited ({})", s.exit_code.unwrap_or(-1)),
        Some(s) if s.state == "running" => format!("running{health}"),
        Some(s) => s.state,
        None => "created".into(),
    }
}

/// `hb container ls [-a]`: as `docker ps`, the containers that run (and those
/// whose shim is gone: `failed` needs looking at); `-a` adds the exited and
/// the merely created.
pub fn list(format: ListFormat, all: bool) -> Result<ExitCode> {
    let rt = context::runtime_dirs();
    let rows: Vec<(String, String, String)> = rt
        .list()
        .iter()
        .map(|c| (c.id.clone(), rt.image_of(c), state(&rt, c)))
        .filter(|(_, _, s)| all || !(s.starts_with("exited") || s == "created"))
        .collect();
    let text = match format {
        ListFormat::Json => {
            let v: Vec<_> = rows
                .iter()
                .map(|(n, i, s)| serde_json::json!({"name": n, "image": i, "status": s}))
                .collect();
            serde_json::to_string_pretty(&v)? + "\n"
        }
        ListFormat::Table => {
            let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(4);
            let wi = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).max(5);
            let mut s = format!("{:w$}  {:wi$}  STATUS\n", "NAME", "IMAGE");
            for (n, i, st) in &rows {
                s.push_str(&format!("{n:w$}  {i:wi$}  {st}\n"));
            }
            s
        }
    };
    print(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn find(rt: &Runtime, name: &str) -> Result<Container> {
    match rt.get(name) {
        Some(c) => Ok(c),
        None => bail!("no container named {name}; `hb container ls -a` lists them"),
    }
}

pub fn logs(
    name: &str,
    timestamps: bool,
    follow_on: bool,
    tail: usize,
    since: Option<&str>,
) -> Result<ExitCode> {
    let cutoff = since.map(since_cutoff).transpose()?;
    let rt = context::runtime_dirs();
    let c = find(&rt, name)?;
    let lines = rt.logs(&c)?;
    // CRI times are fixed-width UTC, so they order as strings.
    let first_since = cutoff.map_or(0, |t| lines.partition_point(|l| l.time < t));
    let from = lines.len().saturating_sub(tail).max(first_since);
    if follow_on {
        follow(&rt, &c, from, timestamps)?;
    } else {
        for l in &lines[from..] {
            emit(l, timestamps)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--since` as a CRI time to compare with: a duration back from now (`10m`), or
/// a UTC time (`2026-11-30T12:00:00Z`, with or without fractions) or a date.
pub fn since_cutoff(since: &str) -> Result<String> {
    if let Some(d) = hb_compose::units::parse_duration(since) {
        let then = std::time::SystemTime::now()
            .checked_sub(d)
            .unwrap_or(std::time::UNIX_EPOCH);
        return Ok(hb_runtime::cri::timestamp(then));
    }
    let t = if since.len() == 10 {
        format!("{since}T00:00:00.000000000Z")
    } else if let Some(base) = since.strip_suffix('Z') {
        let (whole, frac) = base.split_once('.').unwrap_or((base, ""));
        format!("{whole}.{frac:0<9}Z")
    } else {
        String::new()
    };
    let shape_ok = t.len() == 30
        && t.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 | 16 => b == b':',
            19 => b == b'.',
            29 => b == b'Z',
            _ => b.is_ascii_digit(),
        });
    if !shape_ok {
        bail!("--since {since:?}: give a duration like 10m or 1h, or a UTC time like 2026-11-30T12:00:00Z");
    }
    Ok(t)
}

/// Prints the log from line `from` on as it grows, until the container exits;
/// returns its exit code.
pub fn follow(rt: &Runtime, c: &Container, from: usize, timestamps: bool) -> Result<i32> {
    // What is there, then what is written after it, read where the last read
    // stopped (the log is not read again from its start at every wake).
    let (lines, mut cursor) = match rt.logs_and_cursor(c) {
        Ok(read) => read,
        Err(_) if !c.dir.exists() => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    for l in lines.get(from..).unwrap_or_default() {
        emit(l, timestamps)?;
    }
    loop {
        // Read the exit first, so the lines printed after it are all there are.
        let exited = match rt.wait(c, Duration::from_millis(20)) {
            Ok(code) => Some(code),
            Err(hb_runtime::Error::Timeout { .. }) => None,
            // Its shim removed it as it exited (`-d --rm`; an attached `run`
            // holds it until it has read everything): its log went with it.
            Err(hb_runtime::Error::Removed { .. }) => return Ok(0),
            Err(e) => return Err(e.into()),
        };
        for l in cursor.next_lines()? {
            emit(&l, timestamps)?;
        }
        if let Some(code) = exited {
            return Ok(code);
        }
    }
}

pub fn remove(names: &[String], force: bool) -> Result<ExitCode> {
    let rt = context::runtime_dirs();
    for n in names {
        let c = find(&rt, n)?;
        if !force && rt.status(&c).is_some_and(|s| s.state == "running") {
            bail!("container {n} is running; stop it first, or use --force to kill it");
        }
        remove_one(&rt, &c)?;
        print(&format!("{n}\n"))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn stop(names: &[String], secs: u64) -> Result<ExitCode> {
    let rt = context::runtime_dirs();
    for n in names {
        let c = find(&rt, n)?;
        let signal = context::store()
            .ok()
            .and_then(|s| s.find(&rt.image_of(&c)).ok().and_then(|r| s.image(&r).ok()))
            .and_then(|img| img.config.config.stop_signal)
            .unwrap_or_else(|| "TERM".into());
        match rt.stop(&c, &signal, Duration::from_secs(secs)) {
            // Stopped, and removed by its shim (`--rm`).
            Ok(_) | Err(hb_runtime::Error::Removed { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        print(&format!("{n}\n"))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn kill(names: &[String], signal: &str) -> Result<ExitCode> {
    let rt = context::runtime_dirs();
    for n in names {
        let c = find(&rt, n)?;
        rt.request_stop(&c);
        rt.kill(&c, signal)?;
        print(&format!("{n}\n"))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn exec(
    name: &str,
    command: &[String],
    env: &[String],
    user: Option<&str>,
    workdir: Option<&str>,
    tty: bool,
) -> Result<ExitCode> {
    let rt = context::runtime_dirs();
    let c = find(&rt, name)?;
    if tty {
        let code = crate::commands::tty::exec(&rt, &c, command, &env_flags(env), user, workdir)?;
        return Ok(ExitCode::from(code.clamp(0, 255) as u8));
    }
    let (code, out, err) = rt.exec(&c, command, &env_flags(env), user, workdir)?;
    std::io::stdout().write_all(&out)?;
    std::io::stderr().write_all(&err)?;
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

pub fn pause(names: &[String], freeze: bool) -> Result<ExitCode> {
    let rt = context::runtime_dirs();
    for n in names {
        let c = find(&rt, n)?;
        if freeze {
            rt.pause(&c)?;
        } else {
            rt.unpause(&c)?;
        }
        print(&format!("{n}\n"))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn top(name: &str) -> Result<ExitCode> {
    let rt = context::runtime_dirs();
    let c = find(&rt, name)?;
    crate::commands::observe::top(&rt, &[(name.to_string(), c)])
}

pub fn stats(a: &crate::cli::StatsArgs) -> Result<ExitCode> {
    let rt = context::runtime_dirs();
    for n in &a.names {
        find(&rt, n)?;
    }
    let list = || {
        rt.list()
            .into_iter()
            .filter(|c| a.names.is_empty() || a.names.contains(&c.id))
            .map(|c| (c.id.clone(), c))
            .collect()
    };
    crate::commands::observe::stats(&rt, &list, a)
}

/// The spec, the shim's status, the health and the labels, as one JSON document each.
pub fn inspect(names: &[String]) -> Result<ExitCode> {
    let rt = context::runtime_dirs();
    let mut out = Vec::new();
    for n in names {
        let c = find(&rt, n)?;
        let spec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(c.dir.join("config.json"))?)?;
        let status: serde_json::Value = std::fs::read(c.dir.join("status"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(serde_json::Value::Null);
        let health: serde_json::Value = std::fs::read(c.dir.join("health"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(serde_json::Value::Null);
        out.push(serde_json::json!({
            "name": c.id,
            "image": rt.image_of(&c),
            "state": state(&rt, &c),
            "paused": rt.running(&c) && rt.paused(&c),
            "status": status,
            "health": health,
            "labels": rt.labels(&c),
            "spec": spec,
            "dir": c.dir,
        }));
    }
    print(&(serde_json::to_string_pretty(&out)? + "\n"))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_reads_dates_times_and_durations() {
        assert_eq!(
            since_cutoff("2026-11-30").expect("date"),
            "2026-11-30T00:00:00.000000000Z"
        );
        assert_eq!(
            since_cutoff("2026-11-30T12:00:00.5Z").expect("time"),
            "2026-11-30T12:00:00.500000000Z"
        );
        let ten_min_ago = since_cutoff("10m").expect("duration");
        assert!(ten_min_ago < hb_runtime::cri::timestamp(std::time::SystemTime::now()));
        for bad in ["yesterday", "2026-11-30T12:00:00+01:00", "2026-13"] {
            let e = since_cutoff(bad).expect_err(bad);
            assert!(e.to_string().contains("give a duration"), "{e}");
        }
    }
}
