//! `exec` on a terminal (`hb exec` on a terminal, `hb container exec -it`):
//! crun makes a pseudo-terminal in the container and hands its master end over
//! a Unix socket (`--console-socket`, as runc and podman do); this side puts
//! the user's terminal in raw mode and copies both ways, passing window size
//! changes on, until the command exits.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use hb_runtime::container::{Container, Runtime};
use rustix::termios::{OptionalActions, Termios};

/// True when both standard input and output are terminals (where `hb exec`
/// allocates a TTY unless told `-T`, as `docker compose exec` does).
pub fn on_terminal() -> bool {
    rustix::termios::isatty(std::io::stdin().as_fd())
        && rustix::termios::isatty(std::io::stdout().as_fd())
}

/// The user's terminal in raw mode while alive; restored when dropped.
struct Raw(Option<Termios>);

impl Raw {
    fn enable() -> Self {
        let stdin = std::io::stdin();
        let Ok(saved) = rustix::termios::tcgetattr(stdin.as_fd()) else {
            return Raw(None);
        };
        let mut raw = saved.clone();
        raw.make_raw();
        let _ = rustix::termios::tcsetattr(stdin.as_fd(), OptionalActions::Now, &raw);
        Raw(Some(saved))
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            let _ = rustix::termios::tcsetattr(std::io::stdin().as_fd(), OptionalActions::Now, t);
        }
    }
}

/// The file descriptor crun sends over the console socket.
fn receive_fd(stream: &UnixStream) -> Result<OwnedFd> {
    hb_runtime::console::receive_terminal(stream).context("cannot receive the terminal from crun")
}

/// Copies the terminal's window size to the container's terminal.
fn resize(master: &OwnedFd) {
    // (A terminal that reports 0x0 — some wrappers do — tells nothing.)
    if let Ok(ws) = rustix::termios::tcgetwinsize(std::io::stdout().as_fd()) {
        if ws.ws_row > 0 && ws.ws_col > 0 {
            let _ = rustix::termios::tcsetwinsize(master, ws);
        }
    }
}

/// A console socket for crun to send a terminal's master end to.
pub struct Console {
    listener: UnixListener,
    path: PathBuf,
}

impl Console {
    /// Listens at `$HB_RUN/console/<id>.<pid>.sock`.
    pub fn new(rt: &Runtime, id: &str) -> Result<Self> {
        let dir = rt.run.join("console");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join(format!("{id}.{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)
            .with_context(|| format!("cannot listen on {}", path.display()))?;
        listener.set_nonblocking(true)?;
        Ok(Console { listener, path })
    }

    /// Where crun connects.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The master end, once crun sends it; `gone` says when to give up (crun
    /// failed before it made the terminal) and why.
    pub fn master(&self, gone: &mut dyn FnMut() -> Result<Option<String>>) -> Result<OwnedFd> {
        let stream = loop {
            match self.listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if let Some(why) = gone()? {
                        bail!("{why} before it made a terminal");
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => return Err(e.into()),
            }
        };
        stream.set_nonblocking(false)?;
        receive_fd(&stream)
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Wires this terminal to `master` until the terminal closes (EIO once the
/// command has exited): raw mode, window size and its changes, keystrokes in,
/// output out.
pub fn session(master: OwnedFd) -> Result<()> {
    resize(&master);
    let _raw = Raw::enable();
    let winch_master = master.try_clone()?;
    crate::signals::on(
        &[tokio::signal::unix::SignalKind::window_change()],
        move || resize(&winch_master),
    );
    // Keystrokes in; the thread stays blocked on stdin when the command ends.
    let mut to_master = std::fs::File::from(master.try_clone()?);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut stdin = std::io::stdin();
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 || to_master.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    let mut from_master = std::fs::File::from(master);
    let mut out = std::io::stdout();
    let mut buf = [0u8; 16384];
    while let Ok(n) = from_master.read(&mut buf) {
        if n == 0 || out.write_all(&buf[..n]).and_then(|_| out.flush()).is_err() {
            break;
        }
    }
    Ok(())
}

/// Runs `command` in `c` on a new terminal wired to this one; returns its exit code.
pub fn exec(
    rt: &Runtime,
    c: &Container,
    command: &[String],
    env: &[(String, Option<String>)],
    user: Option<&str>,
    workdir: Option<&str>,
) -> Result<i32> {
    let console = Console::new(rt, &c.id)?;
    let mut crun = rt.exec_console(c, command, env, user, workdir, console.path())?;
    let master = console.master(&mut || {
        Ok(crun
            .try_wait()?
            .map(|status| format!("crun exec failed ({status})")))
    })?;
    drop(console);
    session(master)?;
    Ok(crun.wait()?.code().unwrap_or(255))
}
