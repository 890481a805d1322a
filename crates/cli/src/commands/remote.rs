//! `hb --host unix:///run/hb/hb.sock VERB`: the verbs a running `hb daemon`
//! serves, sent to it and printed as the local verbs print them. CLI and
//! daemon then share one engine: locks, state and containers.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Result};
use serde_json::{json, Value};

use crate::cli::{Command, ListFormat, ProjectArgs};
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
        Command::Up(a) => {
            if !a.detach || a.dry_run || a.watch {
                bail!("through a daemon, `up` runs detached: use `hb --host … up -d` (no --dry-run or --watch)");
            }
            let mut params = project(pa)?;
            params["services"] = json!(a.services);
            params["force_recreate"] = json!(a.force_recreate);
            let r = call("project.up", params)?;
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
        }
        Command::Down(a) => {
            let mut params = project(pa)?;
            params["volumes"] = json!(a.volumes);
            call("project.down", params)?;
        }
        Command::Ps(a) => {
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
        _ => bail!("this verb does not go through a daemon yet: `up -d`, `down`, `ps` and `ls` do; run it without --host"),
    }
    Ok(ExitCode::SUCCESS)
}
