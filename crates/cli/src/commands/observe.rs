//! `top` and `stats`, for project containers and one-off ones alike.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use hb_runtime::container::{Container, Runtime};
use hb_runtime::observe::{Process, Stats};

use crate::cli::{ListFormat, StatsArgs};
use crate::commands::print;

/// `docker top`'s table for each container: UID, PID, PPID, TIME, CMD.
pub fn top(rt: &Runtime, containers: &[(String, Container)]) -> Result<ExitCode> {
    let mut all = Vec::new();
    for (label, c) in containers {
        all.push((label.clone(), rt.top(c)?));
    }
    print(&render_top(&all))?;
    Ok(ExitCode::SUCCESS)
}

/// The tables of [`top`], from processes however they were found (here, or by a daemon).
pub fn render_top(containers: &[(String, Vec<Process>)]) -> String {
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as u64;
    let mut out = String::new();
    for (label, procs) in containers {
        out.push_str(&format!("{label}\n"));
        let rows: Vec<[String; 5]> = procs
            .iter()
            .map(|p| {
                let secs = p.ticks / ticks.max(1);
                [
                    p.uid.to_string(),
                    p.pid.to_string(),
                    p.ppid.to_string(),
                    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60),
                    p.cmd.clone(),
                ]
            })
            .collect();
        out.push_str(&crate::commands::stack::render(
            &["UID", "PID", "PPID", "TIME", "CMD"],
            &rows,
        ));
        out.push('\n');
    }
    out
}

fn human(b: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b}B")
    } else {
        format!("{v:.1}{}", units[u])
    }
}

/// CPU %, memory, network and pids of each running container, measured over a
/// short interval (CPU % needs two samples), once or every second.
pub fn stats(
    rt: &Runtime,
    list: &dyn Fn() -> Vec<(String, Container)>,
    a: &StatsArgs,
) -> Result<ExitCode> {
    stats_of(
        &|| {
            Ok(list()
                .into_iter()
                .filter(|(_, c)| rt.running(c))
                .filter_map(|(l, c)| rt.stats(&c).ok().map(|s| (l, s)))
                .collect())
        },
        a,
    )
}

/// [`stats`] from samples however they are taken (here, or by a daemon).
pub fn stats_of(
    sample: &dyn Fn() -> Result<Vec<(String, Stats)>>,
    a: &StatsArgs,
) -> Result<ExitCode> {
    loop {
        let first: BTreeMap<String, Stats> = sample()?.into_iter().collect();
        let t0 = Instant::now();
        std::thread::sleep(Duration::from_millis(if a.no_stream { 200 } else { 1000 }));
        let dt = t0.elapsed().as_micros().max(1) as f64;
        let mut rows = Vec::new();
        let mut json = Vec::new();
        for (l, s1) in sample()? {
            let Some(s0) = first.get(&l) else {
                continue;
            };
            let cpu = (s1.cpu_usec.saturating_sub(s0.cpu_usec)) as f64 / dt * 100.0;
            let limit = s1.memory_limit.map_or("-".into(), human);
            rows.push([
                l.clone(),
                format!("{cpu:.2}%"),
                format!("{} / {limit}", human(s1.memory)),
                format!("{} / {}", human(s1.net_rx), human(s1.net_tx)),
                s1.pids.to_string(),
            ]);
            json.push(serde_json::json!({"name": l, "cpu_percent": cpu, "stats": s1}));
        }
        let text = match a.format {
            ListFormat::Json => serde_json::to_string_pretty(&json)? + "\n",
            ListFormat::Table => crate::commands::stack::render(
                &["NAME", "CPU %", "MEM USAGE / LIMIT", "NET I/O", "PIDS"],
                &rows,
            ),
        };
        if !a.no_stream && a.format == ListFormat::Table {
            print("\x1b[2J\x1b[H")?;
        }
        print(&text)?;
        if a.no_stream {
            return Ok(ExitCode::SUCCESS);
        }
    }
}
