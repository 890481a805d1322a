//! The behaviours listed in `tests/corpus/compose-go/EXPECTED.md`, one test
//! each (numbers refer to that file's items).

use std::path::PathBuf;

use hb_compose::{dotenv, load, schema, yaml};
use serde_json::json;

use crate::support::{corpus, corpus_path, error_in, json_in, load_in, options, service_with};

const FULL_ENV: &[(&str, &str)] = &[("BAR", "this is a secret"), ("QUX", "qux_from_environment")];

fn full_example() -> serde_json::Value {
    let mut opts = options(
        &corpus().join("compose-go/loader"),
        &["full-example.yml"],
        FULL_ENV,
    );
    opts.skip_consistency = true;
    let loaded = load(&opts).unwrap_or_else(|e| panic!("full example: {e}"));
    serde_json::to_value(&loaded.project).expect("json")
}

fn loader_dir() -> String {
    corpus().join("compose-go/loader").display().to_string()
}

#[test]
fn item_01_name_feeds_compose_project_name() {
    let p = full_example();
    assert_eq!(p["name"], "full_example_project_name");
    let tags = p["services"]["foo"]["build"]["tags"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        tags.contains(&json!("full_example_project_name:1.0.0")),
        "{tags:?}"
    );
}

#[test]
fn item_02_command_string_is_split_like_a_shell() {
    assert_eq!(
        full_example()["services"]["foo"]["command"],
        json!(["bundle", "exec", "thin", "-p", "3000"])
    );
}

#[test]
fn item_03_healthcheck_string_form_and_durations() {
    let h = &full_example()["services"]["foo"]["healthcheck"];
    assert_eq!(h["test"], json!(["CMD-SHELL", "echo \"hello world\""]));
    assert_eq!(
        (h["interval"].as_str(), h["timeout"].as_str()),
        (Some("10s"), Some("1s"))
    );
    assert_eq!(
        (h["start_period"].as_str(), h["start_interval"].as_str()),
        (Some("15s"), Some("5s"))
    );
    assert_eq!(h["retries"], 5);
}

#[test]
fn item_04_short_depends_on_becomes_long() {
    let d = &full_example()["services"]["foo"]["depends_on"];
    assert_eq!(
        d["db"],
        json!({"condition": "service_started", "required": true})
    );
    assert_eq!(
        d["redis"],
        json!({"condition": "service_started", "required": true})
    );
}

#[test]
fn item_05_environment_precedence_and_env_file_order() {
    let e = &full_example()["services"]["foo"]["environment"];
    assert_eq!(e["FOO"], "foo_from_env_file");
    assert_eq!(e["BAR"], "bar_from_env_file_2");
    assert_eq!(e["BAZ"], "baz_from_service_def");
    assert_eq!(e["QUX"], "qux_from_environment");
    assert!(
        e.get("ENV.WITH.DOT").is_some() && e.get("ENV_WITH_UNDERSCORE").is_some(),
        "{e}"
    );
}

#[test]
fn item_06_labels_and_label_files() {
    let l = &full_example()["services"]["foo"]["labels"];
    assert_eq!(l["FOO"], "foo_from_label_file");
    assert_eq!(l["BAR"], "bar_from_label_file_2");
    assert_eq!(l["LABEL.WITH.DOT"], "ok");
    assert_eq!(l["com.example.description"], "Accounting webapp");
    assert_eq!(l["com.example.number"], "42");
    assert_eq!(l["com.example.empty-label"], "");
    assert_eq!(
        full_example()["services"]["foo"]["annotations"],
        json!({"com.example.foo": "bar"})
    );
}

#[test]
fn item_07_ports_expand_to_one_entry_per_port() {
    let ports = full_example()["services"]["foo"]["ports"]
        .as_array()
        .cloned()
        .expect("ports");
    // EXPECTED.md says 25, but the seven entries of the fixture expand to
    // 1 + 5 + 1 + 2 + 1 + 1 + 11 = 22.
    assert_eq!(ports.len(), 22);
    assert!(ports
        .iter()
        .all(|p| p["mode"] == "ingress" && p["protocol"] == "tcp"));
    assert_eq!(
        ports[0],
        json!({"mode": "ingress", "target": 3000, "protocol": "tcp"})
    );
    let unpublished: Vec<_> = ports
        .iter()
        .filter(|p| p.get("published").is_none())
        .map(|p| p["target"].clone())
        .collect();
    assert_eq!(
        unpublished,
        vec![
            json!(3000),
            json!(3001),
            json!(3002),
            json!(3003),
            json!(3004),
            json!(3005)
        ]
    );
    assert!(ports.contains(
        &json!({"mode": "ingress", "target": 8081, "published": "9091", "protocol": "tcp"})
    ));
    assert_eq!(
        ports
            .iter()
            .filter(|p| p.get("host_ip") == Some(&json!("127.0.0.1")))
            .count(),
        12
    );
}

#[test]
fn item_08_expose_is_a_list_of_strings() {
    assert_eq!(
        full_example()["services"]["foo"]["expose"],
        json!(["3000", "8000"])
    );
}

#[test]
fn item_09_volume_short_syntax() {
    let v = full_example()["services"]["foo"]["volumes"]
        .as_array()
        .cloned()
        .expect("volumes");
    let by_target = |t: &str| {
        v.iter()
            .find(|m| m["target"] == t)
            .cloned()
            .unwrap_or_else(|| panic!("no mount at {t}"))
    };
    assert_eq!(
        by_target("/var/lib/anonymous"),
        json!({"type": "volume", "target": "/var/lib/anonymous", "volume": {}})
    );
    assert_eq!(
        by_target("/var/lib/data")["bind"],
        json!({"create_host_path": true})
    );
    assert_eq!(by_target("/code")["source"], loader_dir());
    assert_eq!(
        by_target("/var/www/html")["source"],
        format!("{}/static", loader_dir())
    );
    let configs = by_target("/etc/configs");
    assert_eq!(
        (configs["source"].as_str(), configs["read_only"].as_bool()),
        (Some("/home/test/configs"), Some(true))
    );
    assert_eq!(by_target("/var/lib/volume")["type"], "volume");
    let opt = by_target("/opt/cached");
    assert_eq!(opt["source"], format!("{}/opt", loader_dir()));
    assert_eq!(opt["consistency"], "cached");
    assert!(
        opt.get("bind").is_none(),
        "the long form does not get create_host_path"
    );
    assert_eq!(by_target("/opt/tmpfs")["tmpfs"]["size"], 10000);
}

#[test]
fn item_10_sizes_and_octal_modes() {
    let foo = &full_example()["services"]["foo"];
    assert_eq!(foo["deploy"]["resources"]["limits"]["memory"], 52_428_800);
    assert_eq!(
        foo["deploy"]["resources"]["reservations"]["memory"],
        20_971_520
    );
    assert_eq!(foo["deploy"]["rollback_config"]["monitor"], "1m0s");
    assert_eq!(foo["deploy"]["restart_policy"]["window"], "2m0s");
    assert_eq!(foo["configs"][1]["mode"], "0440");
    assert_eq!(foo["build"]["secrets"][1]["mode"], "0440");
}

#[test]
fn item_11_extra_hosts_become_sorted_host_equals_ip() {
    let hosts = full_example()["services"]["foo"]["extra_hosts"].clone();
    let list: Vec<String> = serde_json::from_value(hosts).expect("list");
    assert!(
        list.contains(&"otherhost=50.31.209.229".to_string()),
        "{list:?}"
    );
    let mut sorted = list.clone();
    sorted.sort();
    assert_eq!(list, sorted);
}

#[test]
fn item_12_build_section() {
    let p = full_example();
    let b = &p["services"]["foo"]["build"];
    assert_eq!(b["context"], format!("{}/dir", loader_dir()));
    assert_eq!(
        b["additional_contexts"]["foo"],
        format!("{}/bar", loader_dir())
    );
    assert_eq!(b["labels"], json!({"FOO": "BAR"}));
    assert_eq!(b["ssh"], json!({"default": ""}));
    let bar = &p["services"]["bar"]["build"];
    assert_eq!(bar["context"], loader_dir());
    assert_eq!(
        bar["dockerfile_inline"],
        "FROM alpine\nRUN echo \"hello\" > /world.txt\n"
    );
}

#[test]
fn item_13_stringified_maps() {
    let p = full_example();
    assert_eq!(
        p["services"]["foo"]["sysctls"]["net.core.somaxconn"],
        "1024"
    );
    let opts = p["networks"]
        .as_object()
        .into_iter()
        .flatten()
        .find_map(|(_, n)| n.get("driver_opts"))
        .cloned();
    assert!(opts.is_some_and(|o| o
        .as_object()
        .is_some_and(|m| m.values().all(|v| v.is_string()))));
}

#[test]
fn item_14_legacy_external_name() {
    let p = full_example();
    assert_eq!(
        p["networks"]["other-external-network"]["name"],
        "my-cool-network"
    );
    assert_eq!(p["networks"]["other-external-network"]["external"], true);
    assert_eq!(p["configs"]["config2"]["name"], "my_config");
}

#[test]
fn item_15_secret_and_config_sources() {
    let p = full_example();
    assert_eq!(
        p["secrets"]["secret1"]["file"],
        format!("{}/secret_data", loader_dir())
    );
    assert_eq!(p["secrets"]["secret4"]["environment"], "BAR");
    assert_eq!(p["configs"]["config4"]["file"], "/home/test/config_data");
}

#[test]
fn item_16_extensions_are_preserved() {
    let p = full_example();
    assert!(p.get("x-foo").is_some() && p.get("x-bar").is_some() && p.get("x-nested").is_some());
    assert_eq!(p["services"]["foo"]["x-bar"], "baz");
    assert_eq!(p["services"]["foo"]["x-foo"], "bar");
}

#[test]
fn item_17_service_network_attachments() {
    let n = &full_example()["services"]["foo"]["networks"];
    assert!(n["some-network"]["aliases"].is_array());
    assert!(n["other-other-network"].is_null());
}

#[test]
fn item_18_extends_another_file() {
    let p = json_in(
        "compose-go/loader/testdata",
        &["compose-test-extends.yaml"],
        &[],
    );
    let s = &p["services"]["importer"];
    assert_eq!(s["image"], "nginx");
    assert_eq!(s["container_name"], "imported");
    assert_eq!(s["environment"]["SOURCE"], "extends");
    assert_eq!(s["volumes"][0]["source"], "/opt/data");
    assert_eq!(s["networks"], json!({"default": null}));
}

#[test]
fn item_19_a_url_build_context_is_not_a_path() {
    let p = json_in(
        "compose-go/loader/testdata",
        &["compose-test-extends-with-context-url.yaml"],
        &[],
    );
    let b = &p["services"]["importer-with-https-url"]["build"];
    assert_eq!(b["context"], "https://github.com/docker/compose.git");
    assert_eq!(b["dockerfile"], "Dockerfile");
}

#[test]
fn item_20_obsolete_version_and_string_build() {
    let loaded = load_in(
        "compose-go/loader/testdata",
        &["compose-test-with-version.yaml"],
        &[],
    )
    .expect("loads");
    assert!(loaded.warnings.iter().any(|w| w.contains("version")));
    let p = serde_json::to_value(&loaded.project).expect("json");
    let svc = service_with(&p, "build");
    assert_eq!(
        svc["build"]["context"],
        corpus_path("compose-go/loader/testdata/Dockerfile")
    );
    assert_eq!(svc["networks"], json!({"front": null, "default": null}));
    assert_eq!(svc["volumes_from"], json!(["other"]));
    assert_eq!(
        p["services"]["other"]["volumes"],
        json!([{"type": "volume", "target": "/data", "volume": {}}])
    );
}

#[test]
fn item_21_dependency_cycles() {
    let e = error_in(
        "compose-go/loader/testdata",
        &["compose-depends-on-cycle.yaml"],
        &[],
    );
    assert!(
        e.contains("dependency cycle detected: service1 -> service2 -> service3 -> service1"),
        "{e}"
    );
    let e = error_in(
        "compose-go/loader/testdata",
        &["compose-depends-on-self.yaml"],
        &[],
    );
    assert!(
        e.contains("dependency cycle detected: service1 -> service1"),
        "{e}"
    );
}

#[test]
fn item_22_include_cycle() {
    let e = error_in(
        "compose-go/loader/testdata",
        &["compose-include-cycle.yaml"],
        &[],
    );
    assert!(e.contains("include cycle detected"), "{e}");
}

/// Writes an inline root compose file (as compose-go's tests do) next to the corpus.
fn inline_root(yaml: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("compose.yaml");
    std::fs::write(
        &path,
        yaml.replace("$CORPUS", &corpus().display().to_string()),
    )
    .expect("write");
    (dir, path)
}

fn load_inline(yaml: &str, env: &[(&str, &str)]) -> Result<serde_json::Value, String> {
    let (dir, _) = inline_root(yaml);
    let loaded = load(&options(dir.path(), &["compose.yaml"], env)).map_err(|e| e.to_string())?;
    Ok(serde_json::to_value(&loaded.project).expect("json"))
}

#[test]
fn item_23_include_env_file_feeds_interpolation() {
    let root = "include:\n  - path: $CORPUS/compose-go/loader/testdata/subdir/compose-test-extends-imported.yaml\n    env_file: $CORPUS/compose-go/loader/testdata/subdir/extra.env\nservices:\n  foo:\n    image: busybox\n    depends_on: [imported]\n";
    let p = load_inline(root, &[]).expect("loads");
    assert_eq!(p["services"]["imported"]["container_name"], "extends");
    let p = load_inline(root, &[("SOURCE", "override")]).expect("loads");
    assert_eq!(p["services"]["imported"]["container_name"], "override");
}

#[test]
fn item_24_override_tag_on_an_included_service() {
    let root = "include:\n  - $CORPUS/compose-go/loader/testdata/compose-include.yaml\nservices:\n  bar:\n    environment: !override\n      - ZOT=QIX\n";
    let p = load_inline(root, &[]).expect("loads");
    assert_eq!(p["services"]["bar"]["environment"], json!({"ZOT": "QIX"}));
}

#[test]
fn item_25_included_paths_are_relative_to_the_included_file() {
    // compose-go's test turns path resolution off and sees "."; hb always resolves,
    // so "." is the included file's directory.
    let p = json_in("compose-go/loader/testdata/include", &["compose.yaml"], &[]);
    let s = &p["services"]["included"];
    let dir = corpus_path("compose-go/loader/testdata/include");
    assert_eq!(s["build"]["context"], dir);
    assert_eq!(s["volumes"][0]["source"], dir);
}

#[test]
fn item_26_include_project_directory() {
    let p = json_in(
        "compose-go/loader/testdata",
        &["include/project-directory.yaml"],
        &[],
    );
    let svc = service_with(&p, "build");
    assert_eq!(
        svc["build"]["context"],
        corpus_path("compose-go/loader/testdata/subdir")
    );
}

#[test]
fn item_27_extends_inside_an_included_file() {
    let p = json_in(
        "compose-go/loader/testdata/combined",
        &["compose.yaml"],
        &[],
    );
    assert!(
        p["services"].as_object().is_some_and(|m| !m.is_empty()),
        "{p}"
    );
}

#[test]
fn item_28_extends_chains_and_keeps_own_keys() {
    let root = "services:\n  a:\n    extends: {file: $CORPUS/compose-go/loader/testdata/extends/base.yaml, service: base}\n    hostname: mine\n  b:\n    extends: {file: $CORPUS/compose-go/loader/testdata/extends/base.yaml, service: another}\n  p:\n    extends: {file: $CORPUS/compose-go/loader/testdata/extends/base.yaml, service: with-port}\n  u:\n    extends: {file: $CORPUS/compose-go/loader/testdata/extends/base.yaml, service: withUlimits}\n  w:\n    extends: {file: $CORPUS/compose-go/loader/testdata/extends/base.yaml, service: with-build}\n  n:\n    image: x\n    extends: {file: $CORPUS/compose-go/loader/testdata/extends/base.yaml, service: nil}\ninclude:\n  - $CORPUS/compose-go/loader/testdata/extends/nested.yaml\n";
    let p = load_inline(root, &[]).expect("loads");
    // A build context resolves relative to the file that declares it (sibling.yaml).
    assert_eq!(
        p["services"]["w"]["build"]["context"],
        corpus_path("compose-go/loader/testdata/extends")
    );
    assert_eq!(
        p["services"]["with-build"]["build"]["context"],
        corpus_path("compose-go/loader/testdata/extends")
    );
    assert_eq!(p["services"]["n"]["image"], "x");
    assert_eq!(p["services"]["a"]["hostname"], "mine");
    assert!(p["services"]["b"].get("image").is_some());
    assert_eq!(p["services"]["p"]["ports"][0]["target"], 8000);
    assert_eq!(p["services"]["u"]["ulimits"]["nproc"], 65535);
    assert_eq!(
        p["services"]["u"]["ulimits"]["nofile"],
        json!({"soft": 20000, "hard": 40000})
    );
    let missing = load_inline("services:\n  test:\n    image: x\n    extends: {file: $CORPUS/compose-go/loader/testdata/extends/base.yaml}\n", &[]);
    assert!(
        missing.is_err_and(|e| e.contains("service")),
        "extends without a service"
    );
}

#[test]
fn item_29_extending_the_same_port_twice_keeps_one() {
    let dir = corpus().join("compose-go/loader/testdata/extends");
    let (tmp, over) = inline_root(&format!(
        "services:\n  test:\n    extends: {{file: {}/ports.yaml, service: test}}\n",
        dir.display()
    ));
    let opts = options(&dir, &["ports.yaml", &over.display().to_string()], &[]);
    let loaded = load(&opts).expect("loads");
    assert_eq!(loaded.project.services["test"].ports.len(), 1);
    drop(tmp);
}

#[test]
fn item_30_extended_dependencies_must_exist() {
    let e = load_inline("services:\n  bar:\n    extends: {file: $CORPUS/compose-go/loader/testdata/extends/depends_on.yaml, service: with_depends_on}\n", &[])
        .expect_err("zot is undefined");
    assert!(
        e.contains("service \"bar\" depends on undefined service \"zot\""),
        "{e}"
    );
    let ok = load_inline("services:\n  bar:\n    extends: {file: $CORPUS/compose-go/loader/testdata/extends/depends_on.yaml, service: with_depends_on}\n  zot:\n    image: x\n", &[]);
    assert!(ok.is_ok(), "{ok:?}");
}

#[test]
fn item_31_reset_in_an_extended_service() {
    let p = load_inline("services:\n  test:\n    extends: {file: $CORPUS/compose-go/loader/testdata/extends/reset.yaml, service: base}\n", &[]).expect("loads");
    assert!(
        p["services"]["test"].get("command").is_none(),
        "{}",
        p["services"]["test"]
    );
}

#[test]
fn item_32_extended_file_is_interpolated_with_the_project_env() {
    let p = load_inline("services:\n  test:\n    extends: {file: $CORPUS/compose-go/loader/testdata/extends/interpolated.yaml, service: foo}\n", &[]).expect("loads");
    assert_eq!(p["services"]["test"]["volumes"][0]["source"], "/dev/null");
}

/// compose-go's test-only resource loader: `remote:<path>` is `testdata/remote/<path>`.
#[derive(Debug)]
struct RemoteFixtures;

impl hb_compose::RemoteLoader for RemoteFixtures {
    fn accepts(&self, reference: &str) -> bool {
        reference.starts_with("remote:")
    }
    fn load(&self, reference: &str) -> Result<PathBuf, String> {
        let path = corpus()
            .join("compose-go/loader/testdata/remote")
            .join(reference.trim_start_matches("remote:"));
        if path.is_file() {
            Ok(path)
        } else {
            Err(format!("{} does not exist", path.display()))
        }
    }
}

fn load_remote(yaml: &str) -> Result<serde_json::Value, String> {
    let (dir, _) = inline_root(yaml);
    let mut opts = options(dir.path(), &["compose.yaml"], &[]);
    opts.remote_loaders = vec![std::sync::Arc::new(RemoteFixtures)];
    let loaded = load(&opts).map_err(|e| e.to_string())?;
    Ok(serde_json::to_value(&loaded.project).expect("json"))
}

#[test]
fn item_33_remote_resources_through_a_loader_hook() {
    let p = load_remote("include:\n  - remote:compose.yaml\n").expect("loads");
    let foo = &p["services"]["foo"];
    assert_eq!(foo["environment"]["FOO"], "BAR");
    assert_eq!(
        foo["volumes"][0]["source"],
        corpus_path("compose-go/loader/testdata/remote")
    );
    let p = load_remote("include:\n  - remote:nested/compose.yaml\n").expect("loads");
    assert_eq!(p["services"]["foo"]["image"], "bar");
    let e = load_remote("include:\n  - remote:cycle/compose.yaml\n").expect_err("a cycle");
    assert!(e.contains("circular reference"), "{e}");
    let e = load_remote("include:\n  - remote:unavailable.yaml\n").expect_err("missing");
    assert!(e.contains("does not exist"), "{e}");
    let e = load_inline("include:\n  - remote:compose.yaml\n", &[]).expect_err("no loader");
    assert!(
        e.contains("hb does not fetch remote compose files yet"),
        "{e}"
    );
}

#[test]
fn item_34_project_name_rules() {
    let l = load_in("compose-go/cli/testdata/simple", &["compose.yaml"], &[]).expect("loads");
    assert_eq!(l.project.name.as_str(), "simple");
    let mut opts = options(
        &corpus().join("compose-go/cli/testdata/simple"),
        &["compose.yaml"],
        &[],
    );
    opts.project_name = Some("my_project".into());
    assert_eq!(
        load(&opts).expect("loads").project.name.as_str(),
        "my_project"
    );
    for bad in ["-dash", "_under", "do.t", "UPPER"] {
        opts.project_name = Some(bad.into());
        assert!(
            load(&opts).is_err_and(|e| e.to_string().contains("invalid project name")),
            "{bad}"
        );
    }
    opts.project_name = None;
    opts.environment
        .insert("COMPOSE_PROJECT_NAME".into(), "Bad.Name".into());
    assert!(load(&opts).is_err());
    let l = load_in(
        "compose-go/cli/testdata/UNNORMALIZED PATH",
        &["compose.yaml"],
        &[],
    )
    .expect("loads");
    assert_eq!(l.project.name.as_str(), "unnormalizedpath");
    let l = load_in(
        "compose-go/cli/testdata/env-file",
        &["compose-with-env-file.yaml"],
        &[],
    )
    .expect("loads");
    // compose-go's test loads this without `.env` and gets the directory name; hb,
    // like `docker compose`, always reads `.env`, which sets COMPOSE_PROJECT_NAME here.
    assert_eq!(l.project.name.as_str(), "my_project_from_dot_env");
}

#[test]
fn item_41_windows_paths_are_kept() {
    let p = json_in(
        "compose-go/cli/testdata/simple",
        &["compose-with-paths.yaml"],
        &[],
    );
    let v = &p["services"]["test"]["volumes"];
    assert_eq!(v[0]["source"], "C:\\docker\\project");
    assert_eq!(
        v[1]["source"],
        corpus_path("compose-go/cli/testdata/simple/relative")
    );
    assert_eq!(
        v[2]["source"],
        corpus_path("compose-go/cli/testdata/simple/relative2")
    );
}

#[test]
fn item_35_name_is_interpolated() {
    let l = load_in(
        "compose-go/cli/testdata/simple",
        &["compose-name.yaml"],
        &[("TEST", "expected")],
    )
    .expect("loads");
    assert_eq!(l.project.name.as_str(), "test-expected-test");
}

#[test]
fn item_36_dot_env_picks_compose_file_and_name() {
    let l = load_in("compose-go/cli/testdata/env-file", &[], &[]).expect("loads");
    assert_eq!(l.project.name.as_str(), "my_project_from_dot_env");
    assert!(l.project.files[0].ends_with("compose-with-env-file.yaml"));
}

#[test]
fn item_37_later_file_wins_for_scalars() {
    let l = load_in(
        "compose-go/cli/testdata/simple",
        &["compose.yaml", "compose-with-overrides.yaml"],
        &[],
    )
    .expect("loads");
    assert_eq!(
        l.project.services["simple"].image.as_deref(),
        Some("haproxy")
    );
}

#[test]
fn item_38_dot_env_interpolation() {
    let l = load_in(
        "compose-go/cli/testdata/simple",
        &["compose-with-variables.yaml"],
        &[],
    )
    .expect("loads");
    let published: Vec<_> = l
        .project
        .services
        .values()
        .flat_map(|s| s.ports.iter().filter_map(|p| p.published.clone()))
        .collect();
    assert_eq!(published, vec!["8000".to_string()]);
}

#[test]
fn item_39_several_env_files() {
    let dir = corpus().join("compose-go/cli/testdata/env-file");
    let mut opts = options(&dir, &["compose-with-env-files.yaml"], &[]);
    opts.env_files = vec![".env".into(), "override.env".into()];
    let l = load(&opts).expect("loads");
    let svc = l.project.services.values().next().expect("a service");
    assert_eq!(svc.ports[0].published.as_deref(), Some("9000"));
    assert_eq!(svc.environment["DEFAULT_PORT"].as_deref(), Some("9090"));
    let l = load(&options(&dir, &["compose-with-env-file.yaml"], &[])).expect("loads");
    let svc = l.project.services.values().next().expect("a service");
    assert_eq!(svc.environment["DEFAULT_PORT"].as_deref(), Some("8080"));
}

#[test]
fn item_40_dot_env_self_reference_and_os_env() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(".env"), "FOO=foo\nBAR=${FOO}\n").expect("write");
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  s:\n    image: x\n    environment: [\"A=${FOO}\", \"B=${BAR}\"]\n",
    )
    .expect("write");
    let l = load(&options(dir.path(), &[], &[])).expect("loads");
    let env = &l.project.services["s"].environment;
    assert_eq!(
        (env["A"].as_deref(), env["B"].as_deref()),
        (Some("foo"), Some("foo"))
    );
    let l = load(&options(dir.path(), &[], &[("FOO", "zot")])).expect("loads");
    let env = &l.project.services["s"].environment;
    assert_eq!(
        (env["A"].as_deref(), env["B"].as_deref()),
        (Some("zot"), Some("zot"))
    );
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(corpus().join("compose-go/dotenv/fixtures").join(name))
        .expect("fixture")
}

#[test]
fn items_42_to_50_dotenv_fixtures() {
    let none = |_: &str| None;
    let plain = dotenv::parse(&fixture("plain.env"), &none).expect("plain");
    assert_eq!(plain.len(), 8);
    assert_eq!(plain["OPTION_H"], "my string");
    let quoted = dotenv::parse(&fixture("quoted.env"), &none).expect("quoted");
    assert_eq!(quoted["OPTION_D"], "\\n");
    assert_eq!(quoted["OPTION_H"], "\n");
    assert_eq!(
        quoted["OPTION_J"],
        "first line\nsecond line\nthird line\nand so on"
    );
    assert_eq!(quoted["OPTION_K"], "Let's go!");
    assert_eq!(quoted["OPTION_I"], "echo 'asd'");
    let unquoted = dotenv::parse(&fixture("unquoted.env"), &none).expect("unquoted");
    assert!(unquoted.values().any(|v| v.contains('è')));
    let eq = dotenv::parse(&fixture("equals.env"), &none).expect("equals");
    assert_eq!(
        eq["OPTION_A"],
        "postgres://localhost:5432/database?sslmode=disable"
    );
    let exported = dotenv::parse(&fixture("exported.env"), &none).expect("exported");
    assert_eq!(exported["OPTION_A"], "2");
    let os = |k: &str| (k == "OPTION_A").then(|| "5".to_string());
    let subs = dotenv::parse(&fixture("substitutions.env"), &os).expect("subs");
    assert_eq!(
        (
            subs["OPTION_A"].as_str(),
            subs["OPTION_B"].as_str(),
            subs["OPTION_E"].as_str()
        ),
        ("1", "5", "")
    );
    let inherited = dotenv::parse(&fixture("inherited-not-found.env"), &none).expect("inherited");
    assert!(
        inherited.is_empty(),
        "an unknown bare key is left out: {inherited:?}"
    );
    let os = |k: &str| (k == "VAR_TO_BE_LOADED_FROM_OS_ENV").then(|| "from-os".to_string());
    let multi = dotenv::parse(&fixture("inherited-multi-var.env"), &os).expect("multi");
    assert_eq!(multi["VAR_TO_BE_LOADED_FROM_OS_ENV"], "from-os");
    assert_eq!(
        (multi["foo"].as_str(), multi["bar"].as_str()),
        ("bar", "baz")
    );
    let e = dotenv::parse(&fixture("invalid1.env"), &none).expect_err("invalid");
    assert_eq!(
        (e.line, e.message.as_str()),
        (7, "key cannot contain a space")
    );
    assert_eq!(
        dotenv::parse(&fixture("utf8-bom.env"), &none).expect("bom"),
        plain
    );
    // Item 51: a `KEY:VALUE` file is not the dotenv format; its lines are bare keys
    // no environment knows, so nothing is read from it.
    let custom = dotenv::parse(&fixture("custom.format"), &none).expect("custom");
    assert!(custom.is_empty(), "{custom:?}");
    let special = dotenv::parse(&fixture("special.env"), &none).expect("special");
    assert!(special.contains_key("VAR.WITH.DOTS") && special.contains_key("VAR-WITH-DASHES"));
}

#[test]
fn item_52_service_environment_resolution() {
    let root = "services:\n  base:\n    image: x\n    environment: [FOO=foo_from_environment, BAR=bar_from_environment, QIX]\n    env_file: $CORPUS/compose-go/types/fixtures/base.env\n  override:\n    image: x\n    env_file: [$CORPUS/compose-go/types/fixtures/base.env, $CORPUS/compose-go/types/fixtures/override.env]\n";
    let env = [("FOO", "FOO_from_os.env"), ("QIX", "QIX_from_os.env")];
    let p = load_inline(root, &env).expect("loads");
    let b = &p["services"]["base"]["environment"];
    assert_eq!(b["FOO"], "foo_from_environment");
    assert_eq!(b["QIX"], "QIX_from_os.env");
    assert_eq!(b["ZOT"], "zot_from_base.env");
    assert_eq!(b["INTERPOLATED_FOO"], "FOO_from_os.env");
    assert_eq!(b["INTERPOLATED_BAR"], "bar_from_environment");
    assert_eq!(b["INTERPOLATED_ZOT"], "zot_from_base.env");
    let o = &p["services"]["override"]["environment"];
    assert_eq!(o["BAR"], "bar_from_override.env");
    assert_eq!(o["INTERPOLATED_BAR"], "bar_from_override.env");
}

#[test]
fn item_53_schema_accepts_variables_in_typed_fields() {
    let path = corpus().join("compose-go/schema/using-variables.yaml");
    let text = std::fs::read_to_string(&path).expect("fixture");
    let node = yaml::parse(&text, &std::sync::Arc::from("using-variables.yaml")).expect("parses");
    let diags = schema::compose_spec().validate(&node);
    assert!(diags.is_empty(), "{diags:?}");
}
