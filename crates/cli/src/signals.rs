//! Signals the CLI reacts to (Ctrl-C, SIGTERM, window size changes), each on a
//! thread of its own so the work they interrupt needs no async runtime.

use tokio::signal::unix::{Signal, SignalKind};

/// Calls `f` every time one of `kinds` arrives, from a thread of its own. The
/// handlers are in place when this returns: a signal sent right after is
/// caught, not left to its default action (which would end hb).
pub fn on(kinds: &[SignalKind], f: impl Fn() + Send + 'static) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    let mut streams: Vec<Signal> = {
        let _in_runtime = rt.enter();
        kinds
            .iter()
            .filter_map(|k| tokio::signal::unix::signal(*k).ok())
            .collect()
    };
    if streams.is_empty() {
        return;
    }
    std::thread::spawn(move || {
        rt.block_on(async move {
            loop {
                let next = futures_util::future::select_all(
                    streams.iter_mut().map(|s| Box::pin(s.recv())),
                );
                match next.await.0 {
                    Some(()) => f(),
                    None => return,
                }
            }
        });
    });
}
