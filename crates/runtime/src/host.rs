//! The host as hb touches it: [`Host`] — files under /proc and /sys, mount
//! points, programs on PATH, free disk — for the checks; [`Mounts`] — overlay
//! mounts — for container root filesystems and build steps. [`RealHost`] and
//! [`RealMounts`] are the machine; tests supply others.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What the checks ask of the machine.
pub trait Host {
    /// Reads a (small) file.
    fn read(&self, path: &Path) -> io::Result<String>;
    /// True if `path` exists.
    fn exists(&self, path: &Path) -> bool;
    /// True if `path` is a mount point.
    fn is_mountpoint(&self, path: &Path) -> bool;
    /// The first line of `program --version`, if the program runs.
    fn version(&self, program: &str) -> Option<String>;
    /// Bytes available to unprivileged users on the filesystem holding `path`.
    fn free_bytes(&self, path: &Path) -> Option<u64>;
    /// True when running as root.
    fn is_root(&self) -> bool;
    /// Mounts a cgroup v1 hierarchy with `controller` at `target` (creating it).
    fn mount_cgroup_v1(&self, controller: &str, target: &Path) -> io::Result<()>;
}

/// This machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealHost;

impl Host for RealHost {
    fn read(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn is_mountpoint(&self, path: &Path) -> bool {
        // statx says so in one call (STATX_ATTR_MOUNT_ROOT, Linux 5.8); reading
        // /proc/self/mountinfo costs more the more there is mounted.
        use rustix::fs::{statx, AtFlags, StatxAttributes, StatxFlags, CWD};
        if let Ok(s) = statx(
            CWD,
            path,
            AtFlags::SYMLINK_NOFOLLOW,
            StatxFlags::BASIC_STATS,
        ) {
            if s.stx_attributes_mask.contains(StatxAttributes::MOUNT_ROOT) {
                return s.stx_attributes.contains(StatxAttributes::MOUNT_ROOT);
            }
        }
        // Older kernels: a mount point is a line of /proc/self/mountinfo (field 5).
        let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
            return false;
        };
        let want = path.to_string_lossy();
        info.lines().any(|l| l.split(' ').nth(4) == Some(&want))
    }

    fn version(&self, program: &str) -> Option<String> {
        let out = Command::new(program).arg("--version").output().ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .map(str::to_string)
    }

    fn free_bytes(&self, path: &Path) -> Option<u64> {
        // The path may not exist yet: ask about its nearest existing ancestor.
        let existing: PathBuf = path.ancestors().find(|p| p.exists())?.to_path_buf();
        let s = nix::sys::statvfs::statvfs(&existing).ok()?;
        Some(s.blocks_available() as u64 * s.fragment_size() as u64)
    }

    fn is_root(&self) -> bool {
        nix::unistd::Uid::effective().is_root()
    }

    fn mount_cgroup_v1(&self, controller: &str, target: &Path) -> io::Result<()> {
        std::fs::create_dir_all(target)?;
        nix::mount::mount(
            Some("cgroup"),
            target,
            Some("cgroup"),
            nix::mount::MsFlags::empty(),
            Some(controller),
        )
        .map_err(io::Error::from)
    }
}

/// The mounts containers and image builds make: overlay root filesystems.
pub trait Mounts: Send + Sync + std::fmt::Debug {
    /// Mounts an overlay of `lower` (lowest first) at `target`: writable through
    /// `rw`'s upper and work dirs, else read-only. `volatile` skips every sync
    /// of the upper dir (for what is thrown away when it stops, kernel
    /// `Documentation/filesystems/overlayfs.rst`, "Volatile mount").
    fn overlay(
        &self,
        lower: &[PathBuf],
        rw: Option<(&Path, &Path)>,
        volatile: bool,
        target: &Path,
    ) -> io::Result<()>;
    /// Unmounts `target` (lazily: a process still inside keeps it until it leaves).
    fn unmount(&self, target: &Path) -> io::Result<()>;
    /// Unmounts `target` at once if nothing uses it (`true`); else lazily, as
    /// [`Mounts::unmount`] does (`false`: the filesystem lives on meanwhile).
    fn unmount_idle(&self, target: &Path) -> io::Result<bool> {
        self.unmount(target).map(|()| false)
    }
    /// True if `path` is a mount point.
    fn is_mountpoint(&self, path: &Path) -> bool;
}

/// This machine's mounts.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealMounts;

impl Mounts for RealMounts {
    fn overlay(
        &self,
        lower: &[PathBuf],
        rw: Option<(&Path, &Path)>,
        volatile: bool,
        target: &Path,
    ) -> io::Result<()> {
        // overlayfs lists the top layer first.
        let lowers: Vec<String> = lower
            .iter()
            .rev()
            .map(|p| p.display().to_string())
            .collect();
        let mut opts = format!("lowerdir={}", lowers.join(":"));
        let mut flags = nix::mount::MsFlags::empty();
        match rw {
            Some((upper, work)) => {
                opts.push_str(&format!(
                    ",upperdir={},workdir={}",
                    upper.display(),
                    work.display()
                ));
                if volatile {
                    opts.push_str(",volatile");
                }
            }
            None => flags |= nix::mount::MsFlags::MS_RDONLY,
        }
        nix::mount::mount(
            Some("overlay"),
            target,
            Some("overlay"),
            flags,
            Some(opts.as_str()),
        )
        .map_err(io::Error::from)
    }

    fn unmount(&self, target: &Path) -> io::Result<()> {
        nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH).map_err(io::Error::from)
    }

    fn unmount_idle(&self, target: &Path) -> io::Result<bool> {
        match nix::mount::umount2(target, nix::mount::MntFlags::empty()) {
            Ok(()) => Ok(true),
            Err(nix::errno::Errno::EBUSY) => self.unmount(target).map(|()| false),
            Err(e) => Err(e.into()),
        }
    }

    fn is_mountpoint(&self, path: &Path) -> bool {
        RealHost.is_mountpoint(path)
    }
}
