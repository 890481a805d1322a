//! End-to-end tests of `hb pull`, `hb images`, `hb image …` against the
//! fixture registry (issue #3).

use std::path::Path;
use std::process::{Command, Output};

use hb_test_support::{privileged, Registries};

fn hb(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hb"))
        .args(args)
        .env("HB_ROOT", root)
        .env("HOME", root)
        .output()
        .expect("hb runs")
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "hb failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
#[ignore = "privileged: root and the fixture registries"]
fn pull_list_inspect_unpack_remove() {
    if !privileged(&["registry"]) {
        return;
    }
    let reg = Registries::from_env().expect("registries");
    let root = tempfile::tempdir().expect("tempdir");
    let image = format!("{}/busybox-cfg", reg.anon);
    let out = ok(hb(root.path(), &["pull", &image]));
    assert!(out.starts_with(&format!("{image}:latest sha256:")), "{out}");
    let list: serde_json::Value =
        serde_json::from_str(&ok(hb(root.path(), &["images", "--format", "json"]))).expect("json");
    assert_eq!(list[0]["name"], format!("{image}:latest"));
    let inspect: serde_json::Value =
        serde_json::from_str(&ok(hb(root.path(), &["image", "inspect", &image]))).expect("json");
    let cfg = &inspect[0]["config"]["config"];
    assert_eq!(cfg["User"], "1000:1000");
    assert_eq!(cfg["WorkingDir"], "/home/hb");
    assert_eq!(cfg["StopSignal"], "SIGINT");
    assert!(cfg["ExposedPorts"].get("8080/tcp").is_some());
    let dir = root.path().join("rootfs");
    ok(hb(
        root.path(),
        &["image", "unpack", &image, dir.to_str().expect("utf8")],
    ));
    assert!(dir.join("bin/busybox").is_file());
    ok(hb(root.path(), &["image", "rm", &image]));
    assert_eq!(ok(hb(root.path(), &["images", "-q"])), "");
    let o = hb(root.path(), &["image", "inspect", &image]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("hb pull"));
}

#[test]
#[ignore = "privileged: root and the fixture registries"]
fn login_then_pull_from_a_protected_registry() {
    if !privileged(&["registry"]) {
        return;
    }
    let reg = Registries::from_env().expect("registries");
    let root = tempfile::tempdir().expect("tempdir");
    let image = format!("{}/busybox", reg.basic);
    let o = hb(root.path(), &["pull", &image]);
    assert!(
        !o.status.success()
            && String::from_utf8_lossy(&o.stderr).contains(&format!("hb login {}", reg.basic))
    );
    let o = hb(
        root.path(),
        &["login", &reg.basic, "-u", &reg.user, "--password", "wrong"],
    );
    assert!(
        !o.status.success(),
        "a wrong password is refused before it is stored"
    );
    let mut login = Command::new(env!("CARGO_BIN_EXE_hb"))
        .args(["login", &reg.basic, "-u", &reg.user, "--password-stdin"])
        .env("HB_ROOT", root.path())
        .env("HOME", root.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    use std::io::Write;
    login
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{}\n", reg.password).as_bytes())
        .expect("write");
    ok(login.wait_with_output().expect("wait"));
    assert!(
        root.path().join(".docker/config.json").is_file(),
        "stored where Docker keeps it"
    );
    ok(hb(root.path(), &["pull", &image]));
    ok(hb(root.path(), &["logout", &reg.basic]));
    let o = hb(root.path(), &["pull", &image]);
    assert!(
        !o.status.success(),
        "after logout the registry refuses again"
    );
}

#[test]
fn bad_references_and_platforms_are_explained() {
    let root = tempfile::tempdir().expect("tempdir");
    let o = hb(root.path(), &["pull", "Bad/Name"]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("lowercase"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = hb(root.path(), &["pull", "--platform", "amd64", "busybox"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("os/arch"));
}

#[test]
#[ignore = "privileged: root and the fixture registries"]
fn pull_in_a_project_pulls_every_service_image() {
    if !privileged(&["registry"]) {
        return;
    }
    let reg = Registries::from_env().expect("registries");
    let root = tempfile::tempdir().expect("tempdir");
    let project = root.path().join("proj");
    std::fs::create_dir(&project).expect("mkdir");
    std::fs::write(
        project.join("compose.yaml"),
        format!("services:\n  a:\n    image: {r}/busybox\n  b:\n    image: {r}/layers\n  c:\n    image: {r}/busybox\n  d:\n    build: .\n", r = reg.anon),
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_hb"))
        .arg("pull")
        .current_dir(&project)
        .env("HB_ROOT", root.path())
        .env("HOME", root.path())
        .output()
        .expect("hb runs");
    let text = ok(out);
    assert_eq!(
        text.lines().count(),
        2,
        "busybox once, layers once, nothing for the build-only service: {text}"
    );
    assert!(
        text.contains("/busybox:latest sha256:") && text.contains("/layers:latest sha256:"),
        "{text}"
    );
}
