//! Snapshots of directory trees: every path with its type, mode, owner, link
//! target, device number and content hash — what "the same root filesystem"
//! means when comparing hb's unpack with umoci's.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// One node of a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// `dir`, `file`, `symlink`, `char`, `block`, `fifo`, `socket`.
    pub kind: &'static str,
    /// Permission bits, with setuid/setgid/sticky.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Symlink target, or sha256 of file content, or device number.
    pub detail: String,
}

/// A tree: every node by relative path.
pub type Snapshot = BTreeMap<PathBuf, Node>;

/// Walks `root` (not following links) into a map keyed by relative path.
pub fn snapshot(root: &Path) -> Snapshot {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Node>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .expect("readable dir")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        let m = fs::symlink_metadata(&p).expect("metadata");
        let ft = m.file_type();
        let (kind, detail) = if ft.is_dir() {
            ("dir", String::new())
        } else if ft.is_symlink() {
            (
                "symlink",
                fs::read_link(&p).expect("link").display().to_string(),
            )
        } else if ft.is_file() {
            (
                "file",
                hex::encode(Sha256::digest(fs::read(&p).expect("file"))),
            )
        } else if ft.is_char_device() {
            ("char", m.rdev().to_string())
        } else if ft.is_block_device() {
            ("block", m.rdev().to_string())
        } else if ft.is_fifo() {
            ("fifo", String::new())
        } else {
            ("socket", String::new())
        };
        let rel = p.strip_prefix(root).expect("inside").to_path_buf();
        out.insert(
            rel,
            Node {
                kind,
                mode: m.mode() & 0o7777,
                uid: m.uid(),
                gid: m.gid(),
                detail,
            },
        );
        if ft.is_dir() {
            walk(root, &p, out);
        }
    }
}

/// Every difference between two snapshots, one line each (empty when equal).
pub fn diff(a: &BTreeMap<PathBuf, Node>, b: &BTreeMap<PathBuf, Node>) -> Vec<String> {
    let mut out = Vec::new();
    for (p, n) in a {
        match b.get(p) {
            None => out.push(format!("only in the first: {}", p.display())),
            Some(m) if m != n => out.push(format!("{}: {n:?} != {m:?}", p.display())),
            _ => {}
        }
    }
    for p in b.keys().filter(|p| !a.contains_key(*p)) {
        out.push(format!("only in the second: {}", p.display()));
    }
    out
}
