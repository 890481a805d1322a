//! Signals the CLI reacts to (Ctrl-C, SIGTERM, window size changes), each on a
//! thread of its own so the work they interrupt needs no async runtime.

use tokio::signal::unix::SignalKind;

/// Calls `f` every time one of `kinds` arrives, from a thread of its own.
pub fn on(kinds: &[SignalKind], f: impl Fn() + Send + 'static) {
    let kinds = kinds.to_vec();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            let mut streams: Vec<_> = kinds
                .into_iter()
                .filter_map(|k| tokio::signal::unix::signal(k).ok())
                .collect();
            if streams.is_empty() {
                return;
            }
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
