//! `kafka-chaos cleanup`: removes brokers left by runs that were killed
//! before they could clean up, their work folders and their power-loss
//! storage. Brokers of harnesses still running (another run, a test binary
//! beside this one) are theirs, and stay.

use super::output::out_line;
use crate::broker;
use crate::infra::lazyfs::volumes;

/// Kills leftover broker processes, removes leftover containers, unmounts
/// leftover lazy filesystems and deletes their folders: those whose owner
/// (the harness that started them) is gone.
pub(crate) async fn cleanup() -> anyhow::Result<()> {
    let reaped = tokio::task::spawn_blocking(|| broker::cleanup::reap_processes(false)).await?;
    out_line!("broker processes killed: {}", reaped.killed);
    out_line!("broker work folders removed: {}", reaped.folders.len());
    for f in reaped.folders {
        out_line!("  {}", f.display());
    }
    match tokio::task::spawn_blocking(volumes::reap_leftovers).await? {
        Ok(removed) => {
            out_line!("power-loss storage folders removed: {}", removed.len());
            for r in removed {
                out_line!("  {}", r.display());
            }
        }
        Err(e) => out_line!("power-loss storage: not checked ({e})"),
    }
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
