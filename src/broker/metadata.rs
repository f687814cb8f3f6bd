//! What the cluster says about itself: partition state (leader, epoch,
//! replicas, ISR), the KRaft quorum, and each replica's log end, asked with
//! the wire requests librdkafka lacks ([`super::wire`]) of the nodes that
//! answer (an isolated leader last).

use std::time::Duration;

use super::cluster::{Broker, ReplicaEnd};
use super::external::NOT_PLAINTEXT;
use super::wire::{Conn, PartitionState, QuorumState};
use super::{BrokerError, BrokerState};

impl Broker {
    /// Asks every running node in turn until one answers — nodes cut off
    /// from the others last, since an isolated leader keeps reporting
    /// itself as the leader.
    async fn ask<T, F, Fut>(&self, what: &str, f: F) -> Result<T, BrokerError>
    where
        F: Fn(Conn) -> Fut,
        Fut: std::future::Future<Output = Result<T, super::wire::WireError>>,
    {
        if self.external.as_ref().is_some_and(|x| !x.plaintext) {
            return Err(BrokerError::Admin(format!("{what}: {NOT_PLAINTEXT}")));
        }
        let mut last = String::from("no running node");
        let isolated = self.isolated();
        let mut order = self.ids_in(BrokerState::Running);
        order.sort_by_key(|id| isolated.contains(id));
        for id in order {
            let Some(addr) = self.node_bootstrap(id) else {
                continue;
            };
            match Conn::connect(&addr, Duration::from_secs(3)).await {
                Ok(conn) => match f(conn).await {
                    Ok(v) => return Ok(v),
                    Err(e) => last = e.to_string(),
                },
                Err(e) => last = e.to_string(),
            }
        }
        Err(BrokerError::Admin(format!("{what}: {last}")))
    }

    /// Every partition of `topic`: leader, leader epoch, replicas, ISR.
    pub async fn partition_state(&self, topic: &str) -> Result<Vec<PartitionState>, BrokerError> {
        if let Some(x) = self.external.as_ref().filter(|x| !x.plaintext) {
            return x.partition_state(topic).await;
        }
        let topic = topic.to_string();
        self.ask("partition state", |mut c| {
            let topic = topic.clone();
            async move { c.topic_state(&topic).await }
        })
        .await
    }

    /// The KRaft quorum: the active controller.
    pub async fn quorum(&self) -> Result<QuorumState, BrokerError> {
        self.ask("quorum", |mut c| async move { c.describe_quorum().await })
            .await
    }

    /// The log end offset of every replica of every partition of `topic`,
    /// asked of the node that holds it (`None` where it could not answer).
    pub async fn replica_ends(&self, topic: &str) -> Result<Vec<ReplicaEnd>, BrokerError> {
        if self.external.as_ref().is_some_and(|x| !x.plaintext) {
            return Err(BrokerError::Admin(format!("replica ends: {NOT_PLAINTEXT}")));
        }
        let parts = self.partition_state(topic).await?;
        let mut out = Vec::new();
        for p in &parts {
            for &node in &p.replicas {
                let mut end = None;
                if self.node_state(node) == BrokerState::Running {
                    if let Some(addr) = self.node_bootstrap(node) {
                        if let Ok(mut c) = Conn::connect(&addr, Duration::from_secs(3)).await {
                            end = c.replica_log_end(topic, p.partition).await.ok();
                        }
                    }
                }
                out.push(ReplicaEnd {
                    partition: p.partition,
                    node,
                    log_end_offset: end,
                });
            }
        }
        Ok(out)
    }
}
