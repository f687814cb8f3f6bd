//! Stage 6: every file and every picture a run leaves on disk (and those of
//! `kafka-chaos compare`).
//!
//! As in hyperfine's exporters, every exporter here is a pure function that
//! returns bytes ([`csv`], [`json`], [`junit`], [`chart`]); one manager,
//! [`RunFolder`], writes them, atomically, into the run's own folder under
//! `results/`:
//!
//! ```text
//! results/<run_id>/            (or <run_id>-2, -3… : never overwritten)
//!   summary.csv                one row per finished experiment
//!   summary.json               run facts + per-experiment counts (for CI)
//!   metadata.json              run facts + client settings + fault windows
//!   comparison.png             what each mode delivered
//!   junit.xml                  a test case per experiment and expectation
//!   report.html                all of it on one self-contained page
//!   <name>.records.csv         one row per record
//!   <name>.timeline.png        every record by send time, coloured by verdict
//!   <name>.latency.png         send-to-report latency (when any was reported)
//!   spread.png                 with --repeat: each verdict's spread per experiment
//! ```
//!
//! With `--repeat`, each repetition keeps its own files, `<name>.r2.…`; a
//! single run's names stay as above.
//!
//! The summary files and the page ([`html`]) are rewritten after every
//! experiment, so the results of finished experiments survive a later
//! failure. [`load`] reads a run folder back, for `kafka-chaos report`,
//! which draws the charts and the page again.
//!
//! A comparison of two runs ([`compare`]) writes `compare-<old run id>.csv`,
//! `.png` and `.html` into the newer run's folder the same way.
//!
//! [`csv`]: crate::report::csv
//! [`json`]: crate::report::json
//! [`junit`]: crate::report::junit
//! [`chart`]: crate::report::chart
//! [`html`]: crate::report::html
//! [`load`]: crate::report::load
//! [`RunFolder`]: crate::report::RunFolder
//! [`compare`]: crate::report::compare

pub mod chart;
pub mod compare;
pub mod csv;
pub mod html;
pub mod json;
pub mod junit;
pub mod load;

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::model::ledger::LedgerEntry;
use crate::model::result::{ExperimentResult, RunMeta};
use crate::model::verdict::RecordVerdict;

pub use chart::Caption;

/// Everything that can go wrong while writing reports.
///
/// Each message is complete on its own (it includes the underlying error),
/// so `to_string()` is enough to report it.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {}: {error}", path.display())]
    Io { path: PathBuf, error: io::Error },
    #[error("cannot write CSV: {0}")]
    Csv(::csv::Error),
    #[error("cannot write JSON: {0}")]
    Json(serde_json::Error),
    #[error("cannot draw chart: {0}")]
    Chart(String),
}

impl ReportError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> ReportError {
        let path = path.into();
        move |error| ReportError::Io { path, error }
    }
}

impl From<::csv::Error> for ReportError {
    fn from(e: ::csv::Error) -> Self {
        ReportError::Csv(e)
    }
}

impl From<serde_json::Error> for ReportError {
    fn from(e: serde_json::Error) -> Self {
        ReportError::Json(e)
    }
}

/// File names inside a run folder (defined in the model, where the
/// comparison reads them too).
pub use crate::model::names;

/// The folder of one run, and the one place that writes report files.
#[derive(Debug)]
pub struct RunFolder {
    path: PathBuf,
    /// Footer line of every chart (run facts; a warning for the mock backend).
    caption: Mutex<Caption>,
}

impl RunFolder {
    /// Creates `results_root/<run_id>/` (and `results_root` if needed). If
    /// that folder exists, creates `<run_id>-2`, `-3`… instead: an earlier
    /// run is never overwritten, even by a concurrent one.
    ///
    /// `meta` also gives the footer of every chart (see [`Caption::for_run`]).
    pub fn create(
        results_root: impl AsRef<Path>,
        meta: &RunMeta,
    ) -> Result<RunFolder, ReportError> {
        let root = results_root.as_ref();
        fs::create_dir_all(root).map_err(ReportError::io(root))?;
        let base = safe_file_stem(&meta.run_id, "run");
        for n in 1u32..=10_000 {
            let name = if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            };
            let path = root.join(name);
            match fs::create_dir(&path) {
                Ok(()) => {
                    return Ok(RunFolder {
                        path,
                        caption: Mutex::new(Caption::for_run(meta)),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(ReportError::io(path)(e)),
            }
        }
        Err(ReportError::io(root.join(&base))(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "too many run folders with this name",
        )))
    }

    /// An existing run folder (to draw its charts and page again).
    pub fn open(path: impl Into<PathBuf>, meta: &RunMeta) -> RunFolder {
        RunFolder {
            path: path.into(),
            caption: Mutex::new(Caption::for_run(meta)),
        }
    }

    /// The run folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The per-record CSV and the charts of one experiment:
    /// `<name>.records.csv`, `<name>.timeline.png`, and `<name>.latency.png`
    /// when any latency was reported. Data is written before charts, so a
    /// chart failure leaves the CSV on disk. Returns the paths written.
    pub fn write_experiment(&self, result: &ExperimentResult) -> Result<Vec<PathBuf>, ReportError> {
        let stem = safe_file_stem(&result.file_stem(), "experiment");
        let mut written = vec![self.write_file(
            &format!("{stem}{}", names::RECORDS_CSV_SUFFIX),
            &csv::records_csv(result)?,
        )?];
        written.extend(self.write_charts(result)?);
        Ok(written)
    }

    /// The charts of one experiment: `<name>.timeline.png`, and
    /// `<name>.latency.png` when any latency was reported.
    pub fn write_charts(&self, result: &ExperimentResult) -> Result<Vec<PathBuf>, ReportError> {
        let stem = safe_file_stem(&result.file_stem(), "experiment");
        let caption = self.caption();
        let mut written = vec![self.write_file(
            &format!("{stem}{}", names::TIMELINE_PNG_SUFFIX),
            &chart::timeline_png(result, &caption)?,
        )?];
        if chart::has_latencies(result) {
            written.push(self.write_file(
                &format!("{stem}{}", names::LATENCY_PNG_SUFFIX),
                &chart::latency_png(result, &caption)?,
            )?);
        }
        Ok(written)
    }

    /// The run's summary over the experiments finished so far:
    /// `summary.csv`, `summary.json`, `metadata.json`, `junit.xml`,
    /// `comparison.png` and `report.html`. Call it again after every
    /// experiment: it rewrites them each time.
    /// Returns the paths written.
    pub fn write_summary(
        &self,
        meta: &RunMeta,
        results: &[ExperimentResult],
    ) -> Result<Vec<PathBuf>, ReportError> {
        let mut written = vec![
            self.write_file(names::SUMMARY_CSV, &csv::summary_csv(results)?)?,
            self.write_file(names::SUMMARY_JSON, &json::summary_json(meta, results)?)?,
            self.write_file(names::METADATA_JSON, &json::metadata_json(meta, results)?)?,
            self.write_file(names::JUNIT_XML, &junit::junit_xml(meta, results)?)?,
        ];
        written.extend(self.write_page(meta, results)?);
        Ok(written)
    }

    /// `comparison.png` and `report.html` over `results`: the page embeds
    /// the comparison and each experiment's charts found in the folder.
    /// Returns the paths written.
    pub fn write_page(
        &self,
        meta: &RunMeta,
        results: &[ExperimentResult],
    ) -> Result<Vec<PathBuf>, ReportError> {
        let caption = Caption::for_run(meta);
        self.set_caption(caption.clone());
        let comparison = chart::comparison_png(results, &caption)?;
        let png = self.write_file(names::COMPARISON_PNG, &comparison)?;
        let mut written = vec![png];
        let mut files = self.files_of(results);
        files
            .images
            .insert(names::COMPARISON_PNG.to_string(), comparison);
        if results.iter().any(|r| r.repetitions > 1) {
            let spread = chart::spread_png(results, &caption)?;
            written.push(self.write_file(names::SPREAD_PNG, &spread)?);
            files.images.insert(names::SPREAD_PNG.to_string(), spread);
        }
        let page = html::run_page(meta, results, &files);
        written.push(self.write_file(names::REPORT_HTML, page.as_bytes())?);
        Ok(written)
    }

    /// The experiments' charts (read back) and CSV files found in the
    /// folder, for the page.
    fn files_of(&self, results: &[ExperimentResult]) -> html::FolderFiles {
        let mut files = html::FolderFiles::default();
        for r in results {
            let stem = safe_file_stem(&r.file_stem(), "experiment");
            for suffix in [names::TIMELINE_PNG_SUFFIX, names::LATENCY_PNG_SUFFIX] {
                let name = format!("{stem}{suffix}");
                if let Ok(bytes) = fs::read(self.path.join(&name)) {
                    files.images.insert(name, bytes);
                }
            }
            let csv = format!("{stem}{}", names::RECORDS_CSV_SUFFIX);
            if self.path.join(&csv).is_file() {
                files.present.insert(csv);
            }
        }
        files
    }

    /// Writes `bytes` to `name` in the run folder atomically: a temporary
    /// file in the same folder, synced, then renamed over the target.
    pub fn write_file(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, ReportError> {
        write_atomic(&self.path, name, bytes)
    }

    fn caption(&self) -> Caption {
        match self.caption.lock() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set_caption(&self, caption: Caption) {
        match self.caption.lock() {
            Ok(mut c) => *c = caption,
            Err(poisoned) => *poisoned.into_inner() = caption,
        }
    }
}

/// Writes `dir/name` atomically: a temp file in the same folder, synced,
/// then renamed over the target. Returns the target's path.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, ReportError> {
    let target = dir.join(name);
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(ReportError::io(dir))?;
    tmp.write_all(bytes)
        .and_then(|()| readable_by_all(tmp.as_file()))
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(ReportError::io(tmp.path()))?;
    tmp.persist(&target)
        .map_err(|e| ReportError::io(&target)(e.error))?;
    Ok(target)
}

/// Reports are for reading, by a web server or a colleague too: `rw-r--r--`
/// like any file written with the usual umask (a temporary file starts
/// private).
#[cfg(unix)]
fn readable_by_all(f: &fs::File) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn readable_by_all(_: &fs::File) -> io::Result<()> {
    Ok(())
}

/// A name made safe as a file name: ASCII letters, digits, `-`, `_` and `.`
/// are kept, anything else becomes `_`; no leading dot; `fallback` if empty.
pub fn safe_file_stem(name: &str, fallback: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_start_matches('.');
    if s.is_empty() {
        fallback.to_string()
    } else {
        s.to_string()
    }
}

/// Each ledger entry with its verdict (by sequence number; `None` if the
/// verifier has none for it).
pub(crate) fn join_records(r: &ExperimentResult) -> Vec<(&LedgerEntry, Option<&RecordVerdict>)> {
    let entries = &r.ledger.entries;
    let verdicts = &r.verification.records;
    let aligned = entries.len() == verdicts.len()
        && entries.iter().zip(verdicts).all(|(e, v)| e.seq == v.seq);
    if aligned {
        return entries.iter().zip(verdicts.iter().map(Some)).collect();
    }
    let by_seq: HashMap<u64, &RecordVerdict> = verdicts.iter().map(|v| (v.seq, v)).collect();
    entries
        .iter()
        .map(|e| (e, by_seq.get(&e.seq).copied()))
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::ledger::{Ledger, Outcome, Persistence};
    use crate::model::result::{FaultWindow, LatencyStats, PhaseTimings};
    use crate::model::verdict::ConsumedRecord;
    use crate::verify::verifier::verify;

    pub(crate) fn sample_meta() -> RunMeta {
        RunMeta {
            run_id: "test-run".into(),
            started_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
            finished_at: None,
            harness_version: "0.1.0".into(),
            librdkafka_version: "2.10.0".into(),
            backend: "mock".into(),
            kafka_version: "mock".into(),
            broker_source: "librdkafka mock cluster".into(),
            broker_jit: None,
            profile: "quick".into(),
            command: "kafka-chaos run".into(),
            failed_experiments: vec![],
            jobs: 1,
            seed: None,
            timing: None,
        }
    }

    /// Six records, one per cell of the verdict table; seq 2 found twice.
    pub(crate) fn sample_result() -> ExperimentResult {
        let mut ledger = Ledger::with_capacity(6);
        for i in 0..6u64 {
            ledger.record_send(i, i as f64 * 0.1);
        }
        let acked = |offset, at| Outcome::Acked {
            partition: 0,
            offset,
            at,
        };
        let failed = |at| Outcome::Failed {
            error: "Message timed out".into(),
            persistence: Persistence::PossiblyPersisted,
            at,
        };
        ledger.record_outcome(0, acked(0, 0.0125));
        ledger.record_outcome(1, acked(1, 0.2));
        ledger.record_outcome(2, failed(3.2));
        ledger.record_outcome(3, failed(3.3));
        let rec = |offset, seq| ConsumedRecord {
            partition: 0,
            offset,
            seq: Some(seq),
        };
        let consumed = vec![rec(0, 0), rec(1, 2), rec(2, 2), rec(3, 4)];
        let verification = verify(&ledger.entries, &consumed);
        ExperimentResult {
            checks: Vec::new(),
            notes: Vec::new(),
            cluster: Default::default(),
            integrity: Vec::new(),
            spec: None,
            repetition: 1,
            repetitions: 1,
            plan: None,
            name: "sample".into(),
            mode: "async".into(),
            description: "every cell of the verdict table".into(),
            topic: "kc-sample".into(),
            fault: "hard_shutdown".into(),
            client_settings: [("acks".to_string(), "all".to_string())]
                .into_iter()
                .collect(),
            pause: 0.1,
            ledger,
            verification,
            faults: vec![FaultWindow {
                kind: "hard_shutdown".into(),
                start: 0.25,
                end: Some(3.0),
                after_records: 3,
                downtime_s: Some(2.0),
                ..Default::default()
            }],
            phases: PhaseTimings {
                broker_start: 1.0,
                produce: 3.5,
                outage: 2.5,
                recovery: 0.5,
                verification: 0.2,
                reporting: 0.0,
                ..Default::default()
            },
            throughput: 1.714,
            latency: LatencyStats {
                count: 4,
                p50_ms: 12.5,
                p95_ms: 3000.0,
                p99_ms: 3000.0,
                max_ms: 3000.0,
            },
        }
    }

    /// A plausible experiment: `n` records, one every 10 ms, the broker
    /// down from record 150 (t = 1.5 s) until t = 6 s, a 3 s message timeout.
    pub(crate) fn synthetic(name: &str, mode: &str, n: u64) -> ExperimentResult {
        let fault_at = 1.5;
        let heal_at = 6.0;
        let timeout = 3.0;
        let mut ledger = Ledger::with_capacity(n as usize);
        let mut consumed = Vec::new();
        let mut offset = 0;
        let mut t = 0.0;
        let mut keep = |seq: u64, consumed: &mut Vec<ConsumedRecord>| {
            consumed.push(ConsumedRecord {
                partition: (seq % 3) as i32,
                offset,
                seq: Some(seq),
            });
            offset += 1;
        };
        for seq in 0..n {
            ledger.record_send(seq, t);
            let down = t >= fault_at && t < heal_at;
            let jitter = ((seq * 7919) % 13) as f64 / 1000.0;
            let outcome = match mode {
                "fire-and-forget" => {
                    if !(down || (fault_at - 0.05..fault_at).contains(&t)) {
                        keep(seq, &mut consumed);
                    }
                    Outcome::Unreported
                }
                _ if !down => {
                    keep(seq, &mut consumed);
                    if seq == 40 && mode == "async-acks1" {
                        consumed.pop(); // acked by the leader, then lost
                    }
                    Outcome::Acked {
                        partition: (seq % 3) as i32,
                        offset: seq as i64,
                        at: t + 0.004 + jitter,
                    }
                }
                _ if t + timeout < heal_at => {
                    if seq % 17 == 0 {
                        keep(seq, &mut consumed); // timed out, yet written
                    }
                    Outcome::Failed {
                        error: "Local: Message timed out".into(),
                        persistence: Persistence::PossiblyPersisted,
                        at: t + timeout,
                    }
                }
                _ => {
                    keep(seq, &mut consumed);
                    if seq % 50 == 0 {
                        keep(seq, &mut consumed); // a retried duplicate
                    }
                    Outcome::Acked {
                        partition: (seq % 3) as i32,
                        offset: seq as i64,
                        at: heal_at + 0.2 + jitter,
                    }
                }
            };
            let reported = outcome.reported_at();
            ledger.record_outcome(seq, outcome);
            t = match (mode, reported) {
                ("sync", Some(at)) => at + 0.01,
                _ => t + 0.01,
            };
        }
        let verification = verify(&ledger.entries, &consumed);
        let latency = LatencyStats::from_ledger(&ledger);
        let produce = ledger.entries.last().map_or(0.0, |e| e.sent_at);
        ExperimentResult {
            checks: Vec::new(),
            notes: Vec::new(),
            cluster: Default::default(),
            integrity: Vec::new(),
            spec: None,
            repetition: 1,
            repetitions: 1,
            plan: None,
            name: name.into(),
            mode: mode.into(),
            description: String::new(),
            topic: format!("kc-{name}"),
            fault: "hard_shutdown".into(),
            client_settings: [
                ("acks".to_string(), "all".to_string()),
                ("message.timeout.ms".to_string(), "3000".to_string()),
            ]
            .into_iter()
            .collect(),
            pause: 0.01,
            ledger,
            verification,
            faults: vec![FaultWindow {
                kind: "hard_shutdown".into(),
                start: fault_at,
                end: Some(heal_at),
                after_records: 150,
                downtime_s: Some(4.0),
                ..Default::default()
            }],
            phases: PhaseTimings {
                broker_start: 2.0,
                produce,
                outage: heal_at - fault_at,
                recovery: 0.4,
                verification: 0.3,
                reporting: 0.0,
                ..Default::default()
            },
            throughput: n as f64 / produce.max(0.001),
            latency,
        }
    }

    fn temp_root() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn run_folders_never_overwrite() {
        let root = temp_root();
        let meta = sample_meta();
        let a = RunFolder::create(root.path().join("results"), &meta).unwrap();
        let b = RunFolder::create(root.path().join("results"), &meta).unwrap();
        let c = RunFolder::create(root.path().join("results"), &meta).unwrap();
        assert_ne!(a.path(), b.path());
        assert_eq!(a.path().file_name().unwrap(), "test-run");
        assert_eq!(b.path().file_name().unwrap(), "test-run-2");
        assert_eq!(c.path().file_name().unwrap(), "test-run-3");
        assert!(a.path().is_dir() && b.path().is_dir() && c.path().is_dir());
    }

    #[test]
    fn unsafe_run_ids_stay_inside_the_root() {
        let root = temp_root();
        let mut meta = sample_meta();
        meta.run_id = "../escape/..".into();
        let f = RunFolder::create(root.path(), &meta).unwrap();
        assert_eq!(f.path().parent().unwrap(), root.path());
        assert_eq!(safe_file_stem("", "x"), "x");
        assert_eq!(safe_file_stem("a b/c", "x"), "a_b_c");
    }

    #[test]
    fn summary_is_rewritten_in_place() {
        let root = temp_root();
        let meta = sample_meta();
        let f = RunFolder::create(root.path(), &meta).unwrap();
        let first = f.write_summary(&meta, &[]).unwrap();
        assert_eq!(first.len(), 6);
        let r = sample_result();
        let second = f.write_summary(&meta, std::slice::from_ref(&r)).unwrap();
        assert_eq!(first, second);
        let mut names: Vec<String> = fs::read_dir(f.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "comparison.png",
                "junit.xml",
                "metadata.json",
                "report.html",
                "summary.csv",
                "summary.json"
            ]
        );
        let csv = fs::read_to_string(f.path().join("summary.csv")).unwrap();
        assert_eq!(csv.lines().count(), 2, "header + the latest experiment");
        assert!(csv.lines().nth(1).unwrap().starts_with("sample,async,"));
    }

    #[test]
    fn experiment_files() {
        let root = temp_root();
        let f = RunFolder::create(root.path(), &sample_meta()).unwrap();
        let r = sample_result();
        let written = f.write_experiment(&r).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "sample.records.csv",
                "sample.timeline.png",
                "sample.latency.png"
            ]
        );
        for p in &written {
            assert!(fs::metadata(p).unwrap().len() > 0);
        }
        // No latency reported: no latency chart.
        let mut quiet = sample_result();
        quiet.name = "quiet".into();
        for e in &mut quiet.ledger.entries {
            e.outcome = Outcome::Unreported;
        }
        let written = f.write_experiment(&quiet).unwrap();
        assert_eq!(written.len(), 2);
        // Only the files written: no temporary files left behind.
        assert_eq!(fs::read_dir(f.path()).unwrap().count(), 5);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&written[0]).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o644);
        }
    }

    #[test]
    fn io_errors_name_the_path_and_the_cause() {
        let root = temp_root();
        let file = root.path().join("not-a-folder");
        fs::write(&file, b"x").unwrap();
        let e = RunFolder::create(&file, &sample_meta()).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("not-a-folder"), "{msg}");
        assert!(msg.len() > "cannot write ".len() + file.display().to_string().len() + 2);
    }

    #[test]
    fn records_join_by_sequence_number() {
        let mut r = sample_result();
        let joined = join_records(&r);
        assert!(joined.iter().all(|(e, v)| v.unwrap().seq == e.seq));
        r.verification.records.reverse();
        let joined = join_records(&r);
        assert!(joined.iter().all(|(e, v)| v.unwrap().seq == e.seq));
        r.verification.records.truncate(2);
        assert_eq!(
            join_records(&r).iter().filter(|(_, v)| v.is_none()).count(),
            4
        );
    }
}
