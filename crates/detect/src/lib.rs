//! Project-type detection: a source tree with no compose file becomes a
//! compose project.
//!
//! [`detect`] looks at the manifests in a directory (package.json,
//! requirements.txt, go.mod, Cargo.toml, Gemfile, pom.xml, composer.json, a
//! Dockerfile, an index.html) and synthesizes a compose file: an `app`
//! service on the language's usual image with the source bind-mounted, the
//! framework's dev command and its conventional port, plus a backing service
//! for each database or cache client library the manifests list. Each choice
//! comes with the reason for it.
//!
//! Reads files, writes nothing (`hb init` writes the result), and is
//! deterministic.
//!
//! ```no_run
//! if let Some(d) = hb_detect::detect(std::path::Path::new(".")) {
//!     println!("{} ({})", d.kind, d.reasons.join("; "));
//!     print!("{}", d.compose_yaml);
//! }
//! ```

use std::fs;
use std::path::Path;

/// What was recognised, why, and the compose file that runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    /// A short name: `node`, `python-django`, `go`, `static`, …
    pub kind: &'static str,
    /// One sentence per decision, e.g. "package.json has a `dev` script".
    pub reasons: Vec<String>,
    /// The synthesized compose file.
    pub compose_yaml: String,
}

/// A backing service suggested by a client library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Backing {
    Postgres,
    Redis,
    Mysql,
    Mongo,
}

impl Backing {
    fn name(self) -> &'static str {
        match self {
            Backing::Postgres => "postgres",
            Backing::Redis => "redis",
            Backing::Mysql => "mysql",
            Backing::Mongo => "mongo",
        }
    }

    fn yaml(self) -> &'static str {
        match self {
            Backing::Postgres => "  postgres:\n    image: postgres:16\n    environment:\n      POSTGRES_PASSWORD: postgres\n    volumes:\n      - postgres-data:/var/lib/postgresql/data\n    healthcheck:\n      test: [\"CMD-SHELL\", \"pg_isready -U postgres\"]\n      interval: 2s\n      retries: 30\n",
            Backing::Redis => "  redis:\n    image: redis:7\n    healthcheck:\n      test: [\"CMD\", \"redis-cli\", \"ping\"]\n      interval: 2s\n      retries: 30\n",
            Backing::Mysql => "  mysql:\n    image: mysql:8\n    environment:\n      MYSQL_ROOT_PASSWORD: mysql\n    volumes:\n      - mysql-data:/var/lib/mysql\n    healthcheck:\n      test: [\"CMD\", \"mysqladmin\", \"ping\", \"-h\", \"127.0.0.1\"]\n      interval: 2s\n      retries: 30\n",
            Backing::Mongo => "  mongo:\n    image: mongo:7\n    volumes:\n      - mongo-data:/data/db\n",
        }
    }

    fn volume(self) -> Option<&'static str> {
        match self {
            Backing::Postgres => Some("postgres-data"),
            Backing::Mysql => Some("mysql-data"),
            Backing::Mongo => Some("mongo-data"),
            Backing::Redis => None,
        }
    }

    fn env(self) -> &'static str {
        match self {
            Backing::Postgres => {
                "DATABASE_URL: postgres://postgres:postgres@postgres:5432/postgres"
            }
            Backing::Redis => "REDIS_URL: redis://redis:6379",
            Backing::Mysql => "DATABASE_URL: mysql://root:mysql@mysql:3306/mysql",
            Backing::Mongo => "MONGO_URL: mongodb://mongo:27017",
        }
    }

    fn condition(self) -> &'static str {
        match self {
            Backing::Mongo => "service_started",
            _ => "service_healthy",
        }
    }
}

/// Client libraries (lowercase substrings of a manifest line) → backing service.
const CLIENTS: &[(&str, Backing)] = &[
    ("psycopg", Backing::Postgres),
    ("asyncpg", Backing::Postgres),
    ("\"pg\"", Backing::Postgres),
    ("\"postgres\"", Backing::Postgres),
    ("lib/pq", Backing::Postgres),
    ("jackc/pgx", Backing::Postgres),
    ("tokio-postgres", Backing::Postgres),
    ("postgresql", Backing::Postgres),
    ("gem 'pg'", Backing::Postgres),
    ("gem \"pg\"", Backing::Postgres),
    ("redis", Backing::Redis),
    ("jedis", Backing::Redis),
    ("lettuce", Backing::Redis),
    ("mysql", Backing::Mysql),
    ("pymysql", Backing::Mysql),
    ("mongo", Backing::Mongo),
];

/// An app service description before rendering.
struct App {
    kind: &'static str,
    image: String,
    command: Option<String>,
    port: Option<u16>,
    workdir: &'static str,
    build: bool,
    reloads_itself: bool,
    mount_target: Option<&'static str>,
    reasons: Vec<String>,
}

fn read(dir: &Path, name: &str) -> Option<String> {
    fs::read_to_string(dir.join(name)).ok()
}

fn backings(manifests: &[String], reasons: &mut Vec<String>) -> Vec<Backing> {
    let mut found: Vec<Backing> = Vec::new();
    for text in manifests {
        let lower = text.to_lowercase();
        for (needle, b) in CLIENTS {
            if lower.contains(needle) && !found.contains(b) {
                found.push(*b);
                reasons.push(format!(
                    "a {} client library ({}) suggests a {} service",
                    b.name(),
                    needle.trim_matches('"'),
                    b.name()
                ));
            }
        }
    }
    found.sort();
    found
}

/// Detects the project type of `dir`, or `None` if nothing is recognised.
pub fn detect(dir: &Path) -> Option<Detection> {
    let mut manifests = Vec::new();
    let app = detect_app(dir, &mut manifests)?;
    let mut reasons = app.reasons.clone();
    let backing = backings(&manifests, &mut reasons);
    Some(Detection {
        kind: app.kind,
        compose_yaml: render(&app, &backing),
        reasons,
    })
}

fn detect_app(dir: &Path, manifests: &mut Vec<String>) -> Option<App> {
    let has = |n: &str| dir.join(n).exists();
    let app = |kind, image: &str, command: Option<String>, port, reason: String| App {
        kind,
        image: image.to_string(),
        command,
        port,
        workdir: "/app",
        build: false,
        reloads_itself: false,
        mount_target: Some("/app"),
        reasons: vec![reason],
    };
    if let Some(pkg) = read(dir, "package.json") {
        manifests.push(pkg.clone());
        let json: serde_json::Value = serde_json::from_str(&pkg).unwrap_or_default();
        let scripts = json
            .get("scripts")
            .and_then(|s| s.as_object())
            .cloned()
            .unwrap_or_default();
        let (cmd, why) = if scripts.contains_key("dev") {
            (
                "npm install && npm run dev",
                "package.json has a `dev` script",
            )
        } else if scripts.contains_key("start") {
            (
                "npm install && npm start",
                "package.json has a `start` script",
            )
        } else {
            (
                "npm install && node index.js",
                "package.json has no dev or start script; running index.js",
            )
        };
        let deps = format!(
            "{}{}",
            json.get("dependencies")
                .map(|d| d.to_string())
                .unwrap_or_default(),
            json.get("devDependencies")
                .map(|d| d.to_string())
                .unwrap_or_default()
        );
        let vite = deps.contains("\"vite\"")
            || scripts
                .get("dev")
                .is_some_and(|d| d.to_string().contains("vite"));
        let port = if vite { 5173 } else { 3000 };
        let mut a = app(
            "node",
            "node:20",
            Some(cmd.to_string()),
            Some(port),
            format!("package.json found: a Node.js project; {why}"),
        );
        a.reloads_itself = scripts.contains_key("dev");
        return Some(a);
    }
    let py_manifests: Vec<String> = ["requirements.txt", "pyproject.toml", "Pipfile", "setup.py"]
        .iter()
        .filter_map(|n| read(dir, n))
        .collect();
    if !py_manifests.is_empty() || has("manage.py") {
        manifests.extend(py_manifests.iter().cloned());
        let all = py_manifests.join("\n").to_lowercase();
        let install = if has("requirements.txt") {
            "pip install -r requirements.txt && "
        } else if has("pyproject.toml") {
            "pip install . && "
        } else {
            ""
        };
        let entry = ["app.py", "main.py", "server.py"]
            .into_iter()
            .find(|f| has(f))
            .unwrap_or("main.py");
        let module = entry.trim_end_matches(".py");
        let (kind, cmd, port, why, reloads) = if has("manage.py") || all.contains("django") {
            (
                "python-django",
                format!("{install}python manage.py runserver 0.0.0.0:8000"),
                8000,
                "Django (manage.py or a django requirement)",
                true,
            )
        } else if all.contains("fastapi") {
            (
                "python-fastapi",
                format!("{install}uvicorn {module}:app --host 0.0.0.0 --port 8000 --reload"),
                8000,
                "FastAPI (a fastapi requirement)",
                true,
            )
        } else if all.contains("flask") {
            (
                "python-flask",
                format!("{install}flask --app {module} run --host 0.0.0.0 --port 5000 --debug"),
                5000,
                "Flask (a flask requirement)",
                true,
            )
        } else {
            (
                "python",
                format!("{install}python {entry}"),
                8000,
                "a Python project",
                false,
            )
        };
        let mut a = app(
            kind,
            "python:3.12-slim",
            Some(format!("sh -c \"{cmd}\"")),
            Some(port),
            format!("Python manifests found: {why}"),
        );
        a.reloads_itself = reloads;
        return Some(a);
    }
    if let Some(gomod) = read(dir, "go.mod") {
        manifests.push(gomod);
        return Some(app(
            "go",
            "golang:1.22",
            Some("go run .".into()),
            Some(8080),
            "go.mod found: a Go module, run with `go run .`".into(),
        ));
    }
    if let Some(cargo) = read(dir, "Cargo.toml") {
        manifests.push(cargo);
        return Some(app(
            "rust",
            "rust:1",
            Some("cargo run".into()),
            Some(8080),
            "Cargo.toml found: a Rust crate, run with `cargo run`".into(),
        ));
    }
    if let Some(gemfile) = read(dir, "Gemfile") {
        manifests.push(gemfile.clone());
        if gemfile.contains("rails") {
            return Some(app(
                "ruby-rails",
                "ruby:3.3",
                Some("sh -c \"bundle install && bin/rails server -b 0.0.0.0\"".into()),
                Some(3000),
                "Gemfile lists rails: a Rails app".into(),
            ));
        }
        let entry = if has("config.ru") {
            "rackup -o 0.0.0.0 -p 4567"
        } else {
            "ruby app.rb -o 0.0.0.0"
        };
        return Some(app(
            "ruby",
            "ruby:3.3",
            Some(format!("sh -c \"bundle install && {entry}\"")),
            Some(4567),
            "Gemfile found: a Ruby app".into(),
        ));
    }
    if let Some(pom) = read(dir, "pom.xml") {
        manifests.push(pom.clone());
        let cmd = if pom.contains("spring-boot") {
            "mvn spring-boot:run"
        } else {
            "mvn -q compile exec:java"
        };
        return Some(app(
            "java-maven",
            "maven:3-eclipse-temurin-17",
            Some(cmd.into()),
            Some(8080),
            "pom.xml found: a Maven project".into(),
        ));
    }
    if let Some(gradle) = read(dir, "build.gradle").or_else(|| read(dir, "build.gradle.kts")) {
        manifests.push(gradle.clone());
        let cmd = if gradle.contains("org.springframework.boot") {
            "gradle bootRun"
        } else {
            "gradle run"
        };
        return Some(app(
            "java-gradle",
            "gradle:8-jdk17",
            Some(cmd.into()),
            Some(8080),
            "build.gradle found: a Gradle project".into(),
        ));
    }
    if has("composer.json") || has("index.php") {
        manifests.extend(read(dir, "composer.json"));
        let root = if has("public") { "public" } else { "." };
        return Some(app(
            "php",
            "php:8.3-cli",
            Some(format!("php -S 0.0.0.0:8000 -t {root}")),
            Some(8000),
            "composer.json or index.php found: a PHP app on the built-in server".into(),
        ));
    }
    if has("Dockerfile") {
        let port = read(dir, "Dockerfile").and_then(|d| {
            d.lines().find_map(|l| {
                let l = l.trim();
                let rest = l
                    .strip_prefix("EXPOSE ")
                    .or_else(|| l.strip_prefix("expose "))?;
                rest.split_whitespace()
                    .next()?
                    .split('/')
                    .next()?
                    .parse()
                    .ok()
            })
        });
        let mut a = app(
            "dockerfile",
            "",
            None,
            port,
            "a Dockerfile and no language manifest: building it".into(),
        );
        a.build = true;
        a.mount_target = None;
        return Some(a);
    }
    if has("index.html") {
        let mut a = app(
            "static",
            "nginx:alpine",
            None,
            Some(80),
            "index.html found: a static site served by nginx".into(),
        );
        a.workdir = "/usr/share/nginx/html";
        a.mount_target = Some("/usr/share/nginx/html");
        return Some(a);
    }
    None
}

fn render(app: &App, backing: &[Backing]) -> String {
    let mut y = String::new();
    y.push_str(&format!(
        "# Generated by `hb init`: detected a {} project.\n",
        app.kind
    ));
    for r in &app.reasons {
        y.push_str(&format!("# - {r}\n"));
    }
    y.push_str("services:\n  app:\n");
    if app.build {
        y.push_str("    build: .\n");
    } else {
        y.push_str(&format!("    image: {}\n", app.image));
        y.push_str(&format!("    working_dir: {}\n", app.workdir));
    }
    if let Some(cmd) = &app.command {
        y.push_str(&format!("    command: {}\n", yaml_quote(cmd)));
    }
    if let Some(t) = app.mount_target {
        y.push_str(&format!("    volumes:\n      - .:{t}\n"));
    }
    if let Some(p) = app.port {
        let host = if p < 1024 { 8080 } else { p };
        y.push_str(&format!("    ports:\n      - \"{host}:{p}\"\n"));
    }
    if !backing.is_empty() {
        y.push_str("    environment:\n");
        for b in backing {
            y.push_str(&format!("      {}\n", b.env()));
        }
        y.push_str("    depends_on:\n");
        for b in backing {
            y.push_str(&format!(
                "      {}:\n        condition: {}\n",
                b.name(),
                b.condition()
            ));
        }
    }
    let watch = if app.reloads_itself {
        "sync"
    } else {
        "restart"
    };
    y.push_str(&format!("    x-hb-watch: {watch}\n"));
    for b in backing {
        y.push_str(b.yaml());
    }
    let vols: Vec<&str> = backing.iter().filter_map(|b| b.volume()).collect();
    if !vols.is_empty() {
        y.push_str("volumes:\n");
        for v in vols {
            y.push_str(&format!("  {v}: {{}}\n"));
        }
    }
    y
}

fn yaml_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().expect("tempdir");
        for (name, content) in files {
            fs::write(d.path().join(name), content).expect("write");
        }
        d
    }

    #[test]
    fn flask_with_postgres_and_redis() {
        let d = tree(&[
            (
                "requirements.txt",
                "flask==3.0\npsycopg2-binary\nredis>=5\n",
            ),
            ("app.py", ""),
        ]);
        let det = detect(d.path()).expect("detected");
        assert_eq!(det.kind, "python-flask");
        assert!(
            det.compose_yaml.contains("flask --app app run"),
            "{}",
            det.compose_yaml
        );
        assert!(det
            .compose_yaml
            .contains("  postgres:\n    image: postgres:16"));
        assert!(det.compose_yaml.contains("  redis:\n"));
        assert!(det.reasons.iter().any(|r| r.contains("psycopg")));
    }

    #[test]
    fn each_ecosystem_is_recognised() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[(
                    "package.json",
                    "{\"scripts\":{\"dev\":\"vite\"},\"dependencies\":{\"pg\":\"1\"}}",
                )],
                "node",
            ),
            (
                &[("manage.py", ""), ("requirements.txt", "Django\n")],
                "python-django",
            ),
            (
                &[("pyproject.toml", "[project]\ndependencies=[\"fastapi\"]\n")],
                "python-fastapi",
            ),
            (&[("requirements.txt", "requests\n")], "python"),
            (
                &[("go.mod", "module x\nrequire github.com/jackc/pgx/v5 v5\n")],
                "go",
            ),
            (&[("Cargo.toml", "[package]\nname='x'\n")], "rust"),
            (&[("Gemfile", "gem 'rails'\ngem 'pg'\n")], "ruby-rails"),
            (
                &[("pom.xml", "<project>spring-boot</project>")],
                "java-maven",
            ),
            (&[("build.gradle", "plugins { id 'java' }")], "java-gradle"),
            (&[("composer.json", "{}")], "php"),
            (&[("Dockerfile", "FROM x\nEXPOSE 9000\n")], "dockerfile"),
            (&[("index.html", "<h1>hi</h1>")], "static"),
        ];
        for (files, kind) in cases {
            let d = tree(files);
            let det = detect(d.path()).unwrap_or_else(|| panic!("{kind} not detected"));
            assert_eq!(det.kind, *kind);
            assert!(!det.reasons.is_empty());
            // The synthesized file is a valid compose project.
            let opts = hb_compose::Options {
                working_dir: d.path().to_path_buf(),
                files: vec!["-".into()],
                stdin: Some(det.compose_yaml.clone()),
                ..Default::default()
            };
            let loaded = hb_compose::load(&opts)
                .unwrap_or_else(|e| panic!("{kind}: {e}\n{}", det.compose_yaml));
            assert!(loaded.project.services.contains_key("app"));
        }
        let node = detect(tree(cases[0].0).path()).expect("node");
        assert!(node.compose_yaml.contains("\"5173:5173\""));
        assert!(node.compose_yaml.contains("postgres"));
    }

    #[test]
    fn nothing_recognisable() {
        let d = tree(&[("notes.txt", "hello")]);
        assert_eq!(detect(d.path()), None);
    }
}
