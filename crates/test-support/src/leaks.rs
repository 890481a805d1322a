//! The leak check every privileged test ends with: after a container or a
//! project is removed, nothing of it may be left on the machine.

use std::path::Path;

/// What is left of `containers` of hb root `root` (runtime dir `run`): their
/// mounts, live `hb-shim`s, crun state, directories and cgroups (in every
/// hierarchy), and any network namespace or `hb-proxy` of the root; and
/// whatever the shims of `--rm` containers left in the trash, once they have
/// had 5 s to delete it; and anything in the directories kept for the next
/// containers (`spares/`) but their empty skeletons. Empty when nothing is.
pub fn leaks(root: &Path, run: &Path, containers: &[&str]) -> Vec<String> {
    let rt = hb_runtime::container::Runtime::new(
        root.to_path_buf(),
        run.to_path_buf(),
        "crun".into(),
        "hb-shim".into(),
    );
    let tag = rt.tag();
    let mut out = Vec::new();
    // Removals under way: what is in the trash, and the shims deleting it.
    let trash = rt.trash().display().to_string();
    let in_trash = || -> Vec<String> {
        std::fs::read_dir(&trash)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| format!("in the trash: {}", e.path().display()))
            .collect()
    };
    let removing = || shims().any(|(_, cmd)| cmd.contains(&format!("--remove-into {trash}")));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while (removing() || !in_trash().is_empty()) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    out.extend(in_trash());
    // Directories kept for the next containers hold nothing of the removed
    // ones: empty files and directories, and no spec.
    let spares = root.join("spares");
    for spare in std::fs::read_dir(&spares).into_iter().flatten().flatten() {
        for e in std::fs::read_dir(spare.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let path = e.path();
            let holds = if path.is_dir() {
                std::fs::read_dir(&path).map_or(true, |mut d| d.next().is_some())
            } else {
                std::fs::metadata(&path).map_or(true, |m| m.len() > 0)
            };
            if holds || e.file_name() == "config.json" {
                out.push(format!("in a spare directory: {}", path.display()));
            }
        }
    }
    let dirs: Vec<String> = containers
        .iter()
        .map(|c| root.join("containers").join(c).display().to_string())
        .chain([trash.clone(), spares.display().to_string()])
        .collect();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    out.extend(
        mounts
            .lines()
            .filter(|l| dirs.iter().any(|d| l.contains(&format!("{d}/"))))
            .map(|l| format!("mount: {l}")),
    );
    let ns = hb_net::Net::new(&tag, &hb_net::RealIp).namespaces();
    out.extend(ns.iter().map(|n| format!("network namespace: {n}")));
    let netns = hb_net::Net::new(&tag, &hb_net::RealIp).project_ns("");
    for (pid, cmd) in shims() {
        let serves = dirs
            .iter()
            .any(|d| cmd.contains(&format!("{d} ")) || cmd.contains(&format!("{d}/")));
        if serves || cmd.contains(netns.trim_end_matches('-')) {
            out.push(format!("process {pid}: {cmd}"));
        }
    }
    for c in containers {
        if run.join("crun").join(c).exists() {
            out.push(format!("crun state: {c}"));
        }
        if root.join("containers").join(c).exists() {
            out.push(format!("container directory: {c}"));
        }
        for h in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let cg = h.path().join("hb").join(rt.cgroup_name(c));
            if cg.is_dir() {
                out.push(format!("cgroup: {}", cg.display()));
            }
        }
    }
    out
}

/// The live (not zombie) `hb-shim` and `hb-proxy` processes: pid, and their
/// command line with the files they hold open (a shim started ahead of its
/// container, `hb-shim --wait`, names it only in the lock it holds).
fn shims() -> impl Iterator<Item = (u32, String)> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|p| {
            let pid: u32 = p.file_name().to_str()?.parse().ok()?;
            let alive = |comm| hb_runtime::procfs::process_alive(pid, comm);
            if !alive("hb-shim") && !alive("hb-proxy") {
                return None;
            }
            let cmd = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
            let open: String = std::fs::read_dir(p.path().join("fd"))
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|fd| std::fs::read_link(fd.path()).ok())
                .map(|f| format!(" {}", f.display()))
                .collect();
            Some((
                pid,
                String::from_utf8_lossy(&cmd).replace('\0', " ") + &open,
            ))
        })
}
