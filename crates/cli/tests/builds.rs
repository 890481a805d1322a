//! `hb build` and `hb up --build` end to end (#7): Dockerfiles built from the
//! fixture registry's images under the real crun and overlayfs, every
//! instruction checked in the image it made, the cache hitting and missing
//! exactly where its rules say, a failing RUN reported with its line and
//! output, and examples/build built and served.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use hb_test_support::net::{free_port, gather_lines, get_until, line_with, KillOnDrop};
use hb_test_support::{privileged, Registries};

struct Project {
    root: tempfile::TempDir,
    dir: PathBuf,
    registry: String,
    port: u16,
}

impl Project {
    /// An empty project directory `name` with `files` written into it.
    fn new(reg: &Registries, name: &str, files: &[(&str, &str)]) -> Self {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let p = Project {
            root,
            dir,
            registry: reg.anon.clone(),
            port: free_port(),
        };
        for (path, text) in files {
            p.write(path, text);
        }
        p
    }

    /// A copy of `examples/<name>`.
    fn example(reg: &Registries, name: &str) -> Self {
        let p = Project::new(reg, "x", &[]);
        std::fs::remove_dir(&p.dir).expect("rmdir");
        let example = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples")
            .join(name);
        let cp = Command::new("cp")
            .arg("-r")
            .arg(&example)
            .arg(&p.dir)
            .status()
            .expect("cp");
        assert!(cp.success());
        p
    }

    fn write(&self, path: &str, text: &str) {
        let p = self.dir.join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    /// `hb ARGS` in the project, with the test's root, binaries and registry.
    fn cmd(&self, args: &[&str]) -> Command {
        let bin = Path::new(env!("CARGO_BIN_EXE_hb"));
        let mut c = Command::new(bin);
        c.args(args)
            .current_dir(&self.dir)
            .env("HB_ROOT", self.root.path())
            .env("HB_RUN", self.root.path().join("run"))
            .env("HB_SHIM", hb_test_support::companion(bin, "hb-shim"))
            .env("HB_PROXY", hb_test_support::companion(bin, "hb-proxy"))
            .env("HB_REGISTRY", &self.registry)
            .env("BUILD_PORT", self.port.to_string());
        c
    }

    fn hb(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("hb runs")
    }

    /// Runs hb, which must succeed; its stdout and stderr.
    fn ok(&self, args: &[&str]) -> String {
        let o = self.hb(args);
        let text =
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "hb {args:?} failed:\n{text}");
        text
    }

    /// The stored image's config (`hb image inspect`).
    fn config(&self, image: &str) -> serde_json::Value {
        let o = self.hb(&["image", "inspect", image]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        v[0]["config"].clone()
    }

    /// Nothing of a build stays mounted or on disk but the store.
    fn assert_clean(&self) {
        let root = self.root.path().display().to_string();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        let left: Vec<&str> = mounts.lines().filter(|l| l.contains(&root)).collect();
        assert!(left.is_empty(), "mounts left: {left:#?}");
        for dir in ["tmp", "containers"] {
            let n = std::fs::read_dir(self.root.path().join(dir)).map_or(0, |d| d.count());
            assert_eq!(n, 0, "{dir}/ is not empty");
        }
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        if self.dir.join("compose.yaml").exists() {
            let _ = self.hb(&["down", "-t", "0"]);
        }
    }
}

/// `(cached, steps)` from the `built in … (N of M steps cached)` line.
fn cached(out: &str) -> (usize, usize) {
    let line = out
        .lines()
        .find(|l| l.contains("steps cached"))
        .unwrap_or_else(|| panic!("no summary in:\n{out}"));
    let inner = line.split('(').nth(1).expect("(");
    let words: Vec<&str> = inner.split_whitespace().collect();
    (words[0].parse().expect("n"), words[2].parse().expect("m"))
}

/// The steps that ran (not cached), by their text.
fn ran(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.contains("] ") && !l.contains("(cached)"))
        .filter(|l| {
            ["RUN", "COPY", "ADD", "WORKDIR"]
                .iter()
                .any(|w| l.contains(&format!("] {w} ")))
        })
        .map(|l| l.split("] ").nth(1).unwrap_or_default().trim().to_string())
        .collect()
}

const DOCKERFILE: &str = r#"# syntax=docker/dockerfile:1
ARG REGISTRY
ARG BASE=busybox:latest
FROM ${REGISTRY}/${BASE} AS base
ARG GREETING=hello
ENV APP=/app \
    MODE=dev
LABEL org.example.stage=base
WORKDIR $APP
COPY *.txt ./
COPY --chown=1000:100 --chmod=0750 bin/ /opt/bin/
ADD bundle.tar /opt/bundle/
RUN echo "$GREETING from $MODE" > greeting \
 && rm /etc/group.bak \
 && rm -rf /var/spool && mkdir -p /var/spool && echo new > /var/spool/only
RUN ["/bin/sh", "-c", "echo exec form > /app/exec"]
SHELL ["/bin/sh", "-ec"]
RUN <<EOS
echo heredoc ran > /app/heredoc
EOS
COPY <<CONF /etc/app.conf
key=value
CONF
RUN --mount=type=cache,target=/cache echo x >> /cache/runs && wc -l < /cache/runs | tr -d ' ' > /app/cache-runs

FROM ${REGISTRY}/busybox:latest AS other
RUN echo from other > /other

FROM base
COPY --from=other /other /app/other
COPY --from=0 /app/greeting /app/greeting-again
USER 1000:100
EXPOSE 8080 9090/udp
VOLUME /data
STOPSIGNAL SIGINT
HEALTHCHECK --interval=2s --retries=5 CMD test -f /app/greeting
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/greeting"]
"#;

#[test]
#[ignore = "privileged: root, crun and the fixture registries"]
fn every_instruction_builds_and_the_cache_reruns_only_what_changed() {
    if !privileged(&["registry", "crun", "tar"]) {
        return;
    }
    let reg = Registries::from_env().expect("registries");
    let compose = "services:\n  app:\n    build:\n      context: .\n      args:\n        REGISTRY: ${HB_REGISTRY}\n        GREETING: hi\n      labels:\n        org.example.from: compose\n      tags: [\"app:extra\"]\n";
    let p = Project::new(
        &reg,
        "demo",
        &[
            ("compose.yaml", compose),
            ("Dockerfile", DOCKERFILE),
            ("a.txt", "a\n"),
            ("b.txt", "b\n"),
            ("secret.txt", "must stay out\n"),
            ("bin/tool", "#!/bin/sh\necho tool\n"),
            ("bundle/inside.txt", "unpacked\n"),
            (".dockerignore", "# not in the image\nsecret.txt\nbundle/\n"),
        ],
    );
    // The base image's files a step deletes: written into the stage before.
    let tar = Command::new("tar")
        .args(["-C", "bundle", "-cf", "bundle.tar", "inside.txt"])
        .current_dir(&p.dir)
        .status()
        .expect("tar");
    assert!(tar.success());
    let df = DOCKERFILE.replace(
        "RUN echo \"$GREETING",
        "RUN cp /etc/group /etc/group.bak && mkdir -p /var/spool/old && touch /var/spool/old/f\nRUN echo \"$GREETING",
    );
    p.write("Dockerfile", &df);

    let out = p.ok(&["build", "--progress", "plain"]);
    assert!(
        out.contains("| "),
        "RUN output streams with plain progress:\n{out}"
    );
    let (hits, steps) = cached(&out);
    assert_eq!(hits, 0, "a first build caches nothing:\n{out}");

    // The image's config: every metadata instruction.
    let c = p.config("demo-app");
    let cfg = &c["config"];
    assert_eq!(cfg["User"], "1000:100");
    assert_eq!(cfg["WorkingDir"], "/app");
    assert_eq!(cfg["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    assert_eq!(cfg["Cmd"], serde_json::json!(["cat /app/greeting"]));
    assert_eq!(cfg["StopSignal"], "SIGINT");
    assert!(
        cfg["ExposedPorts"]["8080/tcp"].is_object() && cfg["ExposedPorts"]["9090/udp"].is_object()
    );
    assert!(cfg["Volumes"]["/data"].is_object());
    assert_eq!(cfg["Labels"]["org.example.stage"], "base");
    assert_eq!(cfg["Labels"]["org.example.from"], "compose");
    assert_eq!(
        cfg["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "test -f /app/greeting"])
    );
    assert_eq!(cfg["Healthcheck"]["Interval"], 2_000_000_000u64);
    let env: Vec<String> = serde_json::from_value(cfg["Env"].clone()).expect("env");
    assert!(
        env.contains(&"APP=/app".to_string()) && env.contains(&"MODE=dev".to_string()),
        "{env:?}"
    );
    assert!(
        !env.iter().any(|e| e.starts_with("GREETING=")),
        "build args are not the image's env: {env:?}"
    );
    // `tags:` named it too.
    assert_eq!(p.config("app:extra")["rootfs"], c["rootfs"]);

    // The filesystem: run the image as the service.
    let check = "cd /app && cat greeting exec heredoc other greeting-again cache-runs /etc/app.conf a.txt b.txt \
        && /opt/bin/tool && cat /opt/bundle/inside.txt \
        && stat -c '%u:%g %a' /opt/bin/tool \
        && ls /var/spool && (test -e /etc/group.bak && echo group.bak is back || echo group.bak deleted) \
        && (test -e secret.txt && echo secret leaked || echo secret ignored)";
    let shown = p.ok(&["run", "--rm", "app", check]);
    for want in [
        "hi from dev",
        "exec form",
        "heredoc ran",
        "from other",
        "key=value",
        "tool",
        "unpacked",
        "1000:100 750",
        "only",
        "group.bak deleted",
        "secret ignored",
    ] {
        assert!(shown.contains(want), "{want:?} missing from:\n{shown}");
    }
    assert!(
        !shown.lines().any(|l| l == "old"),
        "an opaque directory hides the lower one:\n{shown}"
    );
    assert_eq!(
        shown.matches("hi from dev").count(),
        2,
        "greeting and its --from=0 copy:\n{shown}"
    );

    // No change: every step from the cache.
    let out = p.ok(&["build"]);
    assert_eq!(cached(&out), (steps, steps), "{out}");
    assert!(ran(&out).is_empty(), "{out}");

    // One source edited: everything before the COPY that takes it is cached;
    // that COPY and all after it in its stage (and the final stage) rerun.
    p.write("b.txt", "b, edited\n");
    let out = p.ok(&["build", "--progress", "plain"]);
    let rerun = ran(&out);
    assert_eq!(
        rerun.first().map(String::as_str),
        Some("COPY *.txt ./"),
        "{out}"
    );
    assert!(out.contains("WORKDIR /app  (cached)"), "{out}");
    assert!(
        out.contains("RUN echo from other > /other  (cached)"),
        "an independent stage stays cached:\n{out}"
    );
    // The cache mount persisted: its counter went from 1 to 2.
    let shown = p.ok(&["run", "--rm", "app", "cat /app/cache-runs /app/b.txt"]);
    assert!(
        shown.contains('2') && shown.contains("b, edited"),
        "{shown}"
    );

    // An ignored file changes nothing.
    p.write("secret.txt", "still out\n");
    let out = p.ok(&["build"]);
    assert_eq!(cached(&out), (steps, steps), "{out}");

    // A build arg: the RUN steps after its ARG rerun, the COPYs before do not.
    let out = p.ok(&[
        "build",
        "--build-arg",
        "GREETING=hey",
        "--progress",
        "plain",
    ]);
    assert!(out.contains("COPY *.txt ./  (cached)"), "{out}");
    assert!(
        ran(&out)
            .iter()
            .any(|s| s.starts_with("RUN echo \"$GREETING")),
        "{out}"
    );
    let shown = p.ok(&["run", "--rm", "app", "cat /app/greeting"]);
    assert!(shown.contains("hey from dev"), "{shown}");

    // --no-cache: every step runs.
    let out = p.ok(&["build", "--no-cache"]);
    assert_eq!(cached(&out).0, 0, "{out}");
    p.assert_clean();
}

#[test]
#[ignore = "privileged: root, crun and the fixture registries"]
fn a_failing_run_names_its_line_shows_its_output_and_keeps_the_old_image() {
    if !privileged(&["registry", "crun"]) {
        return;
    }
    let reg = Registries::from_env().expect("registries");
    let good = "ARG REGISTRY\nFROM ${REGISTRY}/busybox:latest\nRUN echo good > /v\n";
    let p = Project::new(
        &reg,
        "fails",
        &[
            ("compose.yaml", "services:\n  app:\n    build:\n      context: .\n      args: {REGISTRY: \"${HB_REGISTRY}\"}\n"),
            ("Dockerfile", good),
        ],
    );
    p.ok(&["build"]);
    let before = p.config("fails-app");
    p.write(
        "Dockerfile",
        "ARG REGISTRY\nFROM ${REGISTRY}/busybox:latest\n\nRUN echo about to fail; echo on stderr >&2; exit 3\n",
    );
    let o = p.hb(&["build"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("Dockerfile:4:"), "the RUN's line: {err}");
    assert!(err.contains("exited with 3"), "{err}");
    assert!(
        err.contains("about to fail") && err.contains("on stderr"),
        "its output: {err}"
    );
    assert_eq!(
        p.config("fails-app"),
        before,
        "the old image is still there"
    );

    // A Dockerfile that does not parse: file, line and column.
    p.write("Dockerfile", "FROM busybox\nRUNN echo\n");
    let o = p.hb(&["build"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("Dockerfile:2:1") && err.contains("RUNN"),
        "{err}"
    );

    // A missing COPY source, and a RUN without a shell in a scratch stage.
    p.write(
        "Dockerfile",
        "ARG REGISTRY\nFROM ${REGISTRY}/busybox:latest\nCOPY nope.txt /\n",
    );
    let err = String::from_utf8_lossy(&p.hb(&["build"]).stderr).into_owned();
    assert!(
        err.contains("Dockerfile:3") && err.contains("nope.txt"),
        "{err}"
    );
    p.write("Dockerfile", "FROM scratch\nRUN true\n");
    let err = String::from_utf8_lossy(&p.hb(&["build"]).stderr).into_owned();
    assert!(
        err.contains("Dockerfile:2") && err.contains("FROM scratch"),
        "{err}"
    );
    p.assert_clean();
}

/// The body of `GET /` once it contains `want` (within 20 s).
fn serves(port: u16, want: &str) -> String {
    get_until(port, "/", want, Duration::from_secs(20))
        .unwrap_or_else(|last| {
            panic!("127.0.0.1:{port} never answered with {want:?}; last: {last:?}")
        })
        .0
}

#[test]
#[ignore = "privileged: root, crun, iproute2 and the fixture registries (with debian-python)"]
fn the_build_example_comes_up_with_build_and_rebuilds_an_edit() {
    if !privileged(&["registry", "crun", "ip"]) {
        return;
    }
    let reg = Registries::from_env().expect("registries");
    let p = Project::example(&reg, "build");
    let out = p.ok(&["up", "--build", "-d"]);
    assert!(out.contains("built in"), "{out}");
    let body = serves(p.port, "hello from a built image");
    assert!(
        body.contains("index.html") && body.contains("site.css"),
        "the assets stage's index: {body}"
    );
    assert!(!body.contains("compose.yaml"), "{body}");

    // Nothing changed: built from the cache, the container left running.
    let out = p.ok(&["up", "--build", "-d"]);
    assert!(
        out.contains("running") && !out.contains("recreated"),
        "{out}"
    );

    // An edit: one COPY reruns, the container is replaced.
    p.write("app/greeting.txt", "edited greeting\n");
    let out = p.ok(&["up", "--build", "-d"]);
    assert_eq!(
        ran(&out),
        [
            "COPY app/ ./app/",
            "RUN python3 -m py_compile app/__main__.py"
        ],
        "{out}"
    );
    assert!(out.contains("recreated"), "{out}");
    serves(p.port, "edited greeting");
    // `stop` sends the image's STOPSIGNAL (SIGINT): Python as PID 1 ignores
    // the default SIGTERM, which would cost the whole 10 s grace period.
    let t = Instant::now();
    p.ok(&["stop"]);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "stop took {:?}",
        t.elapsed()
    );
    // `--rmi local` takes the image hb built (and named) with the project.
    assert!(p.ok(&["images"]).contains("build-web"));
    p.ok(&["down", "-t", "0", "--rmi", "local"]);
    let images = p.ok(&["images"]);
    assert!(
        !images.contains("build-web") && images.contains("busybox"),
        "{images}"
    );
    p.assert_clean();
}

#[test]
#[ignore = "privileged: root, crun, iproute2 and the fixture registries (with debian-python)"]
fn watch_rebuilds_on_an_edit_and_a_broken_build_keeps_the_service_serving() {
    if !privileged(&["registry", "crun", "ip"]) {
        return;
    }
    let reg = Registries::from_env().expect("registries");
    let p = Project::example(&reg, "build");
    p.ok(&["up", "--build", "-d"]);
    serves(p.port, "hello from a built image");
    let mut watch = KillOnDrop(
        p.cmd(&["watch", "--no-up", "--quiet"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("hb watch"),
    );
    let lines = gather_lines(watch.0.stderr.take().expect("stderr"));
    let wait_for = |what: &str| line_with(&lines, what, Duration::from_secs(30));
    // Give the watcher a moment to register its directories.
    std::thread::sleep(Duration::from_millis(500));

    p.write("app/greeting.txt", "rebuilt by watch\n");
    let said = wait_for("rebuilt (");
    assert!(said.contains("recreated its container"), "{said}");
    serves(p.port, "rebuilt by watch");

    // A syntax error: the build fails at its RUN, the old container keeps serving.
    let main = std::fs::read_to_string(p.dir.join("app/__main__.py")).expect("read");
    p.write("app/__main__.py", &format!("{main}\ndef broken(:\n"));
    let said = wait_for("build failed");
    assert!(
        said.contains("py_compile") || said.contains("exited with"),
        "{said}"
    );
    let body = serves(p.port, "rebuilt by watch");
    assert!(
        body.contains("site.css"),
        "the build-time index is still there: {body}"
    );

    // Fixed: it rebuilds and serves the fix.
    p.write(
        "app/__main__.py",
        &main.replace("{greeting}\\n", "fixed: {greeting}\\n"),
    );
    serves(p.port, "fixed: rebuilt by watch");
    drop(watch);
    p.ok(&["down", "-t", "0"]);
    p.assert_clean();
}

/// `(start, end)` of a RUN step, from the host's uptime it wrote (seconds).
fn span(text: &str) -> (f64, f64) {
    let nums: Vec<f64> = text
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    // /proc/uptime holds two numbers; the first is the uptime.
    (nums[0], nums[2])
}

#[test]
#[ignore = "privileged: root, crun and the fixture registries"]
fn independent_stages_and_services_build_at_the_same_time() {
    if !privileged(&["registry", "crun"]) {
        return;
    }
    let reg = Registries::from_env().expect("registries");
    // Each RUN notes the host's uptime, sleeps, notes it again.
    let timed = "RUN cat /proc/uptime > /s && sleep 1 && cat /proc/uptime > /e";
    let two_stages = format!(
        "FROM {r}/busybox:latest AS x\n{timed}\nFROM {r}/busybox:latest AS y\n{timed}\nFROM {r}/busybox:latest\nCOPY --from=x /s /xs\nCOPY --from=x /e /xe\nCOPY --from=y /s /ys\nCOPY --from=y /e /ye\n",
        r = reg.anon
    );
    let one = format!("FROM {}/busybox:latest\n{timed}\n", reg.anon);
    let compose = format!(
        "services:\n  stages:\n    build:\n      context: .\n      dockerfile: Stages.Dockerfile\n  a:\n    build:\n      context: .\n      dockerfile_inline: |\n{}\n  b:\n    build:\n      context: .\n      dockerfile_inline: |\n{}\n",
        one.lines().map(|l| format!("        {l}")).collect::<Vec<_>>().join("\n"),
        one.lines().map(|l| format!("        {l}")).collect::<Vec<_>>().join("\n"),
    );
    let p = Project::new(
        &reg,
        "par",
        &[
            ("compose.yaml", &compose),
            ("Stages.Dockerfile", &two_stages),
        ],
    );
    p.ok(&["build"]);
    let read =
        |svc: &str, files: &str| p.ok(&["run", "--rm", svc, "sh", "-c", &format!("cat {files}")]);
    let overlap = |x: (f64, f64), y: (f64, f64)| x.0 < y.1 && y.0 < x.1;
    let (x, y) = (
        span(&read("stages", "/xs /xe")),
        span(&read("stages", "/ys /ye")),
    );
    assert!(
        overlap(x, y),
        "stages x {x:?} and y {y:?} ran one after the other"
    );
    let (a, b) = (span(&read("a", "/s /e")), span(&read("b", "/s /e")));
    assert!(
        overlap(a, b),
        "services a {a:?} and b {b:?} built one after the other"
    );
    p.assert_clean();
}
