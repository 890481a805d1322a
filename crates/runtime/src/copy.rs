//! `cp` between the host and a container, from the host side: the container's
//! path is resolved inside its root filesystem — or inside the volume or bind
//! mount it falls in — with symlinks followed as the container would see them,
//! never out of that root (as `docker cp` does, and as `filepath-securejoin`
//! resolves paths for runc).

use std::fs;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use crate::container::{Container, Runtime};
use crate::{Error, Result};

/// The most symlinks one resolution follows (Linux's own limit is 40).
const MAX_LINKS: usize = 40;

/// `path` (a container path) resolved under `root`: every symlink on the way is
/// read and followed inside `root` (an absolute target restarts at `root`,
/// `..` stops at it). The result is always under `root`. The last component is
/// not followed when it is a symlink and `follow_last` is false.
pub fn scoped_join(root: &Path, path: &str, follow_last: bool) -> Result<PathBuf> {
    let mut todo: Vec<String> = components(path);
    todo.reverse();
    let mut done: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(part) = todo.pop() {
        if part == ".." {
            done.pop();
            continue;
        }
        let candidate = root.join(done.join("/")).join(&part);
        let last = todo.is_empty();
        match fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() && (follow_last || !last) => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(Error::Io {
                        path: candidate,
                        source: std::io::Error::other("too many levels of symbolic links"),
                    });
                }
                let target = fs::read_link(&candidate).map_err(|e| Error::Io {
                    path: candidate.clone(),
                    source: e,
                })?;
                let t = target.to_string_lossy().into_owned();
                if t.starts_with('/') {
                    done.clear();
                }
                let mut more = components(&t);
                more.reverse();
                todo.extend(more);
            }
            _ => done.push(part),
        }
    }
    Ok(root.join(done.join("/")))
}

fn components(p: &str) -> Vec<String> {
    Path::new(p)
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

impl Runtime {
    /// Where a container path lives on the host: in the bind mount or volume
    /// whose target holds it (the longest), else in the root filesystem.
    pub fn host_path(&self, c: &Container, path: &str, follow_last: bool) -> Result<PathBuf> {
        let config = c.dir.join("config.json");
        let spec: serde_json::Value = fs::read(&config)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let clean = format!("/{}", components(path).join("/"));
        let mut best: Option<(String, PathBuf)> = None;
        for m in spec["mounts"].as_array().into_iter().flatten() {
            let (Some(dest), Some("bind"), Some(src)) = (
                m["destination"].as_str(),
                m["type"].as_str(),
                m["source"].as_str(),
            ) else {
                continue;
            };
            // A file bind-mounted (/etc/hosts, a secret) is that file.
            if clean == dest && Path::new(src).is_file() {
                return Ok(PathBuf::from(src));
            }
            let within =
                clean == dest || clean.starts_with(&format!("{}/", dest.trim_end_matches('/')));
            if within
                && Path::new(src).is_dir()
                && best.as_ref().is_none_or(|(d, _)| dest.len() > d.len())
            {
                best = Some((dest.to_string(), PathBuf::from(src)));
            }
        }
        match best {
            Some((dest, src)) => scoped_join(&src, &clean[dest.len()..], follow_last),
            None => scoped_join(&c.dir.join("rootfs"), &clean, follow_last),
        }
    }

    /// Copies `path` out of the container to `dest` on the host (`cp -a`: owners,
    /// modes, links and times kept; a directory copied whole).
    pub fn copy_out(&self, c: &Container, path: &str, dest: &Path) -> Result<()> {
        let from = self.host_path(c, path, false)?;
        if fs::symlink_metadata(&from).is_err() {
            return Err(Error::Io {
                path: PathBuf::from(path),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("no such file in {}", c.id),
                ),
            });
        }
        cp(&from, dest)
    }

    /// Copies `src` from the host into the container at `path`. An existing
    /// entry of that name is replaced, not merged into, so that nothing is ever
    /// written through a symlink the container holds.
    pub fn copy_in(&self, c: &Container, src: &Path, path: &str) -> Result<()> {
        let resolved = self.host_path(c, path, true)?;
        let target = if resolved.is_dir() {
            let name = src.file_name().ok_or_else(|| Error::Io {
                path: src.to_path_buf(),
                source: std::io::Error::other("give a file or directory name to copy"),
            })?;
            resolved.join(name)
        } else {
            self.host_path(c, path, false)?
        };
        if fs::symlink_metadata(&target).is_ok() {
            let removed = if fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
                fs::remove_dir_all(&target)
            } else {
                fs::remove_file(&target)
            };
            removed.map_err(|e| Error::Io {
                path: target.clone(),
                source: e,
            })?;
        }
        cp(src, &target)
    }
}

fn cp(from: &Path, to: &Path) -> Result<()> {
    let out = Command::new("cp")
        .arg("-a")
        .arg("--")
        .arg(from)
        .arg(to)
        .output()
        .map_err(|e| Error::Io {
            path: to.to_path_buf(),
            source: e,
        })?;
    if out.status.success() {
        return Ok(());
    }
    Err(Error::Io {
        path: to.to_path_buf(),
        source: std::io::Error::other(String::from_utf8_lossy(&out.stderr).trim().to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let d = tempfile::tempdir().expect("tempdir");
        let root = d.path();
        fs::create_dir_all(root.join("etc")).expect("etc");
        fs::create_dir_all(root.join("data/real")).expect("data");
        symlink("/", root.join("data/up")).expect("link");
        symlink("../../../../etc", root.join("data/dots")).expect("link");
        symlink("real", root.join("data/rel")).expect("link");
        symlink("/etc/passwd", root.join("data/pw")).expect("link");
        let j = |p, f| scoped_join(root, p, f).expect("join");
        assert_eq!(j("/data/up/etc/passwd", true), root.join("etc/passwd"));
        assert_eq!(j("/data/dots", true), root.join("etc"));
        assert_eq!(j("/data/rel/x", true), root.join("data/real/x"));
        assert_eq!(j("/../../etc", true), root.join("etc"));
        assert_eq!(
            j("/data/pw", true),
            root.join("etc/passwd"),
            "inside, not the host's"
        );
        assert_eq!(
            j("/data/pw", false),
            root.join("data/pw"),
            "the link itself"
        );
        symlink("loop", root.join("loop")).expect("link");
        assert!(scoped_join(root, "/loop", true).is_err());
    }
}
