//! Loading a 1,000-service compose file that uses anchors, merge keys and
//! interpolation (issue #2: goal under 50 ms). Run: `cargo bench -p hb-compose --bench load`.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use criterion::{criterion_group, criterion_main, Criterion};

// The allocator the `hb` binary runs with. `--features system-alloc` measures
// with glibc's malloc instead, for comparison.
#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
use hb_compose::{load, Options};

/// A project shaped like the big real-world files: shared `x-` blocks merged
/// into every service, `${VAR:-default}` everywhere, ports, volumes, healthchecks.
pub fn big_project(services: usize) -> String {
    let mut y = String::from(
        "name: big\nx-common: &common\n  restart: unless-stopped\n  environment: &env\n    LOG_LEVEL: ${LOG_LEVEL:-info}\n    REGION: ${REGION:-eu}\n  logging:\n    driver: json-file\n    options: {max-size: 10m}\n  healthcheck:\n    test: [\"CMD-SHELL\", \"wget -q -O- http://localhost:${PORT:-8080}/health\"]\n    interval: 10s\n    retries: 3\nservices:\n",
    );
    for i in 0..services {
        let dep = if i > 0 {
            format!(
                "    depends_on:\n      s{}:\n        condition: service_started\n",
                i - 1
            )
        } else {
            String::new()
        };
        y.push_str(&format!(
            "  s{i}:\n    <<: *common\n    image: ${{REGISTRY:-127.0.0.1:5000}}/app:${{TAG:-latest}}\n    command: server --port ${{PORT:-8080}} --id {i}\n    environment:\n      <<: *env\n      ID: \"{i}\"\n    ports:\n      - \"127.0.0.1::${{PORT:-8080}}\"\n    volumes:\n      - data{i}:/data\n      - ./src:/src:ro\n{dep}"
        ));
    }
    y.push_str("volumes:\n");
    for i in 0..services {
        y.push_str(&format!("  data{i}: {{}}\n"));
    }
    y
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("compose.yaml"), big_project(1000)).expect("write");
    let opts = Options {
        working_dir: dir.path().to_path_buf(),
        environment: [("TAG".to_string(), "v1".to_string())]
            .into_iter()
            .collect(),
        ..Default::default()
    };
    let loaded = load(&opts).expect("the generated project loads");
    assert_eq!(loaded.project.services.len(), 1000);
    c.bench_function(
        "load 1000 services (anchors, merge keys, interpolation)",
        |b| b.iter(|| load(&opts).expect("loads")),
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
