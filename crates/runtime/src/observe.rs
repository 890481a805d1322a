//! What a running container is doing: its processes (`top`), its resource use
//! (`stats`) and whether it is paused — read from crun and the kernel (cgroup v1,
//! hybrid or v2; `/proc`), never kept anywhere.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::container::{Container, Runtime};
use crate::{Error, Result};

/// One process of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Process {
    /// Its pid on the host.
    pub pid: u32,
    /// Its parent's pid.
    pub ppid: u32,
    /// Its real uid.
    pub uid: u32,
    /// CPU time used, in clock ticks.
    pub ticks: u64,
    /// Its command line.
    pub cmd: String,
}

/// A container's resource use now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Stats {
    /// CPU time used so far, in microseconds.
    pub cpu_usec: u64,
    /// Memory in use, in bytes.
    pub memory: u64,
    /// Its memory limit, if any.
    pub memory_limit: Option<u64>,
    /// Processes.
    pub pids: u64,
    /// Bytes received on its network interfaces (loopback excluded).
    pub net_rx: u64,
    /// Bytes sent.
    pub net_tx: u64,
}

fn read_u64(p: &Path) -> Option<u64> {
    fs::read_to_string(p).ok()?.trim().parse().ok()
}

impl Runtime {
    /// The container's cgroup directory for v1 controller `ctl`, or its v2 one.
    fn cgroup(&self, c: &Container, ctl: &str) -> PathBuf {
        let name = self.cgroup_name(&c.id);
        let v1 = Path::new("/sys/fs/cgroup").join(ctl).join("hb").join(&name);
        if v1.is_dir() {
            v1
        } else {
            Path::new("/sys/fs/cgroup/hb").join(name)
        }
    }

    /// The pids of the container's processes (`crun ps`).
    pub fn pids(&self, c: &Container) -> Result<Vec<u32>> {
        if !self.running(c) {
            return Err(Error::NotRunning { id: c.id.clone() });
        }
        let out = self.crun_out("ps", &["--format", "json"], &c.id)?;
        serde_json::from_slice(&out).map_err(|e| Error::Spec(format!("crun ps: {e}")))
    }

    /// The container's processes, as `docker top` lists them.
    pub fn top(&self, c: &Container) -> Result<Vec<Process>> {
        let mut out = Vec::new();
        for pid in self.pids(c)? {
            let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue; // exited meanwhile
            };
            // Fields after the command (which may hold spaces) in parentheses.
            let rest: Vec<&str> = stat
                .rsplit_once(')')
                .map(|(_, r)| r.split_whitespace().collect())
                .unwrap_or_default();
            let field = |i: usize| rest.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            let uid = fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find(|l| l.starts_with("Uid:"))
                        .and_then(|l| l.split_whitespace().nth(1).and_then(|u| u.parse().ok()))
                })
                .unwrap_or(0);
            let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            out.push(Process {
                pid,
                ppid: field(1) as u32,
                uid,
                // utime + stime (fields 14 and 15 of stat, 12 and 13 after the command)
                ticks: field(11) + field(12),
                cmd: String::from_utf8_lossy(&cmd)
                    .replace('\0', " ")
                    .trim()
                    .to_string(),
            });
        }
        Ok(out)
    }

    /// The container's resource use, from its cgroups and its network namespace.
    pub fn stats(&self, c: &Container) -> Result<Stats> {
        let pids = self.pids(c)?;
        let mut s = Stats::default();
        let mem = self.cgroup(c, "memory");
        if mem.join("memory.usage_in_bytes").exists() {
            s.memory = read_u64(&mem.join("memory.usage_in_bytes")).unwrap_or(0);
            // v1 says "no limit" with a huge number.
            s.memory_limit = read_u64(&mem.join("memory.limit_in_bytes")).filter(|l| *l < 1 << 60);
        } else {
            s.memory = read_u64(&mem.join("memory.current")).unwrap_or(0);
            s.memory_limit = read_u64(&mem.join("memory.max"));
        }
        let cpu = self.cgroup(c, "cpuacct");
        s.cpu_usec = match read_u64(&cpu.join("cpuacct.usage")) {
            Some(ns) => ns / 1000,
            None => fs::read_to_string(cpu.join("cpu.stat"))
                .ok()
                .and_then(|t| {
                    t.lines().find_map(|l| {
                        l.strip_prefix("usage_usec ")
                            .and_then(|v| v.trim().parse().ok())
                    })
                })
                .unwrap_or(0),
        };
        s.pids =
            read_u64(&self.cgroup(c, "pids").join("pids.current")).unwrap_or(pids.len() as u64);
        if let Some(pid) = pids.first() {
            let dev = fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default();
            for l in dev.lines().skip(2) {
                let Some((name, nums)) = l.split_once(':') else {
                    continue;
                };
                if name.trim() == "lo" {
                    continue;
                }
                let n: Vec<u64> = nums
                    .split_whitespace()
                    .filter_map(|v| v.parse().ok())
                    .collect();
                s.net_rx += n.first().copied().unwrap_or(0);
                s.net_tx += n.get(8).copied().unwrap_or(0);
            }
        }
        Ok(s)
    }

    /// Freezes every process of the container (`crun pause`).
    pub fn pause(&self, c: &Container) -> Result<()> {
        if !self.running(c) {
            return Err(Error::NotRunning { id: c.id.clone() });
        }
        self.crun_out("pause", &[], &c.id).map(|_| ())
    }

    /// Thaws it (`crun resume`).
    pub fn unpause(&self, c: &Container) -> Result<()> {
        self.crun_out("resume", &[], &c.id).map(|_| ())
    }

    /// True while the container is paused (its freezer cgroup says so).
    pub fn paused(&self, c: &Container) -> bool {
        let f = self.cgroup(c, "freezer");
        match fs::read_to_string(f.join("freezer.state")) {
            Ok(s) => s.trim() == "FROZEN",
            Err(_) => fs::read_to_string(f.join("cgroup.freeze")).is_ok_and(|s| s.trim() == "1"),
        }
    }
}
