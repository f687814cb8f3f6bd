//! The files of `kafka-chaos compare`: `compare-<old run id>.csv` (here)
//! and `.png` ([`chart::compare`](super::chart::compare)), written into the
//! new run's folder: the comparison belongs to the new run.

use serde::Serialize;

use super::chart::compare::chart_png;
use super::{safe_file_stem, write_atomic, ReportError};
use crate::compare::CompareOutcome;

/// The stem of the files written: `compare-<old run id>`.
pub fn file_stem(outcome: &CompareOutcome) -> String {
    format!("compare-{}", safe_file_stem(&outcome.old.run_id, "old"))
}

/// Writes the CSV and the PNG into the new run's folder (atomically) and
/// records their paths in `outcome.written`.
pub fn write_reports(outcome: &mut CompareOutcome) -> Result<(), ReportError> {
    let stem = file_stem(outcome);
    let dir = outcome.new.folder.clone();
    let csv = write_atomic(&dir, &format!("{stem}.csv"), &csv_bytes(outcome)?)?;
    let png = write_atomic(&dir, &format!("{stem}.png"), &chart_png(outcome)?)?;
    outcome.written = vec![csv, png];
    Ok(())
}

/// One line of `compare-<old>.csv`: one count of one experiment. An
/// experiment found in one run only has empty cells for the other.
#[derive(Debug, Serialize)]
struct CsvRow<'a> {
    experiment: &'a str,
    count: &'a str,
    old: Option<u64>,
    new: Option<u64>,
    diff: Option<i128>,
    violated: bool,
}

/// `compare-<old>.csv`: every count of every experiment.
pub fn csv_bytes(outcome: &CompareOutcome) -> Result<Vec<u8>, ReportError> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    for e in &outcome.experiments {
        let whole = e.violations.iter().any(|v| v.count.is_none());
        for r in &e.rows {
            w.serialize(CsvRow {
                experiment: &e.name,
                count: r.count,
                old: r.old,
                new: r.new,
                diff: r.diff(),
                violated: whole || e.violations_of(r.count).next().is_some(),
            })?;
        }
    }
    w.into_inner()
        .map_err(|e| ReportError::Csv(e.into_error().into()))
}
