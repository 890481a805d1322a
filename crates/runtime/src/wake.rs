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
//! 10–20 ms here, more than the wait it saves. Threads share it (the daemon and
//! `hb up` start many containers at once), so one of them at a time polls it
//! and drains the events, then bumps a generation and wakes the others;
//! a waiter that read the generation before its own check never misses an
//! event another thread drained.

use std::path::Path;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

/// The process's status watcher.
pub(crate) struct Wake {
    fd: Inotify,
    /// (generation, whether a thread is polling the descriptor now).
    state: Mutex<(u64, bool)>,
    changed: Condvar,
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
            })
        })
        .as_ref()
    }

    /// Watches `dir` for files renamed into it or written there. A watch goes
    /// by itself when its directory is removed. False if it cannot be added.
    pub(crate) fn watch(&self, dir: &Path) -> bool {
        self.fd
            .add_watch(
                dir,
                AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_CLOSE_WRITE,
            )
            .is_ok()
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
        use std::os::fd::AsFd;
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

    #[test]
    fn a_rename_wakes_every_waiter_and_a_quiet_directory_lets_them_sleep() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let wake = Wake::get().expect("inotify");
        assert!(wake.watch(dir.path()));
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
}
