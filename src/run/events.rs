//! What the runner tells its reporter.
//!
//! Like nextest's runner, the runner never prints: it emits [`Event`]s, and
//! a [`Reporter`] shows them (the console in `crate::cmd`, or [`Silent`]
//! for tests and library use).

use std::path::{Path, PathBuf};

use crate::broker::BrokerInfo;
use crate::model::powercut::NodePowerCut;
use crate::model::result::ExperimentResult;
use crate::spec::{ExperimentSpec, FaultKind};

/// What the runner tells its reporter.
#[derive(Debug)]
pub enum Event<'a> {
    BrokerStarting {
        backend: String,
        /// How many nodes.
        brokers: usize,
    },
    BrokerReady {
        info: &'a BrokerInfo,
        seconds: f64,
    },
    RunFolder {
        path: &'a Path,
    },
    ExperimentStarted {
        index: usize,
        total: usize,
        spec: &'a ExperimentSpec,
    },
    RecordSent {
        sent: u64,
        total: u64,
    },
    /// A fault is in force (its injection completed).
    FaultInjected {
        kind: FaultKind,
        /// The spec's `fault_after`.
        after: u64,
        /// Records handed to the client when it was in force.
        sent: u64,
        at: f64,
    },
    FaultHealed {
        kind: FaultKind,
        at: f64,
    },
    /// `power_loss`: a node's storage lost its power, and what it discarded.
    PowerCut {
        at: f64,
        cut: NodePowerCut,
    },
    Phase {
        name: &'static str,
    },
    ExperimentFinished {
        result: &'a ExperimentResult,
        files: &'a [PathBuf],
    },
    ExperimentFailed {
        name: &'a str,
        error: &'a str,
    },
    RunFinished {
        folder: &'a Path,
        results: &'a [ExperimentResult],
        failed: &'a [(String, String)],
    },
}

/// Consumes the runner's events.
pub trait Reporter: Send {
    fn event(&mut self, event: Event<'_>);
}

/// A reporter that ignores everything (for tests and library use).
pub struct Silent;

impl Reporter for Silent {
    fn event(&mut self, _: Event<'_>) {}
}
