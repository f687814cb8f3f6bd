//! Faults: what happens to the brokers mid-stream, and how it heals.
//!
//! Names follow Kafka's own system tests. Process faults act on the nodes a
//! fault aims at (signals, container pause; `power_loss` also cuts the power
//! of their storage once they are gone); network faults act on the
//! harness's proxies — between the producer and those nodes (`network_cut`,
//! `latency`), or between those nodes and the rest of the cluster
//! (`isolate`) — so the brokers keep running and the harness's own clients
//! still reach them directly.

use std::time::Duration;

use crate::broker::{Broker, BrokerError};
use crate::infra::proxy::NetworkMode;
use crate::model::powercut::NodePowerCut;
use crate::spec::{ExperimentSpec, FaultKind};

/// A fault with its parameters and the nodes it hits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    /// `latency`: the delay added to each direction (zero for other kinds).
    pub latency: Duration,
    /// The nodes it hits (empty: every node).
    pub nodes: Vec<i32>,
    /// `power_loss`: tear the last unsynced write of each node.
    pub torn_write: bool,
    /// `power_loss`: where the tear falls (with the node id).
    pub seed: u64,
}

impl Fault {
    /// A fault on every node.
    pub fn new(kind: FaultKind) -> Self {
        Fault {
            kind,
            latency: Duration::ZERO,
            nodes: Vec::new(),
            torn_write: false,
            seed: 0,
        }
    }

    /// A `latency` fault of `delay` in each direction, on every node.
    pub fn latency(delay: Duration) -> Self {
        Fault {
            latency: delay,
            ..Fault::new(FaultKind::Latency)
        }
    }

    /// The (first) fault a checked spec asks for, on every node.
    pub fn of(spec: &ExperimentSpec) -> Self {
        Fault {
            latency: spec.latency.unwrap_or_default(),
            torn_write: spec.faults.first().is_some_and(|f| f.torn_write),
            seed: spec.seed.unwrap_or_default(),
            ..Fault::new(spec.fault)
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
        FaultKind::HardShutdown | FaultKind::HardBounce | FaultKind::PowerLoss => {
            broker.signal_kill_nodes(&nodes).await
        }
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

/// How a fault took hold ([`settle`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settled {
    /// The nodes are down or frozen (`false` for network faults, which
    /// leave them running, and for a node that did not exit).
    pub down: bool,
    /// `power_loss`: what each node's power cut discarded.
    pub power_cut: Vec<NodePowerCut>,
}

/// After [`begin`]: waits until the fault has fully taken hold — the nodes'
/// processes or containers have exited (with the stop's timeouts and SIGKILL
/// fallback); for `power_loss`, their storage's power is then cut (every
/// write they did not fsync is dropped) and it is mounted afresh for the
/// restart. A `power_loss` whose node did not exit, or whose cut failed, is
/// an error: the fault did not happen as asked.
pub async fn settle(broker: &mut Broker, fault: &Fault) -> Result<Settled, BrokerError> {
    let nodes = fault.nodes(broker);
    let down = match fault.kind {
        FaultKind::None | FaultKind::NetworkCut | FaultKind::Latency | FaultKind::Isolate => false,
        FaultKind::Pause => true,
        FaultKind::CleanShutdown
        | FaultKind::CleanBounce
        | FaultKind::HardShutdown
        | FaultKind::HardBounce
        | FaultKind::PowerLoss => broker.await_exit_nodes(&nodes).await?,
    };
    let mut settled = Settled {
        down,
        power_cut: Vec::new(),
    };
    if fault.kind == FaultKind::PowerLoss {
        if !down {
            return Err(BrokerError::Admin(format!(
                "power_loss: node(s) {nodes:?} did not exit after SIGKILL; their power was not cut"
            )));
        }
        settled.power_cut = broker
            .power_cycle_nodes(&nodes, fault.torn_write, fault.seed)
            .await?;
    }
    Ok(settled)
}

/// [`begin`] and [`settle`] in one: returns once the fault has fully taken
/// hold.
pub async fn inject(broker: &mut Broker, fault: &Fault) -> Result<Settled, BrokerError> {
    begin(broker, fault).await?;
    settle(broker, fault).await
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
        | FaultKind::HardBounce
        | FaultKind::PowerLoss => broker.start_nodes(&nodes).await,
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
        | FaultKind::HardBounce
        | FaultKind::PowerLoss => broker.restart_nodes(&nodes, ready_timeout).await,
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
