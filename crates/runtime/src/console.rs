//! The terminal crun makes for a container with `process.terminal`: crun
//! sends its master end over a Unix socket (`--console-socket`, as runc and
//! podman do). Shared by the attached CLI (`run -it`, `exec -it`) and by
//! hb-shim, which keeps it for a detached `tty: true` service and copies what
//! it prints to the log.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;

use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};

/// Receives the terminal's master end from crun on an accepted console-socket connection.
pub fn receive_terminal(stream: &UnixStream) -> io::Result<OwnedFd> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut buf = [0u8; 64];
    rustix::net::recvmsg(
        stream,
        &mut [io::IoSliceMut::new(&mut buf)],
        &mut control,
        RecvFlags::empty(),
    )?;
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = msg {
            if let Some(fd) = fds.next() {
                return Ok(fd);
            }
        }
    }
    Err(io::Error::other(
        "crun sent no terminal over the console socket",
    ))
}
