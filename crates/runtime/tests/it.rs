//! Containers under the real crun, from images of the fixture registry (#4).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hb_image::registry::{Client, Retry};
use hb_image::{ImageRef, LocalImage, Platform, Puller, Quiet, Store};
use hb_runtime::container::{Container, HealthSpec, Runtime, Supervision};
use hb_runtime::spec::Overrides;
use hb_test_support::{privileged, Registries};

struct Env {
    _root: tempfile::TempDir,
    store: Arc<Store>,
    runtime: Runtime,
    reg: Registries,
}

fn setup() -> Option<Env> {
    if !privileged(&["registry", "crun"]) {
        return None;
    }
    let reg = Registries::from_env().expect("registries");
    let root = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open(root.path()).expect("store"));
    let runtime = Runtime::new(
        root.path().to_path_buf(),
        root.path().join("run"),
        PathBuf::from("crun"),
        PathBuf::from(env!("CARGO_BIN_EXE_hb-shim")),
    );
    Some(Env {
        _root: root,
        store,
        runtime,
        reg,
    })
}

impl Env {
    fn image(&self, name: &str) -> LocalImage {
        let image: ImageRef = format!("{}/{name}", self.reg.anon).parse().expect("ref");
        let client =
            Arc::new(Client::new(Default::default(), None, Retry::default()).expect("client"));
        let puller = Puller {
            client,
            store: self.store.clone(),
            retry: Retry::default(),
        };
        let rt = tokio::runtime::Runtime::new().expect("tokio");
        let rec = rt
            .block_on(puller.pull(&image, &Platform::host(), Arc::new(Quiet)))
            .expect("pull");
        self.store.image(&rec).expect("image")
    }

    fn run(&self, id: &str, image: &LocalImage, o: Overrides) -> (Container, i32) {
        let c = self.runtime.create(id, image, &o).expect("create");
        self.runtime.start(&c, &Default::default()).expect("start");
        let code = self
            .runtime
            .wait(&c, Duration::from_secs(30))
            .expect("exits");
        (c, code)
    }

    /// Creates a container running `sh -c script` and starts it under `supervision`.
    fn start(
        &self,
        id: &str,
        image: &LocalImage,
        script: &str,
        supervision: Supervision,
    ) -> Container {
        let o = Overrides {
            command: sh(script),
            ..Default::default()
        };
        let c = self.runtime.create(id, image, &o).expect("create");
        self.runtime.start(&c, &supervision).expect("start");
        c
    }

    fn output(&self, c: &Container, stream: &str) -> Vec<String> {
        self.runtime
            .logs(c)
            .expect("logs")
            .into_iter()
            .filter(|l| l.stream == stream)
            .map(|l| l.text)
            .collect()
    }

    /// Removes the container and checks nothing is left behind.
    fn remove_clean(&self, c: &Container) {
        self.runtime.remove(c).expect("remove");
        let left = hb_test_support::leaks::leaks(&self.runtime.root, &self.runtime.run, &[&c.id]);
        assert!(left.is_empty(), "left behind: {left:#?}");
    }
}

fn sh(script: &str) -> Option<Vec<String>> {
    Some(vec!["sh".into(), "-c".into(), script.into()])
}

/// Polls `f` every 10 ms until it gives a value; fails naming `what` after `secs` seconds.
fn until<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
#[ignore = "privileged: root, crun and the fixture registries"]
fn a_container_runs_to_completion_with_its_exit_code_and_logs() {
    let Some(env) = setup() else { return };
    let image = env.image("busybox:latest");
    let (c, code) = env.run(
        "hb-it-exit",
        &image,
        Overrides {
            command: sh("echo hello; echo oops >&2; exit 3"),
            ..Default::default()
        },
    );
    assert_eq!(code, 3);
    assert_eq!(env.output(&c, "stdout"), vec!["hello"]);
    assert_eq!(env.output(&c, "stderr"), vec!["oops"]);
    let raw = std::fs::read_to_string(c.dir.join("ctr.log")).expect("log");
    let first = raw.lines().next().expect("a line");
    assert!(
        first.len() > 31
            && first.as_bytes()[10] == b'T'
            && first.contains("Z std")
            && first.contains(" F "),
        "CRI format: {first}"
    );
    env.remove_clean(&c);
}

#[test]
#[ignore = "privileged: root, crun and the fixture registries"]
fn image_config_and_overrides_follow_dockers_rules() {
    let Some(env) = setup() else { return };
    let cfg = env.image("busybox-cfg:latest");
    // The image: User 1000:1000, WorkingDir /home/hb, Env FOO=bar, Entrypoint sh -c, Cmd echo ….
    let (c, code) = env.run("hb-it-cfg", &cfg, Overrides::default());
    assert_eq!(code, 0);
    assert_eq!(
        env.output(&c, "stdout"),
        vec!["uid=1000 cwd=/home/hb FOO=bar"]
    );
    env.remove_clean(&c);
    // command replaces Cmd (the Entrypoint `sh -c` stays); env and user and workdir override.
    let o = Overrides {
        command: Some(vec![
            "echo \"$(id -u):$(id -g) $(pwd) $FOO $EXTRA $HB_SPACES\"".into(),
        ]),
        env: vec![
            ("FOO".into(), Some("baz".into())),
            ("EXTRA".into(), Some("x".into())),
        ],
        user: Some("nobody".into()),
        working_dir: Some("/tmp".into()),
        ..Default::default()
    };
    let (c, code) = env.run("hb-it-override", &cfg, o);
    assert_eq!(code, 0, "{:?}", env.output(&c, "stderr"));
    assert_eq!(
        env.output(&c, "stdout"),
        vec!["65534:65534 /tmp baz x a b  c"]
    );
    env.remove_clean(&c);
    // An entrypoint override drops the image's Cmd.
    let o = Overrides {
        entrypoint: Some(vec!["/bin/echo".into()]),
        ..Default::default()
    };
    let (c, code) = env.run("hb-it-entry", &cfg, o);
    assert_eq!((code, env.output(&c, "stdout")), (0, vec![String::new()]));
    env.remove_clean(&c);
}

#[test]
#[ignore = "privileged: root, crun and the fixture registries"]
fn a_read_only_rootfs_refuses_writes_and_the_image_is_untouched() {
    let Some(env) = setup() else { return };
    let image = env.image("busybox:latest");
    let (c, code) = env.run(
        "hb-it-ro",
        &image,
        Overrides {
            command: sh("touch /etc/x"),
            read_only: true,
            ..Default::default()
        },
    );
    assert_ne!(code, 0);
    assert!(env
        .output(&c, "stderr")
        .join(" ")
        .contains("Read-only file system"));
    env.remove_clean(&c);
    let (c, code) = env.run(
        "hb-it-rw",
        &image,
        Overrides {
            command: sh("echo changed > /etc/passwd"),
            ..Default::default()
        },
    );
    assert_eq!(code, 0);
    env.remove_clean(&c);
    let passwd: Vec<_> = image
        .layers
        .iter()
        .map(|l| l.join("etc/passwd"))
        .filter(|p| p.exists())
        .collect();
    assert!(
        std::fs::read_to_string(&passwd[0])
            .expect("layer passwd")
            .starts_with("root:"),
        "writes go to the container's upper dir, not the shared layer"
    );
}

#[test]
#[ignore = "privileged: root, crun and the fixture registries"]
fn a_removed_containers_directory_serves_the_next_with_nothing_of_it() {
    let Some(env) = setup() else { return };
    let image = env.image("busybox:latest");
    let spares = || {
        std::fs::read_dir(env.runtime.root.join("spares"))
            .map(Iterator::count)
            .unwrap_or(0)
    };
    // Writes only to the files hb bind-mounts, and its log: kept, emptied.
    let (c, code) = env.run(
        "hb-it-spare-a",
        &image,
        Overrides {
            command: sh("echo '10.9.9.9 leaked' >> /etc/hosts; echo secret"),
            ..Default::default()
        },
    );
    assert_eq!(code, 0);
    assert_eq!(env.output(&c, "stdout"), vec!["secret"]);
    env.remove_clean(&c);
    assert_eq!(spares(), 1, "an untouched rootfs: the directory is kept");
    // The next container takes it, and finds nothing of the first.
    let (c, code) = env.run(
        "hb-it-spare-b",
        &image,
        Overrides {
            command: sh("cat /etc/hosts /etc/hostname; echo written > /etc/x"),
            ..Default::default()
        },
    );
    assert_eq!(spares(), 0, "taken by the next container");
    assert_eq!(code, 0);
    let out = env.output(&c, "stdout").join("\n");
    assert!(!out.contains("leaked") && !out.contains("secret"), "{out}");
    assert!(
        out.contains("hb-it-spare-b"),
        "its own hosts and hostname: {out}"
    );
    env.remove_clean(&c);
    assert_eq!(spares(), 0, "a rootfs written to: the directory is deleted");
    let (c, code) = env.run(
        "hb-it-spare-c",
        &image,
        Overrides {
            command: sh("test ! -e /etc/x"),
            ..Default::default()
        },
    );
    assert_eq!(code, 0, "nothing of the second container's writes either");
    env.remove_clean(&c);
    assert_eq!(spares(), 1);
    // A rootfs something still holds is unmounted lazily, its overlay alive
    // on `upper/` and `work/`: that directory is deleted, never kept.
    let (c, code) = env.run("hb-it-spare-d", &image, Overrides::default());
    assert_eq!(code, 0);
    let held = std::fs::File::open(c.dir.join("rootfs/bin")).expect("a file in the rootfs");
    env.remove_clean(&c);
    assert_eq!(
        spares(),
        0,
        "taken, and not kept again while its overlay lives"
    );
    drop(held);
}

#[test]
#[ignore = "privileged: root, crun and the fixture registries"]
fn the_container_has_no_network_but_loopback_and_outlives_its_caller() {
    let Some(env) = setup() else { return };
    let image = env.image("busybox:latest");
    let c = env.start(
        "hb-it-net",
        &image,
        "sleep 0.5; ip -o link | cut -d: -f2; cat /etc/hostname",
        Supervision::default(),
    );
    // The shim runs in a process group of its own.
    std::thread::sleep(Duration::from_millis(200));
    let status = env.runtime.status(&c).expect("the shim wrote its status");
    assert_eq!(status.state, "running");
    let code = env
        .runtime
        .wait(&c, Duration::from_secs(30))
        .expect("exits");
    assert_eq!(code, 0);
    assert_eq!(env.output(&c, "stdout"), vec![" lo", "hb-it-net"]);
    // hb's /etc files are bind-mounted over its own mount-point layer: crun
    // made nothing in the container's upper dir (busybox has no /etc/hostname).
    let upper: Vec<_> = std::fs::read_dir(c.dir.join("upper"))
        .expect("the upper dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(upper.is_empty(), "the upper dir holds {upper:?}");
    env.remove_clean(&c);
}

#[test]
#[ignore = "privileged: root, crun and the fixture registries"]
fn names_are_checked_and_unique() {
    let Some(env) = setup() else { return };
    let image = env.image("busybox:latest");
    assert!(env
        .runtime
        .create("../x", &image, &Overrides::default())
        .is_err());
    let c = env
        .runtime
        .create(
            "hb-it-dup",
            &image,
            &Overrides {
                command: sh("true"),
                ..Default::default()
            },
        )
        .expect("create");
    let e = env
        .runtime
        .create("hb-it-dup", &image, &Overrides::default())
        .expect_err("a duplicate");
    assert!(e.to_string().contains("already exists"), "{e}");
    env.remove_clean(&c);
    let e = env
        .runtime
        .create(
            "hb-it-nocmd",
            &image,
            &Overrides {
                entrypoint: Some(vec![]),
                ..Default::default()
            },
        )
        .expect_err("nothing to run");
    assert!(e.to_string().contains("nothing to run"), "{e}");
    assert!(
        !env.runtime.root.join("containers/hb-it-nocmd").exists(),
        "a failed create leaves nothing"
    );
}

#[test]
#[ignore = "privileged: root, crun and the fixture registries"]
fn a_memory_hog_is_oom_killed_and_a_pids_limit_holds() {
    let Some(env) = setup() else { return };
    let image = env.image("busybox:latest");
    // `tail` keeps the whole last "line" (100 MB of zeros) in memory.
    let o = Overrides {
        command: sh("head -c 100000000 /dev/zero | tail >/dev/null"),
        memory: Some(32 << 20),
        memory_swap: Some(32 << 20),
        ..Default::default()
    };
    let (c, code) = env.run("hb-it-oom", &image, o);
    assert_eq!(
        code,
        137,
        "killed by the OOM killer: {:?}",
        env.output(&c, "stderr")
    );
    env.remove_clean(&c);
    let o = Overrides {
        command: sh(
            "(for i in $(seq 1 40); do sleep 5 & done) 2>/dev/null; set -- /proc/[0-9]*; echo $#",
        ),
        pids: Some(16),
        ..Default::default()
    };
    let (c, code) = env.run("hb-it-pids", &image, o);
    assert_eq!(code, 0);
    let n: u32 = env
        .output(&c, "stdout")
        .first()
        .and_then(|s| s.trim().parse().ok())
        .expect("a count");
    assert!(
        (2..=16).contains(&n),
        "at most 16 processes in the container: {n}"
    );
    env.remove_clean(&c);
}

#[test]
#[ignore = "privileged: root, crun and the fixture registries"]
fn stop_escalates_to_sigkill_after_the_grace_period() {
    let Some(env) = setup() else { return };
    let image = env.image("busybox:latest");
    let start = |id: &str, script: &str| {
        let c = env.start(id, &image, script, Supervision::default());
        until("it starts", 10, || env.runtime.running(&c).then_some(()));
        // Time for sh to set its trap.
        std::thread::sleep(Duration::from_millis(100));
        c
    };
    // sh as PID 1 ignores TERM unless it traps it: the grace period runs out.
    let c = start(
        "hb-it-stubborn",
        "trap '' TERM; while true; do sleep 0.1; done",
    );
    let t = std::time::Instant::now();
    let code = env
        .runtime
        .stop(&c, "TERM", Duration::from_millis(500))
        .expect("stops");
    assert_eq!(code, 137, "killed");
    assert!(
        t.elapsed() >= Duration::from_millis(500),
        "it waited out the grace period"
    );
    env.remove_clean(&c);
    // A process that handles TERM stops at once.
    let c = start(
        "hb-it-polite",
        "trap 'exit 0' TERM; while true; do sleep 0.1; done",
    );
    let t = std::time::Instant::now();
    assert_eq!(
        env.runtime
            .stop(&c, "SIGTERM", Duration::from_secs(10))
            .expect("stops"),
        0
    );
    assert!(t.elapsed() < Duration::from_secs(5));
    env.remove_clean(&c);
}

#[test]
#[ignore = "privileged: root, crun and the fixture registries"]
fn exec_runs_in_the_container_with_its_exit_code() {
    let Some(env) = setup() else { return };
    let image = env.image("busybox:latest");
    let c = env.start(
        "hb-it-exec",
        &image,
        "echo ready > /tmp/flag; sleep 30",
        Supervision::default(),
    );
    let flag = until("the container comes up", 10, || {
        if !env.runtime.running(&c) {
            return None;
        }
        let (code, out, _) = env
            .runtime
            .exec(&c, &["cat".into(), "/tmp/flag".into()], &[], None, None)
            .expect("exec");
        (code == 0).then(|| String::from_utf8_lossy(&out).into_owned())
    });
    assert_eq!(flag, "ready\n", "exec sees the container's filesystem");
    let (code, out, _) = env
        .runtime
        .exec(
            &c,
            &[
                "sh".into(),
                "-c".into(),
                "echo $X $(id -u) $(pwd); exit 5".into(),
            ],
            &[("X".into(), Some("y".into()))],
            Some("nobody"),
            Some("/tmp"),
        )
        .expect("exec");
    assert_eq!(
        (code, String::from_utf8_lossy(&out).into_owned()),
        (5, "y 65534 /tmp\n".into())
    );
    assert_eq!(
        env.runtime
            .stop(&c, "KILL", Duration::from_secs(5))
            .expect("killed"),
        137
    );
    let e = env
        .runtime
        .exec(&c, &["true".into()], &[], None, None)
        .expect_err("not running any more");
    assert!(e.to_string().contains("not running"), "{e}");
    env.remove_clean(&c);
}

#[test]
#[ignore = "privileged: root, crun and the fixture registries"]
fn restart_policies_rerun_the_container() {
    let Some(env) = setup() else { return };
    let image = env.image("busybox:latest");
    let c = env.start(
        "hb-it-restart",
        &image,
        "echo run; exit 1",
        Supervision {
            restart: Some("on-failure:2".into()),
            health: None,
            ..Default::default()
        },
    );
    assert_eq!(
        env.runtime
            .wait(&c, Duration::from_secs(30))
            .expect("exits"),
        1
    );
    assert_eq!(
        env.runtime.status(&c).expect("status").restarts,
        2,
        "on-failure:2 restarts twice"
    );
    assert_eq!(env.output(&c, "stdout"), vec!["run", "run", "run"]);
    env.remove_clean(&c);
    // `always` restarts until stopped; a stop is final.
    let c = env.start(
        "hb-it-always",
        &image,
        "sleep 0.05",
        Supervision {
            restart: Some("always".into()),
            health: None,
            ..Default::default()
        },
    );
    until("it restarts twice", 20, || {
        (env.runtime.status(&c).map_or(0, |s| s.restarts) >= 2).then_some(())
    });
    env.runtime
        .stop(&c, "TERM", Duration::from_secs(5))
        .expect("stops");
    let restarts = env.runtime.status(&c).expect("status").restarts;
    std::thread::sleep(Duration::from_millis(500));
    let s = env.runtime.status(&c).expect("status");
    assert_eq!(
        (s.state.as_str(), s.restarts),
        ("exited", restarts),
        "no restart after a stop"
    );
    env.remove_clean(&c);
}

#[test]
#[ignore = "privileged: root, crun and the fixture registries"]
fn healthchecks_go_starting_healthy_unhealthy() {
    let Some(env) = setup() else { return };
    let image = env.image("busybox:latest");
    // Ready after 0.4 s, broken after 1.5 s.
    let script = "sleep 0.4; touch /tmp/ready; sleep 1.1; rm /tmp/ready; sleep 30";
    let mut h = HealthSpec::with_test(vec!["CMD-SHELL".into(), "test -f /tmp/ready".into()]);
    h.interval = Duration::from_millis(100);
    h.timeout = Duration::from_secs(2);
    h.retries = 2;
    h.start_period = Duration::from_secs(1);
    h.start_interval = Duration::from_millis(50);
    let c = env.start(
        "hb-it-health",
        &image,
        script,
        Supervision {
            restart: None,
            health: Some(h),
            ..Default::default()
        },
    );
    let mut seen: Vec<String> = Vec::new();
    until("it reaches unhealthy", 20, || {
        if let Some(h) = env.runtime.health(&c) {
            if seen.last() != Some(&h.status) {
                seen.push(h.status);
            }
        }
        (seen.last().map(String::as_str) == Some("unhealthy")).then_some(())
    });
    assert_eq!(seen, vec!["starting", "healthy", "unhealthy"]);
    let h = env.runtime.health(&c).expect("health");
    assert!(h.failing_streak >= 2 && !h.log.is_empty(), "{h:?}");
    env.runtime
        .stop(&c, "KILL", Duration::from_secs(5))
        .expect("stops");
    env.remove_clean(&c);
}

#[test]
#[ignore = "privileged: root, crun and the fixture registries"]
fn a_killed_shim_is_noticed_and_reported() {
    let Some(env) = setup() else { return };
    let image = env.image("busybox:latest");
    let c = env.start("hb-it-shimkill", &image, "sleep 30", Supervision::default());
    let pid = until("the shim reports its pid", 10, || {
        env.runtime.status(&c).and_then(|s| s.shim_pid)
    });
    // Only the shim this test started is killed, by its PID.
    assert!(std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill")
        .success());
    let s = until("the dead shim is noticed", 10, || {
        env.runtime.status(&c).filter(|s| s.state == "failed")
    });
    assert!(
        s.error
            .as_deref()
            .is_some_and(|e| e.contains("shim") && e.contains("--force")),
        "{s:?}"
    );
    env.remove_clean(&c);
}

#[test]
#[ignore = "privileged: root, crun and the fixture registries"]
fn bind_mounts_and_tmpfs() {
    let Some(env) = setup() else { return };
    let image = env.image("busybox:latest");
    let host = tempfile::tempdir().expect("tempdir");
    std::fs::write(host.path().join("in.txt"), "from the host\n").expect("write");
    let mounts = vec![
        hb_runtime::spec::MountRequest::Bind {
            source: host.path().to_path_buf(),
            target: "/data".into(),
            read_only: false,
        },
        hb_runtime::spec::MountRequest::Bind {
            source: host.path().to_path_buf(),
            target: "/ro".into(),
            read_only: true,
        },
        hb_runtime::spec::MountRequest::Tmpfs {
            target: "/scratch".into(),
            size: Some(1 << 20),
        },
    ];
    let script = "cat /data/in.txt; echo written > /data/out.txt; touch /ro/x 2>/dev/null && echo ro-broken; grep -c ' /scratch tmpfs ' /proc/mounts";
    let (c, code) = env.run(
        "hb-it-mounts",
        &image,
        Overrides {
            command: sh(script),
            mounts,
            ..Default::default()
        },
    );
    assert_eq!(code, 0, "{:?}", env.output(&c, "stderr"));
    assert_eq!(env.output(&c, "stdout"), vec!["from the host", "1"]);
    assert_eq!(
        std::fs::read_to_string(host.path().join("out.txt")).expect("written through"),
        "written\n"
    );
    env.remove_clean(&c);
    assert!(
        host.path().join("in.txt").exists(),
        "removing the container leaves the bind source alone"
    );
}

#[test]
#[ignore = "privileged: root, crun, tini and the fixture registries"]
fn init_privileged_sysctls_shm_and_ulimits() {
    let Some(env) = setup() else { return };
    if !privileged(&["tini-static"]) {
        return;
    }
    let image = env.image("busybox:latest");
    // An orphan that exits becomes a zombie when PID 1 never waits (`sleep` after exec);
    // with init, tini is PID 1 and reaps it.
    let zombies = |id: &str, init: bool| -> u32 {
        let o = Overrides {
            command: sh("(sleep 0.1 &); exec sleep 5"),
            init,
            ..Default::default()
        };
        let c = env.runtime.create(id, &image, &o).expect("create");
        env.runtime.start(&c, &Default::default()).expect("start");
        std::thread::sleep(Duration::from_millis(600));
        let count = [
            "sh".to_string(),
            "-c".into(),
            "cat /proc/[0-9]*/stat | grep -c ') Z ' || true".into(),
        ];
        let (code, out, err) = env.runtime.exec(&c, &count, &[], None, None).expect("exec");
        assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
        env.remove_clean(&c);
        String::from_utf8_lossy(&out)
            .trim()
            .parse()
            .expect("a count")
    };
    assert_eq!(
        (zombies("hb-it-noinit", false), zombies("hb-it-init", true)),
        (1, 0),
        "an orphan zombie stays without init and is reaped with it"
    );

    let script = "grep CapEff /proc/self/status; cat /proc/sys/net/ipv4/ip_unprivileged_port_start; df -k /dev/shm | tail -1; ulimit -n";
    let o = Overrides {
        command: sh(script),
        sysctls: vec![("net.ipv4.ip_unprivileged_port_start".into(), "80".into())],
        shm_size: Some(128 << 20),
        ulimits: vec![("nofile".into(), 512, 1024)],
        ..Default::default()
    };
    let (c, code) = env.run("hb-it-knobs", &image, o);
    assert_eq!(code, 0, "{:?}", env.output(&c, "stderr"));
    let out = env.output(&c, "stdout");
    assert_eq!(
        out[0], "CapEff:\t00000000a80425fb",
        "Docker's default capabilities"
    );
    assert_eq!(
        out[1], "80",
        "the sysctl is set in the container's network namespace"
    );
    assert!(out[2].contains("131072"), "/dev/shm is 128 MiB: {}", out[2]);
    assert_eq!(out[3], "512");
    env.remove_clean(&c);
    let (c, code) = env.run(
        "hb-it-priv",
        &image,
        Overrides {
            command: sh("grep CapEff /proc/self/status"),
            privileged: true,
            ..Default::default()
        },
    );
    assert_eq!(code, 0);
    assert_ne!(
        env.output(&c, "stdout")[0],
        "CapEff:\t00000000a80425fb",
        "privileged gets more than the defaults"
    );
    env.remove_clean(&c);
}

#[test]
#[ignore = "privileged: root, crun and the fixture registries"]
fn the_log_rotates_at_max_size_and_reads_back_in_order() {
    let Some(env) = setup() else { return };
    let image = env.image("busybox:latest");
    let c = env.start(
        "hb-it-logrot",
        &image,
        "i=0; while [ $i -lt 200 ]; do echo line-$i; i=$((i+1)); done",
        Supervision {
            log_max_size: Some(2000),
            log_max_files: Some(3),
            ..Default::default()
        },
    );
    assert_eq!(
        env.runtime
            .wait(&c, Duration::from_secs(30))
            .expect("exits"),
        0
    );
    assert!(c.dir.join("ctr.log.1").is_file() && c.dir.join("ctr.log.2").is_file());
    assert!(!c.dir.join("ctr.log.3").exists(), "at most max-file files");
    for f in ["ctr.log", "ctr.log.1", "ctr.log.2"] {
        let len = std::fs::metadata(c.dir.join(f)).expect("file").len();
        assert!(len <= 2000, "{f} is {len} bytes");
    }
    let lines = env.output(&c, "stdout");
    assert_eq!(lines.last().map(String::as_str), Some("line-199"));
    let n: Vec<u32> = lines
        .iter()
        .map(|l| l.trim_start_matches("line-").parse().expect("number"))
        .collect();
    assert!(
        n.windows(2).all(|w| w[1] == w[0] + 1),
        "in order, none missing within what is kept"
    );
    assert!(n[0] > 0, "the oldest lines went");
    env.remove_clean(&c);
}

#[test]
#[ignore = "privileged: root, crun and the fixture registries"]
fn systempaths_unconfined_unmasks_proc_and_no_new_privileges_can_be_lifted() {
    let Some(env) = setup() else { return };
    let image = env.image("busybox:latest");
    let script = "wc -c < /proc/timer_list; grep -c ' /proc/sys ' /proc/mounts; grep NoNewPrivs /proc/self/status";
    let (c, code) = env.run(
        "hb-it-masked",
        &image,
        Overrides {
            command: sh(script),
            ..Default::default()
        },
    );
    assert_eq!(code, 0);
    assert_eq!(
        env.output(&c, "stdout"),
        ["0", "1", "NoNewPrivs:\t1"],
        "Docker's defaults"
    );
    env.remove_clean(&c);
    let mut o = Overrides {
        command: sh(script),
        ..Default::default()
    };
    hb_runtime::spec::security_opt(&mut o, "systempaths=unconfined").expect("known");
    hb_runtime::spec::security_opt(&mut o, "no-new-privileges:false").expect("known");
    let (c, code) = env.run("hb-it-unmasked", &image, o);
    assert_eq!(code, 0);
    let out = env.output(&c, "stdout");
    assert_ne!(out[0], "0", "/proc/timer_list readable");
    assert_eq!(&out[1..], ["0", "NoNewPrivs:\t0"]);
    env.remove_clean(&c);
}
