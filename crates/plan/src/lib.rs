//! Planning: the dependency graph of a project's services.
//!
//! [`Graph::new`] builds a petgraph graph from `depends_on` and orders it in
//! *waves*: every service of a wave depends only on services of earlier
//! waves, so a wave's services may start in parallel. Pure and deterministic:
//! services within a wave are sorted by name, edges by (from, to).
//!
//! Non-goals: deciding what to create or recreate (the reconciler comes with
//! the engine), doing anything.
//!
//! ```
//! # use hb_plan::Graph;
//! # fn demo(project: &hb_compose::Project) -> Result<(), hb_plan::Error> {
//! let graph = Graph::new(project)?;
//! for (i, wave) in graph.waves.iter().enumerate() {
//!     println!("wave {i}: {}", wave.join(", "));
//! }
//! # Ok(()) }
//! ```

pub mod reconcile;

use std::collections::BTreeMap;

use hb_compose::Project;
use petgraph::graphmap::DiGraphMap;
use serde::Serialize;

/// Why a graph could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `depends_on` forms a cycle; the path starts and ends at the same service.
    #[error("dependency cycle detected: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
    /// A dependency names a service that is not in the project.
    #[error("service \"{from}\" depends on undefined service \"{to}\"")]
    Undefined {
        /// The dependent service.
        from: String,
        /// The missing one.
        to: String,
    },
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// A dependency edge: `from` waits for `to` to meet `condition`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, PartialOrd, Ord, schemars::JsonSchema)]
pub struct Edge {
    /// The dependent service.
    pub from: String,
    /// The dependency.
    pub to: String,
    /// `service_started`, `service_healthy` or `service_completed_successfully`.
    pub condition: String,
    /// When false, the dependency is optional.
    pub required: bool,
}

/// Services in start order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Graph {
    /// Waves of services that may start in parallel, in order.
    pub waves: Vec<Vec<String>>,
    /// Every dependency edge, sorted.
    pub edges: Vec<Edge>,
}

impl Graph {
    /// Orders a project's services.
    pub fn new(project: &Project) -> Result<Self> {
        let mut g: DiGraphMap<&str, ()> = DiGraphMap::new();
        let mut edges = Vec::new();
        for (name, svc) in &project.services {
            g.add_node(name.as_str());
            for (dep, d) in &svc.depends_on {
                if !project.services.contains_key(dep) {
                    if d.required {
                        return Err(Error::Undefined {
                            from: name.clone(),
                            to: dep.clone(),
                        });
                    }
                    continue;
                }
                // Edge dependency → dependent: a node's wave is one past its deepest dependency.
                g.add_edge(dep.as_str(), name.as_str(), ());
                edges.push(Edge {
                    from: name.clone(),
                    to: dep.clone(),
                    condition: d.condition.clone(),
                    required: d.required,
                });
            }
        }
        let order = petgraph::algo::toposort(&g, None).map_err(|_| {
            Error::Cycle(
                hb_compose::project_cycle(project).unwrap_or_else(|| vec!["<unknown>".into()]),
            )
        })?;
        let mut level: BTreeMap<&str, usize> = BTreeMap::new();
        for n in &order {
            let l = g
                .neighbors_directed(n, petgraph::Direction::Incoming)
                .map(|d| level[d] + 1)
                .max()
                .unwrap_or(0);
            level.insert(n, l);
        }
        let depth = level.values().copied().max().map_or(0, |m| m + 1);
        let mut waves = vec![Vec::new(); depth];
        for (n, l) in level {
            waves[l].push(n.to_string());
        }
        edges.sort();
        Ok(Graph { waves, edges })
    }

    /// The graph in Graphviz `dot` syntax.
    pub fn to_dot(&self) -> String {
        let mut s = String::from("digraph services {\n  rankdir=BT;\n");
        for wave in &self.waves {
            s.push_str("  { rank=same;");
            for n in wave {
                s.push_str(&format!(" \"{n}\";"));
            }
            s.push_str(" }\n");
        }
        for e in &self.edges {
            let style = if e.required { "" } else { ", style=dashed" };
            s.push_str(&format!(
                "  \"{}\" -> \"{}\" [label=\"{}\"{style}];\n",
                e.from, e.to, e.condition
            ));
        }
        s.push_str("}\n");
        s
    }

    /// The graph as text: one line per wave, then the edges.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for (i, wave) in self.waves.iter().enumerate() {
            s.push_str(&format!("wave {}: {}\n", i + 1, wave.join(", ")));
        }
        for e in &self.edges {
            let opt = if e.required { "" } else { " (optional)" };
            s.push_str(&format!(
                "  {} -> {} [{}]{opt}\n",
                e.from, e.to, e.condition
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hb_compose::{Dependency, ProjectName, Service};
    use indexmap::IndexMap;

    fn project(deps: &[(&str, &[(&str, &str)])]) -> Project {
        let services = deps
            .iter()
            .map(|(n, ds)| {
                let depends_on = ds
                    .iter()
                    .map(|(d, c)| {
                        (
                            d.to_string(),
                            Dependency {
                                condition: c.to_string(),
                                required: true,
                                restart: false,
                            },
                        )
                    })
                    .collect();
                (
                    n.to_string(),
                    Service {
                        depends_on,
                        ..Default::default()
                    },
                )
            })
            .collect();
        Project {
            name: "p".parse::<ProjectName>().expect("valid"),
            working_dir: "/".into(),
            files: vec![],
            services,
            networks: IndexMap::new(),
            volumes: IndexMap::new(),
            secrets: IndexMap::new(),
            configs: IndexMap::new(),
            other: IndexMap::new(),
            disabled: IndexMap::new(),
            environment: IndexMap::new(),
        }
    }

    #[test]
    fn waves_follow_dependencies() {
        let p = project(&[
            ("web", &[("api", "service_started")]),
            (
                "api",
                &[("db", "service_healthy"), ("cache", "service_started")],
            ),
            ("db", &[]),
            ("cache", &[]),
        ]);
        let g = Graph::new(&p).expect("acyclic");
        assert_eq!(g.waves, vec![vec!["cache", "db"], vec!["api"], vec!["web"]]);
        assert_eq!(
            g.edges[0],
            Edge {
                from: "api".into(),
                to: "cache".into(),
                condition: "service_started".into(),
                required: true
            }
        );
        assert_eq!(g.edges.len(), 3);
    }

    #[test]
    fn a_cycle_reports_its_whole_path() {
        let p = project(&[
            ("a", &[("b", "service_started")]),
            ("b", &[("c", "service_started")]),
            ("c", &[("a", "service_started")]),
        ]);
        assert_eq!(
            Graph::new(&p),
            Err(Error::Cycle(vec![
                "a".into(),
                "b".into(),
                "c".into(),
                "a".into()
            ]))
        );
    }

    #[test]
    fn dot_and_text_render_every_edge() {
        let p = project(&[("web", &[("db", "service_healthy")]), ("db", &[])]);
        let g = Graph::new(&p).expect("acyclic");
        assert!(g
            .to_dot()
            .contains("\"web\" -> \"db\" [label=\"service_healthy\"]"));
        assert_eq!(
            g.to_text(),
            "wave 1: db\nwave 2: web\n  web -> db [service_healthy]\n"
        );
    }
}
