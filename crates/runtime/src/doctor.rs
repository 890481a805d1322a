//! `hb doctor`: can this machine run containers, and if not, what to do.
//!
//! The check that matters most on hybrid-cgroup hosts: when some controllers
//! are mounted on cgroup v1 and others (here: `hugetlb`) are enabled on the
//! cgroup v2 hierarchy at `/sys/fs/cgroup/unified`, crun refuses to create
//! containers. The remedy moves each such controller to its own v1 hierarchy,
//! e.g. `mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup
//! /sys/fs/cgroup/hugetlb`, which [`fix`] does.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::host::Host;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Ok,
    /// Works, but worth knowing.
    Warn,
    /// Containers will not run until this is fixed.
    Fail,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        })
    }
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// The verdict.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do, when something is wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
}

fn verdict(
    name: &'static str,
    status: Status,
    detail: impl Into<String>,
    remedy: Option<String>,
) -> Check {
    Check {
        name,
        status,
        detail: detail.into(),
        remedy,
    }
}

const CGROUP: &str = "/sys/fs/cgroup";
const MIN_FREE: u64 = 2 << 30;

/// The cgroup layout, as far as crun cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupLayout {
    /// cgroup v2 only.
    Unified,
    /// cgroup v1 only.
    Legacy,
    /// v1 controllers plus a v2 hierarchy at `/sys/fs/cgroup/unified` with these controllers enabled.
    Hybrid {
        /// Controllers on the v2 side (crun refuses when there are any).
        v2_controllers: Vec<String>,
    },
}

/// Reads the cgroup layout.
pub fn cgroup_layout(host: &dyn Host) -> CgroupLayout {
    let root = Path::new(CGROUP);
    if host.exists(&root.join("cgroup.controllers")) {
        return CgroupLayout::Unified;
    }
    let unified = root.join("unified");
    if host.is_mountpoint(&unified) || host.exists(&unified.join("cgroup.controllers")) {
        let v2_controllers = host
            .read(&unified.join("cgroup.controllers"))
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        return CgroupLayout::Hybrid { v2_controllers };
    }
    CgroupLayout::Legacy
}

fn mount_commands(controllers: &[String]) -> String {
    controllers
        .iter()
        .map(|c| format!("mkdir -p {CGROUP}/{c} && mount -t cgroup -o {c} cgroup {CGROUP}/{c}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Runs every check. `hb_root` is where hb keeps its data.
pub fn check(host: &dyn Host, hb_root: &Path) -> Vec<Check> {
    let mut out = Vec::new();
    out.push(if host.is_root() {
        verdict("user", Status::Ok, "running as root", None)
    } else {
        verdict(
            "user",
            Status::Warn,
            "not running as root",
            Some("hb runs containers as root: use sudo".into()),
        )
    });

    let crun = std::env::var("HB_CRUN")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "crun".into());
    out.push(match host.version(&crun) {
        Some(v) => verdict("crun", Status::Ok, v, None),
        None => verdict(
            "crun",
            Status::Fail,
            format!("`{crun} --version` does not run"),
            Some("install crun: apt-get install crun (or point HB_CRUN at it)".into()),
        ),
    });

    out.push(match cgroup_layout(host) {
        CgroupLayout::Unified => verdict("cgroups", Status::Ok, "cgroup v2 (unified)", None),
        CgroupLayout::Legacy => verdict("cgroups", Status::Ok, "cgroup v1", None),
        CgroupLayout::Hybrid { v2_controllers } if v2_controllers.is_empty() => {
            verdict("cgroups", Status::Ok, "hybrid: v1 controllers, and cgroup v2 without controllers at /sys/fs/cgroup/unified", None)
        }
        CgroupLayout::Hybrid { v2_controllers } => verdict(
            "cgroups",
            Status::Fail,
            format!(
                "hybrid mode with the {} controller{} on cgroup v2 (/sys/fs/cgroup/unified) and the others on v1: crun refuses to run containers",
                v2_controllers.join(", "),
                if v2_controllers.len() == 1 { "" } else { "s" }
            ),
            Some(format!("move {} to v1 (once per boot): {}; `hb doctor --fix` does it", if v2_controllers.len() == 1 { "it" } else { "them" }, mount_commands(&v2_controllers))),
        ),
    });

    let filesystems = host
        .read(Path::new("/proc/filesystems"))
        .unwrap_or_default();
    out.push(if filesystems.split_whitespace().any(|f| f == "overlay") {
        verdict("overlayfs", Status::Ok, "supported by the kernel", None)
    } else {
        verdict(
            "overlayfs",
            Status::Fail,
            "the kernel does not list overlay in /proc/filesystems",
            Some("load it: modprobe overlay".into()),
        )
    });

    out.push(if !host.exists(Path::new("/proc/self/ns/net")) {
        verdict(
            "network namespaces",
            Status::Fail,
            "/proc/self/ns/net is missing",
            Some("a kernel with CONFIG_NET_NS is needed".into()),
        )
    } else if host.version("ip").is_none()
        && !host.exists(Path::new("/sbin/ip"))
        && !host.exists(Path::new("/usr/sbin/ip"))
        && !host.exists(Path::new("/bin/ip"))
    {
        verdict(
            "network namespaces",
            Status::Warn,
            "supported, but the `ip` command is missing",
            Some("apt-get install iproute2".into()),
        )
    } else {
        verdict("network namespaces", Status::Ok, "supported", None)
    });

    let read_num = |p: &str| {
        host.read(Path::new(p))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
    };
    out.push(
        match (
            read_num("/proc/sys/fs/inotify/max_user_watches"),
            read_num("/proc/sys/fs/inotify/max_user_instances"),
        ) {
            (Some(w), Some(i)) if w >= 65_536 && i >= 128 => verdict(
                "inotify",
                Status::Ok,
                format!("{w} watches, {i} instances"),
                None,
            ),
            (Some(w), Some(i)) => verdict(
                "inotify",
                Status::Warn,
                format!("{w} watches, {i} instances: `hb watch` on a large tree may run out"),
                Some(
                    "sysctl fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=512"
                        .into(),
                ),
            ),
            _ => verdict(
                "inotify",
                Status::Warn,
                "cannot read the inotify limits",
                None,
            ),
        },
    );

    out.push(match host.free_bytes(hb_root) {
        Some(b) if b >= MIN_FREE => verdict(
            "disk",
            Status::Ok,
            format!("{} GiB free for {}", b >> 30, hb_root.display()),
            None,
        ),
        Some(b) => verdict(
            "disk",
            Status::Warn,
            format!("only {} MiB free for {}", b >> 20, hb_root.display()),
            Some("free some space; `hb image prune` removes layers no image needs".into()),
        ),
        None => verdict(
            "disk",
            Status::Warn,
            format!("cannot tell the free space for {}", hb_root.display()),
            None,
        ),
    });
    out
}

/// Applies the remedies hb can apply itself (moving cgroup v2 controllers of a
/// hybrid host to v1). Returns what it did.
pub fn fix(host: &dyn Host) -> std::io::Result<Vec<String>> {
    let mut done = Vec::new();
    if let CgroupLayout::Hybrid { v2_controllers } = cgroup_layout(host) {
        for c in v2_controllers {
            let target: PathBuf = Path::new(CGROUP).join(&c);
            if host.is_mountpoint(&target) {
                continue;
            }
            host.mount_cgroup_v1(&c, &target)?;
            done.push(format!(
                "mounted the {c} controller at {} (cgroup v1)",
                target.display()
            ));
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::io;

    /// A made-up host: files and mount points as given.
    #[derive(Default)]
    struct FakeHost {
        files: HashMap<PathBuf, String>,
        mounts: RefCell<Vec<PathBuf>>,
        programs: HashMap<String, String>,
        free: Option<u64>,
    }

    impl FakeHost {
        fn file(mut self, p: &str, content: &str) -> Self {
            self.files.insert(PathBuf::from(p), content.into());
            self
        }
        fn program(mut self, name: &str, version: &str) -> Self {
            self.programs.insert(name.into(), version.into());
            self
        }
    }

    impl Host for FakeHost {
        fn read(&self, path: &Path) -> io::Result<String> {
            self.files
                .get(path)
                .cloned()
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
        }
        fn exists(&self, path: &Path) -> bool {
            self.files.keys().any(|f| f.starts_with(path))
        }
        fn is_mountpoint(&self, path: &Path) -> bool {
            self.mounts.borrow().iter().any(|m| m == path)
        }
        fn version(&self, program: &str) -> Option<String> {
            self.programs.get(program).cloned()
        }
        fn free_bytes(&self, _path: &Path) -> Option<u64> {
            self.free
        }
        fn is_root(&self) -> bool {
            true
        }
        fn mount_cgroup_v1(&self, controller: &str, target: &Path) -> io::Result<()> {
            assert_eq!(target, Path::new(CGROUP).join(controller));
            self.mounts.borrow_mut().push(target.to_path_buf());
            Ok(())
        }
    }

    fn healthy() -> FakeHost {
        FakeHost {
            free: Some(50 << 30),
            ..Default::default()
        }
        .program("crun", "crun version 1.8.1")
        .program("ip", "ip utility, iproute2-6.1.0")
        .file("/proc/filesystems", "nodev\tsysfs\nnodev\toverlay\n")
        .file("/proc/self/ns/net", "")
        .file("/proc/sys/fs/inotify/max_user_watches", "192536\n")
        .file("/proc/sys/fs/inotify/max_user_instances", "128\n")
    }

    fn status(report: &[Check], name: &str) -> Status {
        report
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.status)
            .unwrap_or_else(|| panic!("no check {name}"))
    }

    #[test]
    fn hybrid_mode_with_hugetlb_on_v2_fails_with_the_remedy() {
        let host = healthy().file("/sys/fs/cgroup/unified/cgroup.controllers", "hugetlb\n");
        let report = check(&host, Path::new("/var/lib/hb"));
        let cg = report
            .iter()
            .find(|c| c.name == "cgroups")
            .expect("cgroups");
        assert_eq!(cg.status, Status::Fail);
        assert!(
            cg.detail.contains("hugetlb") && cg.detail.contains("crun refuses"),
            "{}",
            cg.detail
        );
        let remedy = cg.remedy.as_deref().unwrap_or_default();
        assert!(
            remedy.contains("mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb")
                && remedy.contains("--fix"),
            "{remedy}"
        );
        let done = fix(&host).expect("fix");
        assert_eq!(
            done,
            vec![
                "mounted the hugetlb controller at /sys/fs/cgroup/hugetlb (cgroup v1)".to_string()
            ]
        );
        assert_eq!(
            fix(&host).expect("fix again"),
            Vec::<String>::new(),
            "idempotent"
        );
    }

    #[test]
    fn the_other_layouts_pass() {
        let unified = healthy().file("/sys/fs/cgroup/cgroup.controllers", "cpu memory pids\n");
        assert_eq!(cgroup_layout(&unified), CgroupLayout::Unified);
        assert_eq!(
            status(&check(&unified, Path::new("/x")), "cgroups"),
            Status::Ok
        );
        let hybrid_empty = healthy().file("/sys/fs/cgroup/unified/cgroup.controllers", "\n");
        assert_eq!(
            status(&check(&hybrid_empty, Path::new("/x")), "cgroups"),
            Status::Ok
        );
        let legacy = healthy();
        assert_eq!(cgroup_layout(&legacy), CgroupLayout::Legacy);
    }

    #[test]
    fn missing_pieces_say_what_to_install() {
        let mut host = healthy();
        host.programs.remove("crun");
        host.files
            .insert("/proc/filesystems".into(), "nodev\tsysfs\n".into());
        host.free = Some(100 << 20);
        let report = check(&host, Path::new("/var/lib/hb"));
        assert_eq!(status(&report, "crun"), Status::Fail);
        assert!(report.iter().any(|c| c.name == "crun"
            && c.remedy
                .as_deref()
                .is_some_and(|r| r.contains("apt-get install crun"))));
        assert_eq!(status(&report, "overlayfs"), Status::Fail);
        assert_eq!(status(&report, "disk"), Status::Warn);
        assert_eq!(status(&report, "network namespaces"), Status::Ok);
    }
}
