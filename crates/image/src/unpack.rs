//! Layer unpacking: one layer tar into its own directory, ready to be an
//! overlayfs lower dir.
//!
//! OCI whiteouts become overlay whiteouts (image-spec `layer.md`, "Whiteouts";
//! kernel `Documentation/filesystems/overlayfs.rst`): `.wh.NAME` becomes a
//! character device 0/0 named `NAME`, and `.wh..wh..opq` marks its directory
//! with `trusted.overlay.opaque=y`. An opaque marker only masks *lower*
//! layers, so files the same layer puts in that directory — before or after
//! the marker in tar order — stay.
//!
//! Security: an entry never writes outside the layer directory. Paths with
//! `..` are refused, a path that would pass through a symbolic link is
//! refused (links are never followed while unpacking), hard links must point
//! inside the layer, and files are created with `O_NOFOLLOW | O_EXCL` after
//! removing whatever the layer put there before. `trusted.overlay.*` xattrs
//! from the archive are dropped: they would steer the overlay mount.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use nix::sys::time::TimeSpec;
use tar::EntryType;

use crate::{Error, Result};

/// What an unpack did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Tar entries processed.
    pub entries: u64,
    /// Bytes of regular-file content written.
    pub bytes: u64,
}

/// The xattr overlayfs reads to hide a lower directory's content.
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// Makes an archive path relative and clean, refusing any `..`.
fn clean(path: &Path, layer: &str) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(unsafe_entry(
                    layer,
                    path,
                    "its path leads out of the layer with `..`",
                ));
            }
        }
    }
    Ok(out)
}

fn unsafe_entry(layer: &str, entry: &Path, reason: &str) -> Error {
    Error::UnsafeEntry {
        layer: layer.to_string(),
        entry: entry.display().to_string(),
        reason: reason.to_string(),
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates the parent directories of `rel` inside `root`, refusing to pass
/// through a symbolic link (which could lead anywhere).
fn prepare_parent(root: &Path, rel: &Path, layer: &str) -> Result<()> {
    let mut cur = root.to_path_buf();
    let Some(parent) = rel.parent() else {
        return Ok(());
    };
    for c in parent.components() {
        cur.push(c);
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(unsafe_entry(
                    layer,
                    rel,
                    &format!(
                        "it would be written through the symbolic link `{}`",
                        cur.strip_prefix(root).unwrap_or(&cur).display()
                    ),
                ));
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                fs::remove_file(&cur).map_err(io_err(&cur))?;
                fs::create_dir(&cur).map_err(io_err(&cur))?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&cur).map_err(io_err(&cur))?
            }
            Err(e) => {
                return Err(Error::Io {
                    path: cur,
                    source: e,
                })
            }
        }
    }
    Ok(())
}

/// Removes whatever is at `path` (never following a link).
fn remove_existing(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path).map_err(io_err(path)),
        Ok(_) => fs::remove_file(path).map_err(io_err(path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::Io {
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

/// Ownership, mode bits, xattrs and times of a created node, as the archive says.
struct Meta {
    uid: u32,
    gid: u32,
    mode: u32,
    mtime: i64,
    xattrs: Vec<(String, Vec<u8>)>,
}

fn apply_meta(path: &Path, meta: &Meta, is_symlink: bool) -> Result<()> {
    // Ownership is kept when hb runs as root (the supported setup); an
    // unprivileged unpack keeps the caller's ownership instead of failing.
    if nix::unistd::Uid::effective().is_root() {
        std::os::unix::fs::lchown(path, Some(meta.uid), Some(meta.gid)).map_err(io_err(path))?;
    }
    if !is_symlink {
        // After chown: chown clears setuid/setgid bits.
        fs::set_permissions(path, fs::Permissions::from_mode(meta.mode & 0o7777))
            .map_err(io_err(path))?;
    }
    for (k, v) in &meta.xattrs {
        xattr::set(path, k, v).map_err(io_err(path))?;
    }
    let t = TimeSpec::new(meta.mtime, 0);
    nix::sys::stat::utimensat(
        None,
        path,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    Ok(())
}

/// Maps a tar reading error to [`Error::Layer`].
fn tar_err(layer: &str) -> impl Fn(io::Error) -> Error + '_ {
    move |source| Error::Layer {
        layer: layer.to_string(),
        source,
    }
}

/// The target of a symbolic or hard link entry.
fn link_target<R: Read>(
    entry: &tar::Entry<'_, R>,
    layer: &str,
    raw: &Path,
    what: &str,
) -> Result<PathBuf> {
    let target = entry.link_name().map_err(tar_err(layer))?;
    target
        .map(|t| t.into_owned())
        .ok_or_else(|| unsafe_entry(layer, raw, &format!("{what} without a target")))
}

/// Unpacks one (decompressed) layer tar into `dest`, which must exist.
/// `layer` names the layer in errors.
pub fn unpack_layer(reader: impl Read, dest: &Path, layer: &str) -> Result<Stats> {
    let mut archive = tar::Archive::new(reader);
    let mut stats = Stats::default();
    // Directory metadata is applied last: adding children changes a directory's mtime.
    let mut dirs: Vec<(PathBuf, Meta)> = Vec::new();
    let entries = archive.entries().map_err(tar_err(layer))?;
    for entry in entries {
        let mut entry = entry.map_err(tar_err(layer))?;
        stats.entries += 1;
        let raw = entry.path().map_err(tar_err(layer))?.into_owned();
        let rel = clean(&raw, layer)?;
        if rel.as_os_str().is_empty() {
            continue; // the layer root itself
        }
        let name = rel
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        prepare_parent(dest, &rel, layer)?;
        let path = dest.join(&rel);
        if name == OPAQUE_MARKER {
            let dir = path.parent().unwrap_or(dest);
            xattr::set(dir, OPAQUE_XATTR, b"y").map_err(io_err(dir))?;
            continue;
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
            if hidden.is_empty() || hidden == "." || hidden == ".." {
                return Err(unsafe_entry(layer, &raw, "a whiteout must name a file"));
            }
            let target = path.with_file_name(hidden);
            remove_existing(&target)?;
            mknod(&target, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0)).map_err(|e| {
                Error::Io {
                    path: target.clone(),
                    source: e.into(),
                }
            })?;
            continue;
        }
        let mut xattrs = Vec::new();
        if let Ok(Some(exts)) = entry.pax_extensions() {
            for ext in exts.flatten() {
                let Ok(key) = ext.key() else { continue };
                if let Some(attr) = key.strip_prefix("SCHILY.xattr.") {
                    if attr.starts_with("trusted.overlay.") {
                        tracing::debug!(layer, entry = %raw.display(), attr, "dropping an overlay xattr from the archive");
                        continue;
                    }
                    xattrs.push((attr.to_string(), ext.value_bytes().to_vec()));
                }
            }
        }
        let header = entry.header();
        let meta = Meta {
            uid: header.uid().unwrap_or(0) as u32,
            gid: header.gid().unwrap_or(0) as u32,
            mode: header.mode().unwrap_or(0o644),
            mtime: header.mtime().unwrap_or(0) as i64,
            xattrs,
        };
        let kind = header.entry_type();
        match kind {
            EntryType::Directory => {
                match fs::symlink_metadata(&path) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => {
                        remove_existing(&path)?;
                        fs::create_dir(&path).map_err(io_err(&path))?;
                    }
                    Err(_) => fs::create_dir(&path).map_err(io_err(&path))?,
                }
                dirs.push((path, meta));
            }
            EntryType::Regular | EntryType::Continuous => {
                remove_existing(&path)?;
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .custom_flags(nix::libc::O_NOFOLLOW)
                    .mode(0o600)
                    .open(&path)
                    .map_err(io_err(&path))?;
                stats.bytes += io::copy(&mut entry, &mut f).map_err(tar_err(layer))?;
                drop(f);
                apply_meta(&path, &meta, false)?;
            }
            EntryType::Symlink => {
                let target = link_target(&entry, layer, &raw, "a symbolic link")?;
                remove_existing(&path)?;
                // The target is stored as written; it is never followed while unpacking.
                std::os::unix::fs::symlink(&target, &path).map_err(io_err(&path))?;
                apply_meta(&path, &meta, true)?;
            }
            EntryType::Link => {
                let target = link_target(&entry, layer, &raw, "a hard link")?;
                let target_rel = clean(&target, layer).map_err(|_| {
                    unsafe_entry(layer, &raw, "its hard link target leads out of the layer")
                })?;
                prepare_parent(dest, &target_rel, layer).map_err(|_| {
                    unsafe_entry(
                        layer,
                        &raw,
                        "its hard link target passes through a symbolic link",
                    )
                })?;
                let source = dest.join(&target_rel);
                match fs::symlink_metadata(&source) {
                    Ok(m) if m.is_file() => {}
                    _ => {
                        return Err(unsafe_entry(
                            layer,
                            &raw,
                            &format!(
                                "its hard link target `{}` is not a file of this layer",
                                target.display()
                            ),
                        ))
                    }
                }
                remove_existing(&path)?;
                fs::hard_link(&source, &path).map_err(io_err(&path))?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let flag = match kind {
                    EntryType::Char => SFlag::S_IFCHR,
                    EntryType::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                let dev = makedev(
                    u64::from(header.device_major().ok().flatten().unwrap_or(0)),
                    u64::from(header.device_minor().ok().flatten().unwrap_or(0)),
                );
                remove_existing(&path)?;
                mknod(
                    &path,
                    flag,
                    Mode::from_bits_truncate(meta.mode & 0o777),
                    dev,
                )
                .map_err(|e| Error::Io {
                    path: path.clone(),
                    source: e.into(),
                })?;
                apply_meta(&path, &meta, false)?;
            }
            EntryType::XGlobalHeader
            | EntryType::XHeader
            | EntryType::GNULongName
            | EntryType::GNULongLink => {}
            other => {
                tracing::debug!(layer, entry = %raw.display(), ?other, "skipping an entry of an unsupported type");
            }
        }
    }
    for (path, meta) in dirs.iter().rev() {
        apply_meta(path, meta, false)?;
    }
    Ok(stats)
}

/// True for an overlay whiteout: a character device 0/0.
pub fn is_whiteout(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// Applies layer directories (overlay form, lowest first) onto `dest`, as the
/// kernel's overlayfs would present them: whiteouts delete, opaque directories
/// hide what lower layers put there. This is `hb image unpack`.
pub fn flatten(layers: &[PathBuf], dest: &Path) -> Result<()> {
    fs::create_dir_all(dest).map_err(io_err(dest))?;
    for layer in layers {
        // Files hard-linked together in a layer stay linked in the result.
        let mut links = std::collections::HashMap::new();
        merge_dir(layer, dest, &mut links)?;
    }
    Ok(())
}

/// (device, inode) of a layer file → where its first link was copied.
type Links = std::collections::HashMap<(u64, u64), PathBuf>;

fn merge_dir(src: &Path, dst: &Path, links: &mut Links) -> Result<()> {
    let mut entries: Vec<_> = fs::read_dir(src)
        .map_err(io_err(src))?
        .collect::<io::Result<_>>()
        .map_err(io_err(src))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let from = e.path();
        let to = dst.join(e.file_name());
        let meta = fs::symlink_metadata(&from).map_err(io_err(&from))?;
        if is_whiteout(&meta) {
            remove_existing(&to)?;
            continue;
        }
        if meta.is_dir() {
            let opaque = xattr::get(&from, OPAQUE_XATTR)
                .ok()
                .flatten()
                .is_some_and(|v| v == b"y");
            match fs::symlink_metadata(&to) {
                Ok(m) if m.is_dir() && !opaque => {}
                Ok(_) => {
                    remove_existing(&to)?;
                    fs::create_dir(&to).map_err(io_err(&to))?;
                }
                Err(_) => fs::create_dir(&to).map_err(io_err(&to))?,
            }
            merge_dir(&from, &to, links)?;
            copy_meta(&from, &to, &meta)?;
            continue;
        }
        remove_existing(&to)?;
        use std::os::unix::fs::MetadataExt;
        if meta.is_file() && meta.nlink() > 1 {
            if let Some(first) = links.get(&(meta.dev(), meta.ino())) {
                fs::hard_link(first, &to).map_err(io_err(&to))?;
                continue;
            }
            links.insert((meta.dev(), meta.ino()), to.clone());
        }
        copy_node(&from, &to, &meta)?;
    }
    Ok(())
}

fn copy_node(from: &Path, to: &Path, meta: &fs::Metadata) -> Result<()> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let ft = meta.file_type();
    if ft.is_symlink() {
        let target = fs::read_link(from).map_err(io_err(from))?;
        std::os::unix::fs::symlink(target, to).map_err(io_err(to))?;
    } else if ft.is_file() {
        fs::copy(from, to).map_err(io_err(to))?;
    } else {
        let flag = if ft.is_char_device() {
            SFlag::S_IFCHR
        } else if ft.is_block_device() {
            SFlag::S_IFBLK
        } else if ft.is_fifo() {
            SFlag::S_IFIFO
        } else {
            return Ok(()); // sockets are not part of images
        };
        mknod(
            to,
            flag,
            Mode::from_bits_truncate(meta.mode() & 0o777),
            meta.rdev(),
        )
        .map_err(|e| Error::Io {
            path: to.to_path_buf(),
            source: e.into(),
        })?;
    }
    copy_meta(from, to, meta)
}

fn copy_meta(from: &Path, to: &Path, meta: &fs::Metadata) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let mut xattrs = Vec::new();
    if let Ok(names) = xattr::list(from) {
        for n in names {
            let name = n.to_string_lossy().into_owned();
            if name.starts_with("trusted.overlay.") {
                continue;
            }
            if let Ok(Some(v)) = xattr::get(from, &n) {
                xattrs.push((name, v));
            }
        }
    }
    let m = Meta {
        uid: meta.uid(),
        gid: meta.gid(),
        mode: meta.mode(),
        mtime: meta.mtime(),
        xattrs,
    };
    apply_meta(to, &m, meta.file_type().is_symlink())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar built in memory, entry by entry, including hostile ones.
    struct TarBuilder(tar::Builder<Vec<u8>>);

    impl TarBuilder {
        fn new() -> Self {
            TarBuilder(tar::Builder::new(Vec::new()))
        }
        fn header(kind: EntryType, size: u64) -> tar::Header {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_size(size);
            h.set_mode(if kind == EntryType::Directory {
                0o755
            } else {
                0o644
            });
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(1_700_000_000);
            h
        }
        /// Writes the name into the header bytes directly, so `..` and absolute names get through.
        fn raw_name(h: &mut tar::Header, name: &str) {
            let bytes = &mut h.as_old_mut().name;
            bytes.fill(0);
            bytes[..name.len()].copy_from_slice(name.as_bytes());
        }
        fn file(mut self, name: &str, data: &[u8]) -> Self {
            let mut h = Self::header(EntryType::Regular, data.len() as u64);
            Self::raw_name(&mut h, name);
            h.set_cksum();
            self.0.append(&h, data).expect("append");
            self
        }
        fn dir(mut self, name: &str) -> Self {
            let mut h = Self::header(EntryType::Directory, 0);
            Self::raw_name(&mut h, name);
            h.set_cksum();
            self.0.append(&h, io::empty()).expect("append");
            self
        }
        fn link(mut self, kind: EntryType, name: &str, target: &str) -> Self {
            let mut h = Self::header(kind, 0);
            Self::raw_name(&mut h, name);
            let lb = &mut h.as_old_mut().linkname;
            lb.fill(0);
            lb[..target.len()].copy_from_slice(target.as_bytes());
            h.set_cksum();
            self.0.append(&h, io::empty()).expect("append");
            self
        }
        fn bytes(self) -> Vec<u8> {
            self.0.into_inner().expect("finish")
        }
    }

    fn is_root() -> bool {
        nix::unistd::Uid::effective().is_root()
    }

    #[test]
    fn paths_are_cleaned_and_parent_dirs_refused() {
        assert_eq!(
            clean(Path::new("./a/b"), "l").ok(),
            Some(PathBuf::from("a/b"))
        );
        assert_eq!(
            clean(Path::new("/etc/passwd"), "l").ok(),
            Some(PathBuf::from("etc/passwd"))
        );
        assert!(clean(Path::new("a/../../x"), "l").is_err());
    }

    #[test]
    #[ignore = "privileged: needs root for ownership and whiteout device nodes"]
    fn whiteouts_and_opaque_dirs_become_overlay_form() {
        assert!(is_root(), "run as root");
        let d = tempfile::tempdir().expect("tempdir");
        let tar = TarBuilder::new()
            .dir("data/")
            .file("data/keep.txt", b"v2")
            .file("data/.wh.gone.txt", b"")
            .dir("opq/")
            .file("opq/new.txt", b"new")
            .file("opq/.wh..wh..opq", b"")
            .bytes();
        let stats = unpack_layer(&tar[..], d.path(), "test").expect("unpacks");
        assert_eq!(stats.entries, 6);
        let gone = fs::symlink_metadata(d.path().join("data/gone.txt")).expect("whiteout exists");
        assert!(is_whiteout(&gone));
        assert_eq!(
            xattr::get(d.path().join("opq"), OPAQUE_XATTR).expect("xattr"),
            Some(b"y".to_vec())
        );
        assert_eq!(
            fs::read(d.path().join("opq/new.txt")).expect("kept"),
            b"new",
            "the opaque marker after new.txt must not remove it"
        );
        assert!(!d.path().join("opq/.wh..wh..opq").exists());
    }

    #[test]
    #[ignore = "privileged: needs root for device nodes, ownership and trusted xattrs"]
    fn devices_fifos_xattrs_owners_and_times_are_kept() {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        assert!(is_root(), "run as root");
        let mut b = tar::Builder::new(Vec::new());
        let mut dev = TarBuilder::header(EntryType::Char, 0);
        dev.set_device_major(1).expect("major");
        dev.set_device_minor(3).expect("minor");
        dev.set_mode(0o666);
        b.append_data(&mut dev, "dev/null", io::empty())
            .expect("append");
        let mut fifo = TarBuilder::header(EntryType::Fifo, 0);
        b.append_data(&mut fifo, "run/fifo", io::empty())
            .expect("append");
        // A file with an xattr (PAX `SCHILY.xattr.*`), an owner and an mtime; and an
        // overlay xattr from the archive, which must be dropped.
        b.append_pax_extensions([
            ("SCHILY.xattr.user.hb", &b"yes"[..]),
            ("SCHILY.xattr.trusted.overlay.redirect", &b"/etc"[..]),
        ])
        .expect("pax");
        let mut f = TarBuilder::header(EntryType::Regular, 2);
        f.set_uid(1234);
        f.set_gid(5678);
        f.set_mode(0o2755);
        f.set_mtime(1_234_567_890);
        b.append_data(&mut f, "opt/tool", &b"hi"[..])
            .expect("append");
        let tar = b.into_inner().expect("tar");
        let d = tempfile::tempdir().expect("tempdir");
        unpack_layer(&tar[..], d.path(), "meta").expect("unpacks");
        let null = fs::symlink_metadata(d.path().join("dev/null")).expect("dev");
        assert!(null.file_type().is_char_device());
        assert_eq!(null.rdev(), makedev(1, 3));
        assert!(fs::symlink_metadata(d.path().join("run/fifo"))
            .expect("fifo")
            .file_type()
            .is_fifo());
        let tool = d.path().join("opt/tool");
        let m = fs::symlink_metadata(&tool).expect("tool");
        assert_eq!(
            (m.uid(), m.gid(), m.mode() & 0o7777, m.mtime()),
            (1234, 5678, 0o2755, 1_234_567_890)
        );
        assert_eq!(
            xattr::get(&tool, "user.hb").expect("xattr"),
            Some(b"yes".to_vec())
        );
        assert_eq!(
            xattr::get(&tool, "trusted.overlay.redirect").expect("xattr"),
            None,
            "overlay xattrs from archives are dropped"
        );
    }

    #[test]
    fn malicious_layers_write_nothing_outside() {
        let outside = tempfile::tempdir().expect("tempdir");
        let victim = outside.path().join("victim");
        let cases: Vec<(&str, Vec<u8>)> = vec![
            (
                "dot-dot",
                TarBuilder::new().file("../victim", b"pwned").bytes(),
            ),
            (
                "nested dot-dot",
                TarBuilder::new().file("a/../../victim", b"pwned").bytes(),
            ),
            (
                "symlink escape",
                TarBuilder::new()
                    .link(
                        EntryType::Symlink,
                        "esc",
                        outside.path().to_str().expect("utf8"),
                    )
                    .file("esc/victim", b"pwned")
                    .bytes(),
            ),
            (
                "relative symlink escape",
                TarBuilder::new()
                    .link(EntryType::Symlink, "up", "../..")
                    .file("up/victim", b"pwned")
                    .bytes(),
            ),
            (
                "hardlink escape",
                TarBuilder::new()
                    .link(EntryType::Link, "h", "../victim")
                    .bytes(),
            ),
            (
                "hardlink to an outside absolute path",
                TarBuilder::new()
                    .link(EntryType::Link, "h", victim.to_str().expect("utf8"))
                    .bytes(),
            ),
        ];
        for (what, tar) in cases {
            let layer = outside
                .path()
                .join(format!("layer-{}", what.replace(' ', "-")));
            fs::create_dir(&layer).expect("mkdir");
            let r = unpack_layer(&tar[..], &layer, what);
            assert!(matches!(r, Err(Error::UnsafeEntry { .. })), "{what}: {r:?}");
            assert!(!victim.exists(), "{what} wrote outside the layer");
            let msg = r.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(
                msg.contains(what) && msg.contains("layer"),
                "{what}: the error names the layer: {msg}"
            );
        }
    }
}
