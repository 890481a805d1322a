//! `hb doctor [--fix]`: the host checks of `hb-runtime`, plus the image store's integrity.

use std::process::ExitCode;

use anyhow::Result;
use hb_runtime::doctor::{self, Check, Status};
use hb_runtime::host::RealHost;

use crate::cli::ListFormat;
use crate::commands::print;
use crate::context;

fn store_check() -> Check {
    let root = context::hb_root();
    let verdict = |status, detail: String, remedy: Option<String>| Check {
        name: "image store",
        status,
        detail,
        remedy,
    };
    if !root.join("state.db").exists() {
        return verdict(
            Status::Ok,
            format!("{} holds no images yet", root.display()),
            None,
        );
    }
    match context::store().and_then(|s| Ok(s.verify()?)) {
        Ok(p) if p.is_empty() => verdict(
            Status::Ok,
            format!("{}: every image is complete", root.display()),
            None,
        ),
        Ok(p) => verdict(
            Status::Fail,
            p.join("; "),
            Some("remove the damaged images (hb image rm NAME) and pull them again".into()),
        ),
        Err(e) => verdict(
            Status::Fail,
            format!("{e:#}"),
            Some(format!("check the permissions of {}", root.display())),
        ),
    }
}

pub fn run(fix: bool, format: ListFormat) -> Result<ExitCode> {
    let host = RealHost;
    if fix {
        for done in doctor::fix(&host)? {
            print(&format!("fixed: {done}\n"))?;
        }
    }
    let mut report = doctor::check(&host, &context::hb_root());
    report.push(store_check());
    let text = match format {
        ListFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
        ListFormat::Table => {
            let w = report.iter().map(|c| c.name.len()).max().unwrap_or(0);
            let mut s = String::new();
            for c in &report {
                s.push_str(&format!("{:4}  {:w$}  {}\n", c.status, c.name, c.detail));
                if let Some(r) = &c.remedy {
                    s.push_str(&format!("      {:w$}  → {r}\n", ""));
                }
            }
            s
        }
    };
    print(&text)?;
    let failed = report.iter().any(|c| c.status == Status::Fail);
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
