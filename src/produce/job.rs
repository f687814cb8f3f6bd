//! What a producer is given and what it hands back: the types both the
//! built-in rdkafka modes and external producers use, and the errors that
//! stop them ([`ModeError`], which wraps an external producer's
//! [`ExternalError`]). They live here, not beside either kind of producer,
//! so that neither imports the other.

use std::path::PathBuf;
use std::time::Instant;

use super::gate::FaultGate;
use crate::model::ledger::Ledger;
use crate::spec::ExperimentSpec;

/// Where and how to produce.
pub struct ProduceJob<'a> {
    pub spec: &'a ExperimentSpec,
    pub bootstrap: &'a str,
    pub topic: &'a str,
    /// The experiment's time origin.
    pub origin: Instant,
    /// Where the producer hands off to the fault side (and keeps its
    /// counters); [`FaultGate::open`] without a fault.
    pub gate: &'a FaultGate,
}

/// What the produce phase hands back.
#[derive(Debug)]
pub struct Produced {
    pub ledger: Ledger,
    /// Seconds since the origin when the first record was sent.
    pub first_send: f64,
    /// Seconds since the origin when the last record was sent.
    pub last_send: f64,
    /// Seconds since the origin when the application ended (after its flush,
    /// if it flushes).
    pub ended: f64,
    /// Delivery reports that arrived after the application stopped waiting
    /// for them (sync mode's late results). Not part of the ledger.
    pub late_reports: u64,
    /// What the result should say about the producer itself (an external
    /// producer's exit status, protocol problems).
    pub notes: Vec<String>,
}

/// Called after each record is handed to the client, with the count sent.
pub trait SendObserver: Send {
    fn sent(&mut self, count: u64, at: f64);
}

impl<F: FnMut(u64, f64) + Send> SendObserver for F {
    fn sent(&mut self, count: u64, at: f64) {
        self(count, at)
    }
}

/// Errors that stop a producer before it could run.
#[derive(Debug, thiserror::Error)]
pub enum ModeError {
    #[error("cannot create the producer: {0}")]
    Create(String),
    #[error("producer task failed: {0}")]
    Task(String),
    #[error(transparent)]
    External(#[from] ExternalError),
}

/// Why an external producer could not run.
#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    #[error("the spec has no [external] table")]
    NoCommand,
    #[error("cannot start `{program}`: {source}{hint}")]
    Start {
        program: String,
        hint: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create the run directory for the producer's log: {0}")]
    RunDir(std::io::Error),
    #[error("cannot create the producer's log file {path}: {source}")]
    Log {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot watch the producer: {0}")]
    Watch(std::io::Error),
}
