//! `hb images`, `hb image inspect|rm|unpack`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use hb_image::{layout, ImageRef, Platform};

use crate::cli::{ImagesArgs, ListFormat};
use crate::commands::print;
use crate::context;

fn human(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", units[i])
    }
}

pub fn list(a: &ImagesArgs) -> Result<ExitCode> {
    let store = context::store()?;
    let images = store.list()?;
    let text = if a.quiet {
        images.iter().map(|r| format!("{}\n", r.manifest)).collect()
    } else {
        match a.format {
            ListFormat::Json => serde_json::to_string_pretty(&images)? + "\n",
            ListFormat::Table => {
                let w = images
                    .iter()
                    .map(|r| r.name.len())
                    .max()
                    .unwrap_or(0)
                    .max("NAME".len());
                let mut s = format!("{:w$}  {:19}  {:>10}\n", "NAME", "DIGEST", "SIZE");
                for r in &images {
                    s.push_str(&format!(
                        "{:w$}  {:19}  {:>10}\n",
                        r.name,
                        &r.manifest[..r.manifest.len().min(19)],
                        human(r.size)
                    ));
                }
                s
            }
        }
    };
    print(&text)?;
    Ok(ExitCode::SUCCESS)
}

pub fn inspect(names: &[String]) -> Result<ExitCode> {
    let store = context::store()?;
    let mut out = Vec::new();
    for n in names {
        let rec = store.find(n)?;
        let img = store.image(&rec)?;
        out.push(serde_json::json!({
            "record": rec,
            "manifest": img.manifest,
            "config": img.config,
            "layers": img.layers,
        }));
    }
    print(&(serde_json::to_string_pretty(&out)? + "\n"))?;
    Ok(ExitCode::SUCCESS)
}

pub fn remove(names: &[String]) -> Result<ExitCode> {
    let store = context::store()?;
    for n in names {
        let rec = store.find(n)?;
        store.forget(&rec.name)?;
        print(&format!("removed {}\n", rec.name))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn unpack(name: &str, dir: &Path) -> Result<ExitCode> {
    let store = context::store()?;
    let img = store.image(&store.find(name)?)?;
    if dir.exists()
        && std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} is not empty; hb image unpack writes into a new or empty directory",
            dir.display()
        );
    }
    hb_image::unpack::flatten(&img.layers, dir)?;
    print(&format!(
        "unpacked {} into {}\n",
        img.record.name,
        dir.display()
    ))?;
    Ok(ExitCode::SUCCESS)
}

pub fn import(
    source: &str,
    from_dir: Option<&Path>,
    name: Option<&str>,
    platform: Option<&str>,
) -> Result<ExitCode> {
    let store = context::store()?;
    let platform = match platform {
        Some(p) => p.parse::<Platform>()?,
        None => Platform::host(),
    };
    let records = match from_dir {
        Some(dir) => {
            let image: ImageRef = source.parse()?;
            vec![layout::import_dir(&store, dir, &image, &platform)?]
        }
        None => {
            let name: Option<ImageRef> = name.map(str::parse).transpose()?;
            layout::import(&store, Path::new(source), name.as_ref(), &platform)?
        }
    };
    let text: String = records
        .iter()
        .map(|r| format!("imported {} {}\n", r.name, r.manifest))
        .collect();
    print(&text)?;
    Ok(ExitCode::SUCCESS)
}

pub fn export(name: &str, output: &Path) -> Result<ExitCode> {
    let store = context::store()?;
    let rec = store.find(name)?;
    layout::export(&store, &rec, output)?;
    print(&format!("exported {} to {}\n", rec.name, output.display()))?;
    Ok(ExitCode::SUCCESS)
}

pub fn prune() -> Result<ExitCode> {
    let store = context::store()?;
    // No container runs from an image yet (the runtime is still to come), so
    // only image names keep blobs and layers.
    let p = store.prune(&[])?;
    print(&format!(
        "removed {} blobs ({}) and {} unpacked layers\n",
        p.blobs,
        human(p.bytes),
        p.layers
    ))?;
    Ok(ExitCode::SUCCESS)
}
