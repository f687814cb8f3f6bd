//! The files of `kafka-chaos compare`: `compare-<old run id>.csv` (here),
//! `.png` ([`chart::compare`](super::chart::compare)) and `.html`
//! ([`html::compare`](super::html::compare)), written into the new run's
//! folder: the comparison belongs to the new run.

use serde::Serialize;

use std::path::{Component, Path, PathBuf};

use super::chart::compare::chart_png;
use super::html::compare::{compare_page, CompareLinks};
use super::{names, safe_file_stem, write_atomic, ReportError};
use crate::compare::CompareOutcome;
use crate::model::spread::{fmt_median, CountSpread};

/// `3`, `-20`, `2.5` (no plus sign: a CSV number).
fn fmt_median_signed(d: f64) -> String {
    if d < 0.0 {
        format!("-{}", fmt_median(-d))
    } else {
        fmt_median(d)
    }
}

/// The stem of the files written: `compare-<old run id>`.
pub fn file_stem(outcome: &CompareOutcome) -> String {
    format!("compare-{}", safe_file_stem(&outcome.old.run_id, "old"))
}

/// Writes the CSV, the PNG and the page into the new run's folder
/// (atomically) and records their paths in `outcome.written`.
pub fn write_reports(outcome: &mut CompareOutcome) -> Result<(), ReportError> {
    let stem = file_stem(outcome);
    let dir = outcome.new.folder.clone();
    let csv_name = format!("{stem}.csv");
    let png_name = format!("{stem}.png");
    let chart = chart_png(outcome)?;
    let csv = write_atomic(&dir, &csv_name, &csv_bytes(outcome)?)?;
    let png = write_atomic(&dir, &png_name, &chart)?;
    let report_of = |folder: &Path| {
        folder
            .join(names::REPORT_HTML)
            .is_file()
            .then(|| relative_link(&dir, &folder.join(names::REPORT_HTML)))
            .flatten()
    };
    let links = CompareLinks {
        csv: csv_name,
        chart: png_name,
        new_report: report_of(&outcome.new.folder),
        old_report: report_of(&outcome.old.folder),
    };
    let page = compare_page(outcome, &chart, &links);
    let html = write_atomic(&dir, &format!("{stem}.html"), page.as_bytes())?;
    outcome.written = vec![csv, png, html];
    Ok(())
}

/// A relative link from a page in `from_dir` to `target` (`../old/report.html`),
/// when both paths resolve; `/`-separated, as a URL wants.
fn relative_link(from_dir: &Path, target: &Path) -> Option<String> {
    let from = std::path::absolute(from_dir).ok()?;
    let to = std::path::absolute(target).ok()?;
    let parts = |p: &Path| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in p.components() {
            match c {
                Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
                Component::ParentDir => {
                    out.pop();
                }
                _ => {}
            }
        }
        out
    };
    let (from, to) = (parts(&from), parts(&to));
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut link: Vec<String> = vec!["..".to_string(); from.len() - common];
    link.extend(to[common..].iter().cloned());
    let link: PathBuf = link.iter().collect();
    Some(link.to_string_lossy().replace('\\', "/"))
}

/// One line of `compare-<old>.csv`: one count of one experiment. An
/// experiment found in one run only has empty cells for the other. `old`
/// and `new` are the value (over repetitions, the median); `diff` how far
/// the new one lies beyond the old run's range (single runs: new − old);
/// then each side's range and number of repetitions.
#[derive(Debug, Serialize)]
struct CsvRow<'a> {
    experiment: &'a str,
    count: &'a str,
    old: Option<String>,
    new: Option<String>,
    diff: Option<String>,
    violated: bool,
    old_min: Option<u64>,
    old_max: Option<u64>,
    old_runs: Option<u32>,
    new_min: Option<u64>,
    new_max: Option<u64>,
    new_runs: Option<u32>,
}

/// `compare-<old>.csv`: every count of every experiment.
pub fn csv_bytes(outcome: &CompareOutcome) -> Result<Vec<u8>, ReportError> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let median = |s: Option<CountSpread>| s.map(|s| fmt_median(s.median));
    for e in &outcome.experiments {
        let whole = e.violations.iter().any(|v| v.count.is_none());
        for r in &e.rows {
            w.serialize(CsvRow {
                experiment: &e.name,
                count: r.count,
                old: median(r.old),
                new: median(r.new),
                diff: r.beyond().map(fmt_median_signed),
                violated: whole || e.violations_of(r.count).next().is_some(),
                old_min: r.old.map(|s| s.min),
                old_max: r.old.map(|s| s.max),
                old_runs: r.old.map(|s| s.of),
                new_min: r.new.map(|s| s.min),
                new_max: r.new.map(|s| s.max),
                new_runs: r.new.map(|s| s.of),
            })?;
        }
    }
    w.into_inner()
        .map_err(|e| ReportError::Csv(e.into_error().into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_between_run_folders_are_relative() {
        let link = |a: &str, b: &str| relative_link(Path::new(a), Path::new(b));
        assert_eq!(
            link("/r/results/new", "/r/results/old/report.html").as_deref(),
            Some("../old/report.html")
        );
        assert_eq!(
            link("/r/results/new", "/r/results/new/report.html").as_deref(),
            Some("report.html")
        );
        assert_eq!(
            link("/r/results/./new", "/elsewhere/old/report.html").as_deref(),
            Some("../../../elsewhere/old/report.html")
        );
    }
}
