//! Faults: what happens to the broker mid-stream, and how it heals.

use std::time::Duration;

use crate::broker::{Broker, BrokerError};
use crate::spec::FaultKind;

/// Injects a fault. Returns once it is in force (the broker process has
/// exited, or is frozen).
pub async fn inject(broker: &mut Broker, kind: FaultKind) -> Result<(), BrokerError> {
    match kind {
        FaultKind::None => Ok(()),
        FaultKind::CleanShutdown => broker.stop().await,
        FaultKind::HardShutdown => broker.kill().await,
        FaultKind::Pause => broker.pause().await,
    }
}

/// Heals a fault and waits until the broker answers a produce probe.
pub async fn heal(
    broker: &mut Broker,
    kind: FaultKind,
    ready_timeout: Duration,
) -> Result<(), BrokerError> {
    match kind {
        FaultKind::None => Ok(()),
        FaultKind::CleanShutdown | FaultKind::HardShutdown => broker.restart(ready_timeout).await,
        FaultKind::Pause => {
            broker.resume().await?;
            broker.wait_ready(ready_timeout).await
        }
    }
}
