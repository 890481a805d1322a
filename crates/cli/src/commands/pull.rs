//! `hb pull`: images by name, or every service image of the project, in parallel,
//! with a progress bar per layer on a terminal and plain lines when piped.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use hb_image::unpack::Stats;
use hb_image::{ImageRef, Platform, Progress};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use oci_spec::image::Digest;

use crate::cli::{ProjectArgs, PullArgs};
use crate::commands::print;
use crate::{context, project};

/// Progress bars per layer (on a terminal).
struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    image: String,
}

fn short(d: &Digest) -> String {
    d.digest().chars().take(12).collect()
}

impl Progress for Bars {
    fn layer_started(&self, layer: &Digest, size: u64, cached: bool) {
        let bar = self.multi.add(ProgressBar::new(size));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} {msg:12} [{bar:30}] {bytes:>10}/{total_bytes:<10}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(format!("{} {}", self.image, short(layer)));
        if cached {
            bar.set_message("exists");
            bar.finish();
        } else {
            bar.set_message("downloading");
        }
        self.bars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(layer.to_string(), bar);
    }
    fn layer_progress(&self, layer: &Digest, received: u64) {
        if let Some(b) = self
            .bars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&layer.to_string())
        {
            b.set_position(received);
        }
    }
    fn layer_done(&self, layer: &Digest, _stats: Stats) {
        if let Some(b) = self
            .bars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&layer.to_string())
        {
            b.set_message("done");
            b.finish();
        }
    }
}

/// One line per layer (when piped).
struct Lines {
    image: String,
}

impl Progress for Lines {
    fn layer_started(&self, layer: &Digest, size: u64, cached: bool) {
        if cached {
            project::note(&format!(
                "{}: layer {} already stored",
                self.image,
                short(layer)
            ));
        } else {
            project::note(&format!(
                "{}: layer {} downloading ({size} bytes)",
                self.image,
                short(layer)
            ));
        }
    }
    fn layer_done(&self, layer: &Digest, stats: Stats) {
        project::note(&format!(
            "{}: layer {} unpacked ({} files, {} bytes)",
            self.image,
            short(layer),
            stats.entries,
            stats.bytes
        ));
    }
}

pub fn run(args: &ProjectArgs, a: &PullArgs) -> Result<ExitCode> {
    let names: Vec<String> = if a.images.is_empty() {
        let loaded = project::load(args)?;
        let mut images: Vec<String> = loaded
            .project
            .services
            .values()
            .filter_map(|s| s.image.clone())
            .collect();
        images.sort();
        images.dedup();
        images
    } else {
        a.images.clone()
    };
    let refs: Vec<ImageRef> = names
        .iter()
        .map(|n| n.parse::<ImageRef>())
        .collect::<Result<_, _>>()?;
    let platform = match &a.platform {
        Some(p) => p.parse::<Platform>()?,
        None => Platform::host(),
    };
    let puller = context::puller()?;
    let tty = std::io::stderr().is_terminal() && !a.quiet;
    let multi = MultiProgress::new();
    let rt = context::runtime()?;
    let results = rt.block_on(async {
        let jobs = refs.iter().map(|r| {
            let progress: Arc<dyn Progress> = if a.quiet {
                Arc::new(hb_image::Quiet)
            } else if tty {
                Arc::new(Bars {
                    multi: multi.clone(),
                    bars: Mutex::new(HashMap::new()),
                    image: r.to_string(),
                })
            } else {
                Arc::new(Lines {
                    image: r.to_string(),
                })
            };
            let puller = puller.clone();
            let platform = platform.clone();
            async move {
                puller
                    .pull(r, &platform, progress)
                    .await
                    .with_context(|| format!("cannot pull {r}"))
            }
        });
        futures_util::future::join_all(jobs).await
    });
    let mut failed = false;
    let mut out = String::new();
    for (r, res) in refs.iter().zip(results) {
        match res {
            Ok(rec) => out.push_str(&format!("{} {}\n", rec.name, rec.manifest)),
            Err(e) => {
                failed = true;
                project::note(&format!("error: {e:#}"));
            }
        }
        let _ = r;
    }
    print(&out)?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
