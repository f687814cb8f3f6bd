//! Ctrl+C and SIGTERM: a token that stops the run gracefully, and a forced
//! exit on the second signal. Besides `main.rs`, this is the only place that
//! may end the process.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::exit;
use super::output::err_line;

/// A token that fires on the first SIGINT/SIGTERM; a second one exits at
/// once (process brokers die with us; leftover containers are removed by
/// the next run or `kafka-chaos cleanup`).
pub(crate) fn interrupt_token() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("cannot listen for SIGTERM: {e}");
                    return;
                }
            };
        let mut first: Option<std::time::Instant> = None;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            // The same signal sent to the process and to its group arrives
            // twice at once: only a second one a moment later forces.
            if first.is_some_and(|f| f.elapsed() < Duration::from_secs(1)) {
                continue;
            }
            if first.is_none() {
                first = Some(std::time::Instant::now());
                err_line!("interrupted: stopping and removing the broker (again to force)…");
                t.cancel();
            } else {
                err_line!("interrupted twice: exiting now");
                std::process::exit(exit::INTERRUPTED);
            }
        }
    });
    token
}
