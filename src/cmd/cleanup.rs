//! `kafka-chaos cleanup`: removes brokers left by runs that were killed
//! before they could clean up. Brokers of harnesses still running (another
//! run, a test binary beside this one) are theirs, and stay.

use super::output::out_line;
use crate::broker;

/// Kills leftover broker processes and removes leftover containers: those
/// whose owner (the harness that started them) is gone.
pub(crate) async fn cleanup() -> anyhow::Result<()> {
    let killed = broker::cleanup::reap_processes(false);
    out_line!("broker processes killed: {killed}");
    match broker::engine::client() {
        Ok(docker) => {
            let removed = broker::cleanup::reap_containers(&docker, false).await?;
            out_line!("broker containers removed: {}", removed.len());
            for r in removed {
                out_line!("  {r}");
            }
        }
        Err(e) => out_line!("containers: not checked ({e})"),
    }
    Ok(())
}
