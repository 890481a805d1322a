//! The argument grammar, as `docker compose` spells it: global options before the verb.

use std::path::PathBuf;

use clap::{ArgMatches, Args, FromArgMatches, Parser, Subcommand, ValueEnum};

/// hb: dev environments from compose files, without a Docker engine.
#[derive(Debug, Parser)]
#[command(name = "hb", version, propagate_version = true)]
pub struct Cli {
    /// Where the project is and how to read it.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Drive a running `hb daemon` instead (unix:///path/to/hb.sock; also HB_HOST): `up`, `down`, `ps`, `ls`
    #[arg(short = 'H', long, value_name = "URL", env = "HB_HOST")]
    pub host: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The command line, parsed. `hb container run` in its plainest forms —
    /// a few switches, `--name`, `-e`, the image and its command — is read
    /// without clap: a process's first parse with clap costs ~0.4 ms of code
    /// and data touched for the first time (0.52 ms cold against 0.10 ms warm
    /// on this VM), on hb's hottest path (docs/benchmarks.md). Anything else
    /// — another flag, a value joined with `=`, `--help`, `$HB_HOST` set —
    /// goes to clap; the tests hold the two readings to each other.
    pub fn from_command_line() -> Cli {
        let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
        if std::env::var_os("HB_HOST").is_none() {
            if let Some(cli) = plain_container_run(&args) {
                return cli;
            }
        }
        Cli::parse_from(args)
    }
}

/// `hb container run [SWITCHES] IMAGE [COMMAND...]` read as clap reads it, or
/// `None` for anything this does not know to read the same way.
fn plain_container_run(args: &[std::ffi::OsString]) -> Option<Cli> {
    let args: Vec<&str> = args.iter().map(|a| a.to_str()).collect::<Option<_>>()?;
    let [_, "container", "run", rest @ ..] = args.as_slice() else {
        return None;
    };
    let mut run = RunArgs {
        rm: false,
        detach: false,
        tty: false,
        interactive: false,
        network: "none".into(),
        publish: vec![],
        security_opt: vec![],
        log_opt: vec![],
        name: None,
        env: vec![],
        user: None,
        workdir: None,
        entrypoint: None,
        hostname: None,
        read_only: false,
        cap_add: vec![],
        cap_drop: vec![],
        memory: None,
        cpus: None,
        pids_limit: None,
        volume: vec![],
        tmpfs: vec![],
        init: false,
        privileged: false,
        sysctl: vec![],
        shm_size: None,
        ulimit: vec![],
        restart: None,
        health_cmd: None,
        health_interval: None,
        health_timeout: None,
        health_retries: None,
        health_start_period: None,
        no_healthcheck: false,
        image: String::new(),
        command: vec![],
    };
    // Each switch once (clap refuses a repeat), a value never like a flag.
    let set = |flag: &mut bool| (!std::mem::replace(flag, true)).then_some(());
    let value = |v: Option<&&str>| v.filter(|v| !v.starts_with('-')).map(|v| v.to_string());
    let mut i = 0;
    while let Some(&arg) = rest.get(i) {
        match arg {
            "--rm" => set(&mut run.rm)?,
            "--detach" => set(&mut run.detach)?,
            "--tty" => set(&mut run.tty)?,
            "--interactive" => set(&mut run.interactive)?,
            "--init" => set(&mut run.init)?,
            "--read-only" => set(&mut run.read_only)?,
            "--privileged" => set(&mut run.privileged)?,
            "--no-healthcheck" => set(&mut run.no_healthcheck)?,
            "--name" if run.name.is_none() => {
                i += 1;
                run.name = Some(value(rest.get(i))?);
            }
            "-e" | "--env" => {
                i += 1;
                run.env.push(value(rest.get(i))?);
            }
            // `-d`, `-it`, `-dit`: short switches together.
            short if short.len() > 1 && short.starts_with('-') && !short.starts_with("--") => {
                for c in short[1..].chars() {
                    match c {
                        'd' => set(&mut run.detach)?,
                        't' => set(&mut run.tty)?,
                        'i' => set(&mut run.interactive)?,
                        _ => return None,
                    }
                }
            }
            image if !image.starts_with('-') => {
                // The command follows whole; a first word like a flag is
                // left to clap.
                let command = &rest[i + 1..];
                if command.first().is_some_and(|c| c.starts_with('-')) {
                    return None;
                }
                run.image = image.to_string();
                run.command = command.iter().map(|c| c.to_string()).collect();
                return Some(Cli {
                    project: ProjectArgs::default(),
                    host: None,
                    command: Command::Container(Lazy(ContainerCommand::Run(Box::new(run)))),
                });
            }
            _ => return None,
        }
        i += 1;
    }
    None
}

/// A group of subcommands (`hb container …`) or a verb's arguments, which clap
/// builds only when the command line names them ([`clap::Command::defer`]). Otherwise every
/// start of hb builds every verb's arguments before parsing one: clap's share
/// of `hb container run` was 0.64 ms of its start-up on this VM.
#[derive(Debug)]
pub struct Lazy<T>(pub T);

impl<T: Subcommand> Subcommand for Lazy<T> {
    fn augment_subcommands(cmd: clap::Command) -> clap::Command {
        cmd.defer(deferred_subcommands::<T>)
    }

    fn augment_subcommands_for_update(cmd: clap::Command) -> clap::Command {
        cmd.defer(deferred_subcommands_for_update::<T>)
    }

    fn has_subcommand(name: &str) -> bool {
        T::has_subcommand(name)
    }
}

/// A verb's arguments, likewise built only when the command line names the verb.
impl<T: Args> Args for Lazy<T> {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.defer(deferred_args::<T>)
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        cmd.defer(deferred_args_for_update::<T>)
    }

    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }
}

fn deferred_subcommands<T: Subcommand>(cmd: clap::Command) -> clap::Command {
    keeping_about(cmd, T::augment_subcommands)
}

fn deferred_subcommands_for_update<T: Subcommand>(cmd: clap::Command) -> clap::Command {
    keeping_about(cmd, T::augment_subcommands_for_update)
}

fn deferred_args<T: Args>(cmd: clap::Command) -> clap::Command {
    keeping_about(cmd, T::augment_args)
}

fn deferred_args_for_update<T: Args>(cmd: clap::Command) -> clap::Command {
    keeping_about(cmd, T::augment_args_for_update)
}

/// `augment` run late, keeping the help text the verb already has: run in
/// order, the derive lets the verb's doc comment override the one of its
/// arguments' type; deferred, the type's would win.
fn keeping_about(cmd: clap::Command, augment: fn(clap::Command) -> clap::Command) -> clap::Command {
    let (about, long) = (cmd.get_about().cloned(), cmd.get_long_about().cloned());
    let cmd = augment(cmd);
    let cmd = match about {
        Some(a) => cmd.about(a),
        None => cmd.about(Option::<&'static str>::None),
    };
    match long {
        Some(l) => cmd.long_about(l),
        None => cmd.long_about(Option::<&'static str>::None),
    }
}

impl<T: FromArgMatches> FromArgMatches for Lazy<T> {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(m).map(Lazy)
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(m)
    }
}

/// The options every project command shares (`docker compose`'s global flags).
/// They go before the verb, as there: after it, `-f` is `logs -f` (follow) and
/// `-p` is `run -p` (publish).
#[derive(Debug, Args, Clone, Default)]
pub struct ProjectArgs {
    /// Compose file(s), in order; `-` reads standard input
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Project name (default: `name:` in the file, else the directory name)
    #[arg(short = 'p', long = "project-name", value_name = "NAME")]
    pub project_name: Option<String>,
    /// Directory relative paths are resolved against (default: the first file's directory)
    #[arg(long, value_name = "DIR")]
    pub project_directory: Option<PathBuf>,
    /// Variables for interpolation, instead of `.env` (repeatable)
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_files: Vec<PathBuf>,
    /// Enable services of this profile (repeatable)
    #[arg(long = "profile", value_name = "PROFILE")]
    pub profiles: Vec<String>,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and start the project's containers (pulling images, networks, ports)
    Up(Lazy<UpArgs>),
    /// Stop and remove the project's containers and network
    Down(Lazy<DownArgs>),
    /// List the project's containers
    Ps(Lazy<PsArgs>),
    /// List projects with containers
    Ls {
        /// Output format
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Print the output of the project's services, interleaved in time order
    Logs(Lazy<LogsArgs>),
    /// Run a command in a running service container
    Exec(Lazy<ExecArgs>),
    /// Start the project's stopped containers
    Start(Lazy<ServicesArgs>),
    /// Stop the project's containers (they stay, with their state)
    Stop(Lazy<ServicesArgs>),
    /// Restart the project's containers
    Restart(Lazy<ServicesArgs>),
    /// Run a one-off command in a new container of a service
    Run(Lazy<RunServiceArgs>),
    /// Copy files between a service container and the host (SERVICE:PATH on one side)
    Cp {
        /// Source: a host path or SERVICE:PATH
        src: String,
        /// Destination: a host path or SERVICE:PATH
        dest: String,
        /// Which container of a scaled service (1-based)
        #[arg(long, default_value_t = 1)]
        index: u32,
    },
    /// Stream container events (create, start, die, health_status, destroy, …)
    Events {
        /// Services; default: all
        services: Vec<String>,
        /// One JSON object a line, as `docker compose events --json`
        #[arg(long)]
        json: bool,
    },
    /// Bring services up, then keep them in step with the source tree (develop.watch)
    Watch {
        /// Services; default: all
        services: Vec<String>,
        /// Do not run `up` first
        #[arg(long)]
        no_up: bool,
        /// Do not stream the services' logs
        #[arg(long)]
        quiet: bool,
    },
    /// Serve hb's JSON-RPC API on a Unix socket (for editors and tools; see docs/api.md)
    Daemon {
        /// The socket (default: $HB_RUN/hb.sock)
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
        /// Print the API's OpenRPC document and exit
        #[arg(long)]
        openrpc: bool,
    },
    /// Send a signal to the project's containers
    Kill {
        /// Services; default: all
        services: Vec<String>,
        /// The signal (name or number)
        #[arg(short, long, default_value = "KILL")]
        signal: String,
    },
    /// Remove the project's stopped containers
    Rm {
        /// Services; default: all
        services: Vec<String>,
        /// Do not ask (hb never asks; accepted for compatibility)
        #[arg(short, long)]
        force: bool,
        /// Stop the containers first
        #[arg(short, long)]
        stop: bool,
    },
    /// Freeze the project's containers
    Pause {
        /// Services; default: all
        services: Vec<String>,
    },
    /// Thaw the project's paused containers
    Unpause {
        /// Services; default: all
        services: Vec<String>,
    },
    /// Show the processes of the project's containers
    Top {
        /// Services; default: all
        services: Vec<String>,
    },
    /// Show the resource use of the project's containers
    Stats(Lazy<StatsArgs>),
    /// Print the host address a service's container port is published on
    Port {
        /// The service
        service: String,
        /// The container port
        port: u16,
        /// tcp or udp
        #[arg(long, default_value = "tcp")]
        protocol: String,
        /// Which container of a scaled service (1-based)
        #[arg(long, default_value_t = 1)]
        index: u32,
    },
    /// Validate the project and print it in canonical form
    Config(Lazy<ConfigArgs>),
    /// Print the start order: waves of services that may start in parallel
    Graph(Lazy<GraphArgs>),
    /// Detect the project type and write a compose.yaml for it
    Init(Lazy<InitArgs>),
    /// Pull images: the ones named, or every service image of the project
    Pull(Lazy<PullArgs>),
    /// Build the images of services with `build:` (all, or the ones named)
    Build(Lazy<BuildArgs>),
    /// List stored images
    Images(Lazy<ImagesArgs>),
    /// Manage images
    #[command(subcommand)]
    Image(Lazy<ImageCommand>),
    /// Store credentials for a registry (where Docker keeps them)
    Login(Lazy<LoginArgs>),
    /// Remove stored credentials for a registry
    Logout(Lazy<LogoutArgs>),
    /// Run and manage containers outside any project
    #[command(subcommand)]
    Container(Lazy<ContainerCommand>),
    /// Manage the network one-off containers share
    #[command(subcommand)]
    Network(Lazy<NetworkCommand>),
    /// Check that this machine can run containers, and say what to do if not
    Doctor {
        /// Apply the remedies hb can apply itself (moving cgroup controllers of a hybrid host)
        #[arg(long)]
        fix: bool,
        /// Output format
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Remove image names (as `hb image rm`)
    Rmi {
        /// Image names or digests
        #[arg(required = true)]
        images: Vec<String>,
    },
}

/// `hb up`.
#[derive(Debug, Args, Default)]
pub struct UpArgs {
    /// Services to start (with their dependencies); default: all
    pub services: Vec<String>,
    /// Run in the background: return once the containers have started
    #[arg(short, long)]
    pub detach: bool,
    /// Print what would be done, and do nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Recreate containers even if nothing changed
    #[arg(long, conflicts_with = "no_recreate")]
    pub force_recreate: bool,
    /// Never recreate existing containers
    #[arg(long)]
    pub no_recreate: bool,
    /// Do not start the services the named ones depend on
    #[arg(long)]
    pub no_deps: bool,
    /// Remove containers of services no longer in the file
    #[arg(long)]
    pub remove_orphans: bool,
    /// Run N containers of SERVICE (SERVICE=N; repeatable)
    #[arg(long, value_name = "SERVICE=N")]
    pub scale: Vec<String>,
    /// Publish on free host ports where the file's are taken (and say so)
    #[arg(long)]
    pub auto_ports: bool,
    /// Wait until the services with a healthcheck are healthy (implies --detach)
    #[arg(long)]
    pub wait: bool,
    /// Stop the whole stack when any container exits (foreground)
    #[arg(long)]
    pub abort_on_container_exit: bool,
    /// Exit with this service's exit code (implies --abort-on-container-exit)
    #[arg(long, value_name = "SERVICE")]
    pub exit_code_from: Option<String>,
    /// Prefix log lines with their time (foreground)
    #[arg(short, long)]
    pub timestamps: bool,
    /// Plain log prefixes, without color
    #[arg(long)]
    pub no_color: bool,
    /// Watch the source tree after `up` (as `hb watch`)
    #[arg(short, long)]
    pub watch: bool,
    /// Build images before starting (by default only missing images are built)
    #[arg(long, conflicts_with = "no_build")]
    pub build: bool,
    /// Never build: fail if an image to build is missing
    #[arg(long)]
    pub no_build: bool,
}

/// How `hb build` shows its progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Progress {
    /// `tty` on a terminal, else `plain`
    #[default]
    Auto,
    /// Every step and every line the steps print
    Plain,
    /// Every step; a failing step's output with its error
    Tty,
    /// Nothing but errors
    Quiet,
}

/// `hb build`.
#[derive(Debug, Args, Default)]
pub struct BuildArgs {
    /// Services to build; default: every service with `build:`
    pub services: Vec<String>,
    /// Run every step, using no cached layer
    #[arg(long)]
    pub no_cache: bool,
    /// Pull base images even when they are stored
    #[arg(long)]
    pub pull: bool,
    /// How to show progress
    #[arg(long, value_enum, default_value_t = Progress::Auto)]
    pub progress: Progress,
    /// Print nothing but errors (as --progress quiet)
    #[arg(short, long)]
    pub quiet: bool,
    /// A build arg, over the file's (KEY=VALUE, or KEY to take it from the environment; repeatable)
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
}

/// `hb down`.
#[derive(Debug, Args, Default)]
pub struct DownArgs {
    /// Remove named volumes declared in the file too
    #[arg(short, long)]
    pub volumes: bool,
    /// Remove containers of services no longer in the file
    #[arg(long)]
    pub remove_orphans: bool,
    /// Seconds to wait for each container to stop before SIGKILL
    #[arg(short, long)]
    pub timeout: Option<u64>,
    /// Remove images too: `all` (every service's), `local` (those built without an `image:` name)
    #[arg(long, value_name = "TYPE", value_parser = ["all", "local"])]
    pub rmi: Option<String>,
}

/// `hb ps`.
#[derive(Debug, Args, Default)]
pub struct PsArgs {
    /// Services to list; default: all
    pub services: Vec<String>,
    /// Show stopped containers too
    #[arg(short, long)]
    pub all: bool,
    /// Print only service names
    #[arg(long)]
    pub services_only: bool,
    /// Only containers in this state (running, exited, restarting, created, failed)
    #[arg(long)]
    pub status: Option<String>,
    /// Print only container names
    #[arg(short, long)]
    pub quiet: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// `hb logs`.
#[derive(Debug, Args, Default)]
pub struct LogsArgs {
    /// Services; default: all
    pub services: Vec<String>,
    /// Keep printing new output
    #[arg(short, long)]
    pub follow: bool,
    /// Only the last N lines of each container (`all` for every line)
    #[arg(short = 'n', long, value_name = "N", default_value = "all", value_parser = parse_tail)]
    pub tail: usize,
    /// Only lines since a time (`2026-11-30T12:00:00Z`) or for a while (`10m`)
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only lines before a time or a while ago
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// Prefix each line with its time
    #[arg(short, long)]
    pub timestamps: bool,
    /// Plain prefixes, without color
    #[arg(long)]
    pub no_color: bool,
    /// No `service-1 | ` prefixes
    #[arg(long)]
    pub no_log_prefix: bool,
}

/// `hb exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// No terminal, even when hb runs on one (the default there is a terminal)
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Set an environment variable (KEY=VALUE)
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Run as this user
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Which container of a scaled service (1-based)
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    /// Run in the background
    #[arg(short, long)]
    pub detach: bool,
    /// The service
    pub service: String,
    /// The command and its arguments
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `hb run SERVICE [COMMAND...]`.
#[derive(Debug, Args, Default)]
pub struct RunServiceArgs {
    /// Remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Run in the background and print the container name
    #[arg(short, long)]
    pub detach: bool,
    /// Set an environment variable (KEY=VALUE, or KEY to take it from here)
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Replace the service's entrypoint
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container name
    #[arg(long)]
    pub name: Option<String>,
    /// Run as this user
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Do not start the services it depends on
    #[arg(long)]
    pub no_deps: bool,
    /// No TTY (hb has none yet; accepted for compatibility)
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Publish the service's ports
    #[arg(long)]
    pub service_ports: bool,
    /// The service
    pub service: String,
    /// The command and its arguments (default: the service's)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `hb stats` and `hb container stats`.
#[derive(Debug, Args, Default)]
pub struct StatsArgs {
    /// Services (`hb stats`) or container names (`hb container stats`); default: all
    pub names: Vec<String>,
    /// Print once instead of refreshing every second
    #[arg(long)]
    pub no_stream: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// `hb start|stop|restart`.
#[derive(Debug, Args, Default)]
pub struct ServicesArgs {
    /// Services; default: all
    pub services: Vec<String>,
    /// Seconds to wait for a container to stop before SIGKILL
    #[arg(short, long)]
    pub timeout: Option<u64>,
}

/// `hb pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Images to pull (default: the project's service images)
    pub images: Vec<String>,
    /// Platform to pull for, as os/arch[/variant] (default: this machine's)
    #[arg(long)]
    pub platform: Option<String>,
    /// Print only the pulled image names and digests
    #[arg(short, long)]
    pub quiet: bool,
}

/// `hb images`.
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    /// Print only manifest digests
    #[arg(short, long)]
    pub quiet: bool,
}

/// Output formats of listings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// An aligned table
    #[default]
    Table,
    /// JSON
    Json,
}

/// `hb image ...`.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List stored images
    Ls(ImagesArgs),
    /// Pull images
    Pull(PullArgs),
    /// Show an image's record, manifest and config as JSON
    Inspect {
        /// Image names or digests
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Remove image names (their layers stay until pruned)
    Rm {
        /// Image names or digests
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Import an OCI layout (directory or tar), a `docker save` tarball, or a root filesystem directory
    Import {
        /// The layout or tarball; with --from-dir, the NAME:TAG to give the image
        source: String,
        /// Make a one-layer image of this root filesystem directory
        #[arg(long, value_name = "DIR")]
        from_dir: Option<PathBuf>,
        /// Name for an image the archive does not name (or renames a single one)
        #[arg(long)]
        name: Option<String>,
        /// Platform to import from a multi-platform layout (default: this machine's)
        #[arg(long)]
        platform: Option<String>,
    },
    /// Write an image as an OCI layout tar
    Export {
        /// Image name or digest
        image: String,
        /// The tar file to write
        output: PathBuf,
    },
    /// Remove blobs and layers no image name needs
    Prune,
    /// Write an image's flattened root filesystem to a directory
    Unpack {
        /// Image name or digest
        image: String,
        /// Destination directory (created; must be empty)
        dir: PathBuf,
    },
}

/// `hb network ...`.
#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Remove the one-off containers' bridge network if no container is on it
    Prune {
        /// Accepted for Docker's sake: hb does not ask
        #[arg(short, long)]
        force: bool,
    },
}

/// `hb container ...`.
#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// Run a one-off container, like `docker run` (pulls the image if needed)
    Run(Box<RunArgs>),
    /// List containers (running ones; -a for all)
    Ls {
        /// Output format
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
        /// Exited and created containers too
        #[arg(short, long)]
        all: bool,
    },
    /// Stop containers: their stop signal, then SIGKILL after the timeout
    Stop {
        /// Container names
        #[arg(required = true)]
        names: Vec<String>,
        /// Seconds to wait before SIGKILL
        #[arg(short, long, default_value_t = 10)]
        time: u64,
    },
    /// Send a signal to containers
    Kill {
        /// Container names
        #[arg(required = true)]
        names: Vec<String>,
        /// The signal (name or number)
        #[arg(short, long, default_value = "KILL")]
        signal: String,
    },
    /// Run a command in a running container
    Exec {
        /// Allocate a terminal (with -i: an interactive session, as `docker exec -it`)
        #[arg(short, long)]
        tty: bool,
        /// Keep standard input open (accepted; input always flows on a terminal)
        #[arg(short, long)]
        interactive: bool,
        /// Set an environment variable (KEY=VALUE)
        #[arg(short, long = "env", value_name = "KEY=VALUE")]
        env: Vec<String>,
        /// Run as this user
        #[arg(short, long)]
        user: Option<String>,
        /// Working directory
        #[arg(short, long)]
        workdir: Option<String>,
        /// Container name
        name: String,
        /// The command and its arguments
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Print a container's output
    Logs {
        /// Container name
        name: String,
        /// Prefix each line with its time
        #[arg(short, long)]
        timestamps: bool,
        /// Keep printing new output until the container exits
        #[arg(short, long)]
        follow: bool,
        /// Only the last N lines (`all` for every line)
        #[arg(short = 'n', long, value_name = "N", default_value = "all", value_parser = parse_tail)]
        tail: usize,
        /// Only lines since a time (`2026-11-30T12:00:00Z`, `2026-11-30`) or for a while (`10m`, `1h`)
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
    },
    /// Freeze containers
    Pause {
        /// Container names
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Thaw paused containers
    Unpause {
        /// Container names
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Show a container's processes
    Top {
        /// Container name
        name: String,
    },
    /// Show containers' resource use
    Stats(StatsArgs),
    /// Show containers' spec, state, health and labels as JSON
    Inspect {
        /// Container names
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove containers
    Rm {
        /// Container names
        #[arg(required = true)]
        names: Vec<String>,
        /// Remove running containers too (they are killed)
        #[arg(short, long)]
        force: bool,
    },
}

/// `hb container run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Run in the background and print the container name
    #[arg(short, long)]
    pub detach: bool,
    /// Give the container a terminal (with -i, an interactive session: `-it`)
    #[arg(short, long)]
    pub tty: bool,
    /// Keep standard input open (input always flows on a terminal)
    #[arg(short, long)]
    pub interactive: bool,
    /// Network: none (loopback only, the default), bridge (a private network hb
    /// keeps for one-off containers; needed for -p), host
    #[arg(long, default_value = "none", value_parser = ["none", "bridge", "host"])]
    pub network: String,
    /// Publish a port: `[IP:]HOST:CONTAINER[/udp]` (127.0.0.1 unless IP is given; implies --network bridge)
    #[arg(short, long, value_name = "PORTS")]
    pub publish: Vec<String>,
    /// Security options: systempaths=unconfined, no-new-privileges, no-new-privileges:false (repeatable)
    #[arg(long, value_name = "OPT")]
    pub security_opt: Vec<String>,
    /// Log rotation: max-size=SIZE, max-file=N (repeatable)
    #[arg(long, value_name = "KEY=VALUE")]
    pub log_opt: Vec<String>,
    /// Container name (default: generated)
    #[arg(long)]
    pub name: Option<String>,
    /// Set an environment variable (KEY=VALUE, or KEY to take it from here)
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Run as this user (name, uid, uid:gid)
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Replace the image's entrypoint
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container hostname
    #[arg(long)]
    pub hostname: Option<String>,
    /// Mount the root filesystem read-only
    #[arg(long)]
    pub read_only: bool,
    /// Add a capability
    #[arg(long)]
    pub cap_add: Vec<String>,
    /// Drop a capability
    #[arg(long)]
    pub cap_drop: Vec<String>,
    /// Memory limit (e.g. 512m, 1g)
    #[arg(short, long)]
    pub memory: Option<String>,
    /// CPU limit in cores (e.g. 0.5)
    #[arg(long)]
    pub cpus: Option<f64>,
    /// Maximum number of processes
    #[arg(long)]
    pub pids_limit: Option<i64>,
    /// Bind-mount a host path: `SOURCE:TARGET[:ro]` (SOURCE is created if missing)
    #[arg(short, long = "volume", value_name = "SOURCE:TARGET[:ro]")]
    pub volume: Vec<String>,
    /// Mount a tmpfs at this path
    #[arg(long, value_name = "PATH")]
    pub tmpfs: Vec<String>,
    /// Run an init as PID 1 that reaps zombies and forwards signals (tini)
    #[arg(long)]
    pub init: bool,
    /// Give the container every capability and an unmasked /proc and /sys
    #[arg(long)]
    pub privileged: bool,
    /// Set a namespaced kernel parameter (`KEY=VALUE`)
    #[arg(long, value_name = "KEY=VALUE")]
    pub sysctl: Vec<String>,
    /// Size of /dev/shm (e.g. 128m; default 64m)
    #[arg(long)]
    pub shm_size: Option<String>,
    /// Resource limit: `NAME=SOFT[:HARD]`, e.g. nofile=1024:2048
    #[arg(long, value_name = "NAME=SOFT[:HARD]")]
    pub ulimit: Vec<String>,
    /// Restart policy: `no`, `always`, `on-failure[:N]`, `unless-stopped`
    #[arg(long)]
    pub restart: Option<String>,
    /// Healthcheck command, run by /bin/sh -c (default: the image's HEALTHCHECK)
    #[arg(long)]
    pub health_cmd: Option<String>,
    /// Time between healthchecks (e.g. 30s)
    #[arg(long)]
    pub health_interval: Option<String>,
    /// Time a healthcheck may take
    #[arg(long)]
    pub health_timeout: Option<String>,
    /// Consecutive failures before unhealthy
    #[arg(long)]
    pub health_retries: Option<u32>,
    /// Time during which failures do not count
    #[arg(long)]
    pub health_start_period: Option<String>,
    /// Disable the image's healthcheck
    #[arg(long)]
    pub no_healthcheck: bool,
    /// The image
    pub image: String,
    /// The command and its arguments (default: the image's)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `hb login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Registry host, e.g. ghcr.io or 127.0.0.1:5000
    pub registry: String,
    /// User name
    #[arg(short, long)]
    pub username: String,
    /// Password (prefer --password-stdin; `-p` is the project name, as in `docker compose`)
    #[arg(long, conflicts_with = "password_stdin")]
    pub password: Option<String>,
    /// Read the password from standard input
    #[arg(long)]
    pub password_stdin: bool,
}

/// `hb logout`.
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Registry host
    pub registry: String,
}

/// `hb config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = ConfigFormat::Yaml)]
    pub format: ConfigFormat,
    /// Only validate; print nothing unless there is a problem
    #[arg(short, long)]
    pub quiet: bool,
    /// Print the service names, one per line
    #[arg(long)]
    pub services: bool,
    /// Print the volume names, one per line
    #[arg(long)]
    pub volumes: bool,
    /// Print the profile names, one per line
    #[arg(long = "profiles", id = "list_profiles")]
    pub list_profiles: bool,
    /// Print the image names, one per line
    #[arg(long)]
    pub images: bool,
    /// Write to this file instead of standard output
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Output formats of `hb config`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ConfigFormat {
    /// YAML, as `docker compose config` prints it
    Yaml,
    /// JSON
    Json,
}

/// `hb graph`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
    pub format: GraphFormat,
}

/// Output formats of `hb graph`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GraphFormat {
    /// Waves and edges, for people
    Text,
    /// `{"waves": [...], "edges": [...]}`
    Json,
    /// Graphviz
    Dot,
}

/// `hb init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Overwrite an existing compose.yaml
    #[arg(long)]
    pub force: bool,
    /// Print the file instead of writing it
    #[arg(long)]
    pub dry_run: bool,
}

/// `--tail N` or `--tail all` (as `docker logs --tail`); `all` is `usize::MAX`.
fn parse_tail(s: &str) -> Result<usize, String> {
    if s == "all" {
        return Ok(usize::MAX);
    }
    s.parse()
        .map_err(|_| format!("`{s}` is not a number of lines: give one, or `all`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_argument_grammar_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    fn argv(line: &str) -> Vec<std::ffi::OsString> {
        std::iter::once("hb")
            .chain(line.split(' '))
            .map(Into::into)
            .collect()
    }

    #[test]
    fn a_plain_container_run_reads_as_clap_reads_it() {
        for line in [
            "container run busybox",
            "container run --rm busybox true",
            "container run --rm -it busybox sh -c echo --rm -x",
            "container run -d --name web -e A=1 --env B=2 busybox httpd -f",
            "container run -dit --init --read-only --privileged --no-healthcheck busybox",
            "container run --detach --tty --interactive localhost:5000/app:1 ls -- -l",
        ] {
            let fast = plain_container_run(&argv(line)).expect(line);
            let clap = Cli::try_parse_from(argv(line)).expect(line);
            assert_eq!(format!("{fast:?}"), format!("{clap:?}"), "{line}");
        }
    }

    #[test]
    fn anything_else_is_left_to_clap() {
        for line in [
            "container run",
            "container run --rm",
            "container run --rm --rm busybox",
            "container run -d -d busybox",
            "container run -x busybox",
            "container run --name=web busybox",
            "container run --name -d busybox",
            "container run -e",
            "container run --help",
            "container run -- busybox",
            "container run busybox --help",
            "container run -p 80:80 busybox",
            "container run --network bridge busybox",
            "container ls",
            "-f x.yml container run busybox",
            "up",
        ] {
            assert!(plain_container_run(&argv(line)).is_none(), "{line}");
        }
    }
}
