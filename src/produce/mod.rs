//! Stage 4: the application under test, producing the experiment's records.
//!
//! [`produce`] runs the spec's mode until the application ends and hands back
//! the [`Ledger`] of what it was told: the built-in rdkafka modes ([`modes`]:
//! fire-and-forget, sync, async, idempotent, transactional) or a program of
//! the spec's own that speaks the line protocol of
//! `docs/external-producers.md` ([`external`]). Both take a [`ProduceJob`]
//! and report each record sent to a [`SendObserver`] (the runner injects the
//! fault from there). [`payload`] is what every record carries.
//!
//! [`produce`]: crate::produce::produce
//! [`Ledger`]: crate::model::ledger::Ledger
//! [`modes`]: crate::produce::modes
//! [`external`]: crate::produce::external
//! [`ProduceJob`]: crate::produce::ProduceJob
//! [`SendObserver`]: crate::produce::SendObserver
//! [`payload`]: crate::produce::payload

pub mod external;
pub mod job;
pub mod modes;
pub mod payload;

use crate::spec::Mode;

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
