//! Replacing a small file (a container's `status`, its `health`) so that a
//! reader sees the old content or the new, never half of either. Standard
//! library and `rustix` only: the shim includes this file too.
//!
//! The usual way, a temporary file renamed over the old one, is slow on ext4
//! (Debian's default): a rename that replaces an existing file makes ext4
//! write the new file's data out at once (`auto_da_alloc`, `ext4_rename` in
//! `fs/ext4/namei.c`), ~160 µs on this machine's disk against ~40 µs for
//! what is done here — twice per container start, once on the way to its exit
//! code. Instead the two names are exchanged (`renameat2(RENAME_EXCHANGE)`,
//! atomic as a rename is; ext4 does not write back for it) and the old file,
//! now under the temporary name, is deleted. Nothing is fsynced either way: a
//! status matters while the machine runs, and after a power loss a reader
//! takes an empty one for none (`Runtime::status`).

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use rustix::fs::{renameat_with, RenameFlags, CWD};
use rustix::io::Errno;

/// Writes `content` to `path` through `<path>.tmp`, atomically for readers.
pub fn write_atomic(path: &Path, content: &[u8]) -> io::Result<()> {
    Prepared::new(path)?.commit(content)
}

/// A replacement of a file begun ahead of its content: its temporary file
/// made now — on ext4 a new inode is most of a write's cost (see
/// `recycle`) — so that [`Prepared::commit`] only writes and swaps. The
/// shim prepares a container's exit record so while the container runs.
pub struct Prepared {
    path: std::path::PathBuf,
    tmp: std::path::PathBuf,
    file: File,
}

impl Prepared {
    /// Makes `<path>.tmp`, empty; one left over is replaced, not truncated
    /// (ext4 writes a file truncated to zero out as it is closed).
    pub fn new(path: &Path) -> io::Result<Self> {
        let tmp = path.with_extension("tmp");
        match std::fs::remove_file(&tmp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let file = File::options().write(true).create_new(true).open(&tmp)?;
        Ok(Prepared {
            path: path.to_path_buf(),
            tmp,
            file,
        })
    }

    /// Writes `content` and puts it in place.
    pub fn commit(mut self, content: &[u8]) -> io::Result<()> {
        self.file.write_all(content)?;
        drop(self.file);
        let (tmp, path) = (&self.tmp, &self.path);
        match renameat_with(CWD, tmp, CWD, path, RenameFlags::EXCHANGE) {
            // The old content is under the temporary name now.
            Ok(()) => std::fs::remove_file(tmp),
            // Nothing to exchange with yet (ENOENT), or a filesystem without
            // RENAME_EXCHANGE (EINVAL): a plain rename is as atomic.
            Err(Errno::NOENT | Errno::INVAL | Errno::NOSYS) => std::fs::rename(tmp, path),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_then_replaces_leaving_no_temporary_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let status = dir.path().join("status");
        write_atomic(&status, b"first\n").expect("first write");
        assert_eq!(std::fs::read(&status).expect("read"), b"first\n");
        write_atomic(&status, b"second, longer\n").expect("replace");
        assert_eq!(std::fs::read(&status).expect("read"), b"second, longer\n");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["status"]);
    }

    #[test]
    fn a_replacement_made_ahead_replaces_a_leftover_and_keeps_the_old_until_committed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let status = dir.path().join("status");
        write_atomic(&status, b"running\n").expect("first write");
        // A shim killed with its exit record prepared left this.
        std::fs::write(status.with_extension("tmp"), "junk").expect("leftover");
        let prepared = Prepared::new(&status).expect("prepared");
        assert_eq!(
            std::fs::read(status.with_extension("tmp")).expect("tmp"),
            b""
        );
        assert_eq!(std::fs::read(&status).expect("read"), b"running\n");
        prepared.commit(b"exited\n").expect("commit");
        assert_eq!(std::fs::read(&status).expect("read"), b"exited\n");
        assert!(!status.with_extension("tmp").exists());
    }

    #[test]
    fn a_reader_never_sees_half_a_record() {
        let dir = tempfile::tempdir().expect("tempdir");
        let status = dir.path().join("status");
        let (a, b) = (vec![b'a'; 3000], vec![b'b'; 1000]);
        write_atomic(&status, &a).expect("first write");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (status, stop, a, b) = (status.clone(), stop.clone(), a.clone(), b.clone());
            std::thread::spawn(move || {
                let mut i = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let next = if i % 2 == 0 { &b } else { &a };
                    write_atomic(&status, next).expect("replace");
                    i += 1;
                }
            })
        };
        for _ in 0..2000 {
            let seen = std::fs::read(&status).expect("the status is always there");
            assert!(seen == a || seen == b, "read {} bytes of a mix", seen.len());
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.join().expect("writer");
    }
}
