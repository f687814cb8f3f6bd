//! A run folder read back into results, without Kafka: for
//! `kafka-chaos report RUN_DIR`, which draws the charts and the page again
//! ([`redraw`]).
//!
//! `summary.json` gives the run and each experiment's counts, phases,
//! fault windows and expectations; `metadata.json` the spec each ran with;
//! each `<name>.records.csv` every record (what the application was told,
//! and its verdict). Older folders lack the specs and the faults'
//! parameters: the page then says so. A folder without `summary.json` is
//! not a run folder.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{names, safe_file_stem, ReportError, RunFolder};
use crate::model::expect::CheckResult;
use crate::model::ledger::{Ledger, LedgerEntry, Outcome, Persistence, Told};
use crate::model::plan::Plan;
use crate::model::result::{
    ClusterFacts, ExperimentResult, FaultWindow, LatencyStats, PhaseTimings, RunMeta, SpecFacts,
};
use crate::model::verdict::{RecordVerdict, Verdict, VerdictCounts, Verification};

/// Why a run folder cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}: not a kafka-chaos run folder (no summary.json there; a run folder is results/<run id>/)", path.display())]
    NotARun { path: PathBuf },
    #[error("cannot read {}: {error}", path.display())]
    Read { path: PathBuf, error: io::Error },
    #[error("{} is not a summary.json this kafka-chaos can read: {error}", path.display())]
    Summary {
        path: PathBuf,
        error: serde_json::Error,
    },
    #[error("{}: {message}", path.display())]
    Records { path: PathBuf, message: String },
    #[error(transparent)]
    Report(#[from] ReportError),
}

/// `summary.json`, the parts that rebuild a result.
#[derive(Debug, Deserialize)]
struct SummaryFile {
    run: RunMeta,
    experiments: Vec<ExperimentFile>,
}

#[derive(Debug, Deserialize)]
struct ExperimentFile {
    name: String,
    mode: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    topic: String,
    fault: String,
    #[serde(default)]
    client_settings: BTreeMap<String, String>,
    #[serde(default)]
    pause_s: f64,
    counts: VerdictCounts,
    #[serde(default)]
    faults: Vec<FaultWindow>,
    #[serde(default)]
    phases: PhaseTimings,
    #[serde(default)]
    throughput: f64,
    #[serde(default)]
    latency: LatencyStats,
    #[serde(default)]
    checks: Vec<CheckResult>,
    #[serde(default)]
    notes: Vec<String>,
    #[serde(default)]
    not_verified_reasons: Vec<String>,
    #[serde(default = "one")]
    repetition: u32,
    #[serde(default = "one")]
    repetitions: u32,
    #[serde(default)]
    plan: Option<Plan>,
}

fn one() -> u32 {
    1
}

/// `metadata.json`, the specs.
#[derive(Debug, Default, Deserialize)]
struct MetadataFile {
    #[serde(default)]
    experiments: Vec<MetadataExperiment>,
}

#[derive(Debug, Deserialize)]
struct MetadataExperiment {
    name: String,
    #[serde(default)]
    spec: Option<SpecFacts>,
    #[serde(default)]
    cluster: ClusterFacts,
}

/// One line of `<name>.records.csv` (see `csv::RecordRow`).
#[derive(Debug, Deserialize)]
struct RecordLine {
    seq: u64,
    sent_at_s: Option<f64>,
    told: String,
    reported_at_s: Option<f64>,
    partition: Option<i32>,
    offset: Option<i64>,
    error: Option<String>,
    persistence: Option<String>,
    found: Option<u32>,
    verdict: Option<String>,
    reordered: Option<bool>,
}

/// A run read back from its folder.
#[derive(Debug)]
pub struct LoadedRun {
    pub folder: PathBuf,
    pub meta: RunMeta,
    pub results: Vec<ExperimentResult>,
    /// Experiments (with their repetition: `sync r2`) whose records CSV is
    /// missing: their charts cannot be drawn again.
    pub without_records: Vec<String>,
    /// What was odd but not fatal, one line each.
    pub warnings: Vec<String>,
}

/// Reads the run in `dir` (a run folder, or its summary.json).
pub fn load_run(dir: &Path) -> Result<LoadedRun, LoadError> {
    let folder = if dir.is_file() {
        dir.parent().unwrap_or(Path::new(".")).to_path_buf()
    } else {
        dir.to_path_buf()
    };
    let summary_path = folder.join(names::SUMMARY_JSON);
    if !summary_path.is_file() {
        return Err(LoadError::NotARun { path: folder });
    }
    let text = read(&summary_path)?;
    let summary: SummaryFile = serde_json::from_str(&text).map_err(|error| LoadError::Summary {
        path: summary_path.clone(),
        error,
    })?;
    let mut warnings = Vec::new();
    let metadata = match fs::read_to_string(folder.join(names::METADATA_JSON)) {
        Ok(t) => serde_json::from_str::<MetadataFile>(&t).unwrap_or_else(|e| {
            warnings.push(format!(
                "metadata.json cannot be read ({e}): specs not shown"
            ));
            MetadataFile::default()
        }),
        Err(_) => MetadataFile::default(),
    };
    let mut specs = metadata.experiments.into_iter();
    let mut results = Vec::with_capacity(summary.experiments.len());
    let mut without_records = Vec::new();
    for e in summary.experiments {
        // metadata.json lists the same experiments in the same order.
        let (spec, cluster) = specs
            .next()
            .filter(|m| m.name == e.name)
            .map(|m| (m.spec, m.cluster))
            .unwrap_or_default();
        let stem = names::experiment_stem(&e.name, e.repetition, e.repetitions);
        let label = names::run_label(&e.name, e.repetition, e.repetitions);
        let csv = folder.join(format!(
            "{}{}",
            safe_file_stem(&stem, "experiment"),
            names::RECORDS_CSV_SUFFIX
        ));
        let (ledger, records) = if csv.is_file() {
            read_records(&csv)?
        } else {
            warnings.push(format!(
                "{}: missing, so the charts of {} are not drawn again",
                csv.display(),
                label
            ));
            without_records.push(label);
            (Ledger::default(), Vec::new())
        };
        if let Some(w) = disagreement(&e.counts, &records) {
            warnings.push(format!("{}: {w}", csv.display()));
        }
        results.push(ExperimentResult {
            name: e.name,
            mode: e.mode,
            description: e.description,
            topic: e.topic,
            fault: e.fault,
            client_settings: e.client_settings,
            pause: e.pause_s,
            ledger,
            verification: Verification {
                records,
                counts: e.counts,
                unexpected: Vec::new(),
            },
            faults: e.faults,
            phases: e.phases,
            throughput: e.throughput,
            latency: e.latency,
            checks: e.checks,
            notes: e.notes,
            spec,
            integrity: e.not_verified_reasons,
            cluster,
            repetition: e.repetition,
            repetitions: e.repetitions,
            plan: e.plan,
        });
    }
    Ok(LoadedRun {
        folder,
        meta: summary.run,
        results,
        without_records,
        warnings,
    })
}

fn read(path: &Path) -> Result<String, LoadError> {
    fs::read_to_string(path).map_err(|error| LoadError::Read {
        path: path.to_path_buf(),
        error,
    })
}

/// The ledger and the verdicts of a `<name>.records.csv`.
fn read_records(path: &Path) -> Result<(Ledger, Vec<RecordVerdict>), LoadError> {
    let bad = |message: String| LoadError::Records {
        path: path.to_path_buf(),
        message,
    };
    let mut reader = ::csv::Reader::from_path(path).map_err(|e| bad(e.to_string()))?;
    let mut ledger = Ledger::default();
    let mut verdicts = Vec::new();
    for (i, line) in reader.deserialize::<RecordLine>().enumerate() {
        let l = line.map_err(|e| bad(format!("line {}: {e}", i + 2)))?;
        let at = l.reported_at_s.unwrap_or(f64::NAN);
        let outcome = match l.told.as_str() {
            "acked" => Outcome::Acked {
                partition: l.partition.unwrap_or(-1),
                offset: l.offset.unwrap_or(-1),
                at,
            },
            "failed" => Outcome::Failed {
                error: l.error.unwrap_or_default(),
                persistence: persistence(l.persistence.as_deref()),
                at,
            },
            "unreported" => Outcome::Unreported,
            other => {
                return Err(bad(format!(
                    "line {}: told = `{other}` (expected acked, failed or unreported)",
                    i + 2
                )))
            }
        };
        let told = outcome.told();
        ledger.entries.push(LedgerEntry {
            seq: l.seq,
            sent_at: l.sent_at_s.unwrap_or(f64::NAN),
            outcome,
        });
        if let Some(v) = l.verdict.as_deref() {
            let verdict = Verdict::ALL
                .into_iter()
                .find(|x| x.as_str() == v)
                .ok_or_else(|| bad(format!("line {}: unknown verdict `{v}`", i + 2)))?;
            verdicts.push(RecordVerdict {
                seq: l.seq,
                told,
                found: l.found.unwrap_or(0),
                verdict,
                reordered: l.reordered.unwrap_or(false),
            });
        }
    }
    Ok((ledger, verdicts))
}

fn persistence(s: Option<&str>) -> Persistence {
    match s {
        Some("not_persisted") => Persistence::NotPersisted,
        Some("possibly_persisted") => Persistence::PossiblyPersisted,
        Some("persisted") => Persistence::Persisted,
        _ => Persistence::Unknown,
    }
}

/// Whether the verdicts of the records add up to the summary's counts.
fn disagreement(counts: &VerdictCounts, records: &[RecordVerdict]) -> Option<String> {
    if records.is_empty() {
        return None;
    }
    let mut tally = VerdictCounts::default();
    for r in records {
        tally.add_verdict(r.verdict);
    }
    let off: Vec<String> = Verdict::ALL
        .iter()
        .filter(|v| tally.verdict(**v) != counts.verdict(**v))
        .map(|v| {
            format!(
                "{} {} in the file, {} in summary.json",
                v.as_str(),
                tally.verdict(*v),
                counts.verdict(*v)
            )
        })
        .collect();
    let told = |t: Told| records.iter().filter(|r| r.told == t).count() as u64;
    let sent_off = records.len() as u64 != counts.sent
        || told(Told::Acked) != counts.acked
        || told(Told::Failed) != counts.failed;
    match (off.is_empty(), sent_off) {
        (true, false) => None,
        (true, true) => Some(format!(
            "{} records in the file, {} sent in summary.json",
            records.len(),
            counts.sent
        )),
        (false, _) => Some(format!("verdicts differ: {}", off.join(", "))),
    }
}

/// What [`redraw`] did.
#[derive(Debug)]
pub struct Redrawn {
    pub run: LoadedRun,
    /// Every file written.
    pub written: Vec<PathBuf>,
}

/// Reads the run in `dir` and draws its charts and `report.html` again,
/// from its files alone. The data files (CSV, JSON, JUnit) are left as
/// they are.
pub fn redraw(dir: &Path) -> Result<Redrawn, LoadError> {
    let run = load_run(dir)?;
    let folder = RunFolder::open(&run.folder, &run.meta);
    let mut written = Vec::new();
    for r in &run.results {
        if !run.without_records.contains(&r.label()) {
            written.extend(folder.write_charts(r)?);
        }
    }
    written.extend(folder.write_page(&run.meta, &run.results)?);
    Ok(Redrawn { run, written })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{sample_meta, sample_result, synthetic};

    /// A run folder as the runner writes it.
    fn folder_with(results: &[ExperimentResult]) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let f = RunFolder::create(tmp.path(), &sample_meta()).unwrap();
        for r in results {
            f.write_experiment(r).unwrap();
        }
        f.write_summary(&sample_meta(), results).unwrap();
        let path = f.path().to_path_buf();
        (tmp, path)
    }

    #[test]
    fn a_folder_reads_back_into_the_same_results() {
        let mut a = sample_result();
        a.spec = Some(SpecFacts {
            file: "/x/sample.toml".into(),
            toml: Some("mode = \"async\"\n".into()),
            fault: "hard_shutdown".into(),
            ..Default::default()
        });
        let results = vec![a, synthetic("sync", "sync", 300)];
        let (_tmp, dir) = folder_with(&results);
        let run = load_run(&dir).unwrap();
        assert!(run.warnings.is_empty(), "{:?}", run.warnings);
        assert_eq!(run.meta.run_id, "test-run");
        assert_eq!(run.results.len(), 2);
        for (old, new) in results.iter().zip(&run.results) {
            assert_eq!(old.name, new.name);
            assert_eq!(old.verification.counts, new.verification.counts);
            assert_eq!(old.verification.records, new.verification.records);
            assert_eq!(old.faults, new.faults);
            assert_eq!(old.spec, new.spec);
            assert_eq!(old.ledger.entries.len(), new.ledger.entries.len());
            for (x, y) in old.ledger.entries.iter().zip(&new.ledger.entries) {
                assert_eq!(x.outcome.told(), y.outcome.told());
                assert!((x.sent_at - y.sent_at).abs() < 1e-6);
            }
        }
        // The same summary, to the byte.
        let again = crate::report::csv::summary_csv(&run.results).unwrap();
        assert_eq!(again, fs::read(dir.join("summary.csv")).unwrap());
    }

    #[test]
    fn repetitions_read_back_with_their_files_and_plans() {
        let results: Vec<ExperimentResult> = (1..=3)
            .map(|rep| {
                let mut r = synthetic("sync", "sync", 100 + u64::from(rep));
                r.repetition = rep;
                r.repetitions = 3;
                r.plan = Some(crate::model::plan::Plan {
                    seed: 7,
                    repetition: rep,
                    faults: Vec::new(),
                });
                r
            })
            .collect();
        let (_tmp, dir) = folder_with(&results);
        for rep in 1..=3 {
            assert!(dir.join(format!("sync.r{rep}.records.csv")).is_file());
        }
        assert!(!dir.join("sync.records.csv").exists());
        assert!(dir.join("spread.png").is_file());
        let run = load_run(&dir).unwrap();
        assert!(run.warnings.is_empty(), "{:?}", run.warnings);
        assert_eq!(run.results.len(), 3);
        for (old, new) in results.iter().zip(&run.results) {
            assert_eq!(new.repetition, old.repetition);
            assert_eq!(new.repetitions, 3);
            assert_eq!(new.plan, old.plan);
            assert_eq!(new.verification.records, old.verification.records);
        }
        let done = redraw(&dir).unwrap();
        let names: Vec<String> = done
            .written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.contains(&"sync.r2.timeline.png".to_string()),
            "{names:?}"
        );
        assert!(names.contains(&"spread.png".to_string()), "{names:?}");
        let page = fs::read_to_string(dir.join("report.html")).unwrap();
        assert!(page.contains("<tr data-experiment=\"sync\" data-repetition=\"2\">"));
        assert!(page.contains("id=\"exp-sync.r2\""));
        assert!(page.contains("Spread over repetitions"));
    }

    #[test]
    fn redraw_writes_charts_and_the_page() {
        let (_tmp, dir) = folder_with(&[sample_result()]);
        fs::remove_file(dir.join("report.html")).unwrap();
        fs::remove_file(dir.join("sample.timeline.png")).unwrap();
        let done = redraw(&dir).unwrap();
        let names: Vec<String> = done
            .written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "sample.timeline.png",
                "sample.latency.png",
                "comparison.png",
                "report.html"
            ]
        );
        let page = fs::read_to_string(dir.join("report.html")).unwrap();
        assert!(page.contains("data-experiment=\"sample\""));
    }

    #[test]
    fn an_older_folder_reads_without_specs_or_fault_parameters() {
        let (_tmp, dir) = folder_with(&[sample_result()]);
        // As an older kafka-chaos wrote it: no specs, no fault parameters.
        fs::remove_file(dir.join("metadata.json")).unwrap();
        let path = dir.join("summary.json");
        let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        let w = &mut v["experiments"][0]["faults"][0];
        for k in ["downtime_s", "until_producer_ends", "latency_ms"] {
            w.as_object_mut().unwrap().remove(k);
        }
        fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
        let done = redraw(&dir).unwrap();
        assert!(done.run.warnings.is_empty(), "{:?}", done.run.warnings);
        let r = &done.run.results[0];
        assert_eq!(r.spec, None);
        assert_eq!(r.fault_label(), "hard_shutdown");
        let page = fs::read_to_string(dir.join("report.html")).unwrap();
        assert!(page.contains("written by an older kafka-chaos"));
    }

    #[test]
    fn not_a_run_folder_is_said() {
        let tmp = tempfile::tempdir().unwrap();
        let e = load_run(tmp.path()).unwrap_err();
        assert!(matches!(e, LoadError::NotARun { .. }));
        assert!(
            e.to_string().contains("not a kafka-chaos run folder"),
            "{e}"
        );
        fs::write(tmp.path().join("summary.json"), "{\"hello\": 1}").unwrap();
        let e = load_run(tmp.path()).unwrap_err().to_string();
        assert!(e.contains("is not a summary.json"), "{e}");
    }

    #[test]
    fn a_missing_or_odd_records_file_is_a_warning() {
        let (_tmp, dir) = folder_with(&[sample_result()]);
        let csv = dir.join("sample.records.csv");
        let text = fs::read_to_string(&csv).unwrap();
        // Drop the last record: the verdicts no longer add up.
        let cut: Vec<&str> = text.lines().collect();
        fs::write(&csv, cut[..cut.len() - 1].join("\n")).unwrap();
        let run = load_run(&dir).unwrap();
        assert_eq!(run.warnings.len(), 1, "{:?}", run.warnings);
        assert!(
            run.warnings[0].contains("verdicts differ"),
            "{:?}",
            run.warnings
        );
        fs::remove_file(&csv).unwrap();
        let done = redraw(&dir).unwrap();
        assert_eq!(done.run.without_records, ["sample"]);
        assert!(done.run.warnings[0].contains("missing"));
        // The page still lists the experiment, with the summary's counts.
        let page = fs::read_to_string(dir.join("report.html")).unwrap();
        assert!(page.contains("data-experiment=\"sample\""));
        // A record file that is not one is an error.
        fs::write(&csv, "seq,sent_at_s,told\n0,0.1,maybe\n").unwrap();
        let e = load_run(&dir).unwrap_err().to_string();
        assert!(e.contains("told = `maybe`"), "{e}");
    }
}
