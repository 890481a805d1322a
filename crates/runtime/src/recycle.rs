//! A removed container's directory kept for the next container to take,
//! rather than deleted. Standard library and `rustix` only: the shim includes
//! this file too.
//!
//! On ext4 without a journal (this machine's root filesystem) an inode freed
//! in the last 60 s is not reused — 360 s while its inode table block waits to
//! be written — and a new file's inode is found by walking past every such one
//! in its block group (`find_inode_bit` and `recently_deleted` in
//! `fs/ext4/ialloc.c`). Once a few hundred containers have come and gone,
//! making a file there costs ~50 µs, against ~6 µs on tmpfs; and a container
//! is made of ~25 new inodes. Ten of them are kept here: its directory,
//! `rootfs/`, `upper/` and `work/`, the files hb writes (`hosts`,
//! `resolv.conf`, `hostname`, its first `status`), and its spec and
//! record, renamed: a container exists once `config.json` does
//! (`Runtime::get`), and [`write()`] brings them back whole.
//!
//! Nothing the container could have changed is kept: `upper/` (its writes,
//! and on the directory itself the mode, owner and overlay attributes of its
//! `/`) and the three files it had bind-mounted are kept only empty and as hb
//! made them — their mode, hb's owner, no extended attributes — else the
//! whole directory is deleted.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The directory of spares, beside `containers/` and `trash/` in `$HB_ROOT`.
pub const SPARES: &str = "spares";

/// At most this many spares are kept; beyond, a removed directory is deleted.
const KEPT: usize = 8;

/// The files of a container's directory that are kept, emptied. Not its log
/// (a `logs -f` of the removed container still reading it would read on
/// into the next one's) nor `shim.lock` (held by the removed container's
/// shim until it exits: the next start would find it locked).
const EMPTIED: [&str; 1] = ["status"];

/// The files the container saw (bind-mounted), kept only as hb made them.
const SEEN: [&str; 3] = ["hosts", "resolv.conf", "hostname"];

/// The files whose names mark a complete container, kept under another.
const MARKERS: [&str; 2] = ["config.json", "container.json"];

/// Writes `path` whole, into the inode kept for it where its directory was a
/// spare: its spec and record into `<stem>.spare`, renamed into place (so
/// that they appear complete), the other files in place; else into a new file.
///
/// Never through a truncation to zero: ext4 writes a file truncated to zero
/// and written again out to disk as it is closed (`auto_da_alloc`,
/// `ext4_release_file`), which costs more than the new inode it saves. The
/// kept files are empty already; one longer than `content` is cut to its length.
pub fn write(path: &Path, content: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let spare = path.with_extension("spare");
    let (mut f, kept) = match File::options().write(true).open(&spare) {
        Ok(f) => (f, true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => (
            File::options()
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)?,
            false,
        ),
        Err(e) => return Err(e),
    };
    f.write_all(content)?;
    let len = content.len() as u64;
    if f.metadata()?.len() > len {
        f.set_len(len)?;
    }
    drop(f);
    if kept {
        fs::rename(&spare, path)?;
    }
    Ok(())
}

/// Takes a spare as `dir`, which must not exist; false if none was left.
pub fn claim(spares: &Path, dir: &Path) -> bool {
    let Ok(entries) = fs::read_dir(spares) else {
        return false;
    };
    // Another hb may take the same spare first: its rename wins, this one
    // fails (ENOENT) and tries the next.
    entries.flatten().any(|e| fs::rename(e.path(), dir).is_ok())
}

/// Moves `dir`, a removed container's directory with its rootfs unmounted,
/// into `spares` as a spare, emptied; deletes it where it cannot be kept.
pub fn recycle(dir: &Path, spares: &Path) -> io::Result<()> {
    match keep(dir, spares) {
        Ok(()) => Ok(()),
        Err(_) => match fs::remove_dir_all(dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            r => r,
        },
    }
}

fn keep(dir: &Path, spares: &Path) -> io::Result<()> {
    if fs::read_dir(spares).map_or(0, Iterator::count) >= KEPT {
        return Err(refused("enough spares"));
    }
    // The markers of a complete container first: from here on no hb takes
    // this directory for a container, should this stop half-way.
    for marker in MARKERS {
        let marker = dir.join(marker);
        match fs::rename(&marker, marker.with_extension("spare")) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_str().unwrap_or_default();
        if name == "rootfs" {
            // Still mounted, or written to under its mount point: not kept.
            if fs::read_dir(&path)?.next().is_some() {
                return Err(refused("rootfs not empty"));
            }
        } else if name == "work" {
            // Overlay's own, remade at every mount (`work/work`).
            for inner in fs::read_dir(&path)? {
                remove(&inner?.path())?;
            }
        } else if name == "upper" {
            // The container's writes: kept only if there were none.
            if fs::read_dir(&path)?.next().is_some() || !as_made(&File::open(&path)?, 0o755)? {
                return Err(refused("written by its container"));
            }
        } else if EMPTIED.contains(&name) || name.ends_with(".spare") {
            File::options().write(true).truncate(true).open(&path)?;
        } else if SEEN.contains(&name) {
            let f = File::options().write(true).truncate(true).open(&path)?;
            if !as_made(&f, 0o644)? {
                return Err(refused("changed by its container"));
            }
        } else {
            remove(&path)?;
        }
    }
    fs::create_dir_all(spares)?;
    // A name no other spare has: this process's, and the time.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let name = format!("{}.{}", std::process::id(), now.as_nanos());
    fs::rename(dir, spares.join(name))
}

/// True if `f` is as hb made it: `mode`, hb's owner, no extended attributes.
fn as_made(f: &File, mode: u32) -> io::Result<bool> {
    let meta = f.metadata()?;
    Ok(meta.mode() & 0o7777 == mode
        && meta.uid() == rustix::process::geteuid().as_raw()
        && meta.gid() == rustix::process::getegid().as_raw()
        && rustix::fs::flistxattr(f, &mut [0u8; 0][..])? == 0)
}

fn remove(path: &Path) -> io::Result<()> {
    if path.is_dir() && !path.is_symlink() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
}

fn refused(why: &str) -> io::Error {
    io::Error::other(why.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A removed container's directory as hb and the shim leave it.
    fn removed(at: &Path) -> PathBuf {
        let dir = at.join("trash").join("web.123");
        for d in ["rootfs", "upper", "work/work"] {
            fs::create_dir_all(dir.join(d)).expect("the test's files");
        }
        for (f, text) in [
            ("config.json", "{}"),
            ("container.json", "{}"),
            ("hosts", "127.0.0.1\tlocalhost\n"),
            ("resolv.conf", "# none\n"),
            ("hostname", "web\n"),
            ("ctr.log", "2026-12-01T00:00:00Z stdout F secret\n"),
            ("shim.lock", ""),
            ("status", "{\"state\":\"exited\"}"),
            ("pid", "42"),
        ] {
            fs::write(dir.join(f), text).expect("the test's files");
        }
        use std::os::unix::fs::PermissionsExt;
        for f in SEEN {
            fs::set_permissions(dir.join(f), fs::Permissions::from_mode(0o644))
                .expect("the test's files");
        }
        fs::set_permissions(dir.join("upper"), fs::Permissions::from_mode(0o755))
            .expect("the test's files");
        dir
    }

    #[test]
    fn a_spare_keeps_the_skeleton_and_nothing_of_its_container() {
        let t = tempfile::tempdir().expect("the test's files");
        let spares = t.path().join(SPARES);
        recycle(&removed(t.path()), &spares).expect("the test's files");
        let spare = fs::read_dir(&spares)
            .expect("the test's files")
            .next()
            .expect("the test's files")
            .expect("the test's files")
            .path();
        let mut left: Vec<String> = fs::read_dir(&spare)
            .expect("the test's files")
            .map(|e| {
                e.expect("the test's files")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "config.spare",
                "container.spare",
                "hostname",
                "hosts",
                "resolv.conf",
                "rootfs",
                "status",
                "upper",
                "work"
            ]
        );
        for f in fs::read_dir(&spare).expect("the test's files") {
            let f = f.expect("the test's files").path();
            let empty = if f.is_dir() {
                fs::read_dir(&f).expect("the test's files").next().is_none()
            } else {
                fs::metadata(&f).expect("the test's files").len() == 0
            };
            assert!(empty, "{}", f.display());
        }

        // Taken by the next container, its spec written whole.
        let dir = t.path().join("containers").join("next");
        fs::create_dir_all(dir.parent().expect("the test's files")).expect("the test's files");
        assert!(claim(&spares, &dir));
        assert!(
            !dir.join("config.json").exists(),
            "no complete container yet"
        );
        use std::os::unix::fs::MetadataExt;
        let kept = fs::metadata(dir.join("config.spare"))
            .expect("the test's files")
            .ino();
        write(&dir.join("config.json"), b"{\"ociVersion\":\"1.0.2\"}").expect("the test's files");
        assert_eq!(
            fs::read(dir.join("config.json")).expect("the test's files"),
            b"{\"ociVersion\":\"1.0.2\"}"
        );
        assert_eq!(
            fs::metadata(dir.join("config.json"))
                .expect("the test's files")
                .ino(),
            kept
        );
        assert!(!dir.join("config.spare").exists());
        assert!(
            !claim(&spares, &t.path().join("containers/other")),
            "one spare, taken"
        );
    }

    #[test]
    fn a_directory_its_container_changed_or_still_mounted_is_deleted_not_kept() {
        use std::os::unix::fs::PermissionsExt;
        // What changed: a file written under the directory, or else the mode
        // of a bind-mounted one.
        for (what, written) in [
            ("a bind-mounted file's mode", None),
            ("a file under the rootfs", Some("rootfs/bin")),
            ("a write to the rootfs", Some("upper/passwd")),
        ] {
            let t = tempfile::tempdir().expect("the test's files");
            let spares = t.path().join(SPARES);
            let dir = removed(t.path());
            match written {
                Some(f) => fs::write(dir.join(f), "as if still mounted, or the container's"),
                None => fs::set_permissions(dir.join("hosts"), fs::Permissions::from_mode(0o4755)),
            }
            .expect("the test's files");
            recycle(&dir, &spares).expect("the test's files");
            assert!(!dir.exists(), "{what}");
            assert_eq!(
                fs::read_dir(&spares).map_or(0, Iterator::count),
                0,
                "{what}"
            );
        }
    }

    #[test]
    fn a_file_is_written_whole_new_or_kept() {
        let t = tempfile::tempdir().expect("the test's files");
        let path = t.path().join("config.json");
        write(&path, b"{}").expect("the test's files");
        assert_eq!(fs::read(&path).expect("the test's files"), b"{}");
        let hosts = t.path().join("hosts");
        fs::write(&hosts, "a longer line than the next\n").expect("the test's files");
        write(&hosts, b"short\n").expect("the test's files");
        assert_eq!(fs::read(&hosts).expect("the test's files"), b"short\n");
    }

    #[test]
    fn spares_are_kept_up_to_a_few() {
        let t = tempfile::tempdir().expect("the test's files");
        let spares = t.path().join(SPARES);
        for i in 0..KEPT + 2 {
            let dir = removed(t.path());
            let named = dir.with_file_name(format!("web.{i}"));
            fs::rename(&dir, &named).expect("the test's files");
            recycle(&named, &spares).expect("the test's files");
            assert!(!named.exists());
        }
        assert_eq!(
            fs::read_dir(&spares).expect("the test's files").count(),
            KEPT
        );
    }
}
