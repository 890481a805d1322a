//! The state store: what hb must remember between runs and cannot read back
//! from the kernel — which index each project network has, which address each
//! container has on it, and which host port a port published without one got.
//! SQLite in WAL mode (`$HB_ROOT/state.db`), so readers never wait for a writer.
//! What runs is never recorded here: crun and the shims tell that.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use crate::{Error, Result};

/// The store.
pub struct State {
    db: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS networks (
  project TEXT NOT NULL, network TEXT NOT NULL, idx INTEGER NOT NULL,
  PRIMARY KEY (project, network));
CREATE TABLE IF NOT EXISTS addresses (
  project TEXT NOT NULL, network TEXT NOT NULL, container TEXT NOT NULL, host INTEGER NOT NULL,
  PRIMARY KEY (project, network, container));
CREATE TABLE IF NOT EXISTS ports (
  project TEXT NOT NULL, service TEXT NOT NULL, target INTEGER NOT NULL, protocol TEXT NOT NULL,
  host_port INTEGER NOT NULL,
  PRIMARY KEY (project, service, target, protocol));
";

fn db_err(e: rusqlite::Error) -> Error {
    Error::State(e.to_string())
}

impl State {
    /// Opens (creating) `root/state.db`.
    pub fn open(root: &Path) -> Result<Self> {
        std::fs::create_dir_all(root).map_err(|e| Error::Io {
            path: root.to_path_buf(),
            source: e,
        })?;
        let db = hb_image::store::open_db(&root.join("state.db"), SCHEMA).map_err(db_err)?;
        Ok(State { db })
    }

    /// The index of a project network, allocating the lowest free one.
    pub fn network_index(&self, project: &str, network: &str) -> Result<u32> {
        let found: Option<u32> = self
            .db
            .query_row(
                "SELECT idx FROM networks WHERE project = ?1 AND network = ?2",
                params![project, network],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)?;
        if let Some(i) = found {
            return Ok(i);
        }
        let used = self.column_u32(
            "SELECT idx FROM networks WHERE project = ?1 ORDER BY idx",
            project,
        )?;
        let idx = (0..hb_net::MAX_NETWORKS)
            .find(|i| !used.contains(i))
            .ok_or_else(|| Error::State(format!("project {project} has too many networks")))?;
        self.db
            .execute(
                "INSERT INTO networks (project, network, idx) VALUES (?1, ?2, ?3)",
                params![project, network, idx],
            )
            .map_err(db_err)?;
        Ok(idx)
    }

    fn column_u32(&self, sql: &str, project: &str) -> Result<Vec<u32>> {
        let mut st = self.db.prepare_cached(sql).map_err(db_err)?;
        let rows = st
            .query_map(params![project], |r| r.get::<_, u32>(0))
            .map_err(db_err)?;
        rows.collect::<std::result::Result<_, _>>().map_err(db_err)
    }

    /// The container's host number on a network, allocating the lowest free one.
    pub fn address(&self, project: &str, network: &str, container: &str) -> Result<u32> {
        let found: Option<u32> = self
            .db
            .query_row(
                "SELECT host FROM addresses WHERE project = ?1 AND network = ?2 AND container = ?3",
                params![project, network, container],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)?;
        if let Some(h) = found {
            return Ok(h);
        }
        let mut st = self
            .db
            .prepare_cached(
                "SELECT host FROM addresses WHERE project = ?1 AND network = ?2 ORDER BY host",
            )
            .map_err(db_err)?;
        let used: Vec<u32> = st
            .query_map(params![project, network], |r| r.get(0))
            .map_err(db_err)?
            .collect::<std::result::Result<_, _>>()
            .map_err(db_err)?;
        let host = hb_net::HOSTS
            .clone()
            .find(|h| used.binary_search(h).is_err())
            .ok_or_else(|| {
                Error::Net(hb_net::Error::Full {
                    network: network.to_string(),
                    max: *hb_net::HOSTS.end() - 1,
                })
            })?;
        self.db
            .execute(
                "INSERT INTO addresses (project, network, container, host) VALUES (?1, ?2, ?3, ?4)",
                params![project, network, container, host],
            )
            .map_err(db_err)?;
        Ok(host)
    }

    /// Forgets a removed container's addresses.
    pub fn forget_container(&self, project: &str, container: &str) -> Result<()> {
        self.db
            .execute(
                "DELETE FROM addresses WHERE project = ?1 AND container = ?2",
                params![project, container],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// The host port remembered for a service's container port, if any.
    pub fn port(
        &self,
        project: &str,
        service: &str,
        target: u16,
        protocol: &str,
    ) -> Result<Option<u16>> {
        self.db
            .query_row(
                "SELECT host_port FROM ports WHERE project = ?1 AND service = ?2 AND target = ?3 AND protocol = ?4",
                params![project, service, target, protocol],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)
    }

    /// Remembers the host port a service's container port got.
    pub fn remember_port(
        &self,
        project: &str,
        service: &str,
        target: u16,
        protocol: &str,
        host: u16,
    ) -> Result<()> {
        self.db
            .execute(
                "INSERT OR REPLACE INTO ports (project, service, target, protocol, host_port) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![project, service, target, protocol, host],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Forgets a project that went down: its networks and addresses (its
    /// remembered host ports stay, so the next `up` gets the same ones).
    pub fn forget_project(&self, project: &str) -> Result<()> {
        for table in ["networks", "addresses"] {
            self.db
                .execute(
                    &format!("DELETE FROM {table} WHERE project = ?1"),
                    params![project],
                )
                .map_err(db_err)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocations_are_stable_and_reuse_gaps() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = State::open(dir.path()).expect("open");
        assert_eq!(s.network_index("p", "default").expect("idx"), 0);
        assert_eq!(s.network_index("p", "back").expect("idx"), 1);
        assert_eq!(
            s.network_index("q", "default").expect("idx"),
            0,
            "per project"
        );
        assert_eq!(s.address("p", "default", "p-a-1").expect("a"), 2);
        assert_eq!(s.address("p", "default", "p-b-1").expect("b"), 3);
        assert_eq!(s.address("p", "default", "p-a-1").expect("a again"), 2);
        s.forget_container("p", "p-a-1").expect("forget");
        assert_eq!(
            s.address("p", "default", "p-c-1").expect("c"),
            2,
            "the gap is reused"
        );
        s.remember_port("p", "web", 80, "tcp", 49000).expect("port");
        assert_eq!(s.port("p", "web", 80, "tcp").expect("port"), Some(49000));
        s.forget_project("p").expect("forget");
        assert_eq!(s.network_index("p", "back").expect("idx"), 0);
        assert_eq!(
            s.port("p", "web", 80, "tcp").expect("port"),
            Some(49000),
            "ports stay"
        );
    }
}
