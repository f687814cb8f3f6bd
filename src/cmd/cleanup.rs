//! `kafka-chaos cleanup`: removes brokers left by runs that were killed
//! before they could clean up.

use super::output::out_line;
use crate::broker;

/// Kills leftover broker processes and removes leftover containers.
pub(crate) async fn cleanup() -> anyhow::Result<()> {
    let killed = broker::cleanup::reap_processes(true);
    out_line!("broker processes killed: {killed}");
    match broker::engine::client() {
        Ok(docker) => {
            let removed = broker::cleanup::reap_containers(&docker, true).await?;
            out_line!("broker containers removed: {}", removed.len());
            for r in removed {
                out_line!("  {r}");
            }
        }
        Err(e) => out_line!("containers: not checked ({e})"),
    }
    Ok(())
}
