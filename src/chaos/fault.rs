//! Faults: what happens to the brokers mid-stream, and how it heals.
//!
//! Names follow Kafka's own system tests. Process faults act on the nodes a
//! fault aims at (signals, container pause); network faults act on the
//! harness's proxies — between the producer and those nodes (`network_cut`,
//! `latency`), or between those nodes and the rest of the cluster
//! (`isolate`) — so the brokers keep running and the harness's own clients
//! still reach them directly.

use std::time::Duration;

use crate::broker::{Broker, BrokerError};
use crate::infra::proxy::NetworkMode;
use crate::spec::{ExperimentSpec, FaultKind};

/// A fault with its parameters and the nodes it hits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    /// `latency`: the delay added to each direction (zero for other kinds).
    pub latency: Duration,
    /// The nodes it hits (empty: every node).
    pub nodes: Vec<i32>,
}

impl Fault {
    /// A fault on every node.
    pub fn new(kind: FaultKind) -> Self {
        Fault {
            kind,
            latency: Duration::ZERO,
            nodes: Vec::new(),
        }
    }

    /// A `latency` fault of `delay` in each direction, on every node.
    pub fn latency(delay: Duration) -> Self {
        Fault {
            kind: FaultKind::Latency,
            latency: delay,
            nodes: Vec::new(),
        }
    }

    /// The (first) fault a checked spec asks for, on every node.
    pub fn of(spec: &ExperimentSpec) -> Self {
        Fault {
            kind: spec.fault,
            latency: spec.latency.unwrap_or_default(),
            nodes: Vec::new(),
        }
    }

    /// The same fault on the given nodes.
    pub fn on(mut self, nodes: Vec<i32>) -> Self {
        self.nodes = nodes;
        self
    }

    fn nodes(&self, broker: &Broker) -> Vec<i32> {
        if self.nodes.is_empty() {
            broker.node_ids()
        } else {
            self.nodes.clone()
        }
    }
}

/// Begins a fault: the act itself — SIGTERM or SIGKILL delivered to the
/// nodes it aims at, the nodes frozen, the proxies switched. Returns as soon
/// as it is done: the fault is in force from here (the producer may go on),
/// though a stopped node may still be on its way down ([`settle`]).
pub async fn begin(broker: &mut Broker, fault: &Fault) -> Result<(), BrokerError> {
    let nodes = fault.nodes(broker);
    match fault.kind {
        FaultKind::None => Ok(()),
        FaultKind::CleanShutdown | FaultKind::CleanBounce => broker.signal_stop_nodes(&nodes).await,
        FaultKind::HardShutdown | FaultKind::HardBounce => broker.signal_kill_nodes(&nodes).await,
        FaultKind::Pause => broker.pause_nodes(&nodes).await,
        FaultKind::NetworkCut => {
            broker.set_network_for(&nodes, NetworkMode::Cut);
            Ok(())
        }
        FaultKind::Latency => {
            broker.set_network_for(&nodes, NetworkMode::Latency(fault.latency));
            Ok(())
        }
        FaultKind::Isolate => {
            broker.isolate(&nodes);
            Ok(())
        }
    }
}

/// After [`begin`]: waits until the fault has fully taken hold — the nodes'
/// processes or containers have exited (with the stop's timeouts and SIGKILL
/// fallback). Returns whether the nodes are now down or frozen (`false` for
/// network faults, which leave them running, and for a node that did not
/// exit).
pub async fn settle(broker: &mut Broker, fault: &Fault) -> Result<bool, BrokerError> {
    let nodes = fault.nodes(broker);
    match fault.kind {
        FaultKind::None | FaultKind::NetworkCut | FaultKind::Latency | FaultKind::Isolate => {
            Ok(false)
        }
        FaultKind::Pause => Ok(true),
        FaultKind::CleanShutdown
        | FaultKind::CleanBounce
        | FaultKind::HardShutdown
        | FaultKind::HardBounce => broker.await_exit_nodes(&nodes).await,
    }
}

/// [`begin`] and [`settle`] in one: returns once the fault has fully taken
/// hold.
pub async fn inject(broker: &mut Broker, fault: &Fault) -> Result<(), BrokerError> {
    begin(broker, fault).await?;
    settle(broker, fault).await.map(|_| ())
}

/// Undoes a fault — restarts the nodes it stopped, resumes those it froze,
/// lets the network pass — without waiting for the cluster to be whole
/// again (another fault may be keeping part of it down).
pub async fn undo(broker: &mut Broker, fault: &Fault) -> Result<(), BrokerError> {
    let nodes = fault.nodes(broker);
    match fault.kind {
        FaultKind::None => Ok(()),
        FaultKind::CleanShutdown
        | FaultKind::HardShutdown
        | FaultKind::CleanBounce
        | FaultKind::HardBounce => broker.start_nodes(&nodes).await,
        FaultKind::Pause => broker.resume_nodes(&nodes).await,
        FaultKind::NetworkCut | FaultKind::Latency => {
            broker.set_network_for(&nodes, NetworkMode::Pass);
            Ok(())
        }
        FaultKind::Isolate => {
            broker.heal_links();
            Ok(())
        }
    }
}

/// Heals a fault and waits until the cluster answers a produce probe again.
/// For the bounces this is the "at once" restart (their downtime is zero).
pub async fn heal(
    broker: &mut Broker,
    fault: &Fault,
    ready_timeout: Duration,
) -> Result<(), BrokerError> {
    let nodes = fault.nodes(broker);
    match fault.kind {
        FaultKind::None => Ok(()),
        FaultKind::CleanShutdown
        | FaultKind::HardShutdown
        | FaultKind::CleanBounce
        | FaultKind::HardBounce => broker.restart_nodes(&nodes, ready_timeout).await,
        FaultKind::Pause => {
            broker.resume_nodes(&nodes).await?;
            broker.wait_ready(ready_timeout).await
        }
        FaultKind::NetworkCut | FaultKind::Latency => {
            broker.set_network_for(&nodes, NetworkMode::Pass);
            broker.wait_ready(ready_timeout).await
        }
        FaultKind::Isolate => {
            broker.heal_links();
            broker.wait_ready(ready_timeout).await
        }
    }
}
