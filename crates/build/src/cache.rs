//! The layer cache: a step's key → the layer it made. A key chains the
//! parent step's key with the instruction as expanded, the build args in
//! scope and, for COPY and ADD, a digest of the sources' content (see
//! `stage.rs`), so a hit is exactly "same parent, same instruction, same
//! inputs". Rows live in `$HB_ROOT/state.db` beside the image names.

use std::path::Path;
use std::sync::Mutex;

use hb_image::store::open_db;
use rusqlite::{params, Connection, OptionalExtension};

use crate::{Error, Result};

/// A cached step's result: the layer (`None`: the step changed nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The layer's diff-id (also its blob's digest: built layers are stored uncompressed).
    pub layer: Option<String>,
    /// The layer blob's size.
    pub size: u64,
}

/// The cache table.
pub struct Cache {
    db: Mutex<Connection>,
}

fn db_err(e: rusqlite::Error) -> Error {
    Error::Cache(e.to_string())
}

impl Cache {
    /// Opens the cache in `root`'s `state.db`.
    pub fn open(root: &Path) -> Result<Self> {
        let db = open_db(
            &root.join("state.db"),
            "CREATE TABLE IF NOT EXISTS build_cache (
                key TEXT PRIMARY KEY,
                layer TEXT,
                size INTEGER NOT NULL,
                used INTEGER NOT NULL
            );",
        )
        .map_err(db_err)?;
        Ok(Cache { db: Mutex::new(db) })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The step's result, if cached.
    pub fn get(&self, key: &str) -> Result<Option<Hit>> {
        self.db()
            .query_row(
                "SELECT layer, size FROM build_cache WHERE key = ?1",
                params![key],
                |r| {
                    Ok(Hit {
                        layer: r.get(0)?,
                        size: r.get::<_, i64>(1)? as u64,
                    })
                },
            )
            .optional()
            .map_err(db_err)
    }

    /// Records a step's result.
    pub fn put(&self, key: &str, hit: &Hit) -> Result<()> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        self.db()
            .execute(
                "INSERT INTO build_cache (key, layer, size, used) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(key) DO UPDATE SET layer = ?2, size = ?3, used = ?4",
                params![key, hit.layer, hit.size as i64, now],
            )
            .map_err(db_err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_is_found_by_its_key() {
        let d = tempfile::tempdir().expect("tempdir");
        let c = Cache::open(d.path()).expect("opens");
        assert_eq!(c.get("k").expect("get"), None);
        let hit = Hit {
            layer: Some("sha256:ab".into()),
            size: 3,
        };
        c.put("k", &hit).expect("put");
        assert_eq!(c.get("k").expect("get"), Some(hit));
        c.put(
            "empty",
            &Hit {
                layer: None,
                size: 0,
            },
        )
        .expect("put");
        assert_eq!(c.get("empty").expect("get").and_then(|h| h.layer), None);
    }
}
