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

/// Injects a fault. Returns once it is in force (the broker process has
/// exited, or is frozen, or the network has changed).
pub async fn inject(broker: &mut Broker, fault: Fault) -> Result<(), BrokerError> {
    match fault.kind {
        FaultKind::None => Ok(()),
        FaultKind::CleanShutdown | FaultKind::CleanBounce => broker.stop().await,
        FaultKind::HardShutdown | FaultKind::HardBounce => broker.kill().await,
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
