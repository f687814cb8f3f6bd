//! Stage 4: the application under test, producing the experiment's records.
//!
//! [`produce`] runs the spec's mode until the application ends and hands back
//! the [`Ledger`] of what it was told: the built-in rdkafka modes ([`modes`]:
//! fire-and-forget, sync, async, idempotent, transactional) or a program of
//! the spec's own that speaks the line protocol of
//! `docs/external-producers.md` ([`external`]). Both take a [`ProduceJob`]
//! and report each record sent to a [`SendObserver`] (the runner's progress)
//! and to the job's [`FaultGate`] ([`gate`]), where the producer hands off
//! to the fault side at the spec's trigger point and waits until the fault
//! is in force. [`payload`] is what every record carries.
//!
//! [`produce`]: crate::produce::produce
//! [`Ledger`]: crate::model::ledger::Ledger
//! [`modes`]: crate::produce::modes
//! [`external`]: crate::produce::external
//! [`ProduceJob`]: crate::produce::ProduceJob
//! [`SendObserver`]: crate::produce::SendObserver
//! [`FaultGate`]: crate::produce::gate::FaultGate
//! [`gate`]: crate::produce::gate
//! [`payload`]: crate::produce::payload

pub mod client;
pub mod external;
pub mod gate;
pub mod job;
pub mod modes;
pub mod payload;
pub mod reports;

use crate::spec::Mode;

pub use gate::{FaultGate, FaultSide, HandOffRequest, Progress};
pub use job::{ExternalError, ModeError, ProduceJob, Produced, SendObserver};

/// Runs the producer in the spec's mode until the application ends.
pub async fn produce(
    job: ProduceJob<'_>,
    observer: &mut dyn SendObserver,
) -> Result<Produced, ModeError> {
    if job.spec.mode == Mode::External {
        return Ok(external::produce(&job, observer).await?);
    }
    modes::produce(job, observer).await
}
