//! The fault side of an experiment: waits at the fault gate for the
//! producer to reach each trigger point, injects the fault (its `begin`),
//! lets the producer go on, then waits until the fault has taken hold (its
//! `settle`), keeps the broker down for the downtime and heals it.

use std::time::Instant;

use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::oneshot;

use super::events::Event;
use crate::broker::{Broker, BrokerError};
use crate::chaos::fault::{self, Fault};
use crate::model::result::FaultWindow;
use crate::produce::FaultSide;
use crate::spec::{ExperimentSpec, FaultKind, Heal};

/// One fault of an experiment: what, after how many records, healed when.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultStep {
    pub kind: FaultKind,
    pub fault: Fault,
    /// Injected when this many records have been handed to the client.
    pub after: u64,
    pub heal: Heal,
}

impl FaultStep {
    /// The faults a spec asks for, in order (today none or one).
    pub fn of(spec: &ExperimentSpec) -> Vec<FaultStep> {
        if spec.fault == FaultKind::None {
            return Vec::new();
        }
        vec![FaultStep {
            kind: spec.fault,
            fault: Fault::of(spec),
            after: spec.fault_after,
            heal: spec.heal,
        }]
    }
}

/// What the fault side did, per step.
#[derive(Debug)]
pub struct FaultsDone {
    /// The window of each step whose injection completed.
    pub windows: Vec<Option<FaultWindow>>,
    /// Why a step's injection failed.
    pub errors: Vec<Option<String>>,
    /// From the heals until the broker answered, summed.
    pub recovery: f64,
    /// Whether the broker was brought back (an error stops the experiment).
    pub healed: Result<(), BrokerError>,
}

/// Runs the fault side until every step was healed, or the producer ended
/// before reaching the next one. `ended` fires when the producer has ended
/// (for `downtime = "until-producer-ends"`); events go to `notes`.
pub async fn run_faults(
    broker: &mut Broker,
    steps: &[FaultStep],
    mut side: FaultSide,
    ended: oneshot::Receiver<()>,
    origin: Instant,
    ready_timeout: std::time::Duration,
    notes: UnboundedSender<Event<'static>>,
) -> FaultsDone {
    let mut done = FaultsDone {
        windows: vec![None; steps.len()],
        errors: vec![None; steps.len()],
        recovery: 0.0,
        healed: Ok(()),
    };
    let mut ended = Some(ended);
    let since = |t: Instant| t.duration_since(origin).as_secs_f64();
    for (i, step) in steps.iter().enumerate() {
        // The producer stands at the trigger point (or has ended).
        let Some(request) = side.next().await else {
            break;
        };
        if let Err(e) = fault::begin(broker, step.fault).await {
            tracing::warn!("injecting {} failed: {e}", step.kind);
            done.errors[i] = Some(e.to_string());
            // Dropping the request lets the producer go on at once.
            drop(request);
            break;
        }
        let injected_at = since(Instant::now());
        let sent = side.progress().sent();
        let acked = side.progress().acked();
        // In force: the producer goes on while the fault takes hold.
        request.in_force();
        let _ = notes.send(Event::FaultInjected {
            kind: step.kind,
            after: step.after,
            sent,
            at: injected_at,
        });
        let settled_at = match fault::settle(broker, step.fault).await {
            Ok(true) => Some(since(Instant::now())),
            Ok(false) => None,
            Err(e) => {
                tracing::warn!("waiting for {} to take hold: {e}", step.kind);
                None
            }
        };
        let mut window = FaultWindow {
            kind: step.kind.to_string(),
            start: injected_at,
            end: None,
            after_records: step.after,
            injected_at,
            settled_at,
            sent_at_injection: sent,
            acked_at_injection: acked,
        };
        match step.heal {
            Heal::After(d) => tokio::time::sleep(d).await,
            Heal::WhenProducerEnds => {
                if let Some(rx) = ended.take() {
                    let _ = rx.await;
                }
            }
        }
        let heal_start = Instant::now();
        let healed = fault::heal(broker, step.fault, ready_timeout).await;
        done.recovery += heal_start.elapsed().as_secs_f64();
        if healed.is_ok() {
            let end = since(Instant::now());
            window.end = Some(end);
            let _ = notes.send(Event::FaultHealed {
                kind: step.kind,
                at: end,
            });
        }
        done.windows[i] = Some(window);
        if healed.is_err() {
            done.healed = healed;
            break;
        }
    }
    done
}
