//! Waking the threads that wait on containers' status files.
//!
//! The shim renames each new status into place and crun writes the
//! container's pid file once it runs: inotify on the containers' directories
//! tells a waiter at once, instead of a poll's worth of milliseconds later —
//! and a poll loop competes for the CPU with the crun it waits for (on two
//! cores, polling every 0.5 ms made `crun run` under hb 3 ms slower).
//!
//! One inotify descriptor serves the whole process and is never closed:
//! closing one waits for an RCU grace period (fsnotify's `synchronize_srcu`),
//! ~1 ms here, 10–20 ms while a watched directory is busy — more than the
//! wait it saves. Even at exit: `hb container run` hands it to the shim it
//! started ahead, which holds it until the CLI has exited (`handoff`).
//!
//! Threads share it (the daemon and `hb up` start many containers at once),
//! so one of them at a time polls it and drains the events, then bumps a
//! generation and wakes the others; a waiter that read the generation before
//! its own check never misses an event another thread drained.

use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};

/// A watch on a directory, removed when the last guard for it goes: a CLI
/// that exits with a watch on a directory still busy (its shim writing or
/// deleting there) waits 5–20 ms in the kernel as its inotify descriptor
/// closes (a full SRCU grace period); a watch removed as soon as its wait is
/// over costs nothing.
pub(crate) struct Watching<'a> {
    wake: &'a Wake,
    wd: WatchDescriptor,
}

impl<'a> Watching<'a> {
    /// The watcher to wait on.
    pub(crate) fn wake(&self) -> &'a Wake {
        self.wake
    }
}

impl Drop for Watching<'_> {
    fn drop(&mut self) {
        let mut held = self.wake.held();
        if let Some(n) = held.get_mut(&self.wd) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.wd);
                // Gone already if its directory was removed.
                let _ = self.wake.fd.rm_watch(self.wd);
            }
        }
    }
}

/// The process's status watcher.
pub(crate) struct Wake {
    fd: Inotify,
    /// (generation, whether a thread is polling the descriptor now).
    state: Mutex<(u64, bool)>,
    changed: Condvar,
    /// How many guards hold each watch.
    watches: Mutex<HashMap<WatchDescriptor, usize>>,
}

impl Wake {
    /// The one watcher, or `None` where inotify is unavailable (the callers
    /// then poll).
    pub(crate) fn get() -> Option<&'static Wake> {
        static ONE: OnceLock<Option<Wake>> = OnceLock::new();
        ONE.get_or_init(|| {
            let fd = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).ok()?;
            Some(Wake {
                fd,
                state: Mutex::new((0, false)),
                changed: Condvar::new(),
                watches: Mutex::new(HashMap::new()),
            })
        })
        .as_ref()
    }

    /// Watches `dir` for files renamed into it or written there, for as
    /// long as the returned guard lives (threads watching one directory share
    /// the watch; the last guard removes it). A watch goes by itself when its
    /// directory is removed. `None` if it cannot be added.
    pub(crate) fn watch(&self, dir: &Path) -> Option<Watching<'_>> {
        let mut held = self.held();
        let wd = self.fd.add_watch(dir, Self::EVENTS).ok()?;
        *held.entry(wd).or_insert(0) += 1;
        Some(Watching { wake: self, wd })
    }

    /// The inotify descriptor, for a shim to hold until this process has
    /// exited: the last close is then the shim's, and so is its wait.
    pub(crate) fn descriptor(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Files renamed into a directory or written there.
    const EVENTS: AddWatchFlags = AddWatchFlags::IN_MOVED_TO.union(AddWatchFlags::IN_CLOSE_WRITE);

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<WatchDescriptor, usize>> {
        self.watches.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The generation to pass to [`Wake::wait`]: read it before checking.
    pub(crate) fn generation(&self) -> u64 {
        self.lock().0
    }

    /// Returns once something changed in a watched directory since `seen`
    /// was read, or after `most`.
    pub(crate) fn wait(&self, seen: u64, most: Duration) {
        let mut s = self.lock();
        if s.0 != seen {
            return;
        }
        if s.1 {
            // Another thread polls: it wakes everyone when it is done.
            let _ = self.changed.wait_timeout(s, most);
            return;
        }
        s.1 = true;
        drop(s);
        let events = self.poll(most);
        let mut s = self.lock();
        if events {
            s.0 = s.0.wrapping_add(1);
        }
        s.1 = false;
        self.changed.notify_all();
    }

    /// Sleeps until the descriptor has events (then drains them) or `most`
    /// passes; true if there were events.
    fn poll(&self, most: Duration) -> bool {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let ms = u16::try_from(most.as_millis().max(1)).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::from(ms)).unwrap_or(0) == 0 {
            return false;
        }
        while self.fd.read_events().is_ok_and(|e| !e.is_empty()) {}
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, bool)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// The watcher is the process's: one test at a time.
    static ONE: Mutex<()> = Mutex::new(());

    /// Lets the events queued already (another test's removed watches) go.
    fn settle(wake: &Wake) {
        loop {
            let seen = wake.generation();
            wake.wait(seen, Duration::from_millis(20));
            if wake.generation() == seen {
                return;
            }
        }
    }

    #[test]
    fn a_rename_wakes_every_waiter_and_a_quiet_directory_lets_them_sleep() {
        let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().expect("a temporary directory");
        let wake = Wake::get().expect("inotify");
        let _watching = wake.watch(dir.path()).expect("a watch");
        settle(wake);
        // Nothing happens: the wait lasts its whole nap.
        let seen = wake.generation();
        let t = Instant::now();
        wake.wait(seen, Duration::from_millis(30));
        assert!(
            t.elapsed() >= Duration::from_millis(25),
            "{:?}",
            t.elapsed()
        );
        // Four threads wait; one rename wakes them all long before their nap ends.
        let seen = wake.generation();
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(move || {
                    let t = Instant::now();
                    while wake.generation() == seen && t.elapsed() < Duration::from_secs(5) {
                        wake.wait(seen, Duration::from_secs(5));
                    }
                    t.elapsed()
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        let (tmp, status) = (dir.path().join("status.tmp"), dir.path().join("status"));
        std::fs::write(&tmp, "x").expect("write");
        std::fs::rename(&tmp, &status).expect("rename");
        for w in waiters {
            let waited = w.join().expect("a waiter");
            assert!(waited < Duration::from_secs(2), "{waited:?}");
        }
        assert_ne!(wake.generation(), seen);
    }

    #[test]
    fn a_watch_lasts_while_a_guard_for_it_does() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
        let wake = Wake::get().expect("inotify");
        let renamed = |name: &str| {
            settle(wake);
            let seen = wake.generation();
            let tmp = dir.path().join("tmp");
            std::fs::write(&tmp, "x").expect("write");
            std::fs::rename(&tmp, dir.path().join(name)).expect("rename");
            // The event is there at once; 100 ms is a generous bound.
            let t = Instant::now();
            while wake.generation() == seen && t.elapsed() < Duration::from_millis(100) {
                wake.wait(seen, Duration::from_millis(100));
            }
            wake.generation() != seen
        };
        let (a, b) = (wake.watch(dir.path()), wake.watch(dir.path()));
        assert!(a.is_some() && b.is_some());
        drop(a);
        assert!(renamed("one"), "the second guard keeps the watch");
        drop(b);
        assert!(!renamed("two"), "the last guard removed it");
        let _c = wake.watch(dir.path()).expect("a watch again");
        assert!(renamed("three"));
    }
}
