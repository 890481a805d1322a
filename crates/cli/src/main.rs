//! `hb`: the command line. Parses arguments and dispatches to `commands/<verb>.rs`;
//! the work itself happens in the library crates.

use std::process::ExitCode;

// A loaded project is many small allocations (a few per YAML key and value);
// with mimalloc a 1,000-service load takes about 17% less time than with
// glibc's malloc, and varies less (docs/benchmarks.md). Most hb runs are
// short, so its start-up counts too: mimalloc v2 starts 0.3 ms faster than v3
// (`hb --version` 1.75 against 2.05 ms) and loads as fast; and without
// transparent huge pages (`no_thp`) no 2 MiB page is zeroed — or memory first
// compacted for one — at the first allocation.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cli;
mod commands;
mod context;
mod project;
mod signals;

fn main() -> ExitCode {
    keep_inherited_descriptors_here();
    let args = cli::Cli::from_command_line();
    // `$HB_LOG`'s directives (`hb_image=debug`, …) through an `EnvFilter`;
    // without them warnings and errors, through a plain level filter: the
    // filter's parser and matchers cost ~25 µs of every start.
    let log = tracing_subscriber::fmt().with_writer(std::io::stderr);
    match tracing_subscriber::EnvFilter::try_from_env("HB_LOG") {
        Ok(filter) => log.with_env_filter(filter).init(),
        Err(_) => log.with_max_level(tracing::Level::WARN).init(),
    }
    match commands::run(args) {
        Ok(code) => code,
        Err(e) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("error: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Marks close-on-exec whatever hb inherited beyond stdin, stdout and stderr,
/// before any thread or child exists: the shims and port proxies hb starts
/// outlive it, and would otherwise hold its caller's descriptors open (a pipe
/// the caller reads to its end, a make jobserver) as long as they run.
fn keep_inherited_descriptors_here() {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd > 2)
        .collect();
    for fd in fds {
        // The listing's own descriptor is closed by now: EBADF, ignored.
        let _ = fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    }
}
