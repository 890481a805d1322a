//! The name index: beside the `images` table, one small file per image name
//! (`$HB_ROOT/names/<sha256 of the name>`, its row as JSON), so that a command
//! that only looks an image up — `hb container run` — reads one file instead
//! of the database: opening SQLite on a WAL database, reading its schema and
//! its WAL index and closing it again is ~0.4 ms of each such run on this VM.
//!
//! The table is the truth, and each file an exact copy of its row, kept so by
//! whoever changes the row: under `names/.lock` (exclusive) the file goes
//! first, then the row changes, then the file is written from the row as it
//! now is. A reader that finds no file asks the table. So, whatever process
//! dies wherever, a file that is there matches its row; a missing one costs
//! only the slower lookup, and the lookup that takes it writes it again. A
//! file also names the database it copies (`state.db`'s inode): one deleted
//! or restored from elsewhere makes every file stale at once.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use nix::fcntl::FlockArg;
use sha2::{Digest as _, Sha256};

use crate::store::{flock, ImageRecord};
use crate::{Error, Result};

/// The index's directory in `$HB_ROOT`.
const DIR: &str = "names";

/// What a file holds.
#[derive(Serialize, Deserialize)]
struct Entry {
    /// The inode of the `state.db` whose row this is.
    db: u64,
    row: ImageRecord,
}

fn file(root: &Path, name: &str) -> PathBuf {
    root.join(DIR)
        .join(hex::encode(Sha256::digest(name.as_bytes())))
}

fn database(root: &Path) -> Option<u64> {
    fs::metadata(root.join("state.db")).ok().map(|m| m.ino())
}

/// The row of `name`, if the index has its file.
pub(crate) fn read(root: &Path, name: &str) -> Option<ImageRecord> {
    let entry: Entry = serde_json::from_slice(&fs::read(file(root, name)).ok()?).ok()?;
    (entry.row.name == name && Some(entry.db) == database(root)).then_some(entry.row)
}

/// Makes `change` to `name`'s row — it returns what it found, and the row it
/// leaves, if any — with the file out of the way, then writes the file from
/// that row.
pub(crate) fn changing<T>(
    root: &Path,
    name: &str,
    change: impl FnOnce() -> Result<(T, Option<ImageRecord>)>,
) -> Result<T> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let dir = root.join(DIR);
    fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let _one_writer = flock(&dir.join(".lock"), FlockArg::LockExclusive)?;
    let file = file(root, name);
    match fs::remove_file(&file) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_err(&file)(e)),
        _ => {}
    }
    let (found, row) = change()?;
    if let (Some(row), Some(db)) = (row, database(root)) {
        // Without it, lookups ask the table: slower, never wrong.
        let _ = write(&file, &Entry { db, row });
    }
    Ok(found)
}

fn write(file: &Path, entry: &Entry) -> io::Result<()> {
    let tmp = file.with_extension("tmp");
    fs::write(&tmp, serde_json::to_vec(entry)?)?;
    fs::rename(&tmp, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, manifest: &str) -> ImageRecord {
        ImageRecord {
            name: name.into(),
            manifest: manifest.into(),
            config: "sha256:c".into(),
            index: None,
            size: 1,
            stored: 2,
        }
    }

    #[test]
    fn a_change_writes_the_row_it_leaves_and_a_failed_one_leaves_no_file() {
        let t = tempfile::tempdir().expect("tempdir");
        fs::write(t.path().join("state.db"), "").expect("a database");
        let name = "localhost/app:1";
        changing(t.path(), name, || Ok(((), Some(row(name, "sha256:a"))))).expect("change");
        assert_eq!(read(t.path(), name), Some(row(name, "sha256:a")));
        // Another database (restored, or made anew): the file is stale.
        let db = t.path().join("state.db");
        fs::rename(&db, t.path().join("old.db")).expect("moved");
        fs::write(&db, "").expect("another database");
        assert_eq!(read(t.path(), name), None);
        changing(t.path(), name, || Ok(((), Some(row(name, "sha256:a"))))).expect("change");
        assert_eq!(read(t.path(), name), Some(row(name, "sha256:a")));
        // A change that fails half-way: the row may or may not have changed,
        // so no file says which.
        let failed = changing(t.path(), name, || -> Result<((), _)> {
            Err(Error::Corrupt {
                what: "the table".into(),
            })
        });
        assert!(failed.is_err());
        assert_eq!(read(t.path(), name), None);
        changing(t.path(), name, || Ok(((), None))).expect("forget");
        assert_eq!(read(t.path(), name), None);
        assert_eq!(read(t.path(), "localhost/other:1"), None);
    }
}
