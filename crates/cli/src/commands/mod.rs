//! One module per verb; each turns its arguments into a request and calls the library.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{Cli, Command, ContainerCommand, ImageCommand, Lazy, NetworkCommand};

mod build;
mod config;
mod container;
mod doctor;
mod graph;
mod images;
mod init;
mod login;
mod observe;
mod pull;
mod remote;
pub(crate) mod stack;
mod tty;

/// Runs the chosen verb.
pub fn run(cli: Cli) -> Result<ExitCode> {
    // Through a daemon, unless the verb only reads the project's files.
    let local_only = matches!(
        cli.command,
        Command::Config(Lazy(_)) | Command::Graph(Lazy(_)) | Command::Init(Lazy(_))
    );
    if let Some(host) = cli.host.as_ref().filter(|_| !local_only) {
        return remote::run(host, &cli.project, &cli.command);
    }
    match cli.command {
        Command::Up(Lazy(a)) => stack::up(&cli.project, &a),
        Command::Down(Lazy(a)) => stack::down(&cli.project, &a),
        Command::Ps(Lazy(a)) => stack::ps(&cli.project, &a),
        Command::Ls { format } => stack::ls(format),
        Command::Logs(Lazy(a)) => stack::logs(&cli.project, &a),
        Command::Exec(Lazy(a)) => stack::exec(&cli.project, &a),
        Command::Start(Lazy(a)) => stack::start(&cli.project, &a),
        Command::Stop(Lazy(a)) => stack::stop(&cli.project, &a),
        Command::Restart(Lazy(a)) => stack::restart(&cli.project, &a),
        Command::Run(Lazy(a)) => stack::run(&cli.project, &a),
        Command::Daemon { openrpc: true, .. } => {
            print(&(serde_json::to_string_pretty(&hb_api::openrpc())? + "\n"))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Daemon { socket, .. } => daemon(socket),
        Command::Watch {
            services,
            no_up,
            quiet,
        } => stack::watch(&cli.project, &services, no_up, quiet),
        Command::Events { services, json } => stack::events(&cli.project, &services, json),
        Command::Cp { src, dest, index } => stack::cp(&cli.project, &src, &dest, index),
        Command::Kill { services, signal } => stack::kill(&cli.project, &services, &signal),
        Command::Rm {
            services,
            force: _,
            stop,
        } => stack::rm(&cli.project, &services, stop),
        Command::Pause { services } => stack::pause(&cli.project, &services, true),
        Command::Unpause { services } => stack::pause(&cli.project, &services, false),
        Command::Top { services } => stack::top(&cli.project, &services),
        Command::Stats(Lazy(a)) => stack::stats(&cli.project, &a),
        Command::Container(Lazy(ContainerCommand::Pause { names })) => {
            container::pause(&names, true)
        }
        Command::Container(Lazy(ContainerCommand::Unpause { names })) => {
            container::pause(&names, false)
        }
        Command::Container(Lazy(ContainerCommand::Top { name })) => container::top(&name),
        Command::Container(Lazy(ContainerCommand::Stats(a))) => container::stats(&a),
        Command::Container(Lazy(ContainerCommand::Inspect { names })) => container::inspect(&names),
        Command::Port {
            service,
            port,
            protocol,
            index,
        } => stack::port(&cli.project, &service, port, &protocol, index),
        Command::Config(Lazy(a)) => config::run(&cli.project, &a),
        Command::Graph(Lazy(a)) => graph::run(&cli.project, &a),
        Command::Init(Lazy(a)) => init::run(&a),
        Command::Pull(Lazy(a)) => pull::run(&cli.project, &a),
        Command::Build(Lazy(a)) => build::run(&cli.project, &a),
        Command::Images(Lazy(a)) => images::list(&a),
        Command::Image(Lazy(ImageCommand::Ls(a))) => images::list(&a),
        Command::Image(Lazy(ImageCommand::Pull(a))) => pull::run(&cli.project, &a),
        Command::Image(Lazy(ImageCommand::Inspect { images })) => images::inspect(&images),
        Command::Image(Lazy(ImageCommand::Rm { images })) | Command::Rmi { images } => {
            images::remove(&images)
        }
        Command::Image(Lazy(ImageCommand::Import {
            source,
            from_dir,
            name,
            platform,
        })) => images::import(
            &source,
            from_dir.as_deref(),
            name.as_deref(),
            platform.as_deref(),
        ),
        Command::Image(Lazy(ImageCommand::Export { image, output })) => {
            images::export(&image, &output)
        }
        Command::Image(Lazy(ImageCommand::Prune)) => images::prune(),
        Command::Image(Lazy(ImageCommand::Unpack { image, dir })) => images::unpack(&image, &dir),
        Command::Doctor { fix, format } => doctor::run(fix, format),
        Command::Container(Lazy(ContainerCommand::Run(a))) => container::run(&a),
        Command::Network(Lazy(NetworkCommand::Prune { force: _ })) => container::network_prune(),
        Command::Container(Lazy(ContainerCommand::Ls { format, all })) => {
            container::list(format, all)
        }
        Command::Container(Lazy(ContainerCommand::Logs {
            name,
            timestamps,
            follow,
            tail,
            since,
        })) => container::logs(&name, timestamps, follow, tail, since.as_deref()),
        Command::Container(Lazy(ContainerCommand::Rm { names, force })) => {
            container::remove(&names, force)
        }
        Command::Container(Lazy(ContainerCommand::Stop { names, time })) => {
            container::stop(&names, time)
        }
        Command::Container(Lazy(ContainerCommand::Kill { names, signal })) => {
            container::kill(&names, &signal)
        }
        Command::Container(Lazy(ContainerCommand::Exec {
            env,
            user,
            workdir,
            tty,
            interactive: _,
            name,
            command,
        })) => container::exec(
            &name,
            &command,
            &env,
            user.as_deref(),
            workdir.as_deref(),
            tty,
        ),
        Command::Login(Lazy(a)) => login::login(&a),
        Command::Logout(Lazy(a)) => login::logout(&a),
    }
}

/// `hb daemon`: the API until Ctrl-C or SIGTERM; containers keep running after.
fn daemon(socket: Option<std::path::PathBuf>) -> Result<ExitCode> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let engine = Arc::new(crate::context::engine()?);
    let path = socket.unwrap_or_else(|| engine.rt.run.join("hb.sock"));
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    {
        use tokio::signal::unix::SignalKind;
        crate::signals::on(
            &[SignalKind::interrupt(), SignalKind::terminate()],
            move || {
                flag.store(true, Ordering::SeqCst);
            },
        );
    }
    crate::project::note(&format!("hb daemon: serving on {}", path.display()));
    hb_api::serve(&path, engine, stop)?;
    Ok(ExitCode::SUCCESS)
}

/// Writes `text` to standard output.
pub fn print(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}
