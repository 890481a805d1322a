//! `hb daemon` driven by an independent client in Python's standard library
//! (tests/api/client.py): the protocol's error paths and a project up, read
//! and down (#8).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hb_test_support::{privileged, Registries};

/// Takes the test's project down whatever happens (a failed assertion included).
struct Down<'a>(&'a Path, &'a Path);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let (root, project) = (self.0, self.1);
        let _ = Command::new(env!("CARGO_BIN_EXE_hb"))
            .args(["down", "-t", "0"])
            .current_dir(project)
            .env("HB_ROOT", root)
            .env("HB_RUN", root.join("run"))
            .output();
    }
}

/// `hb daemon`, killed (SIGKILL) when dropped.
use hb_test_support::net::KillOnDrop as Daemon;

/// The project directory `apitest` under `r` (with an empty `src/`), holding `compose`.
fn apitest(r: &Path, compose: &str) -> std::path::PathBuf {
    let project = r.join("apitest");
    std::fs::create_dir_all(project.join("src")).expect("project dir");
    std::fs::write(project.join("compose.yaml"), compose).expect("write the project");
    project
}

/// Starts `hb daemon` and waits for its socket.
fn start(r: &Path, bin: &Path, sock: &Path) -> Daemon {
    let _ = std::fs::remove_file(sock);
    let daemon = Daemon(
        Command::new(bin)
            .arg("daemon")
            .env("HB_ROOT", r)
            .env("HB_RUN", r.join("run"))
            .env("HB_SHIM", hb_test_support::companion(bin, "hb-shim"))
            .env("HB_PROXY", hb_test_support::companion(bin, "hb-proxy"))
            .stderr(Stdio::null())
            .spawn()
            .expect("hb daemon"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sock.exists() {
        assert!(
            Instant::now() < deadline,
            "the daemon never made {}",
            sock.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    daemon
}

#[test]
#[ignore = "privileged: root, crun, iproute2, python3 and the fixture registries"]
fn a_python_client_drives_the_daemon() {
    if !privileged(&["registry", "crun", "ip", "python3", "setpriv"]) {
        return;
    }
    let reg = Registries::from_env().expect("registries");
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    let project = apitest(
        r,
        &format!(
            "name: apitest\nservices:\n  box:\n    image: {}/busybox:latest\n    init: true\n    command: [\"sh\", \"-c\", \"echo hello from box; exec sleep 1000\"]\n",
            reg.anon
        ),
    );
    let _down = Down(r, &project);
    let bin = Path::new(env!("CARGO_BIN_EXE_hb"));
    let sock = r.join("run/hb.sock");
    let daemon = start(r, bin, &sock);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&sock)
        .expect("socket")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o660, "the socket is not world-writable");

    // The Python client, in one of its modes (see client.py).
    let client = |mode: &str| {
        let o = Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/client.py"))
            .arg(&sock)
            .arg(&project)
            .arg(mode)
            .output()
            .expect("python3");
        assert!(
            o.status.success(),
            "{mode}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            String::from_utf8_lossy(&o.stdout).ends_with("ok\n"),
            "{mode}"
        );
    };
    client("full");

    // A peer of another uid (and not in the socket's group) is refused: by the
    // socket's mode, and — with the mode opened up — by its credentials.
    // (The directories on the way are opened, so that it is the socket that decides.)
    for dir in [r.to_path_buf(), r.join("run")] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    for mode in [0o660, 0o666] {
        std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let o = Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "/usr/bin/python3",
            ])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/client.py"))
            .arg(&sock)
            .arg(&project)
            .arg("refused")
            .output()
            .expect("setpriv");
        assert!(
            o.status.success(),
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o660)).expect("chmod");

    // The CLI itself, through the daemon (--host / HB_HOST).
    let via = |args: &[&str]| {
        let o = Command::new(bin)
            .args(args)
            .current_dir(&project)
            .env("HB_HOST", format!("unix://{}", sock.display()))
            .output()
            .expect("hb");
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    via(&["up", "-d"]);
    assert!(via(&["ps", "--format", "json"]).contains("\"state\": \"running\""));
    assert!(via(&["ls"]).contains("apitest"));
    // The other engine verbs the daemon serves; config runs here, as it reads only files.
    assert!(via(&["logs"]).contains("box-1 | hello from box"));
    assert!(via(&["logs", "--since", "1h"]).contains("hello from box"));
    assert_eq!(via(&["logs", "--until", "2000-01-01"]), "");
    assert_eq!(via(&["logs", "--tail", "0"]), "");
    assert_eq!(
        via(&["exec", "box", "sh", "-c", "echo via the daemon"]),
        "via the daemon\n"
    );
    assert_eq!(
        via(&[
            "exec",
            "-e",
            "WHO=you",
            "-u",
            "1000",
            "-w",
            "/tmp",
            "box",
            "sh",
            "-c",
            "echo $WHO $(id -u) $(pwd)",
        ]),
        "you 1000 /tmp\n"
    );
    let o = Command::new(bin)
        .args(["exec", "box", "sh", "-c", "exit 7"])
        .current_dir(&project)
        .env("HB_HOST", format!("unix://{}", sock.display()))
        .output()
        .expect("hb exec");
    assert_eq!(o.status.code(), Some(7), "exec's exit code comes back");
    via(&["restart"]);
    via(&["stop"]);
    assert!(via(&["ps", "-a", "--format", "json"]).contains("\"state\": \"exited\""));
    via(&["start"]);
    assert!(via(&["images"]).contains("busybox"));
    assert!(via(&["config"]).contains("apitest"));
    assert!(via(&["top"]).contains("sleep 1000"));
    assert!(via(&["stats", "--no-stream", "--format", "json"]).contains("\"name\": \"box-1\""));
    via(&["pause"]);
    assert!(via(&["ps", "--format", "json"]).contains("paused"));
    via(&["unpause"]);
    via(&["kill"]);
    assert!(via(&["ps", "-a", "--format", "json"]).contains("\"state\": \"exited\""));
    via(&["rm"]);
    assert_eq!(via(&["ps", "-a", "--format", "json"]).trim(), "[]");
    via(&["down"]);
    assert_eq!(via(&["ps", "-a", "--format", "json"]).trim(), "[]");

    // kill -9 of the daemon leaves the containers running; a new one sees them.
    client("up");
    drop(daemon); // SIGKILL
    let ps = Command::new(bin)
        .args(["ps", "--format", "json"])
        .current_dir(&project)
        .env("HB_ROOT", r)
        .env("HB_RUN", r.join("run"))
        .output()
        .expect("hb ps");
    let ps = String::from_utf8_lossy(&ps.stdout).into_owned();
    assert!(ps.contains("\"state\": \"running\""), "{ps}");
    let daemon = start(r, bin, &sock);
    client("after-restart");
    drop(daemon);
    let left = hb_test_support::leaks::leaks(r, &r.join("run"), &["apitest-box-1"]);
    assert!(left.is_empty(), "left behind: {left:#?}");
}

#[test]
#[ignore = "privileged: root, crun, iproute2, python3 and the fixture registries"]
fn fifty_subscribers_while_five_projects_go_up_and_down() {
    if !privileged(&["registry", "crun", "ip", "python3"]) {
        return;
    }
    let reg = Registries::from_env().expect("registries");
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    let dirs: Vec<std::path::PathBuf> = (1..=5)
        .map(|i| {
            let d = r.join(format!("load{i}"));
            std::fs::create_dir(&d).expect("dir");
            std::fs::write(
                d.join("compose.yaml"),
                format!(
                    "name: load{i}\nservices:\n  box:\n    image: {}/busybox:latest\n    init: true\n    command: [\"sh\", \"-c\", \"echo hello from load{i}; exec sleep 1000\"]\n",
                    reg.anon
                ),
            )
            .expect("write");
            d
        })
        .collect();
    let _downs: Vec<Down<'_>> = dirs.iter().map(|d| Down(r, d)).collect();
    let bin = Path::new(env!("CARGO_BIN_EXE_hb"));
    let sock = r.join("run/hb.sock");
    let daemon = start(r, bin, &sock);
    let o = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/load.py"))
        .arg(&sock)
        .args(&dirs)
        .output()
        .expect("python3");
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    drop(daemon);
    let names: Vec<String> = (1..=5).map(|i| format!("load{i}-box-1")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let left = hb_test_support::leaks::leaks(r, &r.join("run"), &refs);
    assert!(left.is_empty(), "left behind: {left:#?}");
}

/// A layer of one 2 MB file: big enough that a stalling registry stops it halfway.
fn big_layer() -> (Vec<u8>, String) {
    let mut tar = tar::Builder::new(Vec::new());
    let body = vec![7u8; 2 << 20];
    let mut h = tar::Header::new_gnu();
    h.set_size(body.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append_data(&mut h, "big.bin", &body[..])
        .expect("append");
    let raw = tar.into_inner().expect("tar");
    let diff_id = hb_test_support::fake_registry::digest(&raw);
    (raw, diff_id)
}

#[test]
#[ignore = "privileged: root, crun, iproute2, python3 and the fixture registries"]
fn streams_cancel_and_watch_through_the_daemon() {
    use hb_test_support::fake_registry::{Content, FakeRegistry, Fault};
    if !privileged(&["registry", "crun", "ip", "python3"]) {
        return;
    }
    let reg = Registries::from_env().expect("registries");
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    let (layer, diff_id) = big_layer();
    let stalling = rt.block_on(FakeRegistry::start(
        Content::single_layer("v1", layer, &diff_id),
        Fault::Stall,
    ));
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    let project = apitest(
        r,
        &format!(
            "name: apitest\nservices:\n  box:\n    image: {}/busybox:latest\n    init: true\n    command: [\"sleep\", \"1000\"]\n    develop:\n      watch:\n        - path: ./src\n          action: sync\n          target: /src\n",
            reg.anon
        ),
    );
    let _down = Down(r, &project);
    let bin = Path::new(env!("CARGO_BIN_EXE_hb"));
    let sock = r.join("run/hb.sock");
    let daemon = start(r, bin, &sock);
    let o = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/client.py"))
        .arg(&sock)
        .arg(&project)
        .args(["streams", &reg.anon, &stalling.addr.to_string()])
        .output()
        .expect("python3");
    assert!(
        o.status.success() && String::from_utf8_lossy(&o.stdout).ends_with("ok\n"),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    // Nothing of the cancelled pull is left half-done in the store.
    let tmp: Vec<_> = std::fs::read_dir(r.join("tmp")).expect("tmp").collect();
    assert!(tmp.is_empty(), "{tmp:?}");

    // `hb --host … watch`: up, the daemon watches, this CLI prints its actions;
    // Ctrl-C stops the daemon's watch and leaves the project up.
    let host = format!("unix://{}", sock.display());
    let mut watch = hb_test_support::net::KillOnDrop(
        Command::new(bin)
            .arg("watch")
            .current_dir(&project)
            .env("HB_HOST", &host)
            .stderr(Stdio::piped())
            .spawn()
            .expect("hb watch"),
    );
    let lines = hb_test_support::net::gather_lines(watch.0.stderr.take().expect("stderr"));
    let wait_for = |what: &str| {
        hb_test_support::net::line_with(&lines, what, Duration::from_secs(20));
    };
    wait_for("watching apitest through the daemon");
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(project.join("src/page.txt"), "through the CLI\n").expect("write");
    wait_for("box: synced 1 file");
    hb_test_support::net::ctrl_c(&watch.0);
    assert!(watch.0.wait().expect("watch ends").success());
    let stopped = hb_api::request(
        &sock,
        "project.watch.stop",
        serde_json::json!({"project_dir": project}),
    );
    assert!(
        stopped.as_ref().is_err_and(|e| e.contains("not_found")),
        "Ctrl-C stopped the daemon's watch: {stopped:?}"
    );
    let ps = Command::new(bin)
        .args(["ps", "--format", "json"])
        .current_dir(&project)
        .env("HB_HOST", &host)
        .output()
        .expect("ps");
    assert!(
        String::from_utf8_lossy(&ps.stdout).contains("\"state\": \"running\""),
        "the stack stays up"
    );
    // `hb --host … up` in the foreground: follows the logs until Ctrl-C, which stops the stack.
    let mut up = hb_test_support::net::KillOnDrop(
        Command::new(bin)
            .arg("up")
            .current_dir(&project)
            .env("HB_HOST", &host)
            .stderr(Stdio::piped())
            .spawn()
            .expect("hb up"),
    );
    let said = hb_test_support::net::gather_lines(up.0.stderr.take().expect("stderr"));
    hb_test_support::net::line_with(&said, "box", Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(300));
    hb_test_support::net::ctrl_c(&up.0);
    assert!(up.0.wait().expect("up ends").success());
    let ps = Command::new(bin)
        .args(["ps", "-a", "--format", "json"])
        .current_dir(&project)
        .env("HB_HOST", &host)
        .output()
        .expect("ps");
    assert!(
        String::from_utf8_lossy(&ps.stdout).contains("\"state\": \"exited\""),
        "Ctrl-C stopped the stack: {}",
        String::from_utf8_lossy(&ps.stdout)
    );
    drop(daemon);
}
