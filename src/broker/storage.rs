//! Where a cluster's nodes keep their logs, and the power cut.
//!
//! With [`Storage::Disk`] each backend keeps a node's log where it always
//! has (a folder of the process node, the container's own layer), unless
//! the configuration names a host folder (`BrokerConfig::data_dirs`).
//!
//! With [`Storage::LazyFs`] the cluster owns one lose-unsynced-writes mount
//! per node ([`crate::infra::lazyfs`]), all in one private folder
//! `$TMPDIR/kafka-chaos-lazyfs-<run label>-XXXXXX`; the mount points become
//! the nodes' data folders before any node starts (a process node's
//! `log.dirs`, a container's bind mount at `/var/lib/kafka/data`, which
//! `podman start` binds again after a power cycle, so it sees the fresh
//! mount). The mounts live exactly as long as the cluster: they are removed
//! after its nodes (on success, error and interruption, when the cluster is
//! removed or dropped), and what a killed harness left is reaped when the
//! next cluster starts (whatever its storage) and by `kafka-chaos cleanup`.
//!
//! Only clusters of specs that ask for it (a `power_loss` fault, or
//! `storage = "lazyfs"`) run on the mounts: every write of every other
//! experiment goes to the disk as before, at no cost.
//!
//! The nodes' KRaft metadata log lives in the same folder, so a power cut
//! also drops its unsynced tail (KRaft fsyncs its appends, so it rarely has
//! one).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{BrokerConfig, BrokerError, Storage};
use crate::infra::lazyfs::volumes::{self, Volumes};
use crate::infra::lazyfs::{PowerCutOptions, PowerCutReport};
use crate::model::powercut::{FileLoss, NodePowerCut, TornWrite};

/// Dirty bytes one node's mount holds before it writes its oldest files
/// back (they are then durable): far above what an experiment writes
/// between two fsyncs, below what would strain the harness's memory with
/// five nodes.
pub const DIRTY_BUDGET_BYTES: u64 = 256 << 20;

/// A cluster's storage: nothing of its own, or one mount per node.
#[derive(Debug, Default)]
pub struct NodeStorage {
    volumes: Option<Volumes>,
}

impl NodeStorage {
    /// Prepares the storage `cfg` asks for, for nodes `ids`: reaps the
    /// lazy filesystems killed runs left (whatever the storage: it is
    /// cheap), then, on `lazyfs`, mounts one per node.
    pub async fn prepare(cfg: &BrokerConfig, ids: &[i32]) -> Result<NodeStorage, BrokerError> {
        let lazy = cfg.storage == Storage::LazyFs;
        let label = cfg.run_label.clone();
        let ids = ids.to_vec();
        let volumes = tokio::task::spawn_blocking(move || {
            match volumes::reap_leftovers() {
                Ok(removed) if !removed.is_empty() => {
                    tracing::info!(?removed, "removed power-loss storage left by killed runs")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("cannot reap leftover lazy filesystems: {e}"),
            }
            lazy.then(|| Volumes::create(&label, &ids, DIRTY_BUDGET_BYTES))
                .transpose()
        })
        .await
        .map_err(|e| BrokerError::io("mounting the nodes' storage", std::io::Error::other(e)))??;
        let Some(volumes) = volumes else {
            return Ok(NodeStorage::default());
        };
        tracing::debug!(folder = %volumes.root().display(), "nodes' logs on lazy filesystems");
        Ok(NodeStorage {
            volumes: Some(volumes),
        })
    }

    /// The data folder of every node that has one of its own: its mount on
    /// `lazyfs`, else the configuration's `data_dirs`.
    pub fn data_dirs(&self, cfg: &BrokerConfig) -> BTreeMap<i32, PathBuf> {
        let mut dirs = cfg.data_dirs.clone();
        if let Some(v) = &self.volumes {
            dirs.extend(v.mountpoints().clone());
        }
        dirs
    }

    /// Whether the nodes' writes can be lost by a power cut.
    pub fn is_lazy(&self) -> bool {
        self.volumes.is_some()
    }

    /// Writes everything the nodes wrote so far to the disk (a checkpoint:
    /// a later power cut loses only what came after). Nothing on disk.
    pub fn checkpoint(&self) -> Result<u64, BrokerError> {
        match &self.volumes {
            Some(v) => Ok(v.sync_all()?),
            None => Ok(0),
        }
    }

    /// Cuts the power of nodes `ids`, which must be down (killed and
    /// exited): drops every write they did not fsync (with `torn_write`,
    /// keeping a prefix of each node's last one, drawn from `seed` and the
    /// node id), and mounts their storage afresh for the restart. Returns
    /// what each node lost.
    pub async fn power_cycle(
        &mut self,
        ids: &[i32],
        torn_write: bool,
        seed: u64,
    ) -> Result<Vec<NodePowerCut>, BrokerError> {
        let Some(volumes) = self.volumes.as_mut() else {
            return Err(BrokerError::Admin(
                "power_loss needs the nodes on storage = \"lazyfs\"".into(),
            ));
        };
        if let Some(id) = ids.iter().find(|id| volumes.mountpoint(**id).is_none()) {
            return Err(BrokerError::Admin(format!(
                "node {id} has no lazy filesystem to cut"
            )));
        }
        let mut jobs = Vec::new();
        for &id in ids {
            let Some(fs) = volumes.take(id) else {
                // Taken by an earlier power cycle that failed: gone.
                return Err(BrokerError::Admin(format!(
                    "node {id} lost its lazy filesystem in an earlier power cut"
                )));
            };
            let options = PowerCutOptions {
                torn_write,
                seed: seed.wrapping_add(id as u64),
            };
            jobs.push((
                id,
                tokio::task::spawn_blocking(move || fs.power_cycle(options)),
            ));
        }
        let mut cuts = Vec::new();
        let mut first_error = None;
        for (id, job) in jobs {
            match job.await {
                Ok(Ok((fresh, report))) => {
                    volumes.put(id, fresh);
                    cuts.push(node_cut(id, report));
                }
                Ok(Err(e)) => {
                    first_error.get_or_insert(BrokerError::Storage(e));
                }
                Err(e) => {
                    first_error.get_or_insert(BrokerError::io(
                        format!("power cycle of node {id}"),
                        std::io::Error::other(e),
                    ));
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(cuts),
        }
    }

    /// Discards, unmounts and deletes the mounts (after the nodes are gone).
    pub async fn remove(self) {
        if let Some(v) = self.volumes {
            if let Err(e) = tokio::task::spawn_blocking(move || v.remove()).await {
                tracing::warn!("removing the nodes' storage: {e}");
            }
        }
    }
}

/// The filesystem's report as the results keep it: files that lost
/// nothing (cached, but with no unsynced byte or size change) are left out.
fn node_cut(node: i32, report: PowerCutReport) -> NodePowerCut {
    NodePowerCut {
        node,
        lost_bytes: report.total_bytes,
        files: report
            .files
            .into_iter()
            .filter(|(_, f)| f.bytes > 0 || f.size_change_lost || f.after_cut_bytes > 0)
            .map(|(path, f)| {
                (
                    path.display().to_string(),
                    FileLoss {
                        bytes: f.bytes,
                        size_change_lost: f.size_change_lost,
                        after_cut_bytes: f.after_cut_bytes,
                    },
                )
            })
            .collect(),
        torn_write: report.torn_write.map(|t| TornWrite {
            path: t.path.display().to_string(),
            offset: t.offset,
            len: t.len,
            kept: t.kept,
            sector_aligned: t.sector_aligned,
            mapped_pages: t.mapped_pages,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_become_results_per_file() {
        let mut report = PowerCutReport {
            total_bytes: 5,
            ..Default::default()
        };
        report.files.insert(
            "t-0/00000000000000000000.log".into(),
            crate::infra::lazyfs::FileLoss {
                bytes: 5,
                size_change_lost: true,
                after_cut_bytes: 1,
            },
        );
        report.files.insert(
            "t-0/00000000000000000000.index".into(),
            crate::infra::lazyfs::FileLoss::default(),
        );
        let cut = node_cut(2, report);
        assert_eq!(cut.node, 2);
        assert_eq!(cut.files.len(), 1, "a file that lost nothing is left out");
        assert_eq!(cut.lost_bytes, 5);
        let f = &cut.files["t-0/00000000000000000000.log"];
        assert_eq!(
            (f.bytes, f.size_change_lost, f.after_cut_bytes),
            (5, true, 1)
        );
        assert!(cut.torn_write.is_none());
    }

    #[tokio::test]
    async fn disk_storage_has_nothing_to_cut() {
        let cfg = BrokerConfig::new(super::super::Backend::Process, "test");
        let mut s = NodeStorage::prepare(&cfg, &[1]).await.unwrap();
        assert!(!s.is_lazy());
        assert_eq!(s.checkpoint().unwrap(), 0);
        assert!(s.data_dirs(&cfg).is_empty());
        let msg = s.power_cycle(&[1], false, 0).await.unwrap_err().to_string();
        assert!(msg.contains("lazyfs"), "{msg}");
    }
}
