//! Containers under the real crun, from images of the fixture registry (#4).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hb_image::registry::{Client, Retry};
use hb_image::{ImageRef, LocalImage, Platform, Puller, Quiet, Store};
use hb_runtime::container::{Container, Runtime};
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
    let runtime = Runtime {
        root: root.path().to_path_buf(),
        run: root.path().join("run"),
        crun: PathBuf::from("crun"),
        shim: PathBuf::from(env!("CARGO_BIN_EXE_hb-shim")),
    };
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
        self.runtime.start(&c).expect("start");
        let code = self
            .runtime
            .wait(&c, Duration::from_secs(30))
            .expect("exits");
        (c, code)
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
        assert!(!c.dir.exists(), "the container directory is gone");
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        assert!(
            !mounts.contains(&c.dir.display().to_string()),
            "no mount left under {}",
            c.dir.display()
        );
        let state = self.runtime.run.join("crun").join(&c.id);
        assert!(!state.exists(), "no crun state left");
        for ctl in ["memory", "pids", "cpu"] {
            let cg = Path::new("/sys/fs/cgroup").join(ctl).join("hb").join(&c.id);
            assert!(!cg.exists(), "no cgroup left at {}", cg.display());
        }
    }
}

fn sh(script: &str) -> Option<Vec<String>> {
    Some(vec!["sh".into(), "-c".into(), script.into()])
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
fn the_container_has_no_network_but_loopback_and_outlives_its_caller() {
    let Some(env) = setup() else { return };
    let image = env.image("busybox:latest");
    let c = env
        .runtime
        .create(
            "hb-it-net",
            &image,
            &Overrides {
                command: sh("sleep 0.5; ip -o link | cut -d: -f2; cat /etc/hostname"),
                ..Default::default()
            },
        )
        .expect("create");
    env.runtime.start(&c).expect("start");
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
