//! Handing a container to a shim started ahead of it.
//!
//! `hb container run` starts its hb-shim before it opens the store and makes
//! the container, so that the shim's exec and start-up (~0.8 ms here) overlap
//! that work instead of following it. The shim (`hb-shim --wait`) then reads
//! one message on its stdin, a Unix seqpacket socket: its arguments, NUL
//! separated, and the container's `shim.lock` as an `SCM_RIGHTS` descriptor —
//! the same open file, locked by the sender, that a shim spawned the usual way
//! gets as its stdin (see `Runtime::start`). No message (the CLI failed before
//! it had a container, or died): the shim exits.
//!
//! With them may come the CLI's inotify descriptor, for the shim to hold until
//! the CLI has exited (see `wake`): the last close of an inotify descriptor
//! waits for the kernel to retire its watches (fsnotify's `synchronize_srcu`,
//! ~0.9 ms here, measured around `close`), and that wait is better the
//! shim's, after the fact, than in the exit of a `run` someone waits for.
//!
//! And with them may come the sealed copy of crun the shim runs crun from
//! (see `sealed`), made by the CLI rather than by the shim: without it, the
//! CLI hands the container over ~0.25 ms before a shim (linked dynamically,
//! ~1 ms from its spawn to `main`) is ready to take it, and the copy is then
//! on the shim's way to crun's start (timestamps in an instrumented build).
//!
//! The message starts with a field naming the optional descriptors that
//! follow the lock, in order (`w`: the watcher, `c`: crun's copy).
//!
//! Std and `rustix` only: the shim includes this file too.

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// The most a message may hold: arguments are paths and a healthcheck.
const MAX: usize = 64 * 1024;

/// The descriptors a container is handed over with.
pub struct Descriptors<'a> {
    /// The container's `shim.lock`, locked.
    pub lock: BorrowedFd<'a>,
    /// The sender's inotify descriptor, for the shim to hold until the sender has exited.
    pub watcher: Option<BorrowedFd<'a>>,
    /// A sealed copy of crun, to run crun from.
    pub crun: Option<BorrowedFd<'a>>,
}

/// Sends `args` and `fds` to the shim waiting on the other end of `socket`.
pub fn send(socket: BorrowedFd<'_>, args: &[String], fds: Descriptors<'_>) -> io::Result<()> {
    use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    let kinds: String = [(fds.watcher.is_some(), 'w'), (fds.crun.is_some(), 'c')]
        .iter()
        .filter_map(|&(present, kind)| present.then_some(kind))
        .collect();
    let bytes = std::iter::once(kinds.as_str())
        .chain(args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join("\0")
        .into_bytes();
    if bytes.len() > MAX {
        return Err(io::Error::other("the shim's arguments are too long"));
    }
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds: Vec<BorrowedFd<'_>> = std::iter::once(fds.lock)
        .chain(fds.watcher)
        .chain(fds.crun)
        .collect();
    control.push(SendAncillaryMessage::ScmRights(&fds));
    sendmsg(
        socket,
        &[IoSlice::new(&bytes)],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    Ok(())
}

/// What a shim started ahead receives.
pub struct Handed {
    /// Its arguments.
    pub args: Vec<String>,
    /// The container's `shim.lock`, locked.
    pub lock: OwnedFd,
    /// The sender's inotify descriptor, to hold until the sender has exited.
    pub watcher: Option<OwnedFd>,
    /// A sealed copy of crun.
    pub crun: Option<OwnedFd>,
}

/// Receives what [`send`] sent on `socket`.
pub fn receive(socket: impl AsFd) -> io::Result<Handed> {
    use rustix::net::{recv, recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    // The message's length first (it waits for the message, or the end): a
    // buffer of MAX would stay in the shim's heap, 64 kB dirty for its life.
    let (_, len) = recv(&socket, &mut [0u8; 0], RecvFlags::PEEK | RecvFlags::TRUNC)?;
    let mut buf = vec![0u8; len.min(MAX)];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let got = recvmsg(
        socket,
        &mut [IoSliceMut::new(&mut buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut fds = Vec::new();
    for m in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = m {
            fds.extend(received);
        }
    }
    let mut fds = fds.into_iter();
    let lock = fds
        .next()
        .ok_or_else(|| io::Error::other("no container was handed over"))?;
    let text = String::from_utf8(buf[..got.bytes].to_vec()).map_err(io::Error::other)?;
    let mut fields = text.split('\0');
    let kinds = fields.next().unwrap_or_default();
    let mut next = |kind| {
        if kinds.contains(kind) {
            fds.next()
        } else {
            None
        }
    };
    let (watcher, crun) = (next('w'), next('c'));
    Ok(Handed {
        args: fields.map(str::to_string).collect(),
        lock,
        watcher,
        crun,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};

    #[test]
    fn the_arguments_and_the_lock_arrive_together() {
        let (a, b) = socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .expect("a socket pair");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let lock = std::fs::File::create(dir.path().join("shim.lock")).expect("a lock file");
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).expect("locked");
        let args = vec![
            "--id".to_string(),
            "web".into(),
            "--health".into(),
            "a\u{1f}b".into(),
        ];
        let only_lock = |lock| Descriptors {
            lock,
            watcher: None,
            crun: None,
        };
        send(a.as_fd(), &args, only_lock(lock.as_fd())).expect("sent");
        drop(lock);
        let Handed {
            args: got,
            lock: held,
            watcher,
            crun,
        } = receive(&b).expect("received");
        assert_eq!(got, args);
        assert!(watcher.is_none() && crun.is_none());
        // The same open file: still locked though the sender closed its copy.
        let other = std::fs::File::open(dir.path().join("shim.lock")).expect("open");
        assert!(
            rustix::fs::flock(&other, rustix::fs::FlockOperation::NonBlockingLockShared).is_err()
        );
        drop(held);
        // Released — once a child another test thread is spawning right now,
        // which holds a copy of every descriptor until its exec, has let go.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while rustix::fs::flock(&other, rustix::fs::FlockOperation::NonBlockingLockShared).is_err()
        {
            assert!(std::time::Instant::now() < deadline, "the lock stayed held");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        // The sender's watcher and crun's copy come after the lock, each
        // the same open file; either may come alone.
        let watcher = rustix::io::dup(&a).expect("a descriptor to hand over");
        let copy = std::fs::File::open(dir.path()).expect("a copy");
        let ino = |fd: BorrowedFd<'_>| rustix::fs::fstat(fd).expect("fstat").st_ino;
        let fds = Descriptors {
            lock: b.as_fd(),
            watcher: None,
            crun: Some(copy.as_fd()),
        };
        send(a.as_fd(), &args, fds).expect("sent");
        let handed = receive(&b).expect("received");
        assert!(handed.watcher.is_none());
        assert_eq!(
            ino(handed.crun.expect("the copy").as_fd()),
            ino(copy.as_fd())
        );
        let fds = Descriptors {
            lock: b.as_fd(),
            watcher: Some(watcher.as_fd()),
            crun: Some(copy.as_fd()),
        };
        send(a.as_fd(), &args, fds).expect("sent");
        let handed = receive(&b).expect("received");
        assert_eq!(handed.args, args);
        assert_eq!(ino(handed.lock.as_fd()), ino(b.as_fd()));
        assert_eq!(
            ino(handed.crun.expect("the copy").as_fd()),
            ino(copy.as_fd())
        );
        let got = handed.watcher.expect("the watcher came too");
        assert_eq!(ino(got.as_fd()), ino(watcher.as_fd()));
        // The sender gone without a word (the duplicate handed over, of its
        // own end, gone too): the shim learns it at once.
        drop((a, watcher, got, handed.lock));
        assert!(receive(&b).is_err());
    }
}
