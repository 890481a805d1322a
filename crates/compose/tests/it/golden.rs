//! Golden tests: the normalized output for a spread of real-world files.
//! `UPDATE_GOLDEN=1 cargo test -p hb-compose --test it golden` rewrites the
//! expected files; review the diff before committing it.

use std::path::Path;

use crate::support::{corpus, json_in};

/// A golden case: name, corpus directory, files, environment.
type Case = (
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
);

const CASES: &[Case] = &[
    (
        "nginx-golang-postgres",
        "awesome-compose/nginx-golang-postgres",
        &["compose.yaml"],
        &[],
    ),
    (
        "flask-redis",
        "awesome-compose/flask-redis",
        &["compose.yaml"],
        &[],
    ),
    (
        "react-express-mongodb",
        "awesome-compose/react-express-mongodb",
        &["compose.yaml"],
        &[],
    ),
    (
        "wordpress-mysql",
        "awesome-compose/wordpress-mysql",
        &["compose.yaml"],
        &[],
    ),
    (
        "elk",
        "awesome-compose/elasticsearch-logstash-kibana",
        &["compose.yaml"],
        &[],
    ),
    (
        "docker-kong",
        "real-world/docker-kong/compose",
        &["docker-compose.yml"],
        &[],
    ),
    (
        "n8n",
        "real-world/n8n-hosting/docker-compose/withPostgresAndWorker",
        &["docker-compose.yml"],
        &[],
    ),
    (
        "langfuse",
        "real-world/langfuse",
        &["docker-compose.yml"],
        &[],
    ),
    ("kestra", "real-world/kestra", &["docker-compose.yml"], &[]),
    (
        "frappe-mariadb-secrets",
        "real-world/frappe_docker",
        &["compose.yaml", "overrides/compose.mariadb-secrets.yaml"],
        &[("DB_PASSWORD_SECRETS_FILE", "/run/db_password")],
    ),
    (
        "temporal-multirole",
        "real-world/temporal-docker-compose",
        &["docker-compose-multirole.yaml"],
        &[],
    ),
    (
        "compose-go-simple-overrides",
        "compose-go/cli/testdata/simple",
        &["compose.yaml", "compose-with-overrides.yaml"],
        &[],
    ),
];

#[test]
fn golden_outputs() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let root = corpus().display().to_string();
    let mut failures = Vec::new();
    for (name, dir, files, env) in CASES {
        let got = json_in(dir, files, env)
            .to_string()
            .replace(&root, "$CORPUS");
        let got: serde_json::Value = serde_json::from_str(&got).expect("json");
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(format!("{name}.json"));
        if update {
            std::fs::write(
                &path,
                serde_json::to_string_pretty(&got).expect("json") + "\n",
            )
            .expect("write golden");
            continue;
        }
        let want: serde_json::Value = match std::fs::read_to_string(&path) {
            Ok(t) => serde_json::from_str(&t).expect("golden is json"),
            Err(_) => {
                failures.push(format!("{name}: no golden file; run with UPDATE_GOLDEN=1"));
                continue;
            }
        };
        if got != want {
            failures.push(format!(
                "{name}: output differs from {}:\n{}",
                path.display(),
                serde_json::to_string_pretty(&got).expect("json")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
