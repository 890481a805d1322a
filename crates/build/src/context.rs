//! Where COPY and ADD read from — the build context (with `.dockerignore`) or
//! another stage's root filesystem (`--from`) — and how they write: sources
//! found by path or glob, hashed for the cache, copied into the step's root
//! filesystem with Docker's naming, ownership and mode rules
//! (docs.docker.com/reference/dockerfile/#copy).

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use globset::GlobBuilder;
use sha2::{Digest as _, Sha256};

use crate::ignore::{clean, Ignore};
use crate::{Error, Result};

/// A tree sources are read from.
#[derive(Debug)]
pub struct Source {
    /// Its root on the host.
    pub root: PathBuf,
    /// What `.dockerignore` leaves out (the build context only).
    pub ignore: Ignore,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

impl Source {
    /// The build context at `root`, with its `.dockerignore` if it has one.
    pub fn context(root: &Path) -> Result<Self> {
        let file = root.join(".dockerignore");
        let ignore = match fs::read_to_string(&file) {
            Ok(text) => Ignore::parse(&text).map_err(|message| Error::Context {
                path: file.clone(),
                message,
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ignore::default(),
            Err(e) => {
                return Err(Error::Io {
                    path: file,
                    source: e,
                })
            }
        };
        Ok(Source {
            root: root.to_path_buf(),
            ignore,
        })
    }

    /// A stage's or an image's root filesystem (`COPY --from`): nothing ignored.
    pub fn rootfs(root: &Path) -> Self {
        Source {
            root: root.to_path_buf(),
            ignore: Ignore::default(),
        }
    }

    /// Every path (relative, cleaned) a COPY source names: itself, or each match
    /// of its glob. Nothing found (or everything ignored) is an error.
    pub fn resolve(&self, src: &str) -> Result<Vec<String>> {
        let rel = clean(src);
        let not_found = || Error::Context {
            path: self.root.join(&rel),
            message: format!(
                "`{src}` is not in the build context{}",
                if self.ignore.has_exceptions() || !rel.is_empty() {
                    " (or .dockerignore excludes it)"
                } else {
                    ""
                }
            ),
        };
        if !has_glob(&rel) {
            if !rel.is_empty() && self.ignore.excluded(&rel) {
                return Err(not_found());
            }
            let host = self.host(&rel)?;
            fs::symlink_metadata(&host).map_err(|_| not_found())?;
            return Ok(vec![rel]);
        }
        let glob = GlobBuilder::new(&rel)
            .literal_separator(true)
            .build()
            .map_err(|e| Error::Context {
                path: self.root.clone(),
                message: format!("`{src}`: {e}"),
            })?
            .compile_matcher();
        let mut found = Vec::new();
        // Only as deep as the pattern reaches (`**` reaches everywhere).
        let depth = if rel.contains("**") {
            usize::MAX
        } else {
            rel.split('/').count()
        };
        self.walk("", depth, &mut |p, _| {
            if glob.is_match(p) {
                found.push(p.to_string());
            }
        })?;
        if found.is_empty() {
            return Err(not_found());
        }
        Ok(found)
    }

    /// `rel` on the host, symlinks on the way followed inside the root.
    pub fn host(&self, rel: &str) -> Result<PathBuf> {
        hb_runtime::copy::scoped_join(&self.root, rel, true).map_err(|e| Error::Context {
            path: self.root.join(rel),
            message: e.to_string(),
        })
    }

    /// Calls `f` with every path under `rel` that is not ignored (relative to
    /// the root, parents before children, sorted), down to `depth` components.
    fn walk(&self, rel: &str, depth: usize, f: &mut dyn FnMut(&str, &fs::Metadata)) -> Result<()> {
        if depth == 0 {
            return Ok(());
        }
        let dir = if rel.is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        };
        let mut names: Vec<String> = fs::read_dir(&dir)
            .map_err(io_err(&dir))?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<io::Result<_>>()
            .map_err(io_err(&dir))?;
        names.sort();
        for name in names {
            let p = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let path = self.root.join(&p);
            let meta = fs::symlink_metadata(&path).map_err(io_err(&path))?;
            let excluded = self.ignore.excluded(&p);
            if !excluded {
                f(&p, &meta);
            }
            if meta.is_dir() && (!excluded || self.ignore.has_exceptions()) {
                self.walk(&p, depth - 1, f)?;
            }
        }
        Ok(())
    }

    /// A digest of everything under `rels` that a copy would take — names,
    /// types, modes, link targets and contents — for the cache key.
    pub fn digest(&self, rels: &[String]) -> Result<String> {
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        for rel in rels {
            h.update(rel.as_bytes());
            h.update([0]);
            let host = self.host(rel)?;
            let meta = fs::metadata(&host).map_err(io_err(&host))?;
            let mut one = |p: &str, path: &Path, meta: &fs::Metadata| -> Result<()> {
                h.update(format!("{p}\0{:o}\0", meta.mode()).as_bytes());
                if meta.file_type().is_symlink() {
                    let t = fs::read_link(path).map_err(io_err(path))?;
                    h.update(t.as_os_str().as_encoded_bytes());
                } else if meta.is_file() {
                    let mut f = fs::File::open(path).map_err(io_err(path))?;
                    loop {
                        let n = f.read(&mut buf).map_err(io_err(path))?;
                        if n == 0 {
                            break;
                        }
                        h.update(&buf[..n]);
                    }
                }
                h.update([0]);
                Ok(())
            };
            if meta.is_dir() {
                let mut err = None;
                let base = host.strip_prefix(&self.root).unwrap_or(&host).to_path_buf();
                let base = base.to_string_lossy().into_owned();
                self.walk(&base, usize::MAX, &mut |p, m| {
                    if err.is_none() {
                        err = one(p, &self.root.join(p), m).err();
                    }
                })?;
                if let Some(e) = err {
                    return Err(e);
                }
            } else {
                one(rel, &host, &meta)?;
            }
        }
        Ok(hex::encode(h.finalize()))
    }

    /// Copies `rel` to `dest`, a path in the step's root filesystem `root`: a
    /// directory's content into `dest`, a file as `dest`. Every target is
    /// resolved inside `root` (an image's symlinks are followed as the
    /// container would follow them, never out of it). Owners become `owner`
    /// (root unless `--chown`), modes `chmod` when given.
    pub fn copy(
        &self,
        rel: &str,
        root: &Path,
        dest: &str,
        owner: (u32, u32),
        chmod: Option<u32>,
    ) -> Result<()> {
        let inside = |path: &str, follow_last: bool| {
            hb_runtime::copy::scoped_join(root, path, follow_last).map_err(|e| Error::Context {
                path: root.join(path.trim_start_matches('/')),
                message: e.to_string(),
            })
        };
        let host = self.host(rel)?;
        let meta = fs::metadata(&host).map_err(io_err(&host))?;
        if !meta.is_dir() {
            return copy_one(&host, &meta, &inside(dest, false)?, owner, chmod);
        }
        make_dir(&inside(dest, true)?, &meta, owner, chmod)?;
        let base = host.strip_prefix(&self.root).unwrap_or(&host).to_path_buf();
        let base = base.to_string_lossy().into_owned();
        let dest = dest.trim_end_matches('/');
        let mut err = None;
        self.walk(&base, usize::MAX, &mut |p, m| {
            if err.is_some() {
                return;
            }
            let sub = Path::new(p).strip_prefix(&base).unwrap_or(Path::new(p));
            let to = format!("{dest}/{}", sub.display());
            // A directory the image has as a symlink is followed; a file replaces what is there.
            err = inside(&to, m.is_dir())
                .and_then(|target| copy_one(&self.root.join(p), m, &target, owner, chmod))
                .err();
        })?;
        err.map_or(Ok(()), Err)
    }
}

fn make_dir(dest: &Path, meta: &fs::Metadata, owner: (u32, u32), chmod: Option<u32>) -> Result<()> {
    match fs::symlink_metadata(dest) {
        Ok(m) if m.is_dir() => {}
        _ => {
            let _ = fs::remove_file(dest);
            fs::create_dir_all(dest).map_err(io_err(dest))?;
        }
    }
    let mode = chmod.unwrap_or(meta.mode() & 0o7777);
    fs::set_permissions(dest, fs::Permissions::from_mode(mode)).map_err(io_err(dest))?;
    nix::unistd::chown(dest, Some(owner.0.into()), Some(owner.1.into())).map_err(|e| Error::Io {
        path: dest.to_path_buf(),
        source: e.into(),
    })
}

/// Copies one entry (not following a symlink), replacing what `dest` was.
fn copy_one(
    src: &Path,
    meta: &fs::Metadata,
    dest: &Path,
    owner: (u32, u32),
    chmod: Option<u32>,
) -> Result<()> {
    if meta.is_dir() {
        return make_dir(dest, meta, owner, chmod);
    }
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    if let Ok(m) = fs::symlink_metadata(dest) {
        if m.is_dir() {
            fs::remove_dir_all(dest).map_err(io_err(dest))?;
        } else {
            fs::remove_file(dest).map_err(io_err(dest))?;
        }
    }
    if meta.file_type().is_symlink() {
        let t = fs::read_link(src).map_err(io_err(src))?;
        std::os::unix::fs::symlink(&t, dest).map_err(io_err(dest))?;
        nix::unistd::fchownat(
            None,
            dest,
            Some(owner.0.into()),
            Some(owner.1.into()),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| Error::Io {
            path: dest.to_path_buf(),
            source: e.into(),
        })?;
        return Ok(());
    }
    if !meta.is_file() {
        return Ok(()); // devices, fifos and sockets in a context are not copied
    }
    fs::copy(src, dest).map_err(io_err(dest))?;
    let mode = chmod.unwrap_or(meta.mode() & 0o7777);
    fs::set_permissions(dest, fs::Permissions::from_mode(mode)).map_err(io_err(dest))?;
    nix::unistd::chown(dest, Some(owner.0.into()), Some(owner.1.into())).map_err(|e| {
        Error::Io {
            path: dest.to_path_buf(),
            source: e.into(),
        }
    })?;
    // COPY keeps modification times (Docker does), so tools that look at them behave.
    let t = nix::sys::time::TimeSpec::new(meta.mtime(), meta.mtime_nsec());
    let _ = nix::sys::stat::utimensat(
        None,
        dest,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    );
    Ok(())
}

/// True when `path` is a tar archive (plain, gzip or zstd), which ADD unpacks.
pub fn is_archive(path: &Path) -> bool {
    let Ok(f) = fs::File::open(path) else {
        return false;
    };
    let Ok(mut r) = hb_image::ingest::decompress(f) else {
        return false;
    };
    let mut head = [0u8; 512];
    r.read_exact(&mut head).is_ok() && &head[257..262] == b"ustar"
}

/// Unpacks a local archive into `dest` (ADD): entries with `..` or leading
/// through a symlink out of `dest` are refused by the tar crate's `unpack_in`.
pub fn unpack_archive(path: &Path, dest: &Path) -> Result<()> {
    let f = fs::File::open(path).map_err(io_err(path))?;
    let r = hb_image::ingest::decompress(f).map_err(io_err(path))?;
    fs::create_dir_all(dest).map_err(io_err(dest))?;
    let mut a = tar::Archive::new(r);
    a.set_preserve_permissions(true);
    a.set_preserve_ownerships(true);
    a.set_overwrite(true);
    for e in a.entries().map_err(io_err(path))? {
        let mut e = e.map_err(io_err(path))?;
        e.unpack_in(dest).map_err(io_err(path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().expect("tempdir");
        for (p, c) in [
            ("app.py", "print(1)"),
            ("lib/a.py", "a"),
            ("lib/b.txt", "b"),
            ("junk/x", "x"),
        ] {
            let path = d.path().join(p);
            fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            fs::write(path, c).expect("write");
        }
        fs::write(d.path().join(".dockerignore"), "junk\n*.txt\n**/*.txt\n").expect("write");
        d
    }

    #[test]
    fn globs_and_ignores_decide_what_a_copy_sees() {
        let d = tree();
        let s = Source::context(d.path()).expect("context");
        assert_eq!(s.resolve("*.py").expect("glob"), ["app.py"]);
        assert_eq!(s.resolve("lib/*").expect("glob"), ["lib/a.py"]);
        assert!(s.resolve("junk/x").is_err(), "ignored");
        assert!(s.resolve("nope").is_err());
        assert_eq!(s.resolve("./lib/").expect("dir"), ["lib"]);
    }

    #[test]
    fn the_digest_follows_content_but_not_ignored_files() {
        let d = tree();
        let s = Source::context(d.path()).expect("context");
        let all = vec![String::new()];
        let before = s.digest(&all).expect("digest");
        fs::write(d.path().join("junk/x"), "changed").expect("write");
        fs::write(d.path().join("lib/b.txt"), "changed").expect("write");
        assert_eq!(s.digest(&all).expect("digest"), before);
        fs::write(d.path().join("lib/a.py"), "changed").expect("write");
        assert_ne!(s.digest(&all).expect("digest"), before);
    }

    #[test]
    fn an_image_symlink_never_leads_a_copy_out_of_the_root() {
        let ctx = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(ctx.path().join("link")).expect("mkdir");
        fs::write(ctx.path().join("link/pwned.txt"), "x").expect("write");
        fs::write(ctx.path().join("top.txt"), "x").expect("write");
        let outside = tempfile::tempdir().expect("tempdir");
        let root = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(root.path().join("app")).expect("mkdir");
        // The image holds /app/link -> <a host directory>, and /app/top.txt -> it too.
        std::os::unix::fs::symlink(outside.path(), root.path().join("app/link")).expect("symlink");
        std::os::unix::fs::symlink(
            outside.path().join("top.txt"),
            root.path().join("app/top.txt"),
        )
        .expect("symlink");
        let s = Source::context(ctx.path()).expect("context");
        s.copy("", root.path(), "/app", (0, 0), None)
            .expect("copies");
        assert_eq!(
            fs::read_dir(outside.path()).expect("outside").count(),
            0,
            "nothing written outside"
        );
        let inside = root
            .path()
            .join(outside.path().strip_prefix("/").expect("absolute"))
            .join("pwned.txt");
        assert!(
            inside.is_file(),
            "the link is followed inside the root, as the container sees it"
        );
        assert!(
            !fs::symlink_metadata(root.path().join("app/top.txt"))
                .expect("meta")
                .file_type()
                .is_symlink(),
            "a file replaces a symlink rather than writing through it"
        );
    }

    #[test]
    fn a_directory_copies_its_content_without_ignored_files() {
        let d = tree();
        let out = tempfile::tempdir().expect("tempdir");
        let s = Source::context(d.path()).expect("context");
        s.copy("", out.path(), "/app", (0, 0), Some(0o700))
            .expect("copies");
        assert!(out.path().join("app/app.py").is_file());
        assert!(out.path().join("app/lib/a.py").is_file());
        assert!(!out.path().join("app/lib/b.txt").exists());
        assert!(!out.path().join("app/junk").exists());
        let mode = fs::metadata(out.path().join("app/app.py"))
            .expect("meta")
            .mode()
            & 0o777;
        assert_eq!(mode, 0o700);
    }
}
