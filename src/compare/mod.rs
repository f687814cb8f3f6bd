//! Run against run: the verdict counts of two runs side by side, the
//! differences flagged, thresholds turned into violations.
//!
//! Experiments are matched by name; the repetitions of an experiment
//! (`--repeat`) are compared by their spread (the rule is in [`diff`]).
//! Thresholds given on the command line
//! (`--max-increase lost=0`, `--max-decrease ok=10`, `--fail-on-change`) turn
//! differences into violations (exit code 1, decided by
//! `crate::cmd::compare`). Without a threshold the comparison is a report
//! only.
//!
//! [`load`] reads a run's `summary.json` (the only I/O here), [`diff`]
//! compares two runs (pure), [`thresholds`] parses the limits and [`table`]
//! renders the outcome as text. The comparison's CSV and chart are written by
//! the report stage (`crate::report::compare`), into the new run's folder.
//!
//! [`load`]: crate::compare::load
//! [`diff`]: crate::compare::diff
//! [`thresholds`]: crate::compare::thresholds
//! [`table`]: crate::compare::table

pub mod diff;
pub mod load;
pub mod table;
pub mod thresholds;

use std::io;
use std::path::PathBuf;

pub use diff::{
    compact, compare, CompareOutcome, CountDiff, ExperimentDiff, Presence, Rule, Violation,
    CHART_COUNTS, TABLE_COUNTS,
};
pub use load::{load_summary, ExperimentCounts, RunRef, RunSummary};
pub use table::render_table;
pub use thresholds::{parse_threshold, Threshold, Thresholds};

/// What stops a comparison (exit code 2): a bad threshold, or a run that
/// cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("invalid threshold `{arg}`: {reason}")]
    Threshold { arg: String, reason: String },
    #[error("{}: no summary.json there (expected a run folder under results/, or a summary.json)", path.display())]
    NoSummary { path: PathBuf },
    #[error("cannot read {}: {error}", path.display())]
    Read { path: PathBuf, error: io::Error },
    #[error("{} is not a kafka-chaos summary.json: {error}", path.display())]
    Parse {
        path: PathBuf,
        error: serde_json::Error,
    },
}
