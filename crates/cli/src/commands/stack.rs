//! The project verbs, as `docker compose` has them: `up`, `down`, `ps`, `ls`,
//! `logs`, `exec`, `start`, `stop`, `restart`, `port`.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use hb_compose::Project;
use hb_engine::{Engine, Event, LABEL_NUMBER, LABEL_SERVICE};
use hb_plan::reconcile::Action;
use hb_runtime::container::Container;
use hb_runtime::cri::LogLine;

use crate::cli::{
    DownArgs, ExecArgs, ListFormat, LogsArgs, ProjectArgs, PsArgs, ServicesArgs, UpArgs,
};
use crate::commands::print;
use crate::context;
use crate::project::note;

fn load(args: &ProjectArgs) -> Result<Project> {
    Ok(crate::project::load(args)?.project)
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// Progress lines on standard error, as `docker compose` prints them.
fn progress(e: Event) {
    match e {
        Event::Pulling(image) => note(&format!(" … pulling {image}")),
        Event::Done(a, t) => {
            let what = match &a {
                Action::Create { .. } => "created and started",
                Action::Recreate { .. } => "recreated and started",
                Action::Start { .. } => "started",
                Action::Restart { .. } => "restarted",
                Action::Keep { .. } => return note(&format!(" ✔ {:<24} running", a.container())),
                Action::Remove { .. } => "removed",
            };
            note(&format!(" ✔ {:<24} {what} in {}", a.container(), ms(t)));
        }
        Event::Waiting { service, on } => note(&format!(" … {service:<24} waits for {on}")),
        Event::Removed(c, t) => note(&format!(" ✔ {c:<24} removed in {}", ms(t))),
        Event::Stopped(c, t) => note(&format!(" ✔ {c:<24} stopped in {}", ms(t))),
        Event::Started(c, t) => note(&format!(" ✔ {c:<24} started in {}", ms(t))),
        Event::Warning(w) => note(&format!("warning: {w}")),
        e @ (Event::Building(_) | Event::Build { .. } | Event::Built(_)) => {
            super::build::show(&e, false)
        }
    }
}

pub fn up(pa: &ProjectArgs, a: &UpArgs) -> Result<ExitCode> {
    let project = load(pa)?;
    let mut scale = BTreeMap::new();
    for s in &a.scale {
        let (svc, n) = s
            .split_once('=')
            .and_then(|(s, n)| Some((s.to_string(), n.parse::<u32>().ok()?)))
            .with_context(|| format!("--scale {s:?}: write it as SERVICE=N"))?;
        scale.insert(svc, n);
    }
    let opts = hb_engine::UpOptions {
        services: a.services.clone(),
        no_deps: a.no_deps,
        plan: hb_plan::reconcile::Options {
            force_recreate: a.force_recreate,
            no_recreate: a.no_recreate,
            remove_orphans: a.remove_orphans,
        },
        scale,
        auto_ports: a.auto_ports,
        dry_run: a.dry_run,
        wait: a.wait,
        build: a.build,
        no_build: a.no_build,
        cancel: None,
    };
    let engine = context::engine()?;
    let started = Instant::now();
    let report = engine.up(&project, &opts, &progress)?;
    if a.dry_run {
        print(&report.plan.to_text())?;
        return Ok(ExitCode::SUCCESS);
    }
    if report.plan.is_noop() {
        note(&format!(
            "nothing to do: {} is up to date ({})",
            project.name.as_str(),
            ms(started.elapsed())
        ));
    }
    for (c, p) in &report.ports {
        let scheme = if p.protocol == "tcp" { "http://" } else { "" };
        note(&format!(
            " ➜ {c}: {scheme}{}  ({}/{})",
            p.host, p.target, p.protocol
        ));
    }
    if a.watch {
        watching(
            &engine,
            &project,
            &a.services,
            !a.detach,
            a.no_color,
            a.timestamps,
        )?;
        if !a.detach {
            // `up` in the foreground: Ctrl-C stops the stack too, as without --watch.
            note(&format!("stopping {}…", project.name.as_str()));
            stop_all(&engine, &project, &[], None, &|| false)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if a.detach || a.wait {
        return Ok(ExitCode::SUCCESS);
    }
    foreground(&engine, &project, a)
}

pub fn watch(pa: &ProjectArgs, services: &[String], no_up: bool, quiet: bool) -> Result<ExitCode> {
    let project = load(pa)?;
    let engine = context::engine()?;
    if !no_up {
        let opts = hb_engine::UpOptions {
            services: services.to_vec(),
            ..hb_engine::UpOptions::default()
        };
        engine.up(&project, &opts, &progress)?;
    }
    watching(&engine, &project, services, !quiet, false, false)
}

/// The watch loop in a thread of its own, the services' logs here (unless
/// `logs` is off), until Ctrl-C. The stack stays up afterwards, as with
/// `docker compose watch`.
fn watching(
    engine: &Engine,
    project: &Project,
    services: &[String],
    logs: bool,
    no_color: bool,
    timestamps: bool,
) -> Result<ExitCode> {
    let (rules, notes) = hb_engine::watch::rules(project, services)?;
    for n in &notes {
        note(n);
    }
    if rules.is_empty() {
        bail!("nothing to watch: no service has develop.watch rules or a bind-mounted source (see docs/watch.md)");
    }
    for r in &rules {
        note(&format!(
            " 👁 {:<12} {} → {:?}{}",
            r.service,
            r.path.display(),
            r.action,
            r.target
                .as_deref()
                .map(|t| format!(" {t}"))
                .unwrap_or_default()
        ));
    }
    let interrupts = Arc::new(AtomicUsize::new(0));
    watch_interrupts(interrupts.clone());
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| -> Result<ExitCode> {
        let watcher = scope.spawn(|| {
            engine.watch(
                project,
                &rules,
                &stop,
                &|e: hb_engine::watch::WatchEvent| {
                    if e.failed {
                        note(&format!(" ✘ {}: {} ({})", e.service, e.what, ms(e.took)));
                    } else {
                        note(&format!(" ⟳ {}: {} in {}", e.service, e.what, ms(e.took)));
                    }
                },
            )
        });
        let name = project.name.as_str();
        let mut tail = Tail::new(
            !no_color && std::io::stdout().is_terminal(),
            timestamps,
            true,
        );
        if logs {
            // Only what comes from now on.
            for (c, _) in engine.containers(name) {
                let cursor = hb_runtime::container::LogCursor::at_end(&c);
                tail.cursors.insert(c.id.clone(), cursor);
            }
        }
        while interrupts.load(Ordering::SeqCst) == 0 && !watcher.is_finished() {
            if logs {
                tail.poll(&engine.containers(name))?;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, Ordering::SeqCst);
        watcher
            .join()
            .map_err(|_| anyhow::anyhow!("the watcher panicked"))??;
        Ok(ExitCode::SUCCESS)
    })
}

/// `up` in the foreground: every service's output until Ctrl-C (then a graceful
/// stop; a second Ctrl-C kills) or, with `--abort-on-container-exit`, until a
/// container exits.
fn foreground(engine: &Engine, project: &Project, a: &UpArgs) -> Result<ExitCode> {
    let interrupts = Arc::new(AtomicUsize::new(0));
    watch_interrupts(interrupts.clone());
    note("attached; Ctrl-C stops the stack (twice: kills it)");
    let name = project.name.as_str();
    let mut tail = Tail::new(
        !a.no_color && std::io::stdout().is_terminal(),
        a.timestamps,
        true,
    );
    let abort = a.abort_on_container_exit || a.exit_code_from.is_some();
    let mut exit_code = 0;
    loop {
        let cs = engine.containers(name);
        tail.poll(&cs)?;
        if interrupts.load(Ordering::SeqCst) > 0 {
            break;
        }
        let exited: Vec<&(Container, BTreeMap<String, String>)> = cs
            .iter()
            .filter(|(c, _)| engine.rt.status(c).is_some_and(|s| s.state == "exited"))
            .collect();
        if let Some(from) = &a.exit_code_from {
            if let Some((c, _)) = exited
                .iter()
                .find(|(_, l)| l.get(LABEL_SERVICE) == Some(from))
            {
                exit_code = engine.rt.status(c).and_then(|s| s.exit_code).unwrap_or(1);
                break;
            }
        } else if abort && !exited.is_empty() {
            break;
        }
        if !abort && !cs.is_empty() && cs.iter().all(|(c, _)| !engine.rt.running(c)) {
            break; // everything has exited by itself
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    note(&format!("stopping {name}…"));
    let kill = interrupts.clone();
    stop_all(engine, project, &[], None, &move || {
        kill.load(Ordering::SeqCst) > 1
    })?;
    Ok(ExitCode::from(exit_code.clamp(0, 255) as u8))
}

/// Counts Ctrl-Cs from a thread of its own.
fn watch_interrupts(count: Arc<AtomicUsize>) {
    crate::signals::on(&[tokio::signal::unix::SignalKind::interrupt()], move || {
        count.fetch_add(1, Ordering::SeqCst);
    });
}

/// Stops the project's containers of `services` (all when empty), dependents first.
fn stop_all(
    engine: &Engine,
    project: &Project,
    services: &[String],
    timeout: Option<u64>,
    kill_now: &(dyn Fn() -> bool + Sync),
) -> Result<()> {
    engine.stop_services(
        project,
        services,
        timeout.map(Duration::from_secs),
        kill_now,
        &progress,
    )?;
    Ok(())
}

pub fn down(pa: &ProjectArgs, a: &DownArgs) -> Result<ExitCode> {
    let project = load(pa)?;
    let engine = context::engine()?;
    let opts = hb_engine::DownOptions {
        volumes: a.volumes,
        remove_orphans: a.remove_orphans,
        timeout: a.timeout.map(Duration::from_secs),
    };
    engine.down(&project, &opts, &progress)?;
    if let Some(which) = a.rmi.as_deref() {
        // Compose's `--rmi`: `all` removes every service's image, `local` only
        // those built under the name Compose gives them (no `image:` of their own).
        let images: std::collections::BTreeSet<String> = project
            .services
            .iter()
            .filter_map(|(name, s)| match (&s.image, &s.build, which) {
                (Some(image), _, "all") => Some(image.clone()),
                (None, Some(_), _) => Some(hb_engine::build::image_name(&project, name, s)),
                _ => None,
            })
            .collect();
        for image in images {
            let Ok(record) = engine.store.find(&image) else {
                continue;
            };
            if engine.store.forget(&record.name)? {
                note(&format!(" ✔ {image:<24} image removed"));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn ps(pa: &ProjectArgs, a: &PsArgs) -> Result<ExitCode> {
    let project = load(pa)?;
    let engine = context::engine()?;
    let rows: Vec<hb_engine::ContainerInfo> = engine
        .ps(project.name.as_str())
        .into_iter()
        .filter(|c| a.services.is_empty() || a.services.contains(&c.service))
        .filter(|c| {
            a.all
                || a.status.is_some()
                || matches!(c.state.as_str(), "running" | "restarting" | "paused")
        })
        .filter(|c| a.status.as_ref().is_none_or(|s| &c.state == s))
        .collect();
    if a.services_only {
        let mut names: Vec<&str> = rows.iter().map(|r| r.service.as_str()).collect();
        names.dedup();
        print(&names.iter().map(|n| format!("{n}\n")).collect::<String>())?;
        return Ok(ExitCode::SUCCESS);
    }
    if a.quiet {
        print(
            &rows
                .iter()
                .map(|r| format!("{}\n", r.name))
                .collect::<String>(),
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let text = match a.format {
        ListFormat::Json => serde_json::to_string_pretty(&rows)? + "\n",
        ListFormat::Table => {
            let ports = |r: &hb_engine::ContainerInfo| {
                r.ports
                    .iter()
                    .map(|p| format!("{}->{}/{}", p.host, p.target, p.protocol))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let table: Vec<[String; 5]> = rows
                .iter()
                .map(|r| {
                    [
                        r.name.clone(),
                        r.image.clone(),
                        r.service.clone(),
                        r.status.clone(),
                        ports(r),
                    ]
                })
                .collect();
            render(&["NAME", "IMAGE", "SERVICE", "STATUS", "PORTS"], &table)
        }
    };
    print(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// An aligned table.
pub fn render<const N: usize>(head: &[&str; N], rows: &[[String; N]]) -> String {
    let mut w = head.map(str::len);
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == N {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<width$}   ", width = w[i]));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(head.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

pub fn ls(format: ListFormat) -> Result<ExitCode> {
    let engine = context::engine()?;
    let rows: Vec<[String; 2]> = engine
        .projects()
        .into_iter()
        .map(|(name, cs)| {
            let running = cs.iter().filter(|c| engine.rt.running(c)).count();
            let status = if running == cs.len() {
                format!("running({running})")
            } else {
                format!("running({running}), exited({})", cs.len() - running)
            };
            [name, status]
        })
        .collect();
    let text = match format {
        ListFormat::Json => {
            let v: Vec<_> = rows
                .iter()
                .map(|[n, s]| serde_json::json!({"name": n, "status": s}))
                .collect();
            serde_json::to_string_pretty(&v)? + "\n"
        }
        ListFormat::Table => render(&["NAME", "STATUS"], &rows),
    };
    print(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// Follows several containers' logs by byte offset, printing whole lines with
/// aligned `service-1 | ` prefixes.
struct Tail {
    color: bool,
    timestamps: bool,
    prefix: bool,
    /// Where each container's log was read to.
    cursors: BTreeMap<String, hb_runtime::container::LogCursor>,
    colors: BTreeMap<String, usize>,
}

const COLORS: [&str; 6] = ["36", "33", "32", "35", "34", "31"];

impl Tail {
    fn new(color: bool, timestamps: bool, prefix: bool) -> Self {
        Tail {
            color,
            timestamps,
            prefix,
            cursors: BTreeMap::new(),
            colors: BTreeMap::new(),
        }
    }

    fn label(l: &BTreeMap<String, String>, c: &Container) -> String {
        match (l.get(LABEL_SERVICE), l.get(LABEL_NUMBER)) {
            (Some(s), Some(n)) => format!("{s}-{n}"),
            _ => c.id.clone(),
        }
    }

    /// New complete lines of each container since the last poll, in time order.
    fn poll(&mut self, cs: &[(Container, BTreeMap<String, String>)]) -> Result<()> {
        let mut lines: Vec<(String, LogLine)> = Vec::new();
        // A container gone since lets go of its log (a removed file held open).
        self.cursors
            .retain(|id, _| cs.iter().any(|(c, _)| &c.id == id));
        for (c, l) in cs {
            let label = Self::label(l, c);
            // A container that appeared since (a new replica): from its start.
            let cursor = self
                .cursors
                .entry(c.id.clone())
                .or_insert_with(|| hb_runtime::container::LogCursor::at_start(c));
            lines.extend(
                cursor
                    .next_lines()?
                    .into_iter()
                    .map(|ll| (label.clone(), ll)),
            );
        }
        lines.sort_by(|a, b| a.1.time.cmp(&b.1.time));
        self.print(&lines)
    }

    fn print(&mut self, lines: &[(String, LogLine)]) -> Result<()> {
        let width = self
            .colors
            .keys()
            .chain(lines.iter().map(|(l, _)| l))
            .map(|l| l.len())
            .max()
            .unwrap_or(0);
        let mut out = std::io::stdout().lock();
        for (label, l) in lines {
            let n = self.colors.len();
            let color = *self.colors.entry(label.clone()).or_insert(n % COLORS.len());
            if self.prefix {
                if self.color {
                    write!(out, "\x1b[{}m{label:<width$} |\x1b[0m ", COLORS[color])?;
                } else {
                    write!(out, "{label:<width$} | ")?;
                }
            }
            if self.timestamps {
                write!(out, "{} ", l.time)?;
            }
            write!(out, "{}{}", l.text, if l.full { "\n" } else { "" })?;
        }
        out.flush()?;
        Ok(())
    }
}

pub fn logs(pa: &ProjectArgs, a: &LogsArgs) -> Result<ExitCode> {
    let project = load(pa)?;
    let engine = context::engine()?;
    let since = a
        .since
        .as_deref()
        .map(crate::commands::container::since_cutoff)
        .transpose()?;
    let until = a
        .until
        .as_deref()
        .map(crate::commands::container::since_cutoff)
        .transpose()?;
    let cs: Vec<_> = engine
        .containers(project.name.as_str())
        .into_iter()
        .filter(|(_, l)| {
            a.services.is_empty() || l.get(LABEL_SERVICE).is_some_and(|s| a.services.contains(s))
        })
        .collect();
    let mut tail = Tail::new(
        !a.no_color && std::io::stdout().is_terminal(),
        a.timestamps,
        !a.no_log_prefix,
    );
    let mut lines = Vec::new();
    for (c, l) in &cs {
        let (all, cursor) = engine.rt.logs_and_cursor(c)?;
        tail.cursors.insert(c.id.clone(), cursor);
        let from = all.len().saturating_sub(a.tail);
        let label = Tail::label(l, c);
        lines.extend(
            all[from..]
                .iter()
                .filter(|x| since.as_ref().is_none_or(|s| &x.time >= s))
                .filter(|x| until.as_ref().is_none_or(|u| &x.time < u))
                .map(|x| (label.clone(), x.clone())),
        );
    }
    lines.sort_by(|x, y| x.1.time.cmp(&y.1.time));
    tail.print(&lines)?;
    if a.follow {
        let interrupts = Arc::new(AtomicUsize::new(0));
        watch_interrupts(interrupts.clone());
        while interrupts.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(50));
            let cs: Vec<_> = engine
                .containers(project.name.as_str())
                .into_iter()
                .filter(|(_, l)| {
                    a.services.is_empty()
                        || l.get(LABEL_SERVICE).is_some_and(|s| a.services.contains(s))
                })
                .collect();
            tail.poll(&cs)?;
            if cs.iter().all(|(c, _)| !engine.rt.running(c)) {
                break;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn exec(pa: &ProjectArgs, a: &ExecArgs) -> Result<ExitCode> {
    let project = load(pa)?;
    let engine = context::engine()?;
    let c = engine.container_of(&project, &a.service, a.index)?;
    let env = crate::commands::container::env_flags(&a.env);
    if a.detach {
        engine.rt.exec_detached(
            &c,
            &a.command,
            &env,
            a.user.as_deref(),
            a.workdir.as_deref(),
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    if !a.no_tty && crate::commands::tty::on_terminal() {
        let code = crate::commands::tty::exec(
            &engine.rt,
            &c,
            &a.command,
            &env,
            a.user.as_deref(),
            a.workdir.as_deref(),
        )?;
        return Ok(ExitCode::from(code.clamp(0, 255) as u8));
    }
    let (code, out, err) = engine.rt.exec(
        &c,
        &a.command,
        &env,
        a.user.as_deref(),
        a.workdir.as_deref(),
    )?;
    std::io::stdout().write_all(&out)?;
    std::io::stderr().write_all(&err)?;
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

pub fn start(pa: &ProjectArgs, a: &ServicesArgs) -> Result<ExitCode> {
    let project = load(pa)?;
    let engine = context::engine()?;
    engine.start_services(&project, &a.services, &progress)?;
    Ok(ExitCode::SUCCESS)
}

pub fn stop(pa: &ProjectArgs, a: &ServicesArgs) -> Result<ExitCode> {
    let project = load(pa)?;
    let engine = context::engine()?;
    stop_all(&engine, &project, &a.services, a.timeout, &|| false)?;
    Ok(ExitCode::SUCCESS)
}

pub fn restart(pa: &ProjectArgs, a: &ServicesArgs) -> Result<ExitCode> {
    stop(pa, a)?;
    start(pa, a)
}

pub fn port(
    pa: &ProjectArgs,
    service: &str,
    port: u16,
    protocol: &str,
    index: u32,
) -> Result<ExitCode> {
    let project = load(pa)?;
    let engine = context::engine()?;
    let c = engine.container_of(&project, service, index)?;
    let found = hb_engine::read_ports(&c.dir)
        .into_iter()
        .find(|p| p.target == port && p.protocol == protocol)
        .with_context(|| format!("{service}: port {port}/{protocol} is not published"))?;
    print(&format!("{}\n", found.host))?;
    Ok(ExitCode::SUCCESS)
}

pub fn kill(pa: &ProjectArgs, services: &[String], signal: &str) -> Result<ExitCode> {
    let project = load(pa)?;
    let engine = context::engine()?;
    for label in engine.kill_services(&project, services, signal)? {
        note(&format!(" ✔ {label:<24} killed ({signal})"));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn rm(pa: &ProjectArgs, services: &[String], stop_first: bool) -> Result<ExitCode> {
    let project = load(pa)?;
    let engine = context::engine()?;
    if stop_first {
        stop_all(&engine, &project, services, None, &|| false)?;
    }
    for label in engine.rm_services(&project, services)? {
        note(&format!(" ✔ {label:<24} removed"));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn pause(pa: &ProjectArgs, services: &[String], freeze: bool) -> Result<ExitCode> {
    let project = load(pa)?;
    let engine = context::engine()?;
    for label in engine.pause_services(&project, services, freeze)? {
        note(&format!(
            " ✔ {label:<24} {}",
            if freeze { "paused" } else { "unpaused" }
        ));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn top(pa: &ProjectArgs, services: &[String]) -> Result<ExitCode> {
    let project = load(pa)?;
    let engine = context::engine()?;
    let cs: Vec<_> = engine
        .of_services(&project, services)?
        .into_iter()
        .filter(|(_, c)| engine.rt.running(c))
        .collect();
    crate::commands::observe::top(&engine.rt, &cs)
}

pub fn stats(pa: &ProjectArgs, a: &crate::cli::StatsArgs) -> Result<ExitCode> {
    let project = load(pa)?;
    let engine = context::engine()?;
    engine.of_services(&project, &a.names)?;
    let list = || engine.of_services(&project, &a.names).unwrap_or_default();
    crate::commands::observe::stats(&engine.rt, &list, a)
}

pub fn run(pa: &ProjectArgs, a: &crate::cli::RunServiceArgs) -> Result<ExitCode> {
    let project = load(pa)?;
    let engine = context::engine()?;
    let opts = hb_engine::RunOptions {
        service: a.service.clone(),
        command: (!a.command.is_empty()).then(|| a.command.clone()),
        entrypoint: a.entrypoint.as_ref().map(|e| {
            if e.is_empty() {
                vec![]
            } else {
                vec![e.clone()]
            }
        }),
        env: crate::commands::container::env_flags(&a.env),
        user: a.user.clone(),
        workdir: a.workdir.clone(),
        name: a.name.clone(),
        no_deps: a.no_deps,
        service_ports: a.service_ports,
    };
    let c = engine.run(&project, &opts, &progress)?;
    if a.detach {
        print(&format!("{}\n", c.id))?;
        return Ok(ExitCode::SUCCESS);
    }
    let code = crate::commands::container::follow(&engine.rt, &c, 0, false)?;
    if a.rm {
        engine.remove_container(&c, "KILL", Duration::ZERO)?;
    }
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

/// `SERVICE:PATH` → (service, path); a host path (which may hold `:` after a `/`) → None.
fn service_path(arg: &str) -> Option<(&str, &str)> {
    let (svc, path) = arg.split_once(':')?;
    (!svc.is_empty() && !svc.contains('/')).then_some((svc, path))
}

pub fn cp(pa: &ProjectArgs, src: &str, dest: &str, index: u32) -> Result<ExitCode> {
    let project = load(pa)?;
    let engine = context::engine()?;
    match (service_path(src), service_path(dest)) {
        (Some((svc, path)), None) => {
            let c = engine.container_of(&project, svc, index)?;
            engine.rt.copy_out(&c, path, std::path::Path::new(dest))?;
        }
        (None, Some((svc, path))) => {
            let c = engine.container_of(&project, svc, index)?;
            engine.rt.copy_in(&c, std::path::Path::new(src), path)?;
        }
        (Some(_), Some(_)) => {
            bail!("copying between two containers is not supported: copy to the host first")
        }
        (None, None) => bail!("one side must be SERVICE:PATH (e.g. `hb cp web:/etc/hosts .`)"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Events until Ctrl-C: snapshots of the project's containers 50 ms apart, diffed.
pub fn events(pa: &ProjectArgs, services: &[String], json: bool) -> Result<ExitCode> {
    let project = load(pa)?;
    let engine = context::engine()?;
    engine.of_services(&project, services)?;
    let name = project.name.as_str();
    let interrupts = Arc::new(AtomicUsize::new(0));
    watch_interrupts(interrupts.clone());
    let mut before = engine.snapshot(name);
    while interrupts.load(Ordering::SeqCst) == 0 {
        std::thread::sleep(Duration::from_millis(50));
        let after = engine.snapshot(name);
        let now = hb_engine::events::now();
        let mut text = String::new();
        for e in hb_engine::events::diff(&before, &after, &now) {
            if !services.is_empty() && !services.contains(&e.service) {
                continue;
            }
            if json {
                text.push_str(&serde_json::to_string(&e)?);
            } else {
                let attrs: Vec<String> = e
                    .attributes
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                text.push_str(&format!(
                    "{} container {} {} ({})",
                    e.time,
                    e.action,
                    e.id,
                    attrs.join(", ")
                ));
            }
            text.push('\n');
        }
        if !text.is_empty() {
            print(&text)?;
        }
        before = after;
    }
    Ok(ExitCode::SUCCESS)
}
