//! Faults: what happens to the broker mid-stream, and how it heals.
//!
//! Names follow Kafka's own system tests. Process faults act on the broker
//! (signals, container pause); network faults act on the chaos proxy between
//! the producer and the broker (see [`crate::infra::proxy`]), so the broker
//! keeps running and the harness's own clients still reach it directly.

use std::time::Duration;

use crate::broker::{Broker, BrokerError};
use crate::infra::proxy::NetworkMode;
use crate::spec::{ExperimentSpec, FaultKind};

/// A fault with its parameters, as a spec asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    /// `latency`: the delay added to each direction (zero for other kinds).
    pub latency: Duration,
}

impl Fault {
    pub fn new(kind: FaultKind) -> Self {
        Fault {
            kind,
            latency: Duration::ZERO,
        }
    }

    /// A `latency` fault of `delay` in each direction.
    pub fn latency(delay: Duration) -> Self {
        Fault {
            kind: FaultKind::Latency,
            latency: delay,
        }
    }

    /// The fault a (checked) spec asks for.
    pub fn of(spec: &ExperimentSpec) -> Self {
        Fault {
            kind: spec.fault,
            latency: spec.latency.unwrap_or_default(),
        }
    }
}

/// Begins a fault: the act itself — SIGTERM or SIGKILL delivered, the
/// broker frozen, the proxy switched. Returns as soon as it is done: the
/// fault is in force from here (the producer may go on), though a stopped
/// broker may still be on its way down ([`settle`]).
pub async fn begin(broker: &mut Broker, fault: Fault) -> Result<(), BrokerError> {
    match fault.kind {
        FaultKind::None => Ok(()),
        FaultKind::CleanShutdown | FaultKind::CleanBounce => broker.signal_stop().await,
        FaultKind::HardShutdown | FaultKind::HardBounce => broker.signal_kill().await,
        FaultKind::Pause => broker.pause().await,
        FaultKind::NetworkCut => {
            broker.set_network(NetworkMode::Cut);
            Ok(())
        }
        FaultKind::Latency => {
            broker.set_network(NetworkMode::Latency(fault.latency));
            Ok(())
        }
    }
}

/// After [`begin`]: waits until the fault has fully taken hold — the
/// broker's process or container has exited (with the stop's timeouts and
/// SIGKILL fallback). Returns whether the broker is now down or frozen
/// (`false` for network faults, which leave it running, and for a broker
/// that did not exit).
pub async fn settle(broker: &mut Broker, fault: Fault) -> Result<bool, BrokerError> {
    match fault.kind {
        FaultKind::None | FaultKind::NetworkCut | FaultKind::Latency => Ok(false),
        FaultKind::Pause => Ok(true),
        FaultKind::CleanShutdown
        | FaultKind::CleanBounce
        | FaultKind::HardShutdown
        | FaultKind::HardBounce => broker.await_exit().await,
    }
}

/// [`begin`] and [`settle`] in one: returns once the fault has fully taken
/// hold.
pub async fn inject(broker: &mut Broker, fault: Fault) -> Result<(), BrokerError> {
    begin(broker, fault).await?;
    settle(broker, fault).await.map(|_| ())
}

/// Heals a fault and waits until the broker answers a produce probe. For
/// the bounces this is the "at once" restart (their downtime is zero).
pub async fn heal(
    broker: &mut Broker,
    fault: Fault,
    ready_timeout: Duration,
) -> Result<(), BrokerError> {
    match fault.kind {
        FaultKind::None => Ok(()),
        FaultKind::CleanShutdown
        | FaultKind::HardShutdown
        | FaultKind::CleanBounce
        | FaultKind::HardBounce => broker.restart(ready_timeout).await,
        FaultKind::Pause => {
            broker.resume().await?;
            broker.wait_ready(ready_timeout).await
        }
        FaultKind::NetworkCut | FaultKind::Latency => {
            broker.set_network(NetworkMode::Pass);
            broker.wait_ready(ready_timeout).await
        }
    }
}
