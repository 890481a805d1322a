//! `hb --host unix:///run/hb/hb.sock VERB`: the verbs a running `hb daemon`
//! serves, sent to it and printed as the local verbs print them. CLI and
//! daemon then share one engine: locks, state and containers.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Result};
use serde_json::{json, Value};

use crate::cli::{Command, ImageCommand, Lazy, ListFormat, ProjectArgs};
use crate::commands::print;
use crate::project::note;

/// The socket of a `unix://` URL.
fn socket(host: &str) -> Result<PathBuf> {
    match host.strip_prefix("unix://") {
        Some(p) if p.starts_with('/') => Ok(PathBuf::from(p)),
        _ => bail!(
            "--host {host:?}: hb daemons listen on Unix sockets; write unix:///run/hb/hb.sock"
        ),
    }
}

/// The project inputs the daemon loads the project from: these flags, here.
fn project(pa: &ProjectArgs) -> Result<Value> {
    let cwd = std::env::current_dir()?;
    let abs = |p: &PathBuf| cwd.join(p).display().to_string();
    if pa.files.iter().any(|f| f.as_os_str() == "-") {
        bail!("-f - (standard input) cannot go to a daemon: give a file");
    }
    Ok(json!({
        "project_dir": pa.project_directory.as_ref().map_or_else(|| cwd.display().to_string(), abs),
        "files": pa.files.iter().map(abs).collect::<Vec<_>>(),
        "project_name": pa.project_name,
        "profiles": pa.profiles,
        "env_files": pa.env_files.iter().map(abs).collect::<Vec<_>>(),
    }))
}

pub fn run(host: &str, pa: &ProjectArgs, command: &Command) -> Result<ExitCode> {
    let sock = socket(host)?;
    let call = |method: &str, params: Value| {
        hb_api::request(&sock, method, params).map_err(|e| anyhow!(e))
    };
    match command {
        Command::Up(Lazy(a)) => {
            if a.dry_run || a.watch {
                bail!("through a daemon, `up` takes no --dry-run or --watch; use `hb --host … watch` to watch");
            }
            let mut params = project(pa)?;
            params["services"] = json!(a.services);
            params["force_recreate"] = json!(a.force_recreate);
            params["build"] = json!(a.build);
            params["no_build"] = json!(a.no_build);
            let r = call("project.up", params.clone())?;
            note(r["plan"].as_str().unwrap_or("").trim_end());
            for p in r["ports"].as_array().into_iter().flatten() {
                let scheme = if p["protocol"] == "tcp" { "http://" } else { "" };
                note(&format!(
                    " ➜ {}: {scheme}{}  ({}/{})",
                    p["container"].as_str().unwrap_or(""),
                    p["host"].as_str().unwrap_or(""),
                    p["target"],
                    p["protocol"].as_str().unwrap_or("")
                ));
            }
            if !a.detach {
                // In the foreground, as without --host: the services' logs until
                // they all stop, or until Ctrl-C, which stops the stack.
                {
                    let (sock, params) = (sock.clone(), params.clone());
                    use tokio::signal::unix::SignalKind;
                    crate::signals::on(
                        &[SignalKind::interrupt(), SignalKind::terminate()],
                        move || {
                            note(" … stopping (Ctrl-C)");
                            let _ = hb_api::request(&sock, "project.stop", params.clone());
                            std::process::exit(0);
                        },
                    );
                }
                let mut logs = params;
                logs["follow"] = json!(true);
                let mut out = std::io::stdout().lock();
                hb_api::stream(&sock, "service.logs", logs, &mut |p| {
                    use std::io::Write;
                    writeln!(out, "{}", log_line(p, a.timestamps, false)).is_ok()
                })
                .map_err(|e| anyhow!(e))?;
            }
        }
        Command::Down(Lazy(a)) => {
            let mut params = project(pa)?;
            params["volumes"] = json!(a.volumes);
            call("project.down", params)?;
        }
        Command::Ps(Lazy(a)) => {
            let rows: Vec<hb_engine::ContainerInfo> = serde_json::from_value(call("project.ps", project(pa)?)?)?;
            let rows: Vec<_> = rows
                .into_iter()
                .filter(|c| a.services.is_empty() || a.services.contains(&c.service))
                .filter(|c| a.all || matches!(c.state.as_str(), "running" | "restarting" | "paused"))
                .collect();
            let text = match a.format {
                ListFormat::Json => serde_json::to_string_pretty(&rows)? + "\n",
                ListFormat::Table => {
                    let table: Vec<[String; 4]> = rows
                        .iter()
                        .map(|r| [r.name.clone(), r.image.clone(), r.service.clone(), r.status.clone()])
                        .collect();
                    crate::commands::stack::render(&["NAME", "IMAGE", "SERVICE", "STATUS"], &table)
                }
            };
            print(&text)?;
        }
        Command::Ls { format } => {
            let r = call("projects.list", Value::Null)?;
            let text = match format {
                ListFormat::Json => serde_json::to_string_pretty(&r)? + "\n",
                ListFormat::Table => {
                    let rows: Vec<[String; 2]> = r
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|p| [p["name"].as_str().unwrap_or("").to_string(), format!("running({})", p["running"])])
                        .collect();
                    crate::commands::stack::render(&["NAME", "STATUS"], &rows)
                }
            };
            print(&text)?;
        }
        Command::Start(Lazy(a)) | Command::Stop(Lazy(a)) | Command::Restart(Lazy(a)) => {
            let method = match command {
                Command::Start(Lazy(_)) => "project.start",
                Command::Stop(Lazy(_)) => "project.stop",
                _ => "project.restart",
            };
            let mut params = project(pa)?;
            params["services"] = json!(a.services);
            let rows: Vec<hb_engine::ContainerInfo> = serde_json::from_value(call(method, params)?)?;
            for r in rows.iter().filter(|r| a.services.is_empty() || a.services.contains(&r.service)) {
                note(&format!(" ✔ {:<24} {}", r.name, r.status));
            }
        }
        Command::Logs(Lazy(a)) => {
            let mut params = project(pa)?;
            params["services"] = json!(a.services);
            params["follow"] = json!(a.follow);
            if a.tail != usize::MAX {
                params["tail"] = json!(a.tail);
            }
            // Relative times (`10m`) are this side's clock, made absolute here.
            if let Some(s) = &a.since {
                params["since"] = json!(crate::commands::container::since_cutoff(s)?);
            }
            if let Some(u) = &a.until {
                params["until"] = json!(crate::commands::container::since_cutoff(u)?);
            }
            let mut out = std::io::stdout().lock();
            let mut failed = None;
            hb_api::stream(&sock, "service.logs", params, &mut |p| {
                use std::io::Write;
                failed = writeln!(out, "{}", log_line(p, a.timestamps, a.no_log_prefix)).err();
                failed.is_none()
            })
            .map_err(|e| anyhow!(e))?;
        }
        Command::Exec(Lazy(a)) => {
            if a.detach {
                bail!("through a daemon, exec waits for the command (no -d yet); run it without --host");
            }
            let mut params = project(pa)?;
            params["service"] = json!(a.service);
            params["command"] = json!(a.command);
            params["index"] = json!(a.index);
            // `-e KEY` takes this shell's value, as locally (the daemon's environment is not yours).
            let env: Vec<String> = crate::commands::container::env_flags(&a.env)
                .into_iter()
                .map(|(k, v)| v.map_or(k.clone(), |v| format!("{k}={v}")))
                .collect();
            params["env"] = json!(env);
            params["user"] = json!(a.user);
            params["workdir"] = json!(a.workdir);
            let r = call("container.exec", params)?;
            use std::io::Write;
            std::io::stdout().write_all(r["stdout"].as_str().unwrap_or("").as_bytes())?;
            std::io::stderr().write_all(r["stderr"].as_str().unwrap_or("").as_bytes())?;
            let code = r["exit_code"].as_i64().unwrap_or(1);
            return Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)));
        }
        Command::Build(Lazy(a)) => {
            let mut params = project(pa)?;
            params["args"] = json!(crate::commands::build::build_args(&a.build_args));
            params["services"] = json!(a.services);
            params["no_cache"] = json!(a.no_cache);
            params["pull"] = json!(a.pull);
            let built = call("project.build", params)?;
            for b in built.as_array().into_iter().flatten() {
                note(&format!(
                    " ✔ {:<24} built in {} ms ({} of {} steps cached) → {}",
                    b["service"].as_str().unwrap_or(""),
                    b["elapsed_ms"],
                    b["cached"],
                    b["steps"],
                    b["image"].as_str().unwrap_or("")
                ));
            }
        }
        Command::Pull(Lazy(a)) | Command::Image(Lazy(ImageCommand::Pull(a))) => {
            if a.platform.is_some() {
                bail!("through a daemon, pull is for this machine's platform; run it without --host");
            }
            let images = if a.images.is_empty() {
                let p = crate::project::load(pa)?.project;
                p.services.values().filter_map(|s| s.image.clone()).collect::<std::collections::BTreeSet<_>>().into_iter().collect()
            } else {
                a.images.clone()
            };
            for image in images {
                let end = hb_api::stream(&sock, "image.pull", json!({"image": image}), &mut |p| {
                    if !a.quiet && p["status"] == "resolved" {
                        note(&format!(" … pulling {image} ({} layers)", p["layers"]));
                    }
                    true
                })
                .map_err(|e| anyhow!("{image}: {e}"))?;
                let record = &end["image"];
                if a.quiet {
                    print(&format!("{}@{}\n", record["name"].as_str().unwrap_or(""), record["manifest"].as_str().unwrap_or("")))?;
                } else {
                    note(&format!(" ✔ {} pulled", record["name"].as_str().unwrap_or("")));
                }
            }
        }
        Command::Events { services, json: as_json } => {
            let mut out = std::io::stdout().lock();
            hb_api::stream(&sock, "events.subscribe", project(pa)?, &mut |p| {
                let e = &p["event"];
                if !services.is_empty() && !e["service"].as_str().is_some_and(|s| services.iter().any(|w| w == s)) {
                    return true;
                }
                let line = if *as_json {
                    e.to_string()
                } else {
                    format!(
                        "{} {} {} {}",
                        e["time"].as_str().unwrap_or(""),
                        e["type"].as_str().unwrap_or(""),
                        e["action"].as_str().unwrap_or(""),
                        e["container"].as_str().or(e["attributes"]["name"].as_str()).unwrap_or("")
                    )
                };
                use std::io::Write;
                writeln!(out, "{line}").is_ok()
            })
            .map_err(|e| anyhow!(e))?;
        }
        Command::Images(Lazy(a)) | Command::Image(Lazy(ImageCommand::Ls(a))) => {
            let r = call("image.list", Value::Null)?;
            let text = match (a.format, a.quiet) {
                (_, true) => r.as_array().into_iter().flatten().map(|i| format!("{}\n", i["manifest"].as_str().unwrap_or(""))).collect(),
                (ListFormat::Json, _) => serde_json::to_string_pretty(&r)? + "\n",
                (ListFormat::Table, _) => {
                    let rows: Vec<[String; 2]> = r
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|i| [i["name"].as_str().unwrap_or("").to_string(), i["manifest"].as_str().unwrap_or("").chars().take(19).collect()])
                        .collect();
                    crate::commands::stack::render(&["NAME", "MANIFEST"], &rows)
                }
            };
            print(&text)?;
        }
        Command::Kill { services, signal } => {
            let mut params = project(pa)?;
            params["services"] = json!(services);
            params["signal"] = json!(signal);
            for c in call("project.kill", params)?["containers"].as_array().into_iter().flatten() {
                note(&format!(" ✔ {:<24} killed ({signal})", c.as_str().unwrap_or("")));
            }
        }
        Command::Pause { services } | Command::Unpause { services } => {
            let (method, did) = match command {
                Command::Pause { .. } => ("project.pause", "paused"),
                _ => ("project.unpause", "unpaused"),
            };
            let mut params = project(pa)?;
            params["services"] = json!(services);
            for c in call(method, params)?["containers"].as_array().into_iter().flatten() {
                note(&format!(" ✔ {:<24} {did}", c.as_str().unwrap_or("")));
            }
        }
        Command::Rm { services, stop, .. } => {
            let mut params = project(pa)?;
            params["services"] = json!(services);
            params["stop"] = json!(stop);
            for c in call("project.rm", params)?["containers"].as_array().into_iter().flatten() {
                note(&format!(" ✔ {:<24} removed", c.as_str().unwrap_or("")));
            }
        }
        Command::Top { services } => {
            let mut params = project(pa)?;
            params["services"] = json!(services);
            let all: Vec<(String, Vec<hb_runtime::observe::Process>)> = call("project.top", params)?
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    let procs = serde_json::from_value(t["processes"].clone()).unwrap_or_default();
                    (t["container"].as_str().unwrap_or("").to_string(), procs)
                })
                .collect();
            print(&crate::commands::observe::render_top(&all))?;
        }
        Command::Stats(Lazy(a)) => {
            let mut params = project(pa)?;
            params["services"] = json!(a.names);
            return crate::commands::observe::stats_of(
                &|| {
                    Ok(call("project.stats", params.clone())?
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|s| {
                            let stats = serde_json::from_value(s["stats"].clone()).ok()?;
                            Some((s["container"].as_str()?.to_string(), stats))
                        })
                        .collect())
                },
                a,
            );
        }
        Command::Port {
            service,
            port,
            protocol,
            index,
        } => {
            let mut params = project(pa)?;
            params["service"] = json!(service);
            params["port"] = json!(port);
            params["protocol"] = json!(protocol);
            params["index"] = json!(index);
            let r = call("project.port", params)?;
            print(&format!("{}\n", r["host"].as_str().unwrap_or("")))?;
        }
        Command::Watch {
            services,
            no_up,
            quiet: _,
        } => {
            // The daemon watches; this prints what it does until Ctrl-C, which
            // stops the watch (the stack stays up, as without --host).
            let params = project(pa)?;
            if !no_up {
                let mut up = params.clone();
                up["services"] = json!(services);
                call("project.up", up)?;
            }
            let mut start = params.clone();
            start["services"] = json!(services);
            let r = call("project.watch.start", start)?;
            note(&format!(
                " 👁 watching {} through the daemon ({} rules); Ctrl-C stops watching",
                r["watching"].as_str().unwrap_or(""),
                r["rules"]
            ));
            {
                let (sock, params) = (sock.clone(), params.clone());
                use tokio::signal::unix::SignalKind;
                crate::signals::on(
                    &[SignalKind::interrupt(), SignalKind::terminate()],
                    move || {
                        let _ = hb_api::request(&sock, "project.watch.stop", params.clone());
                        std::process::exit(0);
                    },
                );
            }
            hb_api::stream(&sock, "events.subscribe", params, &mut |p| {
                let e = &p["event"];
                if e["type"] == "watch" {
                    let took = e["attributes"]["took_ms"].as_u64().unwrap_or(0);
                    let what = e["attributes"]["what"].as_str().unwrap_or("");
                    let svc = e["service"].as_str().unwrap_or("");
                    if e["action"] == "failed" {
                        note(&format!(" ✘ {svc}: {what} ({took} ms)"));
                    } else {
                        note(&format!(" ⟳ {svc}: {what} in {took} ms"));
                    }
                }
                true
            })
            .map_err(|e| anyhow!(e))?;
        }
        // Verbs that only read the files, not the engine, run here as they would without --host.
        Command::Config(Lazy(_)) | Command::Graph(Lazy(_)) | Command::Init(Lazy(_)) => unreachable!("run locally"),
        _ => bail!("this verb does not go through a daemon yet (run, cp, exec -it, foreground up and the container and image subcommands other than ls/pull do not); run it without --host"),
    }
    Ok(ExitCode::SUCCESS)
}

/// A `logs` notification as the local `logs` prints it: `service-n | line`,
/// with its time first when asked.
fn log_line(p: &Value, timestamps: bool, no_prefix: bool) -> String {
    let mut line = String::new();
    if timestamps {
        line.push_str(p["time"].as_str().unwrap_or(""));
        line.push(' ');
    }
    if !no_prefix {
        let n = p["container"]
            .as_str()
            .and_then(|c| c.rsplit('-').next())
            .unwrap_or("");
        line.push_str(&format!("{}-{n} | ", p["service"].as_str().unwrap_or("")));
    }
    line.push_str(p["line"].as_str().unwrap_or(""));
    line
}
