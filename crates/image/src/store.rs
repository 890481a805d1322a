//! The content store under `$HB_ROOT`:
//!
//! ```text
//! blobs/sha256/<hex>     manifests, configs, compressed layers — by digest
//! layers/sha256/<hex>/   each layer unpacked once (by diff-id), shared read-only
//! tmp/                   downloads and unpacks in progress
//! state.db               SQLite (WAL): table `images` (name → manifest, config)
//! names/<sha256>         each row of `images` as a file, for lookups without SQLite
//! ```
//!
//! Everything lands under a temporary name, is verified, then renamed, so a
//! crash never leaves a corrupt blob or a half-unpacked layer where a reader
//! would take it for a complete one.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use nix::fcntl::{Flock, FlockArg};
use oci_spec::image::{Digest, ImageManifest};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::config::ImageConfig;
use crate::names;
use crate::registry::sha256_digest;
use crate::{Error, Result};

/// An image the store knows by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ImageRecord {
    /// `registry/repository:tag`.
    pub name: String,
    /// Digest of the (platform) manifest.
    pub manifest: String,
    /// Digest of the config blob.
    pub config: String,
    /// Digest of the index or manifest list the manifest was chosen from, if any.
    pub index: Option<String>,
    /// Sum of the compressed layer sizes.
    pub size: u64,
    /// Seconds since the epoch when it was stored.
    pub stored: i64,
}

/// An image with its manifest and config read.
#[derive(Debug, Clone)]
pub struct LocalImage {
    /// The record.
    pub record: ImageRecord,
    /// The manifest.
    pub manifest: ImageManifest,
    /// The config.
    pub config: ImageConfig,
    /// Unpacked layer directories, lowest first.
    pub layers: Vec<PathBuf>,
}

/// The store.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    db: Mutex<Connection>,
    counter: AtomicU64,
}

/// A held lock (a layer's, or the store's); released when dropped.
pub struct LayerLock(#[allow(dead_code)] Flock<fs::File>);

/// Takes a `flock` on a lock file (created if missing); blocks until granted.
pub(crate) fn flock(path: &Path, how: FlockArg) -> Result<LayerLock> {
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
    Flock::lock(f, how)
        .map(LayerLock)
        .map_err(|(_, e)| Error::Io {
            path: path.to_path_buf(),
            source: e.into(),
        })
}

fn hex_of(d: &Digest) -> &str {
    d.digest()
}

/// Opens `$HB_ROOT/state.db` (shared by the image store, the engine and the
/// build cache) in WAL mode and creates `schema`'s tables. Two hb processes
/// opening a new database at once race to switch it to WAL, and SQLite answers
/// the loser "database is locked" at once, without its busy handler: that is
/// retried here.
///
/// The WAL is kept when the last connection closes: by default SQLite then
/// checkpoints it and deletes `state.db-wal` and `state.db-shm`, so every hb
/// command (most only read) made and deleted two files. Writers checkpoint
/// instead once the WAL holds 64 pages: the first connection of a process
/// reads the whole WAL to index it, and this keeps that read short. The three
/// files are one database, and go together.
pub fn open_db(path: &Path, schema: &str) -> rusqlite::Result<Connection> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let attempt = (|| {
            let db = Connection::open(path)?;
            db.busy_timeout(std::time::Duration::from_secs(30))?;
            db.set_db_config(
                rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
                true,
            )?;
            db.pragma_update(None, "journal_mode", "WAL")?;
            db.pragma_update(None, "wal_autocheckpoint", 64)?;
            // In WAL mode a commit survives a crash of hb as it is; only a
            // power loss can take back the last ones (sqlite.org/pragma.html#pragma_synchronous).
            db.pragma_update(None, "synchronous", "NORMAL")?;
            db.execute_batch(schema)?;
            Ok(db)
        })();
        match attempt {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

impl Store {
    /// Opens (creating) the store at `root`.
    pub fn open(root: &Path) -> Result<Self> {
        for dir in ["blobs/sha256", "layers/sha256", "tmp"] {
            let p = root.join(dir);
            fs::create_dir_all(&p).map_err(|source| Error::Io { path: p, source })?;
        }
        let db_path = root.join("state.db");
        let db_err = |source| Error::Db {
            path: db_path.clone(),
            source,
        };
        let db = open_db(
            &db_path,
            "CREATE TABLE IF NOT EXISTS images (
                name TEXT PRIMARY KEY,
                manifest TEXT NOT NULL,
                config TEXT NOT NULL,
                index_digest TEXT,
                size INTEGER NOT NULL,
                stored INTEGER NOT NULL
            );",
        )
        .map_err(db_err)?;
        Ok(Store {
            root: root.to_path_buf(),
            db: Mutex::new(db),
            counter: AtomicU64::new(0),
        })
    }

    /// Opens the store at `root` to read it only, for a command that looks an
    /// image up and changes nothing (`hb container run` of a stored image);
    /// an error if there is no store there yet, or it cannot be read so.
    ///
    /// The first read-write connection to a WAL database empties its
    /// `state.db-shm` and fills it again (an ftruncate and eight block writes,
    /// ~0.3 ms on this VM's disk); with `readonly_shm` SQLite instead indexes the
    /// short WAL in memory, or maps another connection's index read-only
    /// (sqlite.org/walformat.html, "Readonly access"). Writes fail — and so do
    /// those of any connection the same process opens to `state.db` while this
    /// one is open: SQLite shares one mapping of the `-shm` file per process,
    /// and this one's is read-only. Close it before opening the store (or the
    /// engine's state) read-write.
    pub fn open_read_only(root: &Path) -> Result<Self> {
        use rusqlite::OpenFlags;
        let db_path = root.join("state.db");
        let db_err = |source| Error::Db {
            path: db_path.clone(),
            source,
        };
        // A URI's path: `?`, `#` and `%` would be taken for its syntax.
        let path = db_path
            .to_string_lossy()
            .replace('%', "%25")
            .replace('?', "%3f")
            .replace('#', "%23");
        let db = Connection::open_with_flags(
            format!("file:{path}?mode=ro&readonly_shm=1"),
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(db_err)?;
        db.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(db_err)?;
        Ok(Store {
            root: root.to_path_buf(),
            db: Mutex::new(db),
            counter: AtomicU64::new(0),
        })
    }

    /// The store's root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a blob lives.
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        blob_path_in(&self.root, d)
    }

    /// Where a layer is unpacked (by diff-id).
    pub fn layer_dir(&self, diff_id: &Digest) -> PathBuf {
        layer_dir_in(&self.root, diff_id)
    }

    /// A fresh temporary path under `tmp/`.
    pub fn temp_path(&self, what: &str) -> PathBuf {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        self.root
            .join("tmp")
            .join(format!("{what}-{}-{n}", std::process::id()))
    }

    /// True if the blob is stored.
    pub fn has_blob(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    /// Reads a blob.
    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>> {
        read(&self.blob_path(d))
    }

    /// Stores bytes as a blob after checking they have digest `d`.
    pub fn put_blob(&self, d: &Digest, bytes: &[u8]) -> Result<()> {
        let actual = sha256_digest(bytes);
        if &actual != d {
            return Err(Error::DigestMismatch {
                url: "local blob".into(),
                expected: d.to_string(),
                actual: actual.to_string(),
            });
        }
        if self.has_blob(d) {
            return Ok(());
        }
        let tmp = self.temp_path("blob");
        let io = |source| Error::Io {
            path: tmp.clone(),
            source,
        };
        let mut f = fs::File::create(&tmp).map_err(io)?;
        f.write_all(bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
        self.commit_blob(&tmp, d)
    }

    /// Moves a verified temporary file into place as blob `d`.
    pub fn commit_blob(&self, tmp: &Path, d: &Digest) -> Result<()> {
        let dest = self.blob_path(d);
        fs::rename(tmp, &dest).map_err(|source| Error::Io { path: dest, source })
    }

    /// True if the layer is unpacked.
    pub fn has_layer(&self, diff_id: &Digest) -> bool {
        self.layer_dir(diff_id).is_dir()
    }

    /// Takes the lock for one layer, so two pulls (in this process or another)
    /// download and unpack it once.
    pub fn lock_layer(&self, diff_id: &Digest) -> Result<LayerLock> {
        flock(
            &self
                .root
                .join("layers/sha256")
                .join(format!("{}.lock", hex_of(diff_id))),
            FlockArg::LockExclusive,
        )
    }

    /// The store-wide lock: pulls and imports hold it shared, prune exclusively,
    /// so prune never removes a layer a pull has unpacked but not yet recorded.
    pub fn lock_store(&self, how: FlockArg) -> Result<LayerLock> {
        flock(&self.root.join("store.lock"), how)
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn db_err(&self) -> impl FnOnce(rusqlite::Error) -> Error + '_ {
        move |source| Error::Db {
            path: self.root.join("state.db"),
            source,
        }
    }

    /// Records (or replaces) an image name.
    pub fn record(&self, r: &ImageRecord) -> Result<()> {
        names::changing(&self.root, &r.name, || {
            self.db()
                .execute(
                    "INSERT INTO images (name, manifest, config, index_digest, size, stored) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT(name) DO UPDATE SET manifest = ?2, config = ?3, index_digest = ?4, size = ?5, stored = ?6",
                    params![r.name, r.manifest, r.config, r.index, r.size as i64, r.stored],
                )
                .map_err(self.db_err())?;
            Ok(((), Some(r.clone())))
        })
    }

    /// Writes the name index's file of `name` from its row (a name recorded
    /// before the index was; see `names`). A read-only store can: the index
    /// is files beside the database.
    pub fn index_name(&self, name: &str) -> Result<()> {
        names::changing(&self.root, name, || {
            let row = self
                .db()
                .query_row(
                    "SELECT name, manifest, config, index_digest, size, stored FROM images WHERE name = ?1",
                    params![name],
                    row_to_record,
                )
                .optional()
                .map_err(self.db_err())?;
            Ok(((), row))
        })
    }

    /// The image `name` names (as given, or normalised), from the name index
    /// alone, without opening the database; `None` where the index has no
    /// file for it (then ask [`Store::find`]).
    pub fn indexed(root: &Path, name: &str) -> Option<LocalImage> {
        let row = names::read(root, name).or_else(|| {
            let normalized = name.parse::<crate::ImageRef>().ok()?.name();
            names::read(root, &normalized)
        })?;
        image_in(root, row).ok()
    }

    /// Every image, by name.
    pub fn list(&self) -> Result<Vec<ImageRecord>> {
        let db = self.db();
        let mut stmt = db.prepare("SELECT name, manifest, config, index_digest, size, stored FROM images ORDER BY name").map_err(self.db_err())?;
        let rows = stmt.query_map([], row_to_record).map_err(self.db_err())?;
        rows.collect::<std::result::Result<Vec<_>, _>>()
            .map_err(self.db_err())
    }

    /// An image by name (as given, or normalised) or by manifest digest (a unique prefix is enough).
    pub fn find(&self, key: &str) -> Result<ImageRecord> {
        let normalized = key
            .parse::<crate::ImageRef>()
            .map(|r| r.name())
            .unwrap_or_default();
        let db = self.db();
        let by_name = db
            .query_row(
                "SELECT name, manifest, config, index_digest, size, stored FROM images WHERE name = ?1 OR name = ?2",
                params![key, normalized],
                row_to_record,
            )
            .optional()
            .map_err(self.db_err())?;
        if let Some(r) = by_name {
            return Ok(r);
        }
        let hex = key.trim_start_matches("sha256:");
        if hex.len() >= 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut stmt = db
                .prepare("SELECT name, manifest, config, index_digest, size, stored FROM images WHERE manifest LIKE ?1 OR config LIKE ?1")
                .map_err(self.db_err())?;
            let found: Vec<ImageRecord> = stmt
                .query_map(params![format!("sha256:{hex}%")], row_to_record)
                .map_err(self.db_err())?
                .collect::<std::result::Result<_, _>>()
                .map_err(self.db_err())?;
            if let Some(first) = found.first() {
                if found.iter().all(|r| r.manifest == first.manifest) {
                    return Ok(first.clone());
                }
            }
        }
        Err(Error::ImageNotFound {
            name: key.to_string(),
        })
    }

    /// Forgets an image name; its blobs and layers stay until pruned.
    pub fn forget(&self, name: &str) -> Result<bool> {
        names::changing(&self.root, name, || {
            let n = self
                .db()
                .execute("DELETE FROM images WHERE name = ?1", params![name])
                .map_err(self.db_err())?;
            Ok((n > 0, None))
        })
    }

    /// Reads an image's manifest and config and finds its layers.
    pub fn image(&self, record: &ImageRecord) -> Result<LocalImage> {
        image_in(&self.root, record.clone())
    }
}

impl Store {
    /// Checks that every image name's manifest, config and layers are there and
    /// readable; one line per problem (empty when all is well).
    pub fn verify(&self) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        for r in self.list()? {
            match self.image(&r) {
                Err(e) => problems.push(format!("{}: {e}", r.name)),
                Ok(img) => {
                    for l in img.layers.iter().filter(|l| !l.is_dir()) {
                        problems.push(format!("{}: layer {} is missing", r.name, l.display()));
                    }
                }
            }
        }
        Ok(problems)
    }
}

/// What `prune` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    /// Blobs removed.
    pub blobs: usize,
    /// Unpacked layers removed.
    pub layers: usize,
    /// Bytes of blobs removed.
    pub bytes: u64,
}

impl Store {
    /// The blobs and layers an image needs, from its manifest digest.
    fn needs(
        &self,
        manifest: &str,
        blobs: &mut std::collections::HashSet<String>,
        layers: &mut std::collections::HashSet<String>,
    ) {
        blobs.insert(manifest.to_string());
        let Ok(d) = manifest.parse::<Digest>() else {
            return;
        };
        let Ok(m) = self.read_blob(&d).and_then(|b| {
            serde_json::from_slice::<ImageManifest>(&b).map_err(|e| Error::Corrupt {
                what: e.to_string(),
            })
        }) else {
            return;
        };
        blobs.insert(m.config().digest().to_string());
        blobs.extend(m.layers().iter().map(|l| l.digest().to_string()));
        if let Ok(c) = self.read_blob(m.config().digest()).and_then(|b| {
            serde_json::from_slice::<ImageConfig>(&b).map_err(|e| Error::Corrupt {
                what: e.to_string(),
            })
        }) {
            layers.extend(c.rootfs.diff_ids);
        }
    }

    /// Removes blobs and layers no image name needs, nor any manifest in
    /// `in_use` (the images containers run from). Waits for pulls in progress
    /// (they hold the store lock shared) and keeps new ones out meanwhile.
    pub fn prune(&self, in_use: &[String]) -> Result<Pruned> {
        let _exclusive = self.lock_store(FlockArg::LockExclusive)?;
        let mut blobs = std::collections::HashSet::new();
        let mut layers = std::collections::HashSet::new();
        for r in self.list()? {
            self.needs(&r.manifest, &mut blobs, &mut layers);
            if let Some(i) = &r.index {
                blobs.insert(i.clone());
            }
        }
        for m in in_use {
            self.needs(m, &mut blobs, &mut layers);
        }
        let mut pruned = Pruned::default();
        let blob_dir = self.root.join("blobs/sha256");
        for e in fs::read_dir(&blob_dir)
            .map_err(|source| Error::Io {
                path: blob_dir.clone(),
                source,
            })?
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if !blobs.contains(&format!("sha256:{name}")) {
                pruned.bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
                fs::remove_file(e.path()).map_err(|source| Error::Io {
                    path: e.path(),
                    source,
                })?;
                pruned.blobs += 1;
            }
        }
        let layer_dir = self.root.join("layers/sha256");
        for e in fs::read_dir(&layer_dir)
            .map_err(|source| Error::Io {
                path: layer_dir.clone(),
                source,
            })?
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if !e.path().is_dir() || layers.contains(&format!("sha256:{name}")) {
                continue;
            }
            fs::remove_dir_all(e.path()).map_err(|source| Error::Io {
                path: e.path(),
                source,
            })?;
            pruned.layers += 1;
        }
        Ok(pruned)
    }
}

/// The image of `record` in the store at `root`: its manifest and config
/// read, its layers found.
fn image_in(root: &Path, record: ImageRecord) -> Result<LocalImage> {
    let parse = |what: &str, d: &str| -> Result<Digest> {
        d.parse().map_err(|_| Error::Corrupt {
            what: format!("the {what} digest `{d}` of {}", record.name),
        })
    };
    let manifest_bytes = read(&blob_path_in(root, &parse("manifest", &record.manifest)?))?;
    let manifest: ImageManifest =
        serde_json::from_slice(&manifest_bytes).map_err(|e| Error::Corrupt {
            what: format!("the manifest of {}: {e}", record.name),
        })?;
    let config_bytes = read(&blob_path_in(root, &parse("config", &record.config)?))?;
    let config: ImageConfig =
        serde_json::from_slice(&config_bytes).map_err(|e| Error::Corrupt {
            what: format!("the config of {}: {e}", record.name),
        })?;
    let layers = config
        .rootfs
        .diff_ids
        .iter()
        .map(|d| parse("layer", d).map(|d| layer_dir_in(root, &d)))
        .collect::<Result<Vec<_>>>()?;
    Ok(LocalImage {
        record,
        manifest,
        config,
        layers,
    })
}

fn blob_path_in(root: &Path, d: &Digest) -> PathBuf {
    root.join("blobs/sha256").join(hex_of(d))
}

fn layer_dir_in(root: &Path, diff_id: &Digest) -> PathBuf {
    root.join("layers/sha256").join(hex_of(diff_id))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn row_to_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<ImageRecord> {
    Ok(ImageRecord {
        name: row.get(0)?,
        manifest: row.get(1)?,
        config: row.get(2)?,
        index: row.get(3)?,
        size: row.get::<_, i64>(4)? as u64,
        stored: row.get(5)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_verified_before_they_land() {
        let d = tempfile::tempdir().expect("tempdir");
        let s = Store::open(d.path()).expect("open");
        let good = sha256_digest(b"hello");
        s.put_blob(&good, b"hello").expect("stored");
        assert_eq!(s.read_blob(&good).expect("read"), b"hello");
        let other = sha256_digest(b"other");
        assert!(matches!(
            s.put_blob(&other, b"tampered"),
            Err(Error::DigestMismatch { .. })
        ));
        assert!(!s.has_blob(&other));
        assert_eq!(
            fs::read_dir(d.path().join("tmp")).expect("tmp").count(),
            0,
            "nothing left behind"
        );
    }

    #[test]
    fn a_read_only_store_reads_what_writers_wrote_and_writes_nothing() {
        let d = tempfile::tempdir().expect("tempdir");
        // `%` and `?` in the root: they must not be taken for the URI's syntax.
        let root = d.path().join("odd %3f?#root");
        assert!(Store::open_read_only(&root).is_err(), "no store there yet");
        let record = |name: &str| ImageRecord {
            name: name.into(),
            manifest: sha256_digest(name.as_bytes()).to_string(),
            config: sha256_digest(b"c").to_string(),
            index: None,
            size: 1,
            stored: 1,
        };
        let writer = Store::open(&root).expect("open");
        writer.record(&record("a:1")).expect("record");
        // While the writer is open (its index, mapped read-only) and after it
        // has closed (the kept WAL, indexed in memory).
        let reader = Store::open_read_only(&root).expect("read-only");
        assert_eq!(reader.find("a:1").expect("found"), record("a:1"));
        writer.record(&record("b:1")).expect("record");
        assert_eq!(reader.find("b:1").expect("a later write"), record("b:1"));
        drop((reader, writer));
        let reader = Store::open_read_only(&root).expect("read-only");
        assert_eq!(reader.find("b:1").expect("found"), record("b:1"));
        assert!(
            reader.record(&record("c:1")).is_err(),
            "a read-only store writes nothing"
        );
        drop(reader);
        let names: Vec<String> = Store::open(&root)
            .expect("open")
            .list()
            .expect("list")
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, ["a:1", "b:1"]);
    }

    #[test]
    fn the_name_index_follows_the_table_and_serves_lookups_without_it() {
        let d = tempfile::tempdir().expect("tempdir");
        let s = Store::open(d.path()).expect("open");
        let config =
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let config_digest = sha256_digest(config);
        s.put_blob(&config_digest, config).expect("config");
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[]}}"#,
            config.len()
        );
        let manifest_digest = sha256_digest(manifest.as_bytes());
        s.put_blob(&manifest_digest, manifest.as_bytes())
            .expect("manifest");
        let row = |name: &str, manifest: &Digest| ImageRecord {
            name: name.into(),
            manifest: manifest.to_string(),
            config: config_digest.to_string(),
            index: None,
            size: 1,
            stored: 1,
        };
        let name = "docker.io/library/app:1";
        s.record(&row(name, &manifest_digest)).expect("record");
        let found = Store::indexed(d.path(), "app:1").expect("by its normalised name");
        assert_eq!(found.record, row(name, &manifest_digest));
        // Retagged, forgotten: the file follows the row.
        let other = sha256_digest(b"another manifest");
        s.record(&row(name, &other)).expect("retag");
        assert_eq!(names::read(d.path(), name), Some(row(name, &other)));
        assert!(s.forget(name).expect("forget"));
        assert_eq!(names::read(d.path(), name), None);
        assert!(Store::indexed(d.path(), name).is_none());
        // A row recorded before the index: no file until a lookup writes it.
        s.db()
            .execute(
                "INSERT INTO images (name, manifest, config, index_digest, size, stored) VALUES (?1, ?2, ?3, NULL, 1, 1)",
                params![name, manifest_digest.to_string(), config_digest.to_string()],
            )
            .expect("an older hb's row");
        assert!(Store::indexed(d.path(), name).is_none());
        s.index_name(name).expect("index");
        assert!(Store::indexed(d.path(), name).is_some());
    }

    #[test]
    fn records_by_name_and_digest_prefix() {
        let d = tempfile::tempdir().expect("tempdir");
        let s = Store::open(d.path()).expect("open");
        let r = ImageRecord {
            name: "127.0.0.1:5000/busybox:latest".into(),
            manifest: sha256_digest(b"m").to_string(),
            config: sha256_digest(b"c").to_string(),
            index: None,
            size: 42,
            stored: 1,
        };
        s.record(&r).expect("record");
        assert_eq!(
            s.find("127.0.0.1:5000/busybox")
                .expect("by normalised name"),
            r
        );
        assert_eq!(s.find(&r.manifest[..15]).expect("by prefix"), r);
        assert!(matches!(s.find("nope"), Err(Error::ImageNotFound { .. })));
        assert!(s.forget(&r.name).expect("forget"));
        assert_eq!(s.list().expect("list"), vec![]);
    }
}
