//! A layer from an overlay upper directory: what a step changed, as an OCI
//! layer tar (image-spec `layer.md`, "Changesets"). Overlay records a deletion
//! as a character device 0/0 and a replaced directory with the
//! `trusted.overlay.opaque=y` xattr (kernel `Documentation/filesystems/overlayfs.rst`);
//! the tar says the same with `.wh.NAME` and `.wh..wh..opq` entries, which
//! `hb_image::unpack` turns back into overlay's form when the layer is stored.

use std::collections::HashMap;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use hb_image::unpack::{is_whiteout, OPAQUE_XATTR};

/// Files crun creates as bind-mount targets when the image lacks them: empty,
/// and not something a step made.
const MOUNT_TARGETS: [&str; 3] = ["etc/hosts", "etc/resolv.conf", "etc/hostname"];

/// Writes the changes under `upper` as a tar at `out`; returns the number of
/// entries (0: the step changed nothing).
pub fn write_layer(upper: &Path, out: &Path) -> io::Result<u64> {
    let f = fs::File::create(out)?;
    let mut b = tar::Builder::new(BufWriter::with_capacity(256 * 1024, f));
    let mut links: HashMap<(u64, u64), String> = HashMap::new();
    let mut n = 0;
    walk(upper, "", &mut b, &mut links, &mut n)?;
    b.into_inner()?.flush()?;
    Ok(n)
}

fn header(meta: &fs::Metadata, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(meta.mode() & 0o7777);
    h.set_uid(u64::from(meta.uid()));
    h.set_gid(u64::from(meta.gid()));
    h.set_mtime(meta.mtime().max(0) as u64);
    h.set_size(size);
    h
}

/// A whiteout or opaque marker: an empty file whose name says it all.
fn marker() -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(0);
    h
}

fn walk<W: Write>(
    dir: &Path,
    prefix: &str,
    b: &mut tar::Builder<W>,
    links: &mut HashMap<(u64, u64), String>,
    n: &mut u64,
) -> io::Result<()> {
    let mut entries: Vec<fs::DirEntry> = fs::read_dir(dir)?.collect::<io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = format!("{prefix}{name}");
        let path = e.path();
        let meta = fs::symlink_metadata(&path)?;
        let ft = meta.file_type();
        if is_whiteout(&meta) {
            b.append_data(&mut marker(), format!("{prefix}.wh.{name}"), io::empty())?;
        } else if ft.is_dir() {
            b.append_data(
                &mut header(&meta, tar::EntryType::Directory, 0),
                format!("{rel}/"),
                io::empty(),
            )?;
            if xattr::get(&path, OPAQUE_XATTR)?.as_deref() == Some(b"y") {
                b.append_data(&mut marker(), format!("{rel}/.wh..wh..opq"), io::empty())?;
                *n += 1;
            }
            walk(&path, &format!("{rel}/"), b, links, n)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&path)?;
            b.append_link(&mut header(&meta, tar::EntryType::Symlink, 0), &rel, target)?;
        } else if ft.is_file() {
            if meta.len() == 0 && MOUNT_TARGETS.contains(&rel.as_str()) {
                continue;
            }
            if meta.nlink() > 1 {
                if let Some(first) = links.get(&(meta.dev(), meta.ino())) {
                    b.append_link(&mut header(&meta, tar::EntryType::Link, 0), &rel, first)?;
                    *n += 1;
                    continue;
                }
                links.insert((meta.dev(), meta.ino()), rel.clone());
            }
            let f = fs::File::open(&path)?;
            b.append_data(
                &mut header(&meta, tar::EntryType::Regular, meta.len()),
                &rel,
                f,
            )?;
        } else if ft.is_fifo() {
            b.append_data(
                &mut header(&meta, tar::EntryType::Fifo, 0),
                &rel,
                io::empty(),
            )?;
        } else if ft.is_char_device() || ft.is_block_device() {
            let kind = if ft.is_char_device() {
                tar::EntryType::Char
            } else {
                tar::EntryType::Block
            };
            let mut h = header(&meta, kind, 0);
            let rdev = meta.rdev();
            h.set_device_major(nix::sys::stat::major(rdev) as u32)?;
            h.set_device_minor(nix::sys::stat::minor(rdev) as u32)?;
            b.append_data(&mut h, &rel, io::empty())?;
        } else {
            continue; // sockets: not part of an image
        }
        *n += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tar_path: &Path) -> Vec<String> {
        let mut a = tar::Archive::new(fs::File::open(tar_path).expect("open"));
        a.entries()
            .expect("entries")
            .map(|e| {
                e.expect("entry")
                    .path()
                    .expect("path")
                    .display()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn files_links_and_dirs_become_entries_in_order() {
        let d = tempfile::tempdir().expect("tempdir");
        let up = d.path().join("upper");
        fs::create_dir_all(up.join("app/sub")).expect("mkdir");
        fs::write(up.join("app/a.txt"), "a").expect("write");
        fs::hard_link(up.join("app/a.txt"), up.join("app/sub/b.txt")).expect("link");
        std::os::unix::fs::symlink("a.txt", up.join("app/c")).expect("symlink");
        fs::create_dir_all(up.join("etc")).expect("mkdir");
        fs::write(up.join("etc/hosts"), "").expect("mount target");
        let out = d.path().join("l.tar");
        assert_eq!(write_layer(&up, &out).expect("writes"), 6);
        assert_eq!(
            names(&out),
            [
                "app/",
                "app/a.txt",
                "app/c",
                "app/sub/",
                "app/sub/b.txt",
                "etc/"
            ]
        );
    }

    #[test]
    fn nothing_changed_is_an_empty_layer() {
        let (up, out) = (
            tempfile::tempdir().expect("tempdir"),
            tempfile::tempdir().expect("tempdir"),
        );
        let tar = out.path().join("l.tar");
        assert_eq!(write_layer(up.path(), &tar).expect("writes"), 0);
        assert!(names(&tar).is_empty());
    }
}
