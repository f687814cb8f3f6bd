//! What the runner tells its reporter.
//!
//! Like nextest's runner, the runner never prints: it emits [`Event`]s, and
//! a [`Reporter`] shows them (the console in `crate::cmd`, or [`Silent`]
//! for tests and library use). Experiments may run in parallel (`--jobs`):
//! events about one carry the `job` (0-based) it runs in, so a reporter can
//! keep one line or bar per job. One experiment reports its progress
//! ([`Progress`]) to a [`ProgressSink`]; the runner forwards it as
//! [`Event::Progress`].

use std::path::{Path, PathBuf};

use crate::broker::BrokerInfo;
use crate::model::plan::Plan;
use crate::model::powercut::NodePowerCut;
use crate::model::result::{ExperimentResult, RunTiming};
use crate::model::spread::ExperimentSpread;
use crate::spec::{ExperimentSpec, FaultKind};

/// What the runner tells its reporter.
#[derive(Debug)]
pub enum Event<'a> {
    /// Before anything starts.
    RunStarted {
        /// Experiment runs in all (specs × repetitions).
        total: usize,
        /// How many run at once.
        jobs: usize,
        /// Broker nodes the jobs may run at once (0: no limit).
        node_slots: usize,
        /// The run's seed, when a spec draws something without a seed of
        /// its own (`None` when nothing is drawn from it).
        seed: Option<u64>,
        /// The sum of the scenarios' own pauses and downtimes, in seconds.
        asked_s: f64,
    },
    BrokerStarting {
        job: usize,
        backend: String,
        /// How many nodes.
        brokers: usize,
    },
    BrokerReady {
        job: usize,
        info: &'a BrokerInfo,
        seconds: f64,
    },
    /// A job waits until another gives node slots back: `free` are free,
    /// and the smallest run left needs `needed`.
    WaitingForSlots {
        job: usize,
        free: usize,
        needed: usize,
    },
    RunFolder {
        path: &'a Path,
    },
    ExperimentStarted {
        job: usize,
        /// How many experiment runs started before this one.
        index: usize,
        total: usize,
        /// The spec as this repetition runs it (drawn values fixed).
        spec: &'a ExperimentSpec,
        /// 1-based, of `repetitions`.
        repetition: u32,
        repetitions: u32,
        plan: &'a Plan,
    },
    /// What a running experiment is doing.
    Progress {
        job: usize,
        progress: Progress,
    },
    ExperimentFinished {
        job: usize,
        result: &'a ExperimentResult,
        files: &'a [PathBuf],
    },
    ExperimentFailed {
        /// `None` when it failed before a job took it.
        job: Option<usize>,
        /// The experiment, with its repetition when repeated (`sync r2`).
        name: &'a str,
        error: &'a str,
    },
    RunFinished {
        folder: &'a Path,
        /// Every finished experiment run, in spec order, repetitions in order.
        results: &'a [ExperimentResult],
        /// Each experiment over its repetitions.
        spreads: &'a [ExperimentSpread],
        failed: &'a [(String, String)],
        timing: &'a RunTiming,
    },
}

/// The progress of one experiment.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// A phase began: `producing`, `reading back`, `writing reports`.
    Phase(&'static str),
    RecordSent {
        sent: u64,
        total: u64,
    },
    /// A fault is in force (its injection completed).
    FaultInjected {
        kind: FaultKind,
        /// The trigger point (`fault_after`, as planned).
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
}

/// Consumes the runner's events.
pub trait Reporter: Send {
    fn event(&mut self, event: Event<'_>);
}

/// Where one experiment reports its progress.
pub trait ProgressSink: Send {
    fn progress(&mut self, progress: Progress);
}

/// A reporter that ignores everything (for tests and library use).
pub struct Silent;

impl Reporter for Silent {
    fn event(&mut self, _: Event<'_>) {}
}

impl ProgressSink for Silent {
    fn progress(&mut self, _: Progress) {}
}
