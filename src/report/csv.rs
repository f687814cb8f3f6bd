//! CSV exporters: one summary row per experiment, one row per record.
//!
//! Rows are `#[derive(Serialize)]` structs (as in criterion's CSV report);
//! `None` becomes an empty cell, for values that do not apply.

use serde::Serialize;

use super::{join_records, ReportError};
use crate::model::ledger::Outcome;
use crate::model::result::ExperimentResult;
use crate::model::spread::{spreads, ExperimentSpread};
use crate::model::verdict::VerdictCounts;

/// One line of `summary.csv`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryRow<'a> {
    pub name: &'a str,
    pub mode: &'a str,
    pub fault: &'a str,
    pub sent: u64,
    pub acked: u64,
    pub failed: u64,
    pub unreported: u64,
    pub persisted: u64,
    pub missing: u64,
    pub ok: u64,
    pub lost: u64,
    pub recovered: u64,
    pub reported_loss: u64,
    pub unreported_ok: u64,
    pub silent_loss: u64,
    pub duplicated: u64,
    pub duplicates: u64,
    pub unexpected: u64,
    pub reordered: u64,
    pub aborted: u64,
    pub throughput_per_s: Option<f64>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub latency_max_ms: Option<f64>,
    pub broker_start_s: Option<f64>,
    pub produce_s: Option<f64>,
    pub outage_s: Option<f64>,
    pub recovery_s: Option<f64>,
    pub verification_s: Option<f64>,
    pub reporting_s: Option<f64>,
    pub wall_s: Option<f64>,
    pub asked_s: Option<f64>,
    pub overhead_s: Option<f64>,
    pub settle_wait_s: Option<f64>,
    /// The experiment did what its spec asks (see `not_verified_reason`).
    pub verified: bool,
    /// Why not, `; `-separated; empty when verified.
    pub not_verified_reason: String,
    /// Which repetition of the experiment this row is (1-based).
    pub repetition: u32,
    /// How many the run asked for.
    pub repetitions: u32,
    /// The seed of the repetition's plan.
    pub seed: Option<u64>,
    /// The values drawn for it (`fault_after=87 downtime=12.3s`); empty
    /// when the spec fixes every value.
    pub plan: String,
}

impl<'a> SummaryRow<'a> {
    pub fn new(r: &'a ExperimentResult) -> Self {
        let c = &r.verification.counts;
        let lat = |v: f64| {
            if r.latency.count > 0 {
                round(v, 3)
            } else {
                None
            }
        };
        let p = &r.phases;
        SummaryRow {
            name: &r.name,
            mode: &r.mode,
            fault: &r.fault,
            sent: c.sent,
            acked: c.acked,
            failed: c.failed,
            unreported: c.unreported,
            persisted: c.persisted,
            missing: c.missing,
            ok: c.ok,
            lost: c.lost,
            recovered: c.recovered,
            reported_loss: c.reported_loss,
            unreported_ok: c.unreported_ok,
            silent_loss: c.silent_loss,
            duplicated: c.duplicated,
            duplicates: c.duplicates,
            unexpected: c.unexpected,
            reordered: c.reordered,
            aborted: c.aborted,
            throughput_per_s: round(r.throughput, 3),
            latency_p50_ms: lat(r.latency.p50_ms),
            latency_p95_ms: lat(r.latency.p95_ms),
            latency_p99_ms: lat(r.latency.p99_ms),
            latency_max_ms: lat(r.latency.max_ms),
            broker_start_s: round(p.broker_start, 3),
            produce_s: round(p.produce, 3),
            outage_s: round(p.outage, 3),
            recovery_s: round(p.recovery, 3),
            verification_s: round(p.verification, 3),
            reporting_s: round(p.reporting, 3),
            wall_s: round(p.wall, 3),
            asked_s: round(p.asked, 3),
            overhead_s: round(p.overhead(), 3),
            settle_wait_s: round(p.settle_wait, 3),
            verified: r.verified(),
            not_verified_reason: r.not_verified_reason(),
            repetition: r.repetition,
            repetitions: r.repetitions,
            seed: r.plan.as_ref().map(|p| p.seed),
            plan: r
                .plan
                .as_ref()
                .map(|p| p.drawn_values())
                .unwrap_or_default(),
        }
    }
}

/// The suffixes of the spread columns: for each count `C` of
/// [`VerdictCounts::NAMES`], `C_min`, `C_median`, `C_max` over the
/// experiment's repetitions and `C_in`, the repetitions in which it was
/// above zero.
pub const SPREAD_SUFFIXES: [&str; 4] = ["min", "median", "max", "in"];

/// The spread columns' names, in order.
pub fn spread_header() -> Vec<String> {
    VerdictCounts::NAMES
        .iter()
        .flat_map(|c| SPREAD_SUFFIXES.iter().map(move |s| format!("{c}_{s}")))
        .collect()
}

/// The spread cells of an experiment (empty cells when unknown).
fn spread_cells(spread: Option<&ExperimentSpread>) -> Vec<String> {
    VerdictCounts::NAMES
        .iter()
        .flat_map(|c| match spread.and_then(|s| s.count(c)) {
            Some(x) => vec![
                x.min.to_string(),
                crate::model::spread::fmt_median(x.median),
                x.max.to_string(),
                x.nonzero_in.to_string(),
            ],
            None => vec![String::new(); SPREAD_SUFFIXES.len()],
        })
        .collect()
}

/// One line of `<name>.records.csv`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordRow<'a> {
    pub seq: u64,
    /// Seconds since the time origin when `send` was called.
    pub sent_at_s: Option<f64>,
    /// `acked`, `failed` or `unreported`.
    pub told: &'static str,
    pub reported_at_s: Option<f64>,
    pub latency_ms: Option<f64>,
    pub partition: Option<i32>,
    pub offset: Option<i64>,
    pub error: Option<&'a str>,
    pub persistence: Option<&'static str>,
    /// Copies found in the topic.
    pub found: Option<u32>,
    pub verdict: Option<&'static str>,
    pub reordered: Option<bool>,
}

/// `summary.csv`: a header and one row per experiment run (just the header
/// when there are none). With `--repeat`, one row per repetition: the
/// columns up to `not_verified_reason` mean what they mean for a single
/// run (that repetition's counts); after them come the repetition, its
/// seed and drawn values, and the experiment's spread over all its
/// repetitions ([`spread_header`]), the same on each of its rows.
pub fn summary_csv(results: &[ExperimentResult]) -> Result<Vec<u8>, ReportError> {
    let spreads = spreads(results);
    let mut header: Vec<String> = SUMMARY_HEADER.iter().map(|h| h.to_string()).collect();
    header.extend(spread_header());
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    w.write_record(&header)?;
    for r in results {
        let mut record = row_record(&SummaryRow::new(r))?;
        let spread = spreads.iter().find(|s| s.name == r.name);
        for cell in spread_cells(spread) {
            record.push_field(&cell);
        }
        w.write_record(&record)?;
    }
    w.into_inner()
        .map_err(|e| ReportError::Csv(csv::Error::from(e.into_error())))
}

/// One row as CSV fields, written exactly as `serialize` writes them.
fn row_record<T: Serialize>(row: &T) -> Result<csv::StringRecord, ReportError> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    w.serialize(row)?;
    let bytes = w
        .into_inner()
        .map_err(|e| ReportError::Csv(csv::Error::from(e.into_error())))?;
    let mut rd = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes.as_slice());
    match rd.records().next() {
        Some(r) => Ok(r?),
        None => Ok(csv::StringRecord::new()),
    }
}

/// `<name>.records.csv`: a header and one row per ledger record, in sequence
/// order.
pub fn records_csv(result: &ExperimentResult) -> Result<Vec<u8>, ReportError> {
    let rows: Vec<RecordRow<'_>> = join_records(result)
        .into_iter()
        .map(|(e, v)| {
            let (partition, offset, error, persistence) = match &e.outcome {
                Outcome::Acked {
                    partition, offset, ..
                } => (Some(*partition), Some(*offset), None, None),
                Outcome::Failed {
                    error, persistence, ..
                } => (None, None, Some(error.as_str()), Some(persistence.as_str())),
                Outcome::Unreported => (None, None, None, None),
            };
            RecordRow {
                seq: e.seq,
                sent_at_s: round(e.sent_at, 6),
                told: e.outcome.told().as_str(),
                reported_at_s: e.outcome.reported_at().and_then(|t| round(t, 6)),
                latency_ms: e.latency().and_then(|l| round(l * 1000.0, 3)),
                partition,
                offset,
                error,
                persistence,
                found: v.map(|v| v.found),
                verdict: v.map(|v| v.verdict.as_str()),
                reordered: v.map(|v| v.reordered),
            }
        })
        .collect();
    write_rows::<RecordRow<'_>>(&rows, RECORDS_HEADER)
}

/// Column names of `summary.csv` (written even when there are no rows).
pub const SUMMARY_HEADER: &[&str] = &[
    "name",
    "mode",
    "fault",
    "sent",
    "acked",
    "failed",
    "unreported",
    "persisted",
    "missing",
    "ok",
    "lost",
    "recovered",
    "reported_loss",
    "unreported_ok",
    "silent_loss",
    "duplicated",
    "duplicates",
    "unexpected",
    "reordered",
    "aborted",
    "throughput_per_s",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "latency_max_ms",
    "broker_start_s",
    "produce_s",
    "outage_s",
    "recovery_s",
    "verification_s",
    "reporting_s",
    "wall_s",
    "asked_s",
    "overhead_s",
    "settle_wait_s",
    "verified",
    "not_verified_reason",
    "repetition",
    "repetitions",
    "seed",
    "plan",
];

/// Column names of `<name>.records.csv` (written even when there are no rows).
pub const RECORDS_HEADER: &[&str] = &[
    "seq",
    "sent_at_s",
    "told",
    "reported_at_s",
    "latency_ms",
    "partition",
    "offset",
    "error",
    "persistence",
    "found",
    "verdict",
    "reordered",
];

fn write_rows<T: Serialize>(rows: &[T], header: &[&str]) -> Result<Vec<u8>, ReportError> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    w.write_record(header)?;
    for row in rows {
        w.serialize(row)?;
    }
    w.into_inner()
        .map_err(|e| ReportError::Csv(csv::Error::from(e.into_error())))
}

/// Rounds to `digits` decimals; non-finite values become an empty cell.
fn round(v: f64, digits: i32) -> Option<f64> {
    if !v.is_finite() {
        return None;
    }
    let f = 10f64.powi(digits);
    Some((v * f).round() / f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample_result;

    #[test]
    fn summary_header_and_row() {
        let r = sample_result();
        let bytes = summary_csv(std::slice::from_ref(&r)).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let mut lines = text.lines();
        let header = lines.next().unwrap();
        assert!(header.starts_with(&SUMMARY_HEADER.join(",")), "{header}");
        assert!(header.ends_with(",aborted_min,aborted_median,aborted_max,aborted_in"));
        let row = lines.next().unwrap();
        assert!(lines.next().is_none());
        let cells: Vec<&str> = row.split(',').collect();
        assert_eq!(cells.len(), SUMMARY_HEADER.len() + spread_header().len());
        let cell = |name: &str| cells[SUMMARY_HEADER.iter().position(|h| *h == name).unwrap()];
        assert_eq!(cell("name"), "sample");
        assert_eq!(cell("mode"), "async");
        assert_eq!(cell("sent"), "6");
        assert_eq!(cell("acked"), "2");
        assert_eq!(cell("lost"), "1");
        assert_eq!(cell("silent_loss"), "1");
        assert_eq!(cell("duplicates"), "1");
        assert_eq!(cell("latency_p50_ms"), "12.5");
        assert_eq!(cell("outage_s"), "2.5");
        assert_eq!(cell("verified"), "true");
        assert_eq!(cell("not_verified_reason"), "");
        // New columns come last: the earlier ones keep their positions.
        assert_eq!(
            &SUMMARY_HEADER[SUMMARY_HEADER.len() - 7..],
            [
                "settle_wait_s",
                "verified",
                "not_verified_reason",
                "repetition",
                "repetitions",
                "seed",
                "plan"
            ]
        );
        assert_eq!(SUMMARY_HEADER[33], "overhead_s");
        // A single run: repetition 1 of 1, its spread is its own counts.
        assert_eq!(cell("repetition"), "1");
        assert_eq!(cell("repetitions"), "1");
        let at = |name: &str| {
            SUMMARY_HEADER.len() + spread_header().iter().position(|h| h == name).unwrap()
        };
        assert_eq!(cells[at("lost_min")], "1");
        assert_eq!(cells[at("lost_median")], "1");
        assert_eq!(cells[at("lost_max")], "1");
        assert_eq!(cells[at("lost_in")], "1");
        assert_eq!(cells[at("recovered_in")], "1");
        assert_eq!(cells[at("reordered_in")], "0");
    }

    #[test]
    fn repetitions_have_a_row_each_and_share_their_spread() {
        let mut rows = Vec::new();
        for (rep, lost) in [(1u32, 0u64), (2, 4), (3, 1)] {
            let mut r = sample_result();
            r.repetition = rep;
            r.repetitions = 3;
            r.verification.counts.lost = lost;
            rows.push(r);
        }
        let text = String::from_utf8(summary_csv(&rows).unwrap()).unwrap();
        let mut rd = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
        let col = |name: &str| header.iter().position(|h| h == name).unwrap();
        let records: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
        assert_eq!(records.len(), 3);
        for (i, rec) in records.iter().enumerate() {
            assert_eq!(&rec[col("repetition")], (i + 1).to_string());
            assert_eq!(&rec[col("repetitions")], "3");
            assert_eq!(&rec[col("lost_min")], "0");
            assert_eq!(&rec[col("lost_median")], "1");
            assert_eq!(&rec[col("lost_max")], "4");
            assert_eq!(&rec[col("lost_in")], "2");
        }
        // The count columns keep their meaning: each repetition's own.
        assert_eq!(&records[1][col("lost")], "4");
    }

    #[test]
    fn a_not_verified_experiment_says_why() {
        let mut r = sample_result();
        r.integrity = vec![
            "fault hard_shutdown after record 3 never happened".into(),
            "incomplete: 2 of 6".into(),
        ];
        let text = String::from_utf8(summary_csv(std::slice::from_ref(&r)).unwrap()).unwrap();
        let mut rd = csv::Reader::from_reader(text.as_bytes());
        let row = rd.records().next().unwrap().unwrap();
        let cell =
            |name: &str| row[SUMMARY_HEADER.iter().position(|h| *h == name).unwrap()].to_string();
        assert_eq!(cell("verified"), "false");
        assert_eq!(
            cell("not_verified_reason"),
            "fault hard_shutdown after record 3 never happened; incomplete: 2 of 6"
        );
    }

    #[test]
    fn summary_of_nothing_is_a_header() {
        let text = String::from_utf8(summary_csv(&[]).unwrap()).unwrap();
        let mut header: Vec<String> = SUMMARY_HEADER.iter().map(|h| h.to_string()).collect();
        header.extend(spread_header());
        assert_eq!(text.trim_end(), header.join(","));
    }

    #[test]
    fn latency_cells_are_empty_without_latencies() {
        let mut r = sample_result();
        r.latency = Default::default();
        let text = String::from_utf8(summary_csv(std::slice::from_ref(&r)).unwrap()).unwrap();
        let row: Vec<String> = text
            .lines()
            .nth(1)
            .unwrap()
            .split(',')
            .map(String::from)
            .collect();
        let i = SUMMARY_HEADER
            .iter()
            .position(|h| *h == "latency_p99_ms")
            .unwrap();
        assert_eq!(row[i], "");
    }

    #[test]
    fn record_rows() {
        let r = sample_result();
        let text = String::from_utf8(records_csv(&r).unwrap()).unwrap();
        let mut rd = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(header, RECORDS_HEADER);
        let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), 6);
        // seq 0: acked and found
        assert_eq!(&rows[0][0], "0");
        assert_eq!(&rows[0][2], "acked");
        assert_eq!(&rows[0][5], "0"); // partition
        assert_eq!(&rows[0][7], ""); // no error
        assert_eq!(&rows[0][10], "ok");
        // seq 2: failed, possibly persisted, found twice
        assert_eq!(&rows[2][2], "failed");
        assert_eq!(&rows[2][5], ""); // no partition
        assert_eq!(&rows[2][7], "Message timed out");
        assert_eq!(&rows[2][8], "possibly_persisted");
        assert_eq!(&rows[2][9], "2");
        assert_eq!(&rows[2][10], "recovered");
        // seq 5: unreported, missing
        assert_eq!(&rows[5][3], ""); // never reported
        assert_eq!(&rows[5][4], "");
        assert_eq!(&rows[5][10], "silent_loss");
        assert_eq!(&rows[5][11], "false");
    }

    #[test]
    fn record_csv_of_nothing_is_a_header() {
        let mut r = sample_result();
        r.ledger = Default::default();
        r.verification = Default::default();
        let text = String::from_utf8(records_csv(&r).unwrap()).unwrap();
        assert_eq!(text.trim_end(), RECORDS_HEADER.join(","));
    }

    #[test]
    fn non_finite_numbers_are_empty_cells() {
        assert_eq!(round(f64::NAN, 3), None);
        assert_eq!(round(f64::INFINITY, 3), None);
        assert_eq!(round(0.1 + 0.2, 6), Some(0.3));
    }
}
