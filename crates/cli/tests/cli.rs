//! End-to-end tests of the `hb` binary's project commands (issue #2).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn hb(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hb"))
        .args(args)
        .current_dir(dir)
        .env_remove("COMPOSE_FILE")
        .env_remove("COMPOSE_PROJECT_NAME")
        .env_remove("COMPOSE_PROFILES")
        .output()
        .expect("hb runs")
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "hb failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn webapp() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/webapp")
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write");
}

#[test]
fn config_prints_the_canonical_project() {
    let out = stdout(&hb(&webapp(), &["config", "--format", "json"]));
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["name"], "webapp");
    assert_eq!(
        v["services"]["web"]["ports"][0],
        serde_json::json!({"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp"})
    );
    assert_eq!(
        v["services"]["api"]["depends_on"]["db"]["condition"],
        "service_healthy"
    );
    assert_eq!(v["volumes"]["db-data"]["name"], "webapp_db-data");
    let keys: Vec<&String> = v["services"]["api"]
        .as_object()
        .expect("map")
        .keys()
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(
        keys, sorted,
        "service keys are printed in alphabetical order"
    );
    let yaml = stdout(&hb(&webapp(), &["config"]));
    assert!(yaml.starts_with("name: webapp\nservices:\n"), "{yaml}");
}

#[test]
fn config_listings() {
    assert_eq!(
        stdout(&hb(&webapp(), &["config", "--services"])),
        "api\ndb\nmigrate\nweb\n"
    );
    assert_eq!(
        stdout(&hb(&webapp(), &["config", "--volumes"])),
        "db-data\n"
    );
    let images = stdout(&hb(&webapp(), &["config", "--images"]));
    assert_eq!(images.lines().count(), 4);
    assert!(stdout(&hb(&webapp(), &["config", "-q"])).is_empty());
}

#[test]
fn global_options_go_before_the_verb() {
    let d = tempfile::tempdir().expect("tempdir");
    write(
        d.path(),
        "a.yaml",
        "services:\n  web:\n    image: a\n  dbg:\n    image: d\n    profiles: [debug]\n",
    );
    write(d.path(), "b.yaml", "services:\n  web:\n    image: b\n");
    let out = stdout(&hb(
        d.path(),
        &[
            "-f",
            "a.yaml",
            "-f",
            "b.yaml",
            "-p",
            "named",
            "--profile",
            "debug",
            "config",
            "--format",
            "json",
        ],
    ));
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["name"], "named");
    assert_eq!(v["services"]["web"]["image"], "b");
    assert!(v["services"].get("dbg").is_some());
    let out = stdout(&hb(d.path(), &["-f", "a.yaml", "config", "--services"]));
    assert_eq!(
        out, "web\n",
        "a service behind an inactive profile is left out"
    );
    assert_eq!(
        stdout(&hb(d.path(), &["-f", "a.yaml", "config", "--profiles"])),
        "debug\n"
    );
}

#[test]
fn graph_formats() {
    let out = stdout(&hb(&webapp(), &["graph", "--format", "json"]));
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        v["waves"],
        serde_json::json!([["db", "migrate"], ["api"], ["web"]])
    );
    assert!(v["edges"].as_array().expect("edges").contains(&serde_json::json!({"from": "api", "to": "migrate", "condition": "service_completed_successfully", "required": true})));
    assert!(stdout(&hb(&webapp(), &["graph", "--format", "dot"])).starts_with("digraph services {"));
    assert!(stdout(&hb(&webapp(), &["graph"])).starts_with("wave 1: db, migrate\n"));
}

#[test]
fn a_broken_file_gets_every_problem_located() {
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), "compose.yaml", "services:\n  web:\n    image: x\n    enviroment: {A: b}\n    ports: ['90-80:80']\n    depends_on: [dbb]\n  db:\n    image: y\n");
    let o = hb(d.path(), &["config"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("compose.yaml:4:5: services.web.enviroment: unknown key `enviroment` (did you mean `environment`?)"), "{err}");
    // Schema problems stop the load before later stages; past the schema, every problem comes in one run.
    write(d.path(), "compose.yaml", "services:\n  web:\n    image: x\n    ports: ['90-80:80']\n    depends_on: [dbb]\n  db:\n    image: y\n");
    let err = String::from_utf8_lossy(&hb(d.path(), &["config"]).stderr).into_owned();
    assert!(err.contains("has 2 problems"), "{err}");
    assert!(
        err.contains("compose.yaml:4:13: services.web.ports[0]: invalid port `90-80:80`"),
        "{err}"
    );
    assert!(
        err.contains("depends on undefined service \"dbb\" (did you mean `db`?)"),
        "{err}"
    );
    write(d.path(), "compose.yaml", "services:\n  web: [\n");
    let o = hb(d.path(), &["config"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("compose.yaml:"),
        "a syntax error names the file"
    );
}

#[test]
fn a_cycle_is_reported_with_its_path() {
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), "compose.yaml", "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [c]}\n  c: {image: x, depends_on: [a]}\n");
    let o = hb(d.path(), &["graph"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("dependency cycle detected: a -> b -> c -> a")
    );
}

#[test]
fn detection_and_init() {
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), "requirements.txt", "fastapi\nasyncpg\n");
    write(d.path(), "main.py", "");
    let o = hb(d.path(), &["config", "--services"]);
    assert_eq!(stdout(&o), "app\npostgres\n");
    assert!(String::from_utf8_lossy(&o.stderr).contains("detected a python-fastapi project"));
    let o = hb(d.path(), &["init"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let written = std::fs::read_to_string(d.path().join("compose.yaml")).expect("written");
    assert!(written.contains("uvicorn main:app"));
    let again = hb(d.path(), &["init"]);
    assert!(
        !again.status.success(),
        "init does not overwrite without --force"
    );
    assert_eq!(stdout(&hb(d.path(), &["graph", "--format", "json"])), "{\"waves\":[[\"postgres\"],[\"app\"]],\"edges\":[{\"from\":\"app\",\"to\":\"postgres\",\"condition\":\"service_healthy\",\"required\":true}]}\n");
    let empty = tempfile::tempdir().expect("tempdir");
    let o = hb(empty.path(), &["config"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no compose file found"));
}

#[test]
fn stdin_and_compose_file_variable() {
    let d = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hb"))
        .args(["-f", "-", "-p", "piped", "config", "--services"])
        .current_dir(d.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"services:\n  s:\n    image: x\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "s\n");
    write(d.path(), "one.yaml", "services:\n  one: {image: x}\n");
    write(d.path(), "two.yaml", "services:\n  two: {image: x}\n");
    let out = Command::new(env!("CARGO_BIN_EXE_hb"))
        .args(["config", "--services"])
        .current_dir(d.path())
        .env("COMPOSE_FILE", "one.yaml:two.yaml")
        .output()
        .expect("runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one\ntwo\n");
}

#[test]
fn a_bad_run_flag_is_reported_before_any_pull() {
    let d = tempfile::tempdir().expect("tempdir");
    // Port 1 on loopback: a pull would fail with "cannot reach", not name the flag.
    for (flag, value, says) in [
        ("--memory", "12q", "--memory `12q` is not a size"),
        ("--ulimit", "nofile=abc", "`abc` is not a number"),
        ("--sysctl", "foo", "write it as KEY=VALUE"),
        ("-v", "data:/data", "named volumes belong to projects"),
    ] {
        let o = hb(
            d.path(),
            &["container", "run", flag, value, "127.0.0.1:1/x", "true"],
        );
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says) && !err.contains("pull"), "{flag}: {err}");
    }
}
