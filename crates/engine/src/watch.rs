//! `hb watch`: keeps running services in step with the source tree, by Compose's
//! `develop.watch` rules (compose-spec `develop.md`): `sync` copies changed files
//! into the container — written straight into its root filesystem from the host
//! side, no exec and no tar stream —, `sync+restart` and `restart` restart it,
//! `sync+exec` runs the rule's `exec` command after. A burst of changes (a `git
//! checkout`, a formatter) is batched into one action per service.
//!
//! Without `develop.watch`, a service whose source is bind-mounted from the
//! project is restarted on a change unless it reloads itself: `x-hb-watch:
//! restart` (the default), `sync` (it reloads itself: the bind mount already
//! shares the files, nothing to do) or `none`.
//!
//! `rebuild` builds the service's image with `hb_build` (so only the steps from
//! the first changed COPY on run again) and recreates its containers; a build
//! that fails leaves them serving as they were, and says why.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use globset::{Glob, GlobSet, GlobSetBuilder};
use hb_compose::Project;
use hb_runtime::container::Container;

use crate::{Engine, Error, Result, LABEL_ONEOFF, LABEL_SERVICE};

/// What a rule does on a change, weakest first (the strongest of a batch wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// Copy the changes in.
    Sync,
    /// Copy them in, then run a command.
    SyncExec,
    /// Copy them in, then restart.
    SyncRestart,
    /// Restart.
    Restart,
    /// Rebuild the image and recreate.
    Rebuild,
}

/// One watch rule, ready to match.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The service.
    pub service: String,
    /// The watched host path (absolute).
    pub path: PathBuf,
    /// What to do.
    pub action: Action,
    /// Where `path` lands in the container (for the sync actions).
    pub target: Option<String>,
    /// Paths (relative to `path`) that never trigger.
    pub ignore: GlobSet,
    /// When not empty, only these paths trigger.
    pub include: Option<GlobSet>,
    /// `sync+exec`'s command.
    pub exec: Option<Vec<String>>,
    /// Sync the whole path once when watching starts (`initial_sync`).
    pub initial_sync: bool,
}

/// What the watcher did, for the user.
#[derive(Debug, Clone)]
pub struct WatchEvent {
    /// The service.
    pub service: String,
    /// `synced 3 files, restarted`, or what failed.
    pub what: String,
    /// How long the action took.
    pub took: Duration,
    /// True when it failed.
    pub failed: bool,
}

/// Editors' and tools' droppings: never synced, never a trigger.
const DEFAULT_IGNORES: [&str; 8] = [
    ".git",
    ".git/**",
    "**/.git/**",
    "*.swp",
    "*.swx",
    "*~",
    ".#*",
    "4913",
];

fn globs(service: &str, patterns: &[String], defaults: bool) -> Result<GlobSet> {
    let mut b = GlobSetBuilder::new();
    let extra = if defaults {
        &DEFAULT_IGNORES[..]
    } else {
        &[][..]
    };
    for p in patterns
        .iter()
        .map(String::as_str)
        .chain(extra.iter().copied())
    {
        let p = p.trim_end_matches('/');
        for pat in [p.to_string(), format!("{p}/**"), format!("**/{p}")] {
            let g = Glob::new(&pat).map_err(|e| Error::Service {
                service: service.to_string(),
                message: format!("watch pattern `{p}`: {e}"),
            })?;
            b.add(g);
        }
    }
    b.build().map_err(|e| Error::Service {
        service: service.to_string(),
        message: format!("watch patterns: {e}"),
    })
}

/// `.dockerignore` patterns in `dir`, if it has one.
fn dockerignore(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join(".dockerignore"))
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .map(str::to_string)
        .collect()
}

/// The project's watch rules (of `services`, all when empty), and notes on
/// what was chosen where the file says nothing.
pub fn rules(project: &Project, services: &[String]) -> Result<(Vec<Rule>, Vec<String>)> {
    let mut out = Vec::new();
    let mut notes = Vec::new();
    for (name, s) in &project.services {
        if !services.is_empty() && !services.contains(name) {
            continue;
        }
        let declared = s
            .develop
            .as_ref()
            .map(|d| d.watch.as_slice())
            .unwrap_or_default();
        for w in declared {
            let action = match w.action.as_str() {
                "sync" => Action::Sync,
                "sync+exec" => Action::SyncExec,
                "sync+restart" => Action::SyncRestart,
                "restart" => Action::Restart,
                "rebuild" => Action::Rebuild,
                other => {
                    return Err(Error::Service {
                        service: name.clone(),
                        message: format!("develop.watch action `{other}` is not one of sync, sync+restart, sync+exec, restart, rebuild"),
                    })
                }
            };
            if matches!(
                action,
                Action::Sync | Action::SyncExec | Action::SyncRestart
            ) && w.target.is_none()
            {
                return Err(Error::Service {
                    service: name.clone(),
                    message: format!("develop.watch {} ({}) needs a target", w.path, w.action),
                });
            }
            let path = PathBuf::from(&w.path);
            let mut ignore = w.ignore.clone();
            let context = s
                .build
                .as_ref()
                .map(|b| PathBuf::from(&b.context))
                .unwrap_or_else(|| path.clone());
            ignore.extend(dockerignore(&context));
            let exec = w
                .other
                .get("exec")
                .and_then(|e| e.get("command"))
                .and_then(|c| match c {
                    serde_json::Value::String(s) => {
                        Some(vec!["/bin/sh".into(), "-c".into(), s.clone()])
                    }
                    serde_json::Value::Array(a) => Some(
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect(),
                    ),
                    _ => None,
                });
            out.push(Rule {
                service: name.clone(),
                path,
                action,
                target: w.target.clone(),
                ignore: globs(name, &ignore, true)?,
                include: (!w.include.is_empty())
                    .then(|| globs(name, &w.include, false))
                    .transpose()?,
                exec,
                initial_sync: w
                    .other
                    .get("initial_sync")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false),
            });
        }
        if !declared.is_empty() {
            continue;
        }
        // No rules: a bind-mounted source under the project restarts the service.
        let choice = s
            .other
            .get("x-hb-watch")
            .and_then(|v| v.as_str())
            .unwrap_or("restart");
        for m in s.volumes.iter().filter(|m| m.kind == "bind") {
            let Some(src) = m.source.as_deref().map(PathBuf::from) else {
                continue;
            };
            if !src.starts_with(&project.working_dir) || !src.is_dir() {
                continue;
            }
            match choice {
                "restart" => {
                    notes.push(format!(
                        "{name}: no develop.watch; {} is bind-mounted, so a change there restarts it (x-hb-watch: sync if it reloads itself, none to leave it)",
                        src.display()
                    ));
                    out.push(Rule {
                        service: name.clone(),
                        path: src.clone(),
                        action: Action::Restart,
                        target: None,
                        ignore: globs(name, &dockerignore(&src), true)?,
                        include: None,
                        exec: None,
                        initial_sync: false,
                    });
                }
                "sync" => notes.push(format!(
                    "{name}: reloads itself from the bind-mounted {} (x-hb-watch: sync): nothing to do on a change",
                    src.display()
                )),
                _ => {}
            }
        }
    }
    Ok((out, notes))
}

impl Rule {
    /// The path relative to the rule's, when it is under it and not ignored.
    fn matches(&self, p: &Path) -> Option<PathBuf> {
        let rel = p.strip_prefix(&self.path).ok()?.to_path_buf();
        if rel.as_os_str().is_empty() {
            return Some(rel);
        }
        if self.ignore.is_match(&rel) {
            return None;
        }
        if let Some(inc) = &self.include {
            if !inc.is_match(&rel) {
                return None;
            }
        }
        Some(rel)
    }
}

/// Changed paths grouped by service: the rules they hit and the relative paths.
fn group<'r>(
    rules: &'r [Rule],
    changed: &BTreeSet<PathBuf>,
) -> BTreeMap<String, Vec<(&'r Rule, Vec<PathBuf>)>> {
    let mut out: BTreeMap<String, Vec<(&Rule, Vec<PathBuf>)>> = BTreeMap::new();
    for r in rules {
        let hits: Vec<PathBuf> = changed.iter().filter_map(|p| r.matches(p)).collect();
        if !hits.is_empty() {
            out.entry(r.service.clone()).or_default().push((r, hits));
        }
    }
    out
}

impl Engine {
    /// Watches until `stop` is set, acting on each batch of changes.
    pub fn watch(
        &self,
        project: &Project,
        rules: &[Rule],
        stop: &AtomicBool,
        on: &(dyn Fn(WatchEvent) + Sync),
    ) -> Result<()> {
        use notify::{RecursiveMode, Watcher};
        let (tx, rx) = mpsc::channel::<notify::Result<notify::Event>>();
        let mut watcher = notify::recommended_watcher(tx)
            .map_err(|e| Error::State(format!("cannot watch files: {e}")))?;
        // Each rule's path, and its parent, so that a deleted and recreated
        // directory is noticed and watched again.
        let mut watched: BTreeSet<PathBuf> = BTreeSet::new();
        let arm = |w: &mut notify::RecommendedWatcher, watched: &mut BTreeSet<PathBuf>| {
            for r in rules {
                if r.path.exists() && watched.insert(r.path.clone()) {
                    let _ = w.watch(&r.path, RecursiveMode::Recursive);
                }
                if let Some(parent) = r.path.parent() {
                    if watched.insert(parent.to_path_buf()) {
                        let _ = w.watch(parent, RecursiveMode::NonRecursive);
                    }
                }
            }
        };
        arm(&mut watcher, &mut watched);
        for r in rules
            .iter()
            .filter(|r| r.initial_sync && r.target.is_some())
        {
            let all = BTreeSet::from([r.path.clone()]);
            self.act(project, rules, &all, on);
        }
        const QUIET: Duration = Duration::from_millis(30);
        const MOST: Duration = Duration::from_millis(1000);
        const BURST: usize = 5;
        const BURST_QUIET: Duration = Duration::from_millis(150);
        while !stop.load(Ordering::SeqCst) {
            let first = match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(ev) => ev,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            let mut changed: BTreeSet<PathBuf> = BTreeSet::new();
            let take = |changed: &mut BTreeSet<PathBuf>, ev: notify::Result<notify::Event>| {
                if let Ok(ev) = ev {
                    if !ev.kind.is_access() {
                        changed.extend(ev.paths);
                    }
                }
            };
            take(&mut changed, first);
            // Debounce: until QUIET passes without news, at most MOST. A save
            // touches a path or three; once a batch holds more it is a burst (a
            // checkout, a formatter), which gets a longer pause to finish in.
            let start = Instant::now();
            while start.elapsed() < MOST {
                let quiet = if changed.len() >= BURST {
                    BURST_QUIET
                } else {
                    QUIET
                };
                match rx.recv_timeout(quiet) {
                    Ok(ev) => take(&mut changed, ev),
                    Err(_) => break,
                }
            }
            // A rule's directory that came back is watched again.
            let gone: Vec<PathBuf> = watched.iter().filter(|p| !p.exists()).cloned().collect();
            for p in gone {
                watched.remove(&p);
            }
            arm(&mut watcher, &mut watched);
            self.act(project, rules, &changed, on);
        }
        Ok(())
    }

    /// One batch: per service, the strongest action its changes call for.
    fn act(
        &self,
        project: &Project,
        rules: &[Rule],
        changed: &BTreeSet<PathBuf>,
        on: &(dyn Fn(WatchEvent) + Sync),
    ) {
        // Under the project's lock, so that an `up` or `down` running meanwhile
        // is never raced (a container `down` removes is not restarted behind it).
        let groups = group(rules, changed);
        if groups.is_empty() {
            return;
        }
        let _lock = match self.lock(project.name.as_str()) {
            Ok(l) => l,
            Err(e) => {
                on(WatchEvent {
                    service: String::new(),
                    what: e.to_string(),
                    took: Duration::ZERO,
                    failed: true,
                });
                return;
            }
        };
        for (svc, hits) in groups {
            let t = Instant::now();
            let result = self.act_on(project, &svc, &hits);
            let (what, failed) = match result {
                Ok(w) => (w, false),
                Err(e) => (e.to_string(), true),
            };
            if !what.is_empty() {
                on(WatchEvent {
                    service: svc,
                    what,
                    took: t.elapsed(),
                    failed,
                });
            }
        }
    }

    fn act_on(
        &self,
        project: &Project,
        svc: &str,
        hits: &[(&Rule, Vec<PathBuf>)],
    ) -> Result<String> {
        let action = hits
            .iter()
            .map(|(r, _)| r.action)
            .max()
            .unwrap_or(Action::Sync);
        if action == Action::Rebuild {
            return self.rebuild(project, svc);
        }
        let containers: Vec<Container> = self
            .containers(project.name.as_str())
            .into_iter()
            .filter(|(_, l)| {
                l.get(LABEL_SERVICE).is_some_and(|s| s == svc) && !l.contains_key(LABEL_ONEOFF)
            })
            .map(|(c, _)| c)
            .filter(|c| self.rt.running(c))
            .collect();
        if containers.is_empty() {
            return Ok(String::new());
        }
        let mut files = 0;
        for (r, rels) in hits {
            let Some(target) = &r.target else { continue };
            if !matches!(
                r.action,
                Action::Sync | Action::SyncExec | Action::SyncRestart
            ) {
                continue;
            }
            for c in &containers {
                for rel in rels {
                    files += self.sync_one(c, &r.path.join(rel), &join_target(target, rel))?;
                }
            }
        }
        let mut what = Vec::new();
        if files > 0 {
            what.push(format!(
                "synced {files} file{}",
                if files == 1 { "" } else { "s" }
            ));
        }
        match action {
            Action::Restart | Action::SyncRestart => {
                let s = &project.services[svc];
                for c in &containers {
                    let (signal, grace) = self.stop_how(s, c);
                    self.stop_container(c, &signal, grace)?;
                    self.start_container(project, c)?;
                }
                what.push("restarted".into());
            }
            Action::SyncExec => {
                for (r, _) in hits.iter().filter(|(r, _)| r.action == Action::SyncExec) {
                    let Some(cmd) = &r.exec else { continue };
                    for c in &containers {
                        let (code, _, err) =
                            self.rt
                                .exec(c, cmd, &[], None, None)
                                .map_err(|e| Error::Runtime {
                                    container: c.id.clone(),
                                    source: e,
                                })?;
                        if code != 0 {
                            return Err(Error::Service {
                                service: svc.to_string(),
                                message: format!(
                                    "exec {cmd:?} exited {code}: {}",
                                    String::from_utf8_lossy(&err).trim()
                                ),
                            });
                        }
                    }
                    what.push(format!("ran {}", cmd.join(" ")));
                }
            }
            _ => {}
        }
        Ok(what.join(", "))
    }

    /// `rebuild`: builds the service's image again (from the cache but for
    /// what changed) and, if the build succeeds, recreates the service's
    /// containers from it. A failed build leaves them running as they were.
    fn rebuild(&self, project: &Project, svc: &str) -> Result<String> {
        let quiet = |_: crate::Event| {};
        let built = self.build_set(
            project,
            &BTreeSet::from([svc.to_string()]),
            &crate::BuildOptions::default(),
            &quiet,
        )?;
        let opts = crate::UpOptions {
            services: vec![svc.to_string()],
            no_deps: true,
            ..Default::default()
        };
        // `act` holds the project's lock.
        let report = self.up_locked(project, &opts, &quiet)?;
        let (steps, cached) = built.first().map_or((0, 0), |b| b.steps);
        let recreated = report
            .plan
            .steps
            .iter()
            .filter(|a| matches!(a, hb_plan::reconcile::Action::Recreate { .. }))
            .count();
        Ok(format!(
            "rebuilt ({cached} of {steps} steps cached), {}",
            match recreated {
                0 => "the image is unchanged: nothing recreated".to_string(),
                1 => "recreated its container".to_string(),
                n => format!("recreated its {n} containers"),
            }
        ))
    }

    /// Makes `dest` in the container what `src` on the host is now: a copy, a
    /// directory copied whole, or nothing (deleted). Returns the files written
    /// or removed.
    fn sync_one(&self, c: &Container, src: &Path, dest: &str) -> Result<usize> {
        let to = self
            .rt
            .host_path(c, dest, false)
            .map_err(|e| Error::Runtime {
                container: c.id.clone(),
                source: e,
            })?;
        let io = |p: &Path| {
            let path = p.to_path_buf();
            move |source| Error::Io { path, source }
        };
        match std::fs::symlink_metadata(src) {
            Err(_) => {
                // Deleted (or an editor's temporary file, gone already).
                match std::fs::symlink_metadata(&to) {
                    Ok(m) if m.is_dir() => std::fs::remove_dir_all(&to).map_err(io(&to))?,
                    Ok(_) => std::fs::remove_file(&to).map_err(io(&to))?,
                    Err(_) => return Ok(0),
                }
                Ok(1)
            }
            Ok(m) if m.is_dir() => {
                let mut n = 0;
                std::fs::create_dir_all(&to).map_err(io(&to))?;
                for e in std::fs::read_dir(src).map_err(io(src))?.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    n += self.sync_one(
                        c,
                        &e.path(),
                        &format!("{}/{name}", dest.trim_end_matches('/')),
                    )?;
                }
                Ok(n)
            }
            Ok(_) => {
                if let Some(parent) = to.parent() {
                    std::fs::create_dir_all(parent).map_err(io(parent))?;
                }
                // Through a temporary name and a rename: a reader in the
                // container sees the old file or the new one, never half.
                let tmp = to.with_file_name(format!(
                    ".{}.hb-sync",
                    to.file_name()
                        .map(|f| f.to_string_lossy().into_owned())
                        .unwrap_or_default()
                ));
                if std::fs::symlink_metadata(&to).is_ok_and(|m| m.is_dir()) {
                    std::fs::remove_dir_all(&to).map_err(io(&to))?;
                }
                std::fs::copy(src, &tmp).map_err(io(&tmp))?;
                std::fs::rename(&tmp, &to).map_err(io(&to))?;
                Ok(1)
            }
        }
    }
}

/// `target` + the relative path (the rule's own path maps to `target`).
fn join_target(target: &str, rel: &Path) -> String {
    if rel.as_os_str().is_empty() {
        target.to_string()
    } else {
        format!("{}/{}", target.trim_end_matches('/'), rel.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(service: &str, path: &str, action: Action, ignore: &[&str]) -> Rule {
        let ignore: Vec<String> = ignore.iter().map(|s| s.to_string()).collect();
        Rule {
            service: service.into(),
            path: PathBuf::from(path),
            action,
            target: Some("/app".into()),
            ignore: globs(service, &ignore, true).expect("globs"),
            include: None,
            exec: None,
            initial_sync: false,
        }
    }

    #[test]
    fn changes_group_by_service_minus_the_ignored() {
        let rules = [
            rule("web", "/src/web", Action::Sync, &["node_modules/", "*.log"]),
            rule("web", "/src/web/package.json", Action::Restart, &[]),
            rule("api", "/src/api", Action::SyncRestart, &[]),
        ];
        let changed: BTreeSet<PathBuf> = [
            "/src/web/index.html",
            "/src/web/node_modules/x/y.js",
            "/src/web/debug.log",
            "/src/web/.git/index",
            "/src/web/.index.html.swp",
            "/src/web/package.json",
            "/src/api/main.py",
            "/elsewhere/file",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        let g = group(&rules, &changed);
        let web: Vec<(Action, Vec<String>)> = g["web"]
            .iter()
            .map(|(r, p)| {
                (
                    r.action,
                    p.iter().map(|p| p.display().to_string()).collect(),
                )
            })
            .collect();
        assert_eq!(
            web,
            [
                (
                    Action::Sync,
                    vec!["index.html".to_string(), "package.json".to_string()]
                ),
                (Action::Restart, vec![String::new()]),
            ]
        );
        assert_eq!(g["api"][0].1, [PathBuf::from("main.py")]);
        assert_eq!(g.len(), 2);
        assert_eq!(join_target("/app/", Path::new("a/b.txt")), "/app/a/b.txt");
        assert_eq!(join_target("/app/pkg.json", Path::new("")), "/app/pkg.json");
    }
}
