//! The OCI runtime spec (`config.json`) for a container, by Docker's rules:
//!
//! - **args**: the image's Entrypoint and Cmd, overridden by the container's
//!   `entrypoint`/`command`; an `entrypoint` override drops the image's Cmd
//!   (docker run reference, "ENTRYPOINT (default command to execute at runtime)").
//! - **env**: the image's Env, then the container's, key by key; `PATH` and
//!   `HOSTNAME` as Docker sets them.
//! - **user**: `name`, `uid`, `uid:gid`, `name:group`, resolved through the
//!   container's own `/etc/passwd` and `/etc/group`; supplementary groups too.
//! - **cwd**: `working_dir`, else the image's WorkingDir, else `/`.
//! - Docker's default capabilities, masked and read-only paths, `no_new_privileges`.
//! - rlimits clamped to the hard limits hb itself runs under: without
//!   CAP_SYS_RESOURCE a higher request makes crun fail.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Capability, LinuxCapabilitiesBuilder, LinuxNamespace, LinuxNamespaceType, Mount, MountBuilder,
    PosixRlimitBuilder, PosixRlimitType, Spec, UserBuilder,
};

use crate::{Error, Result};

/// What the image says about running it (a subset of the image config).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageDefaults {
    /// Entrypoint.
    pub entrypoint: Option<Vec<String>>,
    /// Cmd.
    pub cmd: Option<Vec<String>>,
    /// `KEY=VALUE`.
    pub env: Vec<String>,
    /// WorkingDir.
    pub working_dir: Option<String>,
    /// User.
    pub user: Option<String>,
}

/// What the container asks for on top of the image.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// Replaces the image's Entrypoint (and drops its Cmd).
    pub entrypoint: Option<Vec<String>>,
    /// Replaces the image's Cmd.
    pub command: Option<Vec<String>>,
    /// `KEY` → value (`None`: remove).
    pub env: Vec<(String, Option<String>)>,
    /// User.
    pub user: Option<String>,
    /// Working directory.
    pub working_dir: Option<String>,
    /// Hostname.
    pub hostname: Option<String>,
    /// Read-only root filesystem.
    pub read_only: bool,
    /// Capabilities to add (`NET_ADMIN` or `CAP_NET_ADMIN`; `ALL`).
    pub cap_add: Vec<String>,
    /// Capabilities to drop.
    pub cap_drop: Vec<String>,
    /// Memory limit in bytes (`mem_limit`, `-m`).
    pub memory: Option<u64>,
    /// Memory + swap limit in bytes (`memswap_limit`).
    pub memory_swap: Option<u64>,
    /// CPU limit in cores (`cpus`, `--cpus`).
    pub cpus: Option<f64>,
    /// Relative CPU weight (`cpu_shares`).
    pub cpu_shares: Option<u64>,
    /// Maximum number of processes (`pids_limit`, `--pids-limit`).
    pub pids: Option<i64>,
    /// Bind mounts and tmpfs mounts.
    pub mounts: Vec<MountRequest>,
    /// Run a minimal init as PID 1 that reaps zombies and forwards signals (`init: true`).
    pub init: bool,
    /// All capabilities, no masked paths, `/sys` writable, privileges may grow (`privileged`).
    pub privileged: bool,
    /// Namespaced kernel parameters (`sysctls`).
    pub sysctls: Vec<(String, String)>,
    /// Size of `/dev/shm` in bytes (`shm_size`; Docker's default is 64 MiB).
    pub shm_size: Option<u64>,
    /// Resource limits (`ulimits`): name (`nofile`, `nproc`, …), soft, hard.
    pub ulimits: Vec<(String, u64, u64)>,
    /// Give the process a terminal (`tty: true`, `run -t`); its master end goes
    /// to the console socket the shim is given.
    pub terminal: bool,
    /// No masked or read-only paths under /proc and /sys
    /// (`security_opt: [systempaths=unconfined]`).
    pub unconfined_paths: bool,
    /// `no_new_privileges` for the process; default: on unless privileged
    /// (`security_opt: [no-new-privileges:false]` turns it off).
    pub no_new_privileges: Option<bool>,
    /// The network namespace to run in.
    pub netns: NetNs,
    /// Lines for `/etc/hosts` after the localhost entries (`IP name alias…`).
    pub hosts: Vec<String>,
    /// `/etc/resolv.conf`, when the network gives one.
    pub resolv_conf: Option<String>,
    /// Removed as soon as it exits (`--rm`): its rootfs is mounted volatile,
    /// with no sync of what it writes.
    pub ephemeral: bool,
    /// Recorded as the spec's annotations and in the container's `container.json`
    /// (`dev.hb.project`, `dev.hb.service`, `dev.hb.config-hash`, the service's labels).
    pub labels: Vec<(String, String)>,
}

/// Where a container's network comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NetNs {
    /// A namespace of its own with only `lo`.
    #[default]
    Private,
    /// A namespace prepared beforehand (a bind-mounted nsfs file), as `net` makes
    /// for a container on a project network.
    Join(PathBuf),
    /// The host's own network (`network_mode: host`).
    Host,
}

/// Where the init binary is mounted in the container.
pub const INIT_PATH: &str = "/sbin/hb-init";

/// The init binary to bind-mount for `init: true`: `$HB_INIT`, else Debian's
/// statically linked tini (package `tini`), which Docker ships as `docker-init`.
pub fn find_init() -> Option<PathBuf> {
    std::env::var_os("HB_INIT")
        .map(PathBuf::from)
        .into_iter()
        .chain(
            [
                "/usr/bin/tini-static",
                "/usr/libexec/docker/docker-init",
                "/usr/bin/docker-init",
            ]
            .map(PathBuf::from),
        )
        .find(|p| p.is_file())
}

/// The ulimit names Docker accepts, with the OCI type and the host resource each one is.
const RLIMITS: &[(&str, PosixRlimitType, nix::sys::resource::Resource)] = {
    use nix::sys::resource::Resource as R;
    use PosixRlimitType as T;
    &[
        ("core", T::RlimitCore, R::RLIMIT_CORE),
        ("cpu", T::RlimitCpu, R::RLIMIT_CPU),
        ("data", T::RlimitData, R::RLIMIT_DATA),
        ("fsize", T::RlimitFsize, R::RLIMIT_FSIZE),
        ("locks", T::RlimitLocks, R::RLIMIT_LOCKS),
        ("memlock", T::RlimitMemlock, R::RLIMIT_MEMLOCK),
        ("msgqueue", T::RlimitMsgqueue, R::RLIMIT_MSGQUEUE),
        ("nice", T::RlimitNice, R::RLIMIT_NICE),
        ("nofile", T::RlimitNofile, R::RLIMIT_NOFILE),
        ("nproc", T::RlimitNproc, R::RLIMIT_NPROC),
        ("rss", T::RlimitRss, R::RLIMIT_RSS),
        ("rtprio", T::RlimitRtprio, R::RLIMIT_RTPRIO),
        ("rttime", T::RlimitRttime, R::RLIMIT_RTTIME),
        ("sigpending", T::RlimitSigpending, R::RLIMIT_SIGPENDING),
        ("stack", T::RlimitStack, R::RLIMIT_STACK),
    ]
};

/// The rlimits for the container: NOFILE by default, then `ulimits`, each clamped
/// to the hard limit hb runs under (raising one needs CAP_SYS_RESOURCE, which this
/// host may lack: crun would fail). Returns the limits and a warning per clamp.
pub fn rlimits(
    ulimits: &[(String, u64, u64)],
) -> Result<(Vec<oci_spec::runtime::PosixRlimit>, Vec<String>)> {
    let mut wanted: Vec<(String, u64, u64)> = vec![("nofile".into(), 1_048_576, 1_048_576)];
    for (n, soft, hard) in ulimits {
        wanted.retain(|(x, _, _)| x != n);
        wanted.push((n.clone(), *soft, *hard));
    }
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for (name, soft, hard) in wanted {
        let Some(&(_, typ, resource)) = RLIMITS.iter().find(|(n, _, _)| *n == name) else {
            let known: Vec<&str> = RLIMITS.iter().map(|(n, _, _)| *n).collect();
            return Err(Error::Spec(format!(
                "unknown ulimit `{name}`: use one of {}",
                known.join(", ")
            )));
        };
        let cap = nix::sys::resource::getrlimit(resource)
            .map(|(_, hard)| hard)
            .unwrap_or(u64::MAX);
        let (s, h) = (soft.min(cap), hard.min(cap));
        let asked = ulimits.iter().any(|(n, _, _)| *n == name);
        if asked && (s, h) != (soft, hard) {
            warnings.push(format!("ulimit {name} lowered to {h}: hb runs with that hard limit and cannot raise it (no CAP_SYS_RESOURCE)"));
        }
        out.push(
            PosixRlimitBuilder::default()
                .typ(typ)
                .soft(s.min(h))
                .hard(h)
                .build()
                .map_err(|e| Error::Spec(e.to_string()))?,
        );
    }
    Ok((out, warnings))
}

/// A mount the container asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountRequest {
    /// A host directory or file (absolute path) at `target`.
    Bind {
        /// Host path.
        source: PathBuf,
        /// Path in the container.
        target: String,
        /// Mount read-only.
        read_only: bool,
    },
    /// A fresh tmpfs at `target`.
    Tmpfs {
        /// Path in the container.
        target: String,
        /// Size limit in bytes, if any.
        size: Option<u64>,
    },
}

fn requested_mount(m: &MountRequest) -> Result<Mount> {
    match m {
        MountRequest::Bind {
            source,
            target,
            read_only,
        } => bind(source, target, *read_only),
        MountRequest::Tmpfs { target, size } => {
            let mut options = vec![
                "nosuid".to_string(),
                "nodev".to_string(),
                "mode=1777".to_string(),
            ];
            if let Some(s) = size {
                options.push(format!("size={s}"));
            }
            MountBuilder::default()
                .destination(target)
                .typ("tmpfs")
                .source("tmpfs")
                .options(options)
                .build()
                .map_err(|e| Error::Spec(e.to_string()))
        }
    }
}

/// CFS period hb uses for `cpus` (Docker's default, 100 ms).
const CPU_PERIOD: u64 = 100_000;

/// `linux.resources` for the limits asked for (cgroup v1 and v2 alike: crun translates).
fn resources(o: &Overrides) -> Result<Option<oci_spec::runtime::LinuxResources>> {
    use oci_spec::runtime::{
        LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder,
    };
    let err = |e: oci_spec::OciSpecError| Error::Spec(e.to_string());
    if o.memory.is_none()
        && o.memory_swap.is_none()
        && o.cpus.is_none()
        && o.cpu_shares.is_none()
        && o.pids.is_none()
    {
        return Ok(None);
    }
    let mut r = LinuxResourcesBuilder::default();
    if o.memory.is_some() || o.memory_swap.is_some() {
        let mut m = LinuxMemoryBuilder::default();
        if let Some(limit) = o.memory {
            m = m.limit(limit as i64);
        }
        if let Some(swap) = o.memory_swap {
            m = m.swap(swap as i64);
        }
        r = r.memory(m.build().map_err(err)?);
    }
    if o.cpus.is_some() || o.cpu_shares.is_some() {
        let mut c = LinuxCpuBuilder::default();
        if let Some(cpus) = o.cpus.filter(|c| *c > 0.0) {
            c = c
                .period(CPU_PERIOD)
                .quota((cpus * CPU_PERIOD as f64).round() as i64);
        }
        if let Some(shares) = o.cpu_shares {
            c = c.shares(shares);
        }
        r = r.cpu(c.build().map_err(err)?);
    }
    if let Some(p) = o.pids {
        r = r.pids(LinuxPidsBuilder::default().limit(p).build().map_err(err)?);
    }
    r.build().map(Some).map_err(err)
}

/// The process arguments by Docker's rules.
pub fn args(image: &ImageDefaults, o: &Overrides) -> Result<Vec<String>> {
    let (entrypoint, cmd) = match &o.entrypoint {
        Some(e) => (e.clone(), o.command.clone().unwrap_or_default()),
        None => (
            image.entrypoint.clone().unwrap_or_default(),
            o.command
                .clone()
                .or_else(|| image.cmd.clone())
                .unwrap_or_default(),
        ),
    };
    let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if args.is_empty() {
        return Err(Error::NoCommand);
    }
    Ok(args)
}

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The environment: the image's, then the container's, key by key.
pub fn env(
    image: &[String],
    overrides: &[(String, Option<String>)],
    hostname: &str,
) -> Vec<String> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: Option<&str>| {
        out.retain(|(x, _)| x != k);
        if let Some(v) = v {
            out.push((k.to_string(), v.to_string()));
        }
    };
    for kv in image {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        set(k, Some(v));
    }
    for (k, v) in overrides {
        set(k, v.as_deref());
    }
    if !out.iter().any(|(k, _)| k == "PATH") {
        let (k, v) = DEFAULT_PATH.split_once('=').unwrap_or_default();
        out.insert(0, (k.into(), v.into()));
    }
    if !out.iter().any(|(k, _)| k == "HOSTNAME") {
        out.push(("HOSTNAME".into(), hostname.into()));
    }
    out.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// A resolved user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    /// uid.
    pub uid: u32,
    /// gid.
    pub gid: u32,
    /// Supplementary groups from `/etc/group`.
    pub additional_gids: Vec<u32>,
}

fn read_db(rootfs: &Path, file: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(rootfs.join("etc").join(file))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split(':').map(str::to_string).collect())
        .collect()
}

/// Resolves `user` (`name`, `uid`, `uid:gid`, `name:group`, empty = root) through the
/// container's `/etc/passwd` and `/etc/group`, as Docker does.
pub fn resolve_user(rootfs: &Path, user: Option<&str>) -> Result<ResolvedUser> {
    let user = user.filter(|u| !u.is_empty()).unwrap_or("0");
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let passwd = read_db(rootfs, "passwd");
    let groups = read_db(rootfs, "group");
    let entry = passwd.iter().find(|p| {
        p.first().map(String::as_str) == Some(u)
            || (u.parse::<u32>().is_ok() && p.get(2).map(String::as_str) == Some(u))
    });
    let uid = match u.parse::<u32>() {
        Ok(n) => n,
        Err(_) => entry
            .and_then(|p| p.get(2)?.parse().ok())
            .ok_or_else(|| Error::User {
                user: user.to_string(),
                reason: format!("no user `{u}` in the image's /etc/passwd"),
            })?,
    };
    let gid = match g {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => groups
                .iter()
                .find(|e| e.first().map(String::as_str) == Some(g))
                .and_then(|e| e.get(2)?.parse().ok())
                .ok_or_else(|| Error::User {
                    user: user.to_string(),
                    reason: format!("no group `{g}` in the image's /etc/group"),
                })?,
        },
        None => entry.and_then(|p| p.get(3)?.parse().ok()).unwrap_or(0),
    };
    // Supplementary groups: those that list the user's name as a member.
    let name = entry.and_then(|p| p.first().cloned());
    let mut additional_gids: Vec<u32> = match (&name, g) {
        (Some(n), None) => groups
            .iter()
            .filter(|e| e.get(3).is_some_and(|m| m.split(',').any(|x| x == n)))
            .filter_map(|e| e.get(2)?.parse().ok())
            .filter(|x| *x != gid)
            .collect(),
        _ => Vec::new(),
    };
    additional_gids.sort_unstable();
    additional_gids.dedup();
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
    })
}

/// Docker's default capability set (moby `oci/caps/defaults.go`).
pub const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

fn cap_name(c: &str) -> String {
    let up = c.trim().to_ascii_uppercase();
    if up.starts_with("CAP_") || up == "ALL" {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// The effective capability names after `cap_add`/`cap_drop` (`ALL` allowed in both).
pub fn capabilities(cap_add: &[String], cap_drop: &[String]) -> Result<Vec<String>> {
    let add: Vec<String> = cap_add.iter().map(|c| cap_name(c)).collect();
    let drop: Vec<String> = cap_drop.iter().map(|c| cap_name(c)).collect();
    let mut caps: Vec<String> = if add.iter().any(|c| c == "ALL") {
        all_caps().iter().map(|c| c.to_string()).collect()
    } else {
        let mut v: Vec<String> = DEFAULT_CAPS.iter().map(|c| c.to_string()).collect();
        v.extend(add.iter().cloned());
        v
    };
    if drop.iter().any(|c| c == "ALL") {
        caps.retain(|c| add.contains(c));
    } else {
        caps.retain(|c| !drop.contains(c));
    }
    caps.sort();
    caps.dedup();
    for c in &caps {
        parse_cap(c).ok_or_else(|| Error::Capability { name: c.clone() })?;
    }
    Ok(caps)
}

/// A capability by its `CAP_*` name (the spelling of the runtime spec).
fn parse_cap(name: &str) -> Option<Capability> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
}

/// Linux capability numbers (`linux/capability.h`), by name.
const CAP_NUMBERS: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// hb's own bounding set (`CapBnd` in /proc/self/status): a container cannot get more.
pub fn own_bounding_set() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))?
        .trim();
    u64::from_str_radix(hex, 16).ok()
}

/// Splits `caps` into those within the bounding set `bnd` and those outside it.
pub fn within_bounding(caps: Vec<String>, bnd: u64) -> (Vec<String>, Vec<String>) {
    caps.into_iter().partition(|c| {
        CAP_NUMBERS
            .iter()
            .position(|n| n == c)
            .is_some_and(|bit| bnd & (1u64 << bit) != 0)
    })
}

fn all_caps() -> Vec<&'static str> {
    vec![
        "CAP_AUDIT_CONTROL",
        "CAP_AUDIT_READ",
        "CAP_AUDIT_WRITE",
        "CAP_BLOCK_SUSPEND",
        "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_IPC_LOCK",
        "CAP_IPC_OWNER",
        "CAP_KILL",
        "CAP_LEASE",
        "CAP_LINUX_IMMUTABLE",
        "CAP_MAC_ADMIN",
        "CAP_MAC_OVERRIDE",
        "CAP_MKNOD",
        "CAP_NET_ADMIN",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST",
        "CAP_NET_RAW",
        "CAP_PERFMON",
        "CAP_SETFCAP",
        "CAP_SETGID",
        "CAP_SETPCAP",
        "CAP_SETUID",
        "CAP_SYSLOG",
        "CAP_SYS_ADMIN",
        "CAP_SYS_BOOT",
        "CAP_SYS_CHROOT",
        "CAP_SYS_MODULE",
        "CAP_SYS_NICE",
        "CAP_SYS_PACCT",
        "CAP_SYS_PTRACE",
        "CAP_SYS_RAWIO",
        "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG",
        "CAP_WAKE_ALARM",
    ]
}

/// Docker's masked paths (moby `oci/defaults.go`).
const MASKED: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
const READONLY: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Applies one `security_opt` entry (`docker run --security-opt`). Returns a
/// warning for an option hb accepts without acting on (seccomp, apparmor and
/// SELinux labels: hb sets no seccomp profile and no LSM label).
pub fn security_opt(o: &mut Overrides, opt: &str) -> Result<Option<String>> {
    let (key, value) = opt
        .split_once(['=', ':'])
        .map_or((opt, None), |(k, v)| (k, Some(v)));
    match (key, value) {
        ("systempaths", Some("unconfined")) => o.unconfined_paths = true,
        ("no-new-privileges", None | Some("true")) => o.no_new_privileges = Some(true),
        ("no-new-privileges", Some("false")) => o.no_new_privileges = Some(false),
        ("seccomp" | "apparmor" | "label", _) => {
            return Ok(Some(format!(
                "security_opt {opt}: hb applies no seccomp profile or LSM label; ignored"
            )))
        }
        _ => {
            return Err(Error::Spec(format!(
                "security_opt {opt:?} is not known: hb understands systempaths=unconfined, no-new-privileges[:true|false], seccomp=…, apparmor=…, label=…"
            )))
        }
    }
    Ok(None)
}

/// Files hb writes for the container and bind-mounts in.
#[derive(Debug, Clone)]
pub struct EtcFiles {
    /// `/etc/hosts`.
    pub hosts: PathBuf,
    /// `/etc/resolv.conf`.
    pub resolv_conf: PathBuf,
    /// `/etc/hostname`.
    pub hostname: PathBuf,
}

fn bind(source: &Path, dest: &str, ro: bool) -> Result<Mount> {
    let mut options = vec!["rbind".to_string(), "rprivate".to_string()];
    if ro {
        options.push("ro".into());
    }
    MountBuilder::default()
        .destination(dest)
        .typ("bind")
        .source(source)
        .options(options)
        .build()
        .map_err(|e| Error::Spec(e.to_string()))
}

/// Everything [`build`] needs.
#[derive(Debug, Clone)]
pub struct SpecInput<'a> {
    /// The container id (also the default hostname).
    pub id: &'a str,
    /// The mounted root filesystem.
    pub rootfs: &'a Path,
    /// What the image says.
    pub image: &'a ImageDefaults,
    /// What the container asks for.
    pub overrides: &'a Overrides,
    /// The files hb writes for /etc.
    pub etc: &'a EtcFiles,
    /// The cgroup path (`/hb/<id>`).
    pub cgroups_path: &'a str,
    /// The init binary, for `init: true`.
    pub init: Option<&'a Path>,
}

/// Builds the runtime spec, with a warning for each request that had to be toned down.
pub fn build(input: &SpecInput<'_>) -> Result<(Spec, Vec<String>)> {
    let spec_err = |e: oci_spec::OciSpecError| Error::Spec(e.to_string());
    let o = input.overrides;
    let hostname = o
        .hostname
        .clone()
        .unwrap_or_else(|| input.id.chars().take(63).collect());
    let user = resolve_user(
        input.rootfs,
        o.user.as_deref().or(input.image.user.as_deref()),
    )?;
    let cap_add = if o.privileged {
        vec!["ALL".to_string()]
    } else {
        o.cap_add.clone()
    };
    let mut warnings = Vec::new();
    let wanted = capabilities(&cap_add, &o.cap_drop)?;
    let (granted, missing) = match own_bounding_set() {
        Some(bnd) => within_bounding(wanted, bnd),
        None => (wanted, Vec::new()),
    };
    let explicit: Vec<String> = o.cap_add.iter().map(|c| cap_name(c)).collect();
    let refused: Vec<&String> = missing.iter().filter(|c| explicit.contains(c)).collect();
    if !refused.is_empty() {
        warnings.push(format!(
            "hb itself lacks {} (not in its bounding set), so the container cannot have it",
            refused
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    } else if o.privileged && !missing.is_empty() {
        warnings.push(format!(
            "privileged, but without {}: hb itself lacks {}",
            missing.join(", "),
            if missing.len() == 1 { "it" } else { "them" }
        ));
    }
    let caps: Vec<Capability> = granted.iter().filter_map(|c| parse_cap(c)).collect();
    let caps: std::collections::HashSet<Capability> = caps.into_iter().collect();
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps)
        .build()
        .map_err(spec_err)?;
    let (limits_r, rlimit_warnings) = rlimits(&o.ulimits)?;
    warnings.extend(rlimit_warnings);

    let mut spec = Spec::default();
    spec.set_hostname(Some(hostname.clone()));
    if !o.labels.is_empty() {
        spec.set_annotations(Some(o.labels.iter().cloned().collect()));
    }
    let mut root = oci_spec::runtime::Root::default();
    root.set_path(input.rootfs.to_path_buf());
    root.set_readonly(Some(o.read_only));
    spec.set_root(Some(root));

    let mut process = oci_spec::runtime::Process::default();
    let mut argv = args(input.image, o)?;
    if o.init {
        argv.splice(0..0, [INIT_PATH.to_string(), "--".to_string()]);
    }
    process.set_args(Some(argv));
    process.set_env(Some(env(&input.image.env, &o.env, &hostname)));
    process.set_cwd(PathBuf::from(
        o.working_dir
            .clone()
            .or_else(|| input.image.working_dir.clone())
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into()),
    ));
    process.set_user(
        UserBuilder::default()
            .uid(user.uid)
            .gid(user.gid)
            .additional_gids(user.additional_gids.clone())
            .build()
            .map_err(spec_err)?,
    );
    process.set_capabilities(Some(capabilities));
    process.set_rlimits(Some(limits_r));
    process.set_no_new_privileges(Some(o.no_new_privileges.unwrap_or(!o.privileged)));
    process.set_terminal(Some(o.terminal));
    spec.set_process(Some(process));

    let mut mounts = spec.mounts().clone().unwrap_or_default();
    let shm = o.shm_size.unwrap_or(64 << 20);
    for m in mounts.iter_mut() {
        let dest = m.destination().clone();
        if dest == Path::new("/dev/shm") {
            m.set_options(Some(vec![
                "nosuid".into(),
                "noexec".into(),
                "nodev".into(),
                "mode=1777".into(),
                format!("size={shm}"),
            ]));
        }
        if o.privileged && (dest == Path::new("/sys") || dest == Path::new("/sys/fs/cgroup")) {
            let opts: Vec<String> = m
                .options()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .filter(|x| x != "ro")
                .collect();
            m.set_options(Some(opts));
        }
    }
    if o.init {
        let init = input.init.ok_or_else(|| Error::Spec("`init` needs a static init binary: install tini (apt-get install tini) or set HB_INIT".into()))?;
        mounts.push(bind(init, INIT_PATH, true)?);
    }
    mounts.push(bind(&input.etc.hosts, "/etc/hosts", false)?);
    mounts.push(bind(&input.etc.resolv_conf, "/etc/resolv.conf", false)?);
    mounts.push(bind(&input.etc.hostname, "/etc/hostname", false)?);
    for m in &o.mounts {
        mounts.push(requested_mount(m)?);
    }
    // Parents before children, as Docker orders them: a volume at /etc must not
    // hide the /etc/hosts mounted into it (a stable sort keeps the rest in order).
    mounts.sort_by_key(|m| m.destination().components().count());
    spec.set_mounts(Some(mounts));

    let limits = resources(o)?;
    if let Some(linux) = spec.linux_mut() {
        linux.set_cgroups_path(Some(PathBuf::from(input.cgroups_path)));
        if limits.is_some() {
            linux.set_resources(limits);
        }
        if o.privileged || o.unconfined_paths {
            linux.set_masked_paths(Some(vec![]));
            linux.set_readonly_paths(Some(vec![]));
        } else {
            linux.set_masked_paths(Some(MASKED.iter().map(|s| s.to_string()).collect()));
            linux.set_readonly_paths(Some(READONLY.iter().map(|s| s.to_string()).collect()));
        }
        if !o.sysctls.is_empty() {
            linux.set_sysctl(Some(o.sysctls.iter().cloned().collect()));
        }
        // Private: a network namespace of its own with only `lo`, so no route out.
        // Join: one `net` prepared (veth on the project's bridge). Host: none.
        let namespaces: Vec<LinuxNamespace> = [
            LinuxNamespaceType::Pid,
            LinuxNamespaceType::Network,
            LinuxNamespaceType::Ipc,
            LinuxNamespaceType::Uts,
            LinuxNamespaceType::Mount,
        ]
        .into_iter()
        .filter(|t| *t != LinuxNamespaceType::Network || o.netns != NetNs::Host)
        .map(|t| {
            let mut n = LinuxNamespace::default();
            n.set_typ(t);
            if let (LinuxNamespaceType::Network, NetNs::Join(path)) = (t, &o.netns) {
                n.set_path(Some(path.clone()));
            }
            n
        })
        .collect();
        linux.set_namespaces(Some(namespaces));
    }
    Ok((spec, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Option<Vec<String>> {
        Some(s.iter().map(|x| x.to_string()).collect())
    }

    #[test]
    fn security_opts_are_read_as_docker_reads_them() {
        let mut o = Overrides::default();
        assert_eq!(
            security_opt(&mut o, "systempaths=unconfined").expect("ok"),
            None
        );
        assert!(o.unconfined_paths);
        security_opt(&mut o, "no-new-privileges:false").expect("ok");
        assert_eq!(o.no_new_privileges, Some(false));
        security_opt(&mut o, "no-new-privileges").expect("ok");
        assert_eq!(o.no_new_privileges, Some(true));
        assert!(security_opt(&mut o, "seccomp=unconfined")
            .expect("ok")
            .is_some());
        assert!(security_opt(&mut o, "bogus").is_err());
    }

    #[test]
    fn args_follow_dockers_rules() {
        let image = ImageDefaults {
            entrypoint: v(&["/entry"]),
            cmd: v(&["default", "args"]),
            ..Default::default()
        };
        let bare = ImageDefaults {
            cmd: v(&["sh"]),
            ..Default::default()
        };
        type Case<'a> = (
            &'a ImageDefaults,
            Option<Vec<String>>,
            Option<Vec<String>>,
            &'a [&'a str],
        );
        let cases: &[Case<'_>] = &[
            (&image, None, None, &["/entry", "default", "args"]),
            (&image, None, v(&["x"]), &["/entry", "x"]),
            (&image, v(&["/other"]), None, &["/other"]),
            (&image, v(&["/other"]), v(&["y"]), &["/other", "y"]),
            (&bare, None, None, &["sh"]),
            (&bare, None, v(&["echo", "hi"]), &["echo", "hi"]),
            (&bare, v(&["/bin/env"]), None, &["/bin/env"]),
        ];
        for (img, entrypoint, command, want) in cases {
            let o = Overrides {
                entrypoint: entrypoint.clone(),
                command: command.clone(),
                ..Default::default()
            };
            assert_eq!(
                args(img, &o).expect("args"),
                want.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                "{entrypoint:?} {command:?}"
            );
        }
        let empty = ImageDefaults::default();
        assert!(matches!(
            args(&empty, &Overrides::default()),
            Err(Error::NoCommand)
        ));
        let o = Overrides {
            entrypoint: Some(vec![]),
            ..Default::default()
        };
        assert!(
            args(&image, &o).is_err(),
            "an empty entrypoint override with no command leaves nothing to run"
        );
    }

    #[test]
    fn env_merges_key_by_key() {
        let image = vec!["PATH=/bin".to_string(), "A=1".into(), "B=2".into()];
        let o = vec![
            ("B".to_string(), Some("3".to_string())),
            ("C".into(), Some("x=y".into())),
            ("A".into(), None),
        ];
        assert_eq!(
            env(&image, &o, "h"),
            vec!["PATH=/bin", "B=3", "C=x=y", "HOSTNAME=h"]
        );
        assert!(env(&[], &[], "h")[0].starts_with("PATH=/usr/local/sbin"));
    }

    #[test]
    fn users_resolve_through_the_images_files() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(d.path().join("etc")).expect("mkdir");
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nhb:x:1000:1000::/home/hb:/bin/sh\n",
        )
        .expect("passwd");
        std::fs::write(
            d.path().join("etc/group"),
            "root:x:0:\nhb:x:1000:\nwheel:x:10:hb,other\naudio:x:29:hb\n",
        )
        .expect("group");
        let r =
            |u: Option<&str>| resolve_user(d.path(), u).map(|x| (x.uid, x.gid, x.additional_gids));
        assert_eq!(r(None).expect("root"), (0, 0, vec![]));
        assert_eq!(r(Some("hb")).expect("name"), (1000, 1000, vec![10, 29]));
        assert_eq!(r(Some("1000")).expect("uid"), (1000, 1000, vec![10, 29]));
        assert_eq!(r(Some("1000:10")).expect("uid:gid"), (1000, 10, vec![]));
        assert_eq!(r(Some("hb:wheel")).expect("name:group"), (1000, 10, vec![]));
        assert_eq!(
            r(Some("4242")).expect("unknown uid is fine"),
            (4242, 0, vec![])
        );
        let e = resolve_user(d.path(), Some("nobody")).expect_err("unknown name");
        assert!(e.to_string().contains("/etc/passwd"), "{e}");
        assert!(resolve_user(d.path(), Some("hb:nogroup")).is_err());
    }

    #[test]
    fn limits_become_linux_resources() {
        let o = Overrides {
            memory: Some(64 << 20),
            cpus: Some(0.5),
            pids: Some(32),
            ..Default::default()
        };
        let r = resources(&o).expect("resources").expect("some");
        assert_eq!(r.memory().as_ref().and_then(|m| m.limit()), Some(64 << 20));
        assert_eq!(r.cpu().as_ref().and_then(|c| c.quota()), Some(50_000));
        assert_eq!(r.cpu().as_ref().and_then(|c| c.period()), Some(100_000));
        assert_eq!(r.pids().as_ref().map(|p| p.limit()), Some(32));
        assert!(resources(&Overrides::default()).expect("none").is_none());
    }

    #[test]
    fn ulimits_are_clamped_to_hbs_own_hard_limits() {
        let (_, own) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .expect("getrlimit");
        let (l, warnings) =
            rlimits(&[("nofile".into(), u64::MAX, u64::MAX), ("core".into(), 0, 0)])
                .expect("rlimits");
        let nofile = l
            .iter()
            .find(|r| r.typ() == PosixRlimitType::RlimitNofile)
            .expect("nofile");
        assert_eq!(nofile.hard(), own);
        assert!(warnings.iter().any(|w| w.contains("nofile")) || own == u64::MAX);
        assert!(l
            .iter()
            .any(|r| r.typ() == PosixRlimitType::RlimitCore && r.hard() == 0));
        let err = rlimits(&[("bogus".into(), 1, 1)]).expect_err("bogus");
        assert!(err.to_string().contains("use one of core, cpu"), "{err}");
    }

    #[test]
    fn capabilities_stay_within_the_bounding_set() {
        let caps = vec!["CAP_CHOWN".to_string(), "CAP_SYS_RESOURCE".to_string()];
        let bnd_without_sys_resource = !(1u64 << 24);
        assert_eq!(
            within_bounding(caps.clone(), bnd_without_sys_resource),
            (
                vec!["CAP_CHOWN".to_string()],
                vec!["CAP_SYS_RESOURCE".to_string()]
            )
        );
        assert_eq!(within_bounding(caps.clone(), u64::MAX).0, caps);
        assert_eq!(CAP_NUMBERS[21], "CAP_SYS_ADMIN");
        assert_eq!(CAP_NUMBERS.len(), all_caps().len());
    }

    #[test]
    fn capabilities_add_and_drop() {
        let caps = capabilities(
            &["NET_ADMIN".into()],
            &["mknod".into(), "CAP_NET_RAW".into()],
        )
        .expect("caps");
        assert!(caps.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(
            !caps.contains(&"CAP_MKNOD".to_string()) && !caps.contains(&"CAP_NET_RAW".to_string())
        );
        assert_eq!(
            capabilities(&[], &["ALL".into()]).expect("none"),
            Vec::<String>::new()
        );
        assert_eq!(
            capabilities(&["CHOWN".into()], &["ALL".into()]).expect("only chown"),
            vec!["CAP_CHOWN".to_string()]
        );
        assert!(capabilities(&["ALL".into()], &[])
            .expect("all")
            .contains(&"CAP_SYS_ADMIN".to_string()));
        assert!(matches!(
            capabilities(&["NOT_A_CAP".into()], &[]),
            Err(Error::Capability { .. })
        ));
    }
}
