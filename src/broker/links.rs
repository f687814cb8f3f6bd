//! The network of a cluster, owned by the harness: one producer proxy per
//! node (in front of its `CHAOS` listener) and one link proxy per ordered
//! pair of nodes and kind of traffic (broker, controller). See
//! [`super::topology`] for how the nodes are told to use them.
//!
//! Network faults switch proxies: [`Links::set_network`] acts between the
//! producer and chosen nodes; [`Links::isolate`] blackholes every link that
//! crosses the border of a group of nodes, in both directions, so the group
//! can no longer replicate to, fetch from, or vote with the others, while
//! producers and the harness still reach every node. Healing resets the
//! connections that lived through the cut (see [`crate::infra::proxy`]).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};

use super::topology::{NodePorts, ProxyPorts};
use super::BrokerError;
use crate::infra::proxy::{ChaosProxy, NetworkMode};

/// Every proxy of one cluster. They live as long as the cluster, across
/// node restarts, so every address stays the same.
#[derive(Debug)]
pub struct Links {
    /// Producer proxies, by node id.
    chaos: BTreeMap<i32, ChaosProxy>,
    /// Link proxies by (from, to): broker traffic, then controller traffic.
    pairs: BTreeMap<(i32, i32), [ChaosProxy; 2]>,
}

async fn proxy_to(port: u16, taken: &[u16]) -> Result<ChaosProxy, BrokerError> {
    let upstream = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    for _ in 0..20 {
        let proxy = ChaosProxy::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), upstream).await?;
        if !taken.contains(&proxy.port()) {
            return Ok(proxy);
        }
    }
    Err(BrokerError::io(
        "cannot find a free port for a proxy",
        std::io::Error::other("the system keeps handing out taken ports"),
    ))
}

impl Links {
    /// Starts every proxy of a cluster of `nodes`. `taken` are the nodes'
    /// own ports, which no proxy may take.
    pub async fn start(nodes: &[NodePorts]) -> Result<Links, BrokerError> {
        let taken: Vec<u16> = nodes.iter().flat_map(NodePorts::all).collect();
        let mut chaos = BTreeMap::new();
        let mut pairs = BTreeMap::new();
        for to in nodes {
            chaos.insert(to.id, proxy_to(to.chaos, &taken).await?);
            for from in nodes.iter().filter(|n| n.id != to.id) {
                let index = from.id as usize - 1;
                let broker_port = to.broker_from.get(index).copied().unwrap_or(0);
                let controller_port = to.controller_from.get(index).copied().unwrap_or(0);
                pairs.insert(
                    (from.id, to.id),
                    [
                        proxy_to(broker_port, &taken).await?,
                        proxy_to(controller_port, &taken).await?,
                    ],
                );
            }
        }
        Ok(Links { chaos, pairs })
    }

    /// No proxy at all (a cluster the harness does not run).
    pub fn none() -> Links {
        Links {
            chaos: BTreeMap::new(),
            pairs: BTreeMap::new(),
        }
    }

    /// The ports the proxies listen on, for the topology.
    pub fn ports(&self) -> ProxyPorts {
        ProxyPorts {
            chaos: self.chaos.iter().map(|(id, p)| (*id, p.port())).collect(),
            broker: self
                .pairs
                .iter()
                .map(|(k, [b, _])| (*k, b.port()))
                .collect(),
            controller: self
                .pairs
                .iter()
                .map(|(k, [_, c])| (*k, c.port()))
                .collect(),
        }
    }

    /// Switches the network between the producer and the given nodes (all
    /// when `nodes` is empty).
    pub fn set_network(&self, nodes: &[i32], mode: NetworkMode) {
        for (id, p) in &self.chaos {
            if nodes.is_empty() || nodes.contains(id) {
                p.set_mode(mode);
            }
        }
    }

    /// The network mode between the producer and node `id`.
    pub fn network(&self, id: i32) -> NetworkMode {
        self.chaos
            .get(&id)
            .map(ChaosProxy::mode)
            .unwrap_or_default()
    }

    /// The network mode towards every node: the one they share, or the
    /// first that is not `Pass`.
    pub fn network_all(&self) -> NetworkMode {
        self.chaos
            .values()
            .map(ChaosProxy::mode)
            .find(|m| *m != NetworkMode::Pass)
            .unwrap_or_default()
    }

    /// Cuts `group` off from the other nodes: every link between a node of
    /// the group and a node outside it is blackholed, both ways.
    pub fn isolate(&self, group: &[i32]) {
        for ((from, to), proxies) in &self.pairs {
            if group.contains(from) != group.contains(to) {
                for p in proxies {
                    p.set_mode(NetworkMode::Cut);
                }
            }
        }
    }

    /// Nodes cut off from every other node right now (each of their links
    /// to another node is blackholed).
    pub fn isolated(&self) -> Vec<i32> {
        self.chaos
            .keys()
            .copied()
            .filter(|id| {
                let mut out = self
                    .pairs
                    .iter()
                    .filter(|((from, _), _)| from == id)
                    .peekable();
                out.peek().is_some()
                    && out.all(|(_, ps)| ps.iter().all(|p| p.mode() == NetworkMode::Cut))
            })
            .collect()
    }

    /// Ends every isolation: all links pass again.
    pub fn heal_links(&self) {
        for proxies in self.pairs.values() {
            for p in proxies {
                p.set_mode(NetworkMode::Pass);
            }
        }
    }

    /// Stops every proxy.
    pub async fn shutdown(self) {
        for p in self.chaos.into_values() {
            p.shutdown().await;
        }
        for [a, b] in self.pairs.into_values() {
            a.shutdown().await;
            b.shutdown().await;
        }
    }
}
