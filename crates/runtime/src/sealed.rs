//! Running crun from a sealed in-memory copy of itself.
//!
//! Before `crun run` or `crun exec` starts a process in a container, crun
//! makes sure the binary that process could reach through `/proc/self/exe` is
//! not the one on the host's disk (CVE-2019-5736: a container overwriting its
//! runtime): unless it already runs from a memfd sealed against writes, it
//! copies itself into one and executes itself again — a second exec, with its
//! shared libraries loaded a second time, ~1.5 ms of every start on this VM.
//! Handing crun that sealed copy ourselves leaves the protection whole (crun
//! checks the seals: `is_self_cloned` in its `cloned_binary.c`, from runc)
//! and costs one copy of ~0.5 MB from the page cache. crun maps the copy as
//! it would have mapped its own; nothing holds it after crun exits.
//!
//! Std and `rustix` only: the shim includes this file too.

use std::fs::File;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

/// A command running `program` from a sealed memfd copy, and the copy, to
/// keep open until the command has spawned. Where the copy cannot be made
/// (no memfd), the program itself, as before.
pub fn command(program: &Path) -> (Command, Option<File>) {
    match copy(program) {
        Ok(copy) => command_from(program, copy),
        Err(_) => (Command::new(program), None),
    }
}

/// A command running `program` from `copy`, a sealed copy of it made
/// elsewhere ([`copy`]; `hb container run` makes its shim's), and the copy.
pub fn command_from(program: &Path, copy: File) -> (Command, Option<File>) {
    use std::os::fd::AsRawFd;
    let mut cmd = Command::new(format!("/proc/self/fd/{}", copy.as_raw_fd()));
    // Its name in `ps` and its own messages stays the program's.
    cmd.arg0(program);
    (cmd, Some(copy))
}

/// `program`'s bytes in a memfd sealed as crun and runc expect (seal, shrink,
/// grow, write: nothing can change it any more). Close-on-exec: the child
/// execs it by its `/proc/self/fd` path, which the kernel opens before it
/// closes the descriptor — which is also why only an ELF binary is copied: a
/// script's interpreter would find that path gone (a wrapper script in
/// `HB_CRUN` runs as it is).
pub fn copy(program: &Path) -> io::Result<File> {
    use rustix::fs::{fcntl_add_seals, memfd_create, MemfdFlags, SealFlags};
    use std::io::{Read, Write};
    let mut original = File::open(program)?;
    let mut magic = [0u8; 4];
    original.read_exact(&mut magic)?;
    if &magic != b"\x7fELF" {
        return Err(io::Error::other("not an ELF binary"));
    }
    let fd = memfd_create("hb-crun", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
    let mut copy = File::from(fd);
    copy.write_all(&magic)?;
    io::copy(&mut original, &mut copy)?;
    fcntl_add_seals(
        &copy,
        SealFlags::SEAL | SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE,
    )?;
    Ok(copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_runs_and_is_sealed() {
        let (mut cmd, copy) = command(Path::new("/bin/sh"));
        let copy = copy.expect("a memfd copy");
        let seals = rustix::fs::fcntl_get_seals(&copy).expect("seals");
        assert!(seals.contains(rustix::fs::SealFlags::WRITE | rustix::fs::SealFlags::SEAL));
        let out = cmd.args(["-c", "echo $0"]).output().expect("the copy runs");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "/bin/sh\n");
        // Sealed: no byte of it can change.
        use std::io::Write;
        assert!((&copy).write_all(b"x").is_err());
    }

    #[test]
    fn a_script_runs_as_it_is() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let script = dir.path().join("crun");
        std::fs::write(&script, "#!/bin/sh\necho wrapped\n").expect("write");
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        let (mut cmd, copy) = command(&script);
        assert!(copy.is_none());
        // A child another test thread is spawning may hold the script open
        // for writing until its exec (ETXTBSY): try again for a moment.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let out = loop {
            match cmd.output() {
                Err(e)
                    if e.kind() == io::ErrorKind::ExecutableFileBusy
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(5))
                }
                r => break r.expect("the script runs"),
            }
        };
        assert_eq!(String::from_utf8_lossy(&out.stdout), "wrapped\n");
    }
}
