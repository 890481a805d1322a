//! `hb container run|ls|logs|rm` end to end, under the real crun (#4).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hb_test_support::{privileged, Registries};

fn shim() -> PathBuf {
    hb_test_support::companion(Path::new(env!("CARGO_BIN_EXE_hb")), "hb-shim")
}

fn hb(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hb"))
        .args(args)
        .env("HB_ROOT", root)
        .env("HB_RUN", root.join("run"))
        .env("HB_SHIM", shim())
        .output()
        .expect("hb runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `hb` exited 0 and printed exactly `stdout`.
fn succeeds_with(o: &Output, stdout: &str) {
    assert_eq!(
        (o.status.code(), text(&o.stdout).as_str()),
        (Some(0), stdout),
        "{}",
        text(&o.stderr)
    );
}

#[test]
#[ignore = "privileged: root, crun and the fixture registries"]
fn run_like_docker_run() {
    if !privileged(&["registry", "crun"]) {
        return;
    }
    let reg = Registries::from_env().expect("registries");
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    let busybox = format!("{}/busybox", reg.anon);

    let o = hb(
        r,
        &[
            "container",
            "run",
            "--rm",
            &busybox,
            "echo",
            "hello from hb",
        ],
    );
    succeeds_with(&o, "hello from hb\n");

    let o = hb(
        r,
        &[
            "container",
            "run",
            "--rm",
            &busybox,
            "sh",
            "-c",
            "echo out; echo err >&2; exit 7",
        ],
    );
    assert_eq!(o.status.code(), Some(7), "the exit code is passed back");
    assert_eq!(
        (text(&o.stdout), text(&o.stderr)),
        ("out\n".into(), "err\n".into())
    );

    let o = hb(
        r,
        &[
            "container",
            "run",
            "--rm",
            "-e",
            "FOO=bar",
            "-u",
            "nobody",
            "-w",
            "/tmp",
            &busybox,
            "sh",
            "-c",
            "echo $FOO $(id -u) $(pwd)",
        ],
    );
    succeeds_with(&o, "bar 65534 /tmp\n");

    let o = hb(
        r,
        &[
            "container",
            "run",
            "--rm",
            "--read-only",
            &busybox,
            "touch",
            "/x",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "touch fails: {}", text(&o.stderr));
    assert!(text(&o.stderr).contains("Read-only file system"));

    let o = hb(
        r,
        &[
            "container",
            "run",
            "-d",
            "--name",
            "named",
            &busybox,
            "sh",
            "-c",
            "echo one; echo two; sleep 0.5; echo three",
        ],
    );
    succeeds_with(&o, "named\n");
    // `logs -f` returns once the container has exited, with every line.
    assert_eq!(
        text(&hb(r, &["container", "logs", "-f", "named"]).stdout),
        "one\ntwo\nthree\n"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let ls: serde_json::Value =
            serde_json::from_slice(&hb(r, &["container", "ls", "-a", "--format", "json"]).stdout)
                .expect("json");
        if ls[0]["status"] == "exited (0)" {
            assert_eq!(ls[0]["name"], "named");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "it exits: {ls}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // As `docker ps`: without -a, only what runs.
    succeeds_with(&hb(r, &["container", "ls"]), "NAME  IMAGE  STATUS\n");
    assert_eq!(
        text(&hb(r, &["container", "logs", "--tail", "1", "named"]).stdout),
        "three\n"
    );
    assert_eq!(
        text(&hb(r, &["container", "logs", "--since", "1h", "named"]).stdout),
        "one\ntwo\nthree\n"
    );
    assert_eq!(
        text(&hb(r, &["container", "logs", "--since", "2999-01-01", "named"]).stdout),
        ""
    );
    assert!(hb(r, &["container", "rm", "named"]).status.success());

    // A caller's open descriptors do not stay open in the shim (hb marks what
    // it inherits close-on-exec): here hb inherits a second copy of the pipe
    // its caller reads to the end (fd 7).
    let started = std::time::Instant::now();
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "\"$HB\" container run -d --name holder {busybox} sleep 30 7>&1 >/dev/null"
        ))
        .env("HB", env!("CARGO_BIN_EXE_hb"))
        .env("HB_ROOT", r)
        .env("HB_RUN", r.join("run"))
        .env("HB_SHIM", shim())
        .output()
        .expect("sh runs");
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "the caller's pipe stayed open in the shim for {:?}",
        started.elapsed()
    );
    let status: serde_json::Value =
        serde_json::from_slice(&std::fs::read(r.join("containers/holder/status")).expect("status"))
            .expect("json");
    // Its shim was started ahead of it and handed the container (runtime::handoff).
    let shim_cmd = std::fs::read(format!("/proc/{}/cmdline", status["shim_pid"])).expect("shim");
    assert!(
        String::from_utf8_lossy(&shim_cmd).contains("hb-shim\0--wait\0--crun\0"),
        "{}",
        String::from_utf8_lossy(&shim_cmd)
    );
    // The CLI's inotify descriptor, handed to the shim to close after the CLI
    // has exited (runtime::handoff), is closed by now: a shim that kept it
    // would hold one of the user's 128 inotify instances for its container's life.
    let inotify_held = || {
        std::fs::read_dir(format!("/proc/{}/fd", status["shim_pid"]))
            .expect("the shim's descriptors")
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .any(|l| l.to_string_lossy().contains("inotify"))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while inotify_held() {
        assert!(
            std::time::Instant::now() < deadline,
            "the shim still holds the CLI's inotify descriptor"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // crun runs from hb's sealed copy of itself, so it need not make its own
    // and execute itself a second time (CVE-2019-5736's defence, kept).
    let crun = std::fs::read_link(format!("/proc/{}/exe", status["crun_pid"])).expect("crun runs");
    assert!(
        crun.to_string_lossy().starts_with("/memfd:hb-crun"),
        "{}",
        crun.display()
    );
    assert!(hb(r, &["container", "rm", "--force", "holder"])
        .status
        .success());

    // --rm: the container's shim removes it, as Docker's daemon does (and
    // what a shim killed half-way left in the trash with it). The name is
    // free when `run` returns...
    let leftover = r.join("trash/killed.4194304"); // above any pid_max
    std::fs::create_dir_all(leftover.join("upper/etc")).expect("a leftover");
    for _ in 0..2 {
        let o = hb(
            r,
            &[
                "container",
                "run",
                "--rm",
                "--name",
                "again",
                &busybox,
                "true",
            ],
        );
        succeeds_with(&o, "");
    }
    // (`run` moved the directory into the trash as it returned; the shim
    // deletes it there, and swept the leftover on the way.)
    let left = hb_test_support::leaks::leaks(r, &r.join("run"), &["again"]);
    assert!(left.is_empty(), "{left:?}");
    // ...and the container goes when it exits, even detached (-d --rm)...
    let detached_rm = |name: &str, command: &[&str]| {
        let mut args = vec!["container", "run", "-d", "--rm", "--name", name, &busybox];
        args.extend_from_slice(command);
        succeeds_with(&hb(r, &args), &format!("{name}\n"));
    };
    detached_rm("gone", &["sh", "-c", "echo hi; sleep 1"]);
    let listed = |name: &str| text(&hb(r, &["container", "ls", "-a"]).stdout).contains(name);
    assert!(listed("gone"), "it runs first");
    // `logs -f` ends when it does, though its log goes with it.
    succeeds_with(&hb(r, &["container", "logs", "-f", "gone"]), "hi\n");
    let gone_within = |name: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while listed(name) {
            assert!(
                std::time::Instant::now() < deadline,
                "{name} is still there 10 s later"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    gone_within("gone");
    // `stop` of one stops it, and it goes.
    detached_rm("stopped", &["sleep", "30"]);
    succeeds_with(
        &hb(r, &["container", "stop", "-t", "1", "stopped"]),
        "stopped\n",
    );
    gone_within("stopped");
    // ...or when the `run` attached to it was killed.
    let mut attached = Command::new(env!("CARGO_BIN_EXE_hb"))
        .args(["container", "run", "--rm", "--name", "orphan", &busybox])
        .args(["sh", "-c", "echo up; sleep 0.5"])
        .env("HB_ROOT", r)
        .env("HB_RUN", r.join("run"))
        .env("HB_SHIM", shim())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("hb runs");
    let mut up = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(attached.stdout.take().expect("stdout")),
        &mut up,
    )
    .expect("reads");
    assert_eq!(up, "up\n");
    attached.kill().expect("kills its own child");
    let _ = attached.wait();
    assert!(listed("orphan"), "the container outlives its CLI");
    gone_within("orphan");
    let o = hb(
        r,
        &[
            "container",
            "run",
            "-d",
            "--rm",
            "--restart",
            "always",
            &busybox,
            "true",
        ],
    );
    assert!(
        !o.status.success() && text(&o.stderr).contains("--rm and --restart conflict"),
        "{}",
        text(&o.stderr)
    );
    let left =
        hb_test_support::leaks::leaks(r, &r.join("run"), &["again", "gone", "stopped", "orphan"]);
    assert!(left.is_empty(), "{left:?}");
    let left: Vec<_> = std::fs::read_dir(r.join("containers"))
        .expect("dir")
        .collect();
    assert!(left.is_empty(), "--rm and rm leave nothing: {left:?}");

    let o = hb(
        r,
        &[
            "container",
            "run",
            "--rm",
            "--name",
            "../bad",
            &busybox,
            "true",
        ],
    );
    assert!(!o.status.success() && text(&o.stderr).contains("invalid container name"));
}

#[test]
#[ignore = "privileged: root, crun, iproute2 and the fixture registries"]
fn run_on_a_bridge_with_published_ports_or_on_the_host_network() {
    if !privileged(&["registry", "crun", "ip"]) {
        return;
    }
    let reg = Registries::from_env().expect("registries");
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    let busybox = format!("{}/busybox", reg.anon);
    let proxy = Path::new(env!("CARGO_BIN_EXE_hb")).with_file_name("hb-proxy");
    let hb = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_hb"))
            .args(args)
            .env("HB_ROOT", r)
            .env("HB_RUN", r.join("run"))
            .env("HB_SHIM", shim())
            .env("HB_PROXY", &proxy)
            .output()
            .expect("hb runs")
    };
    let o = hb(&[
        "container",
        "run",
        "--rm",
        "--network",
        "bridge",
        &busybox,
        "sh",
        "-c",
        "ip -o -4 addr show eth0",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("inet 10."), "{}", text(&o.stdout));

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let o = hb(&[
        "container",
        "run",
        "-d",
        "--name",
        "pub",
        "-p",
        &format!("{port}:80"),
        &busybox,
        "sh",
        "-c",
        "mkdir -p /www && echo one-off > /www/index.html && exec httpd -f -p 80 -h /www",
    ]);
    succeeds_with(&o, "pub\n");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let body = loop {
        let got = std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .and_then(|mut s| {
                use std::io::{Read, Write};
                s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
                let mut b = String::new();
                s.read_to_string(&mut b).ok()?;
                Some(b)
            });
        match got {
            Some(b) if b.contains("one-off") => break b,
            _ if std::time::Instant::now() > deadline => panic!("127.0.0.1:{port} never answered"),
            _ => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    };
    assert!(body.contains("200 OK"), "{body}");
    // In use: prune leaves it.
    succeeds_with(&hb(&["network", "prune"]), "");
    succeeds_with(&hb(&["container", "rm", "--force", "pub"]), "pub\n");

    // -d --rm on the bridge: once it exits (here, stopped), it goes by itself
    // with its port proxy and its address, as `docker run -d --rm -p` does;
    // and `rm --force` of one that runs is a removal like any other.
    let serve = "mkdir -p /www && echo gone > /www/index.html && exec httpd -f -p 80 -h /www";
    for (name, end) in [("gone", "stop"), ("forced", "rm")] {
        let o = hb(&[
            "container",
            "run",
            "-d",
            "--rm",
            "--name",
            name,
            "-p",
            &format!("{port}:80"),
            &busybox,
            "sh",
            "-c",
            serve,
        ]);
        succeeds_with(&o, &format!("{name}\n"));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "{name}: never published"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let o = match end {
            "stop" => hb(&["container", "stop", "-t", "1", name]),
            _ => hb(&["container", "rm", "--force", name]),
        };
        succeeds_with(&o, &format!("{name}\n"));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let ls = text(&hb(&["container", "ls", "-a"]).stdout);
            let listening = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
            if !ls.contains(name) && !listening {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{name} stayed: {ls} (port still served: {listening})"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let left = hb_test_support::leaks::leaks(r, &r.join("run"), &[name]);
        assert!(
            left.iter().all(|l| l.contains("hb-oneoff")),
            "{name} left behind: {left:#?}"
        );
    }

    let o = hb(&[
        "container",
        "run",
        "--rm",
        "--network",
        "host",
        &busybox,
        "sh",
        "-c",
        "ip -o link | wc -l",
    ]);
    let host_links = hb_test_support::net::host_links();
    assert_eq!(
        text(&o.stdout).trim(),
        host_links.to_string(),
        "the host's links"
    );

    // The one-off network outlives its containers, as Docker's default bridge
    // does, until `hb network prune` (which keeps a network still in use).
    let kept = hb_test_support::leaks::leaks(r, &r.join("run"), &["pub"]);
    assert!(
        kept.len() == 1 && kept[0].contains("hb-oneoff"),
        "the one-off network's namespace alone stays: {kept:#?}"
    );
    succeeds_with(&hb(&["network", "prune"]), "hb-oneoff\n");
    succeeds_with(&hb(&["network", "prune"]), "");
    let left = hb_test_support::leaks::leaks(r, &r.join("run"), &["pub"]);
    assert!(left.is_empty(), "left behind: {left:#?}");
}

#[test]
#[ignore = "privileged: root, crun, script(1) and the fixture registries"]
fn run_and_exec_on_a_terminal() {
    if !privileged(&["registry", "crun", "script"]) {
        return;
    }
    let reg = Registries::from_env().expect("registries");
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    let busybox = format!("{}/busybox", reg.anon);
    // script(1) gives hb a terminal; what it is fed is what the user types.
    let on_tty = |input: &str, args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_hb"));
        c.args(args)
            .env("HB_ROOT", r)
            .env("HB_RUN", r.join("run"))
            .env("HB_SHIM", shim());
        hb_test_support::on_terminal(&c, input)
    };
    let o = on_tty(
        "",
        &[
            "container",
            "run",
            "--rm",
            "-it",
            &busybox,
            "sh",
            "-c",
            "tty; exit 4",
        ],
    );
    assert_eq!(o.status.code(), Some(4), "{}", text(&o.stdout));
    assert!(
        text(&o.stdout).contains("/dev/pts/0"),
        "{}",
        text(&o.stdout)
    );
    let o = on_tty(
        "echo in-$((6*7))\nexit 9\n",
        &["container", "run", "--rm", "-it", &busybox, "sh"],
    );
    assert_eq!(o.status.code(), Some(9));
    assert!(text(&o.stdout).contains("in-42"), "{}", text(&o.stdout));

    succeeds_with(
        &hb(
            r,
            &[
                "container",
                "run",
                "-d",
                "--name",
                "box",
                &busybox,
                "sleep",
                "100",
            ],
        ),
        "box\n",
    );
    let o = on_tty(
        "",
        &["container", "exec", "-it", "box", "sh", "-c", "tty; exit 6"],
    );
    assert_eq!(o.status.code(), Some(6));
    assert!(text(&o.stdout).contains("/dev/pts/"), "{}", text(&o.stdout));
    let o = hb(r, &["container", "run", "-d", "-t", &busybox, "true"]);
    assert!(
        !o.status.success() && text(&o.stderr).contains("-t with -d"),
        "{}",
        text(&o.stderr)
    );
    succeeds_with(&hb(r, &["container", "rm", "--force", "box"]), "box\n");
    let left = hb_test_support::leaks::leaks(r, &r.join("run"), &["box"]);
    assert!(left.is_empty(), "left behind: {left:#?}");
}
