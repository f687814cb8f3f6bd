//! `kafka-chaos compare OLD_RUN NEW_RUN`: the verdict counts of two runs
//! side by side, the differences flagged, and a chart.
//!
//! Experiments are matched by name. Thresholds given on the command line
//! (`--max-increase lost=0`, `--max-decrease ok=10`, `--fail-on-change`)
//! turn differences into violations, and violations into exit code 1.
//! Without a threshold the comparison is a report only (exit 0).
//!
//! The comparison belongs to the new run: `compare-<old run id>.csv` and
//! `compare-<old run id>.png` are written into the new run's folder.
//!
//! [`run`] does no printing: it returns a [`CompareOutcome`], which
//! [`render_table`] turns into text and [`exit_code`] into an exit code.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use plotters::style::FontTransform;
use serde::{Deserialize, Serialize};

use crate::model::verdict::{Verdict, VerdictCounts};
use crate::report::chart::{
    self, anchored, bold, chart_err, draw_empty_note, draw_legend, fit, fmt_num, font, style, Area,
    Caption, LegendItem, Swatch,
};
use crate::report::{names, safe_file_stem, ReportError};

/// The counts shown in the table, in this order (other counts are shown
/// only when they changed or a threshold names them).
pub const TABLE_COUNTS: [&str; 11] = [
    "sent",
    "acked",
    "failed",
    "persisted",
    "ok",
    "lost",
    "recovered",
    "reported_loss",
    "unreported_ok",
    "silent_loss",
    "duplicates",
];

/// The counts drawn in the chart.
pub const CHART_COUNTS: [&str; 7] = [
    "ok",
    "lost",
    "recovered",
    "reported_loss",
    "unreported_ok",
    "silent_loss",
    "duplicates",
];

/// Marks a changed cell in the table.
const CHANGED: &str = "*";
/// Marks a threshold violation in the table.
const VIOLATED: &str = "✗";

/// Every count of [`VerdictCounts::NAMES`]: the table's first, then the rest.
fn all_counts() -> impl Iterator<Item = &'static str> {
    TABLE_COUNTS.iter().copied().chain(
        VerdictCounts::NAMES
            .iter()
            .copied()
            .filter(|n| !TABLE_COUNTS.contains(n)),
    )
}

// ---------------------------------------------------------------------------
// Arguments and thresholds
// ---------------------------------------------------------------------------

/// `kafka-chaos compare OLD_RUN NEW_RUN [thresholds]`.
#[derive(Debug, Clone, clap::Args)]
pub struct CompareArgs {
    /// The earlier run: its folder (holding summary.json), or its
    /// summary.json.
    #[arg(value_name = "OLD_RUN")]
    pub old: PathBuf,
    /// The later run, same forms. The comparison's CSV and PNG are written
    /// into its folder.
    #[arg(value_name = "NEW_RUN")]
    pub new: PathBuf,
    #[command(flatten)]
    pub thresholds: Thresholds,
}

/// When a difference is a violation (exit code 1). None given: report only.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct Thresholds {
    /// Fail when count NAME grew by more than N (new − old > N) in an
    /// experiment of both runs. Repeatable, e.g. `--max-increase lost=0
    /// --max-increase silent_loss=5`. NAME is a count of summary.json:
    /// sent, acked, failed, unreported, persisted, missing, duplicated,
    /// duplicates, ok, lost, recovered, reported_loss, unreported_ok,
    /// silent_loss, unexpected, reordered, consumed.
    #[arg(long = "max-increase", value_name = "NAME=N", value_parser = parse_threshold)]
    pub max_increase: Vec<Threshold>,
    /// Fail when count NAME shrank by more than N (old − new > N), e.g.
    /// `--max-decrease ok=10`. Repeatable.
    #[arg(long = "max-decrease", value_name = "NAME=N", value_parser = parse_threshold)]
    pub max_decrease: Vec<Threshold>,
    /// Fail on any difference in any count, and on an experiment found in
    /// one run only.
    #[arg(long)]
    pub fail_on_change: bool,
}

impl Thresholds {
    /// No threshold given: the comparison only reports.
    pub fn is_empty(&self) -> bool {
        self.max_increase.is_empty() && self.max_decrease.is_empty() && !self.fail_on_change
    }

    /// Whether a threshold names `count`.
    fn names(&self, count: &str) -> bool {
        self.max_increase
            .iter()
            .chain(&self.max_decrease)
            .any(|t| t.count == count)
    }
}

impl fmt::Display for Thresholds {
    /// The thresholds as they are written on the command line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        parts.extend(
            self.max_increase
                .iter()
                .map(|t| format!("--max-increase {t}")),
        );
        parts.extend(
            self.max_decrease
                .iter()
                .map(|t| format!("--max-decrease {t}")),
        );
        if self.fail_on_change {
            parts.push("--fail-on-change".into());
        }
        f.write_str(&parts.join(" "))
    }
}

/// `NAME=N`: a count of [`VerdictCounts::NAMES`] and a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold {
    pub count: &'static str,
    pub limit: u64,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.count, self.limit)
    }
}

/// Parses `NAME=N` (`-` in NAME is read as `_`: `silent-loss=0` works).
pub fn parse_threshold(s: &str) -> Result<Threshold, CompareError> {
    let bad = |reason: String| CompareError::Threshold {
        arg: s.to_string(),
        reason,
    };
    let Some((name, limit)) = s.split_once('=') else {
        return Err(bad("expected NAME=N, e.g. lost=0".into()));
    };
    let name = name.trim().to_ascii_lowercase().replace('-', "_");
    let Some(count) = VerdictCounts::NAMES.iter().copied().find(|n| *n == name) else {
        return Err(bad(format!(
            "unknown count `{name}`; valid counts: {}",
            VerdictCounts::NAMES.join(", ")
        )));
    };
    let limit = limit.trim().parse::<u64>().map_err(|_| {
        bad(format!(
            "`{}` is not a limit: N must be a whole number ≥ 0",
            limit.trim()
        ))
    })?;
    Ok(Threshold { count, limit })
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// What stops a comparison (exit code 2).
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
    #[error(transparent)]
    Report(#[from] ReportError),
}

// ---------------------------------------------------------------------------
// Reading summary.json
// ---------------------------------------------------------------------------

/// The parts of `summary.json` a comparison needs; anything else in the
/// file is ignored.
#[derive(Debug, Deserialize)]
struct SummaryFile {
    #[serde(default)]
    run: RunHead,
    experiments: Vec<ExperimentFile>,
}

#[derive(Debug, Default, Deserialize)]
struct RunHead {
    #[serde(default)]
    run_id: String,
    #[serde(default)]
    backend: String,
    #[serde(default)]
    kafka_version: String,
}

#[derive(Debug, Deserialize)]
struct ExperimentFile {
    name: String,
    #[serde(default)]
    mode: String,
    /// Kept loose: a count missing from an older or newer format is `None`,
    /// not an error.
    #[serde(default)]
    counts: BTreeMap<String, serde_json::Value>,
}

/// One run, as read from its `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    pub run: RunRef,
    pub experiments: Vec<ExperimentCounts>,
}

/// Which run, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunRef {
    /// `run.run_id` of summary.json (the folder name if it has none).
    pub run_id: String,
    /// The summary.json read.
    pub summary: PathBuf,
    /// The run folder (the folder of summary.json).
    pub folder: PathBuf,
    pub backend: String,
    pub kafka_version: String,
}

/// The counts of one experiment of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExperimentCounts {
    pub name: String,
    pub mode: String,
    /// By name (see [`VerdictCounts::NAMES`]).
    pub counts: BTreeMap<String, u64>,
}

impl ExperimentCounts {
    pub fn get(&self, count: &str) -> Option<u64> {
        self.counts.get(count).copied()
    }
}

/// A run folder or a summary.json → the summary.json.
fn summary_path(path: &Path) -> Result<PathBuf, CompareError> {
    if path.is_dir() {
        let p = path.join(names::SUMMARY_JSON);
        if p.is_file() {
            Ok(p)
        } else {
            Err(CompareError::NoSummary {
                path: path.to_path_buf(),
            })
        }
    } else {
        Ok(path.to_path_buf())
    }
}

/// Reads a run's `summary.json` (`path` is the run folder or the file).
pub fn load_summary(path: &Path) -> Result<RunSummary, CompareError> {
    let summary = summary_path(path)?;
    let bytes = fs::read(&summary).map_err(|error| CompareError::Read {
        path: summary.clone(),
        error,
    })?;
    let file: SummaryFile =
        serde_json::from_slice(&bytes).map_err(|error| CompareError::Parse {
            path: summary.clone(),
            error,
        })?;
    let folder = match summary.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let run_id = if file.run.run_id.is_empty() {
        folder
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "run".into())
    } else {
        file.run.run_id
    };
    let experiments = file
        .experiments
        .into_iter()
        .map(|e| ExperimentCounts {
            name: e.name,
            mode: e.mode,
            counts: e
                .counts
                .into_iter()
                .filter_map(|(k, v)| v.as_u64().map(|v| (k, v)))
                .collect(),
        })
        .collect();
    Ok(RunSummary {
        run: RunRef {
            run_id,
            summary,
            folder,
            backend: file.run.backend,
            kafka_version: file.run.kafka_version,
        },
        experiments,
    })
}

// ---------------------------------------------------------------------------
// The comparison
// ---------------------------------------------------------------------------

/// Everything a comparison found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompareOutcome {
    pub old: RunRef,
    pub new: RunRef,
    #[serde(skip)]
    pub thresholds: Thresholds,
    /// The new run's experiments in its order (with their old
    /// counterparts), then those found in the old run only.
    pub experiments: Vec<ExperimentDiff>,
    /// Files written (the CSV and the PNG), empty before [`write_reports`].
    pub written: Vec<PathBuf>,
}

impl CompareOutcome {
    /// Every violation, experiment by experiment.
    pub fn violations(&self) -> impl Iterator<Item = &Violation> {
        self.experiments.iter().flat_map(|e| &e.violations)
    }
}

/// Where an experiment was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Both,
    OnlyOld,
    OnlyNew,
}

/// One experiment of either run, count by count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExperimentDiff {
    pub name: String,
    /// `None` when the experiment is not in the old run.
    pub old_mode: Option<String>,
    /// `None` when the experiment is not in the new run.
    pub new_mode: Option<String>,
    /// Every count of [`VerdictCounts::NAMES`], [`TABLE_COUNTS`] first.
    pub rows: Vec<CountDiff>,
    pub violations: Vec<Violation>,
}

impl ExperimentDiff {
    pub fn presence(&self) -> Presence {
        match (&self.old_mode, &self.new_mode) {
            (Some(_), None) => Presence::OnlyOld,
            (None, Some(_)) => Presence::OnlyNew,
            _ => Presence::Both,
        }
    }

    pub fn row(&self, count: &str) -> Option<&CountDiff> {
        self.rows.iter().find(|r| r.count == count)
    }

    /// Counts that differ.
    pub fn changed(&self) -> usize {
        self.rows.iter().filter(|r| r.changed()).count()
    }

    fn violations_of<'a>(&'a self, count: &'a str) -> impl Iterator<Item = &'a Violation> + 'a {
        self.violations
            .iter()
            .filter(move |v| v.count == Some(count))
    }
}

/// One count of one experiment, old and new (`None`: not in that run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CountDiff {
    pub count: &'static str,
    pub old: Option<u64>,
    pub new: Option<u64>,
}

impl CountDiff {
    /// new − old, when both are known.
    pub fn diff(&self) -> Option<i128> {
        Some(i128::from(self.new?) - i128::from(self.old?))
    }

    /// Both known, and different.
    pub fn changed(&self) -> bool {
        match (self.old, self.new) {
            (Some(o), Some(n)) => o != n,
            _ => false,
        }
    }
}

/// Which threshold a difference crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    MaxIncrease(u64),
    MaxDecrease(u64),
    /// `--fail-on-change`, on a count.
    Changed,
    /// `--fail-on-change`: the experiment is in one run only
    /// ([`Presence::OnlyOld`] or [`Presence::OnlyNew`]).
    OnlyIn(Presence),
}

/// A threshold crossed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub experiment: String,
    /// `None` for [`Rule::OnlyIn`] (as are `old` and `new`).
    pub count: Option<&'static str>,
    pub old: Option<u64>,
    pub new: Option<u64>,
    pub rule: Rule,
}

impl Violation {
    /// The violation without the experiment's name (for the table).
    pub fn describe(&self) -> String {
        let count = self.count.unwrap_or("");
        let diff = match (self.old, self.new) {
            (Some(o), Some(n)) => signed(i128::from(n) - i128::from(o)),
            _ => String::new(),
        };
        match self.rule {
            Rule::MaxIncrease(n) => format!("{diff} exceeds --max-increase {count}={n}"),
            Rule::MaxDecrease(n) => format!("{diff} exceeds --max-decrease {count}={n}"),
            Rule::Changed => format!("{diff}, --fail-on-change"),
            Rule::OnlyIn(Presence::OnlyOld) => "only in the old run, --fail-on-change".into(),
            Rule::OnlyIn(_) => "only in the new run, --fail-on-change".into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.count, self.old, self.new) {
            (Some(c), Some(o), Some(n)) => write!(
                f,
                "{}: {c} {o} → {n} ({})",
                self.experiment,
                self.describe()
            ),
            _ => write!(f, "{}: {}", self.experiment, self.describe()),
        }
    }
}

fn signed(d: i128) -> String {
    if d > 0 {
        format!("+{d}")
    } else {
        d.to_string()
    }
}

/// Compares two runs (pure: no I/O).
pub fn compare(old: &RunSummary, new: &RunSummary, thresholds: &Thresholds) -> CompareOutcome {
    // Pair by name, in order: the n-th experiment of a name in the new run
    // with the n-th of that name in the old run.
    let mut used = vec![false; old.experiments.len()];
    let mut experiments = Vec::new();
    for n in &new.experiments {
        let o = (0..old.experiments.len()).find(|&i| !used[i] && old.experiments[i].name == n.name);
        if let Some(i) = o {
            used[i] = true;
        }
        experiments.push(diff_experiment(
            o.map(|i| &old.experiments[i]),
            Some(n),
            thresholds,
        ));
    }
    for (o, _) in old.experiments.iter().zip(&used).filter(|(_, u)| !**u) {
        experiments.push(diff_experiment(Some(o), None, thresholds));
    }
    CompareOutcome {
        old: old.run.clone(),
        new: new.run.clone(),
        thresholds: thresholds.clone(),
        experiments,
        written: Vec::new(),
    }
}

fn diff_experiment(
    old: Option<&ExperimentCounts>,
    new: Option<&ExperimentCounts>,
    t: &Thresholds,
) -> ExperimentDiff {
    let name = old.or(new).map(|e| e.name.clone()).unwrap_or_default();
    let rows: Vec<CountDiff> = all_counts()
        .map(|count| CountDiff {
            count,
            old: old.and_then(|e| e.get(count)),
            new: new.and_then(|e| e.get(count)),
        })
        .collect();
    let mut violations = Vec::new();
    let violation = |row: &CountDiff, rule| Violation {
        experiment: name.clone(),
        count: Some(row.count),
        old: row.old,
        new: row.new,
        rule,
    };
    if old.is_some() && new.is_some() {
        for row in &rows {
            let Some(d) = row.diff() else { continue };
            for th in t.max_increase.iter().filter(|th| th.count == row.count) {
                if d > i128::from(th.limit) {
                    violations.push(violation(row, Rule::MaxIncrease(th.limit)));
                }
            }
            for th in t.max_decrease.iter().filter(|th| th.count == row.count) {
                if -d > i128::from(th.limit) {
                    violations.push(violation(row, Rule::MaxDecrease(th.limit)));
                }
            }
            if t.fail_on_change && d != 0 {
                violations.push(violation(row, Rule::Changed));
            }
        }
    } else if t.fail_on_change {
        let presence = if old.is_some() {
            Presence::OnlyOld
        } else {
            Presence::OnlyNew
        };
        violations.push(Violation {
            experiment: name.clone(),
            count: None,
            old: None,
            new: None,
            rule: Rule::OnlyIn(presence),
        });
    }
    ExperimentDiff {
        name,
        old_mode: old.map(|e| e.mode.clone()),
        new_mode: new.map(|e| e.mode.clone()),
        rows,
        violations,
    }
}

/// Reads both runs, compares them, and writes `compare-<old run id>.csv`
/// and `.png` into the new run's folder. Prints nothing.
pub fn run(args: &CompareArgs) -> Result<CompareOutcome, CompareError> {
    let old = load_summary(&args.old)?;
    let new = load_summary(&args.new)?;
    let mut outcome = compare(&old, &new, &args.thresholds);
    write_reports(&mut outcome)?;
    Ok(outcome)
}

/// 1 if a threshold was crossed, else 0 (see [`crate::cmd::exit`]).
pub fn exit_code(outcome: &CompareOutcome) -> i32 {
    if outcome.violations().next().is_some() {
        crate::cmd::exit::VIOLATED
    } else {
        crate::cmd::exit::SUCCESS
    }
}

/// The stem of the files written: `compare-<old run id>`.
pub fn file_stem(outcome: &CompareOutcome) -> String {
    format!("compare-{}", safe_file_stem(&outcome.old.run_id, "old"))
}

/// Writes the CSV and the PNG into the new run's folder (atomically) and
/// records their paths in `outcome.written`.
pub fn write_reports(outcome: &mut CompareOutcome) -> Result<(), CompareError> {
    let stem = file_stem(outcome);
    let dir = outcome.new.folder.clone();
    let csv = crate::report::write_atomic(&dir, &format!("{stem}.csv"), &csv_bytes(outcome)?)?;
    let png = crate::report::write_atomic(&dir, &format!("{stem}.png"), &chart_png(outcome)?)?;
    outcome.written = vec![csv, png];
    Ok(())
}

// ---------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------

/// The comparison as text, one block per experiment, under 120 columns
/// (except long names and paths).
pub fn render_table(outcome: &CompareOutcome) -> String {
    let mut s = String::new();
    let mut line = |l: String| {
        s.push_str(l.trim_end());
        s.push('\n');
    };
    line(format!(
        "old  {}  {}",
        outcome.old.run_id,
        outcome.old.summary.display()
    ));
    line(format!(
        "new  {}  {}",
        outcome.new.run_id,
        outcome.new.summary.display()
    ));
    line(if outcome.thresholds.is_empty() {
        "thresholds: none (report only)".into()
    } else {
        format!("thresholds: {}", outcome.thresholds)
    });

    // One width for the numbers of every block.
    let width = outcome
        .experiments
        .iter()
        .flat_map(|e| &e.rows)
        .flat_map(|r| [r.old, r.new])
        .map(|v| v.map_or(1, |v| v.to_string().len()))
        .max()
        .unwrap_or(1)
        .max(3);
    let diff_width = outcome
        .experiments
        .iter()
        .flat_map(|e| &e.rows)
        .filter_map(CountDiff::diff)
        .map(|d| signed(d).len())
        .max()
        .unwrap_or(1)
        .max(4);
    let name_width = TABLE_COUNTS
        .iter()
        .chain(VerdictCounts::NAMES.iter())
        .map(|n| n.len())
        .max()
        .unwrap_or(0);

    for e in &outcome.experiments {
        line(String::new());
        let mut head = match (&e.old_mode, &e.new_mode) {
            (Some(o), Some(n)) if o != n => format!("{} (mode {o} → {n})", e.name),
            (_, Some(m)) | (Some(m), None) => format!("{} ({m})", e.name),
            (None, None) => e.name.clone(),
        };
        match e.presence() {
            Presence::OnlyOld => head.push_str(": only in old"),
            Presence::OnlyNew => head.push_str(": only in new"),
            Presence::Both => {
                let changed = e.changed();
                if changed > 0 {
                    head.push_str(&format!("  {changed} count{} changed", plural(changed)));
                }
            }
        }
        if !e.violations.is_empty() {
            let n = e.violations.len();
            head.push_str(&format!("  {VIOLATED} {n} violation{}", plural(n)));
        }
        line(head);

        if e.presence() != Presence::Both {
            // The counts of the one run, on as few lines as fit.
            let side = |r: &CountDiff| r.old.or(r.new);
            let cells: Vec<String> = e
                .rows
                .iter()
                .filter(|r| TABLE_COUNTS.contains(&r.count))
                .map(|r| {
                    format!(
                        "{} {}",
                        r.count,
                        side(r).map_or("—".into(), |v| v.to_string())
                    )
                })
                .collect();
            for l in wrap(&cells, " · ", 114) {
                line(format!("  {l}"));
            }
            for v in &e.violations {
                line(format!("  {VIOLATED} {}", v.describe()));
            }
            continue;
        }

        line(format!(
            "  {:<name_width$}  {:>width$} → {:<width$}   {:>diff_width$}",
            "count", "old", "new", "diff"
        ));
        for r in e.rows.iter().filter(|r| {
            TABLE_COUNTS.contains(&r.count)
                || r.changed()
                || outcome.thresholds.names(r.count) && r.old.is_some()
        }) {
            let num = |v: Option<u64>| v.map_or("—".to_string(), |v| v.to_string());
            let mark = if r.changed() { CHANGED } else { " " };
            let diff = match r.diff() {
                Some(d) if d != 0 => signed(d),
                _ => String::new(),
            };
            let violations: Vec<String> = e
                .violations_of(r.count)
                .map(|v| format!("{VIOLATED} {}", v.describe()))
                .collect();
            line(format!(
                "  {:<name_width$}  {:>width$} → {:<width$} {mark} {diff:>diff_width$}  {}",
                r.count,
                num(r.old),
                num(r.new),
                violations.join("; ")
            ));
        }
    }

    // The verdict.
    line(String::new());
    let both = outcome
        .experiments
        .iter()
        .filter(|e| e.presence() == Presence::Both)
        .count();
    let only = |p| {
        outcome
            .experiments
            .iter()
            .filter(|e| e.presence() == p)
            .count()
    };
    let changed: usize = outcome
        .experiments
        .iter()
        .map(ExperimentDiff::changed)
        .sum();
    line(format!(
        "{both} experiment{} in both runs, {} only in old, {} only in new; {changed} count{} changed{}",
        plural(both),
        only(Presence::OnlyOld),
        only(Presence::OnlyNew),
        plural(changed),
        if changed > 0 { format!(" ({CHANGED})") } else { String::new() },
    ));
    let violations: Vec<&Violation> = outcome.violations().collect();
    if outcome.thresholds.is_empty() {
        line("no thresholds given: report only".into());
    } else if violations.is_empty() {
        line("no threshold crossed".into());
    } else {
        line(format!(
            "{} threshold violation{}:",
            violations.len(),
            plural(violations.len())
        ));
        for v in violations {
            line(format!("  {VIOLATED} {v}"));
        }
    }
    for p in &outcome.written {
        line(format!("wrote {}", p.display()));
    }
    s
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `cells` joined by `sep` into lines of at most `max` characters.
fn wrap(cells: &[String], sep: &str, max: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for c in cells {
        if !cur.is_empty() && cur.chars().count() + sep.len() + c.chars().count() > max {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push_str(sep);
        }
        cur.push_str(c);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

// ---------------------------------------------------------------------------
// The chart
// ---------------------------------------------------------------------------

/// Extra copies: no verdict colour of its own.
const DUPLICATES: RGBColor = RGBColor(157, 117, 93);

fn count_colour(count: &str) -> RGBColor {
    match verdict_named(count) {
        Some(v) => style::verdict(v),
        None => DUPLICATES,
    }
}

fn verdict_named(count: &str) -> Option<Verdict> {
    Verdict::ALL.iter().copied().find(|v| v.as_str() == count)
}

/// The colour of an old bar: the count's colour, lighter.
fn lighter(c: RGBColor) -> RGBColor {
    let mix = |v: u8| (f64::from(v) + (255.0 - f64::from(v)) * 0.55).round() as u8;
    RGBColor(mix(c.0), mix(c.1), mix(c.2))
}

/// `compare-<old>.png`: per experiment, old and new bars of
/// [`CHART_COUNTS`]; old bars lighter and hatched.
pub fn chart_png(outcome: &CompareOutcome) -> Result<Vec<u8>, ReportError> {
    chart::render_png("compare", |root| draw_chart(root, outcome))
}

fn caption(o: &CompareOutcome) -> Caption {
    let broker = |r: &RunRef| {
        if r.backend == "mock" {
            "librdkafka MOCK cluster".to_string()
        } else if r.kafka_version.is_empty() {
            r.backend.clone()
        } else {
            format!("Kafka {}, {}", r.kafka_version, r.backend)
        }
    };
    Caption {
        text: format!(
            "old: run {} ({}) · new: run {} ({}) · kafka-chaos {}",
            o.old.run_id,
            broker(&o.old),
            o.new.run_id,
            broker(&o.new),
            env!("CARGO_PKG_VERSION")
        ),
        warn: o.old.backend == "mock" || o.new.backend == "mock",
    }
}

/// Hatches a rectangle (pixel corners) with `/` lines.
fn hatch(
    root: &Area<'_>,
    (x0, y0): (i32, i32),
    (x1, y1): (i32, i32),
    colour: RGBColor,
) -> Result<(), ReportError> {
    let (x0, x1) = (x0.min(x1), x0.max(x1));
    let (y0, y1) = (y0.min(y1), y0.max(y1));
    const STEP: i32 = 7;
    let mut c = x0 + y0 + STEP;
    while c < x1 + y1 {
        // The line x + y = c, inside the rectangle.
        let xa = x0.max(c - y1);
        let xb = x1.min(c - y0);
        if xa < xb {
            root.draw(&PathElement::new(
                vec![(xa, c - xa), (xb, c - xb)],
                colour.stroke_width(1),
            ))
            .map_err(chart_err)?;
        }
        c += STEP;
    }
    Ok(())
}

/// The old/new key above the legend of counts.
/// Marks a new bar (pixel corners `a` top left, `b` bottom right) whose
/// count crossed a threshold: a red frame outside it, or, for bars too
/// narrow for one, a red arrow above it.
fn draw_violation_mark(
    area: &Area<'_>,
    a: (i32, i32),
    b: (i32, i32),
    arrow: bool,
) -> Result<(), ReportError> {
    if arrow {
        let cx = (a.0 + b.0) / 2;
        let top = a.1 - 3;
        area.draw(&Polygon::new(
            vec![(cx, top), (cx - 5, top - 9), (cx + 5, top - 9)],
            style::WARNING.filled(),
        ))
    } else {
        area.draw(&Rectangle::new(
            [(a.0 - 2, a.1 - 2), (b.0 + 2, b.1)],
            style::WARNING.stroke_width(2),
        ))
    }
    .map_err(chart_err)
}

/// The old/new key above the legend of counts; `violations`: whether any
/// bar is marked, and with an arrow.
fn draw_key(
    area: &Area<'_>,
    o: &CompareOutcome,
    violations: Option<bool>,
) -> Result<(), ReportError> {
    let x0 = 12;
    let mut y = 24;
    area.draw(&Text::new(
        "bars".to_string(),
        (x0, y),
        anchored(bold(style::LEGEND_SIZE), HPos::Left, VPos::Center),
    ))
    .map_err(chart_err)?;
    y += 28;
    let label = anchored(font(style::LEGEND_SIZE), HPos::Left, VPos::Center);
    let note = anchored(
        font(style::FOOTER_SIZE).color(&style::MUTED),
        HPos::Left,
        VPos::Center,
    );
    let max_w = style::LEGEND_WIDTH as i32 - x0 - 30;
    let grey = style::SENT;
    let items = [
        ("old run", o.old.run_id.as_str(), 0),
        ("new run", o.new.run_id.as_str(), 1),
        ("threshold crossed", "", 2),
    ];
    for (text, sub, kind) in items {
        if kind == 2 && violations.is_none() {
            continue;
        }
        let (a, b) = ((x0, y - 8), (x0 + 16, y + 8));
        match kind {
            0 => {
                area.draw(&Rectangle::new([a, b], lighter(grey).filled()))
                    .map_err(chart_err)?;
                hatch(area, a, b, grey)?;
                area.draw(&Rectangle::new([a, b], grey.stroke_width(1)))
                    .map_err(chart_err)?;
            }
            1 => area
                .draw(&Rectangle::new([a, b], grey.filled()))
                .map_err(chart_err)?,
            _ => {
                let arrow = violations == Some(true);
                // Leave room for the arrow above the swatch.
                let a = if arrow { (a.0, a.1 + 4) } else { a };
                area.draw(&Rectangle::new([a, b], grey.filled()))
                    .map_err(chart_err)?;
                draw_violation_mark(area, a, b, arrow)?;
            }
        }
        area.draw(&Text::new(
            fit(area, text, &label, max_w),
            (x0 + 24, y),
            label.clone(),
        ))
        .map_err(chart_err)?;
        if sub.is_empty() {
            y += 26;
        } else {
            area.draw(&Text::new(
                fit(area, sub, &note, max_w),
                (x0 + 24, y + 17),
                note.clone(),
            ))
            .map_err(chart_err)?;
            y += 42;
        }
    }
    Ok(())
}

/// "only in old", or shorter if that does not fit in `max_px`.
fn only_label(area: &Area<'_>, run: &str, max_px: i32) -> String {
    let ls = font(style::LABEL_SIZE);
    let fits = |t: &str| {
        area.estimate_text_size(t, &ls)
            .is_ok_and(|(w, _)| w as i32 <= max_px)
    };
    [format!("only in {run}"), format!("{run} only")]
        .into_iter()
        .find(|t| fits(t))
        .unwrap_or_else(|| run.to_string())
}

/// How the value above a bar is written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ValueLabels {
    Horizontal,
    Vertical,
    None,
}

fn draw_chart(root: &Area<'_>, o: &CompareOutcome) -> Result<(), ReportError> {
    let title = format!("Old vs new: {} → {}", o.old.run_id, o.new.run_id);
    let violations = o.violations().count();
    let changed: usize = o.experiments.iter().map(ExperimentDiff::changed).sum();
    let mut subtitle = format!(
        "records per experiment: old bars light and hatched, new bars solid · {changed} count{} changed",
        plural(changed)
    );
    if !o.thresholds.is_empty() {
        subtitle.push_str(&format!(
            " · {violations} threshold violation{}",
            plural(violations)
        ));
    }
    let l = chart::layout(root, &title, &subtitle, &caption(o))?;

    let key_h = if violations > 0 {
        52 + 42 * 2 + 26
    } else {
        52 + 42 * 2
    };
    let (key, counts_legend) = l.legend.split_vertically(key_h + 6);
    let legend: Vec<LegendItem> = CHART_COUNTS
        .iter()
        .map(|c| LegendItem {
            swatch: Swatch::Bar(count_colour(c).to_rgba()),
            label: (*c).to_string(),
            note: verdict_named(c)
                .map_or("extra copies in the topic", chart::short_meaning)
                .to_string(),
        })
        .collect();
    draw_legend(&counts_legend, "counts", &legend)?;

    let n = o.experiments.len().max(1);
    let value = |e: &ExperimentDiff, c: &str, new: bool| {
        e.row(c).and_then(|r| if new { r.new } else { r.old })
    };
    let max = o
        .experiments
        .iter()
        .flat_map(|e| {
            CHART_COUNTS
                .iter()
                .flat_map(move |c| [value(e, c, false), value(e, c, true)])
        })
        .flatten()
        .max()
        .unwrap_or(0) as f64;

    // Each group: a margin, then per count an old and a new bar and a gap.
    const GAP: f64 = 0.7;
    let slots = CHART_COUNTS.len() as f64 * (2.0 + GAP) + GAP;
    let (pw, ph) = l.plot.dim_in_pixel();
    const X_LABEL_AREA: u32 = 56;
    const MARGIN: u32 = 12;
    let plot_h = ph.saturating_sub(X_LABEL_AREA + 2 * MARGIN).max(1) as f64;
    let plot_w = pw.saturating_sub(80 + 2 * MARGIN).max(1) as f64;
    let bar_px = plot_w / n as f64 / slots;
    let label_style = anchored(font(style::VALUE_SIZE), HPos::Center, VPos::Bottom);
    let widest_label = l
        .plot
        .estimate_text_size(&fmt_num(max), &label_style)
        .map(|(w, _)| w as f64)
        .unwrap_or(f64::MAX);
    let value_labels = if widest_label + 2.0 <= bar_px {
        ValueLabels::Horizontal
    } else if bar_px >= 11.0 {
        ValueLabels::Vertical
    } else {
        ValueLabels::None
    };
    let label_px = match value_labels {
        ValueLabels::Horizontal => style::VALUE_SIZE + 6.0,
        ValueLabels::Vertical => widest_label + 8.0,
        ValueLabels::None => 0.0,
    };
    draw_key(
        &key,
        o,
        (violations > 0).then_some(value_labels == ValueLabels::None),
    )?;
    let headroom = (label_px / plot_h).min(0.5);
    let y_top = max.max(5.0) * 1.04 / (1.0 - headroom);

    let mut c = ChartBuilder::on(&l.plot)
        .margin(MARGIN)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..n as f64, 0.0..y_top)
        .map_err(chart_err)?;
    c.configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_labels(8)
        .y_desc("records")
        .y_label_formatter(&|v| fmt_num(*v))
        .label_style(font(style::LABEL_SIZE))
        .axis_desc_style(font(style::AXIS_DESC_SIZE))
        .light_line_style(style::GRID)
        .bold_line_style(style::GRID)
        .max_light_lines(0)
        .draw()
        .map_err(chart_err)?;

    if o.experiments.is_empty() {
        return draw_empty_note(&l.plot, "no experiments in either run");
    }

    let unit = 1.0 / slots;
    let min_bar = y_top * 3.0 / plot_h;
    for (i, e) in o.experiments.iter().enumerate() {
        if i > 0 {
            // A faint line between groups.
            c.draw_series(std::iter::once(PathElement::new(
                vec![(i as f64, 0.0), (i as f64, y_top)],
                style::GRID.stroke_width(1),
            )))
            .map_err(chart_err)?;
        }
        for (j, count) in CHART_COUNTS.iter().enumerate() {
            let colour = count_colour(count);
            let start = i as f64 + unit * (GAP + j as f64 * (2.0 + GAP));
            let row = e.row(count);
            let changed = row.is_some_and(CountDiff::changed);
            let violated = e.violations_of(count).next().is_some();
            for new in [false, true] {
                let Some(v) = value(e, count, new) else {
                    continue;
                };
                let v = v as f64;
                let x0 = start + if new { unit } else { 0.0 };
                let x1 = x0 + unit * 0.92;
                // A count of 1 among thousands still shows as a sliver.
                let h = if v > 0.0 { v.max(min_bar) } else { 0.0 };
                if h > 0.0 {
                    let fill = if new { colour } else { lighter(colour) };
                    c.draw_series(std::iter::once(Rectangle::new(
                        [(x0, 0.0), (x1, h)],
                        fill.filled(),
                    )))
                    .map_err(chart_err)?;
                    let a = c.backend_coord(&(x0, h));
                    let b = c.backend_coord(&(x1, 0.0));
                    if !new {
                        hatch(root, a, b, colour)?;
                        root.draw(&Rectangle::new([a, b], colour.stroke_width(1)))
                            .map_err(chart_err)?;
                    }
                }
                if new && violated {
                    let a = c.backend_coord(&(x0, h));
                    let b = c.backend_coord(&(x1, 0.0));
                    draw_violation_mark(root, a, b, value_labels == ValueLabels::None)?;
                }
                let text_colour: &'static RGBColor = match (new, violated, changed) {
                    (true, true, _) => &style::WARNING,
                    (false, _, _) => &style::MUTED,
                    _ => &style::TEXT,
                };
                let text_font = if new && changed {
                    bold(style::VALUE_SIZE)
                } else {
                    font(style::VALUE_SIZE)
                }
                .color(text_colour);
                let (px, py) = c.backend_coord(&((x0 + x1) / 2.0, h));
                // Clear of the red frame.
                let py = if new && violated { py - 3 } else { py };
                match value_labels {
                    ValueLabels::Horizontal => root
                        .draw(&Text::new(
                            fmt_num(v),
                            (px, py - 3),
                            anchored(text_font, HPos::Center, VPos::Bottom),
                        ))
                        .map_err(chart_err)?,
                    ValueLabels::Vertical => root
                        .draw(&Text::new(
                            fmt_num(v),
                            (px, py - 4),
                            anchored(text_font, HPos::Left, VPos::Center)
                                .transform(FontTransform::Rotate270),
                        ))
                        .map_err(chart_err)?,
                    ValueLabels::None => {}
                }
            }
        }

        // The experiment under its group: name, then its mode or where it
        // was found.
        let (cx, by) = c.backend_coord(&(i as f64 + 0.5, 0.0));
        let group_px = (plot_w / n as f64) as i32 - 6;
        let ls = anchored(font(style::LABEL_SIZE), HPos::Center, VPos::Top);
        root.draw(&Text::new(
            fit(&l.plot, &e.name, &ls, group_px),
            (cx, by + 8),
            ls.clone(),
        ))
        .map_err(chart_err)?;
        let (second, colour): (String, &'static RGBColor) =
            match (e.presence(), &e.old_mode, &e.new_mode) {
                (Presence::OnlyOld, _, _) => {
                    (only_label(&l.plot, "old", group_px), &style::WARNING)
                }
                (Presence::OnlyNew, _, _) => {
                    (only_label(&l.plot, "new", group_px), &style::WARNING)
                }
                (_, Some(a), Some(b)) if a != b => (format!("({a} → {b})"), &style::MUTED),
                (_, _, Some(m)) => (format!("({m})"), &style::MUTED),
                _ => (String::new(), &style::MUTED),
            };
        let ls2 = anchored(
            font(style::LABEL_SIZE).color(colour),
            HPos::Center,
            VPos::Top,
        );
        root.draw(&Text::new(
            fit(&l.plot, &second, &ls2, group_px),
            (cx, by + 27),
            ls2.clone(),
        ))
        .map_err(chart_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::result::ExperimentResult;
    use crate::report::json::summary_json;
    use crate::report::tests::{sample_meta, synthetic};

    const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// Writes a run folder holding only summary.json.
    fn write_run(root: &Path, run_id: &str, results: &[ExperimentResult]) -> PathBuf {
        let mut meta = sample_meta();
        meta.run_id = run_id.into();
        meta.backend = "container".into();
        meta.kafka_version = "4.3.1".into();
        let dir = root.join(run_id);
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("summary.json"),
            summary_json(&meta, results).unwrap(),
        )
        .unwrap();
        dir
    }

    /// Old: sync, async, gone. New: async (3 more lost, 20 fewer ok),
    /// sync (unchanged), fresh.
    fn two_runs() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let sync = synthetic("sync", "sync", 300);
        let asyn = synthetic("async", "async", 300);
        let gone = synthetic("gone", "fire-and-forget", 300);
        let old = write_run(tmp.path(), "old-run", &[sync.clone(), asyn.clone(), gone]);
        let mut asyn2 = asyn;
        let c = &mut asyn2.verification.counts;
        c.lost += 3;
        c.ok -= 20;
        c.reported_loss += 17;
        c.reordered += 2;
        let fresh = synthetic("fresh", "async", 100);
        let new = write_run(tmp.path(), "new-run", &[asyn2, sync, fresh]);
        (tmp, old, new)
    }

    fn args(old: &Path, new: &Path, thresholds: Thresholds) -> CompareArgs {
        CompareArgs {
            old: old.to_path_buf(),
            new: new.to_path_buf(),
            thresholds,
        }
    }

    fn th(s: &str) -> Threshold {
        parse_threshold(s).unwrap()
    }

    #[test]
    fn rows_show_the_differences() {
        let (_tmp, old, new) = two_runs();
        let o = run(&args(&old, &new, Thresholds::default())).unwrap();
        assert_eq!(o.old.run_id, "old-run");
        assert_eq!(o.new.run_id, "new-run");
        let names: Vec<&str> = o.experiments.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["async", "sync", "fresh", "gone"]);

        let a = &o.experiments[0];
        assert_eq!(a.presence(), Presence::Both);
        let lost = a.row("lost").unwrap();
        assert_eq!(lost.diff(), Some(3));
        assert!(lost.changed());
        assert_eq!(a.row("ok").unwrap().diff(), Some(-20));
        assert_eq!(a.row("reordered").unwrap().diff(), Some(2));
        assert!(!a.row("sent").unwrap().changed());
        assert_eq!(a.changed(), 4);
        assert_eq!(a.rows.len(), VerdictCounts::NAMES.len());
        assert_eq!(o.experiments[1].changed(), 0);
        assert_eq!(exit_code(&o), 0, "no threshold: report only");
        assert!(o.violations().next().is_none());
    }

    #[test]
    fn only_in_one_run() {
        let (_tmp, old, new) = two_runs();
        let o = run(&args(&old, &new, Thresholds::default())).unwrap();
        let fresh = &o.experiments[2];
        assert_eq!(fresh.presence(), Presence::OnlyNew);
        assert_eq!(fresh.row("sent").unwrap().old, None);
        assert_eq!(fresh.row("sent").unwrap().new, Some(100));
        assert_eq!(fresh.row("sent").unwrap().diff(), None);
        assert_eq!(fresh.changed(), 0);
        let gone = &o.experiments[3];
        assert_eq!(gone.presence(), Presence::OnlyOld);
        assert_eq!(gone.old_mode.as_deref(), Some("fire-and-forget"));
        let table = render_table(&o);
        assert!(table.contains("fresh (async): only in new"), "{table}");
        assert!(
            table.contains("gone (fire-and-forget): only in old"),
            "{table}"
        );
        assert!(table.contains("2 experiments in both runs, 1 only in old, 1 only in new"));

        // Thresholds do not apply to them; --fail-on-change does.
        let t = Thresholds {
            max_increase: vec![th("sent=0")],
            ..Thresholds::default()
        };
        assert_eq!(exit_code(&run(&args(&old, &new, t)).unwrap()), 0);
        let t = Thresholds {
            fail_on_change: true,
            ..Thresholds::default()
        };
        let o = run(&args(&old, &new, t)).unwrap();
        let only: Vec<&Violation> = o
            .violations()
            .filter(|v| matches!(v.rule, Rule::OnlyIn(_)))
            .collect();
        assert_eq!(only.len(), 2);
        assert_eq!(
            only[0].to_string(),
            "fresh: only in the new run, --fail-on-change"
        );
        assert_eq!(
            only[1].to_string(),
            "gone: only in the old run, --fail-on-change"
        );
    }

    #[test]
    fn thresholds_parse() {
        assert_eq!(
            th("lost=0"),
            Threshold {
                count: "lost",
                limit: 0
            }
        );
        assert_eq!(th(" silent-loss = 5 ").count, "silent_loss");
        assert_eq!(th("OK=10").to_string(), "ok=10");
        for bad in ["lost", "lost=", "lost=-1", "lost=x", "=3", "nope=1", ""] {
            assert!(parse_threshold(bad).is_err(), "{bad}");
        }
        let msg = parse_threshold("nope=1").unwrap_err().to_string();
        assert!(msg.contains("unknown count `nope`"), "{msg}");
        for n in VerdictCounts::NAMES {
            assert!(msg.contains(n), "{msg} lists {n}");
        }
    }

    #[test]
    fn the_command_line() {
        use clap::Parser;
        #[derive(Debug, Parser)]
        struct Cli {
            #[command(flatten)]
            args: CompareArgs,
        }
        let cli = Cli::try_parse_from([
            "compare",
            "results/a",
            "results/b/summary.json",
            "--max-increase",
            "lost=0",
            "--max-increase",
            "silent_loss=5",
            "--max-decrease",
            "ok=10",
            "--fail-on-change",
        ])
        .unwrap();
        let t = &cli.args.thresholds;
        assert_eq!(cli.args.old, PathBuf::from("results/a"));
        assert_eq!(t.max_increase, vec![th("lost=0"), th("silent_loss=5")]);
        assert_eq!(t.max_decrease, vec![th("ok=10")]);
        assert!(t.fail_on_change);
        assert_eq!(
            t.to_string(),
            "--max-increase lost=0 --max-increase silent_loss=5 --max-decrease ok=10 --fail-on-change"
        );

        let e = Cli::try_parse_from(["compare", "a", "b", "--max-increase", "lots=1"]).unwrap_err();
        assert_eq!(e.exit_code(), crate::cmd::exit::CANNOT_RUN);
        let msg = e.to_string();
        assert!(
            msg.contains("unknown count `lots`") && msg.contains("silent_loss"),
            "{msg}"
        );

        let plain = Cli::try_parse_from(["compare", "a", "b"]).unwrap();
        assert!(plain.args.thresholds.is_empty());
    }

    #[test]
    fn exit_codes() {
        let (_tmp, old, new) = two_runs();
        let code = |t: Thresholds| exit_code(&run(&args(&old, &new, t)).unwrap());
        let inc = |s: &str| Thresholds {
            max_increase: vec![th(s)],
            ..Thresholds::default()
        };
        let dec = |s: &str| Thresholds {
            max_decrease: vec![th(s)],
            ..Thresholds::default()
        };
        assert_eq!(code(Thresholds::default()), 0);
        assert_eq!(code(inc("lost=0")), 1, "3 more lost");
        assert_eq!(code(inc("lost=2")), 1);
        assert_eq!(code(inc("lost=3")), 0, "within: not more than 3");
        assert_eq!(code(inc("ok=0")), 0, "ok decreased");
        assert_eq!(code(dec("ok=10")), 1, "20 fewer ok");
        assert_eq!(code(dec("ok=20")), 0);
        assert_eq!(code(dec("lost=0")), 0, "lost increased");
        assert_eq!(code(inc("silent_loss=0")), 0, "unchanged");
        assert_eq!(code(inc("reordered=1")), 1, "a count outside the table");

        let o = run(&args(&old, &new, inc("lost=0"))).unwrap();
        let v: Vec<&Violation> = o.violations().collect();
        assert_eq!(v.len(), 1);
        assert_eq!(
            v[0].to_string(),
            format!(
                "async: lost {} → {} (+3 exceeds --max-increase lost=0)",
                v[0].old.unwrap(),
                v[0].new.unwrap()
            )
        );

        // The same run on both sides: nothing changed, even with every rule.
        let same = run(&args(
            &old,
            &old,
            Thresholds {
                max_increase: vec![th("lost=0")],
                max_decrease: vec![th("ok=0")],
                fail_on_change: true,
            },
        ))
        .unwrap();
        assert_eq!(exit_code(&same), 0);
    }

    #[test]
    fn the_table() {
        let (_tmp, old, new) = two_runs();
        let t = Thresholds {
            max_increase: vec![th("lost=0")],
            max_decrease: vec![th("ok=10")],
            fail_on_change: false,
        };
        let o = run(&args(&old, &new, t)).unwrap();
        let table = render_table(&o);
        println!("{table}");
        for l in table.lines().filter(|l| !l.starts_with("wrote ")) {
            if !l.starts_with("old ") && !l.starts_with("new ") {
                assert!(l.chars().count() <= 120, "{l}");
            }
        }
        let lost = table
            .lines()
            .find(|l| l.trim_start().starts_with("lost "))
            .unwrap();
        assert!(lost.contains(" * ") && lost.contains("+3"), "{lost}");
        assert!(
            lost.contains("✗ +3 exceeds --max-increase lost=0"),
            "{lost}"
        );
        let reordered = table
            .lines()
            .find(|l| l.trim_start().starts_with("reordered "))
            .unwrap();
        assert!(
            reordered.contains("+2"),
            "a changed count outside the table: {reordered}"
        );
        assert!(table.contains("thresholds: --max-increase lost=0 --max-decrease ok=10"));
        assert!(table.contains("2 threshold violations:"));
        assert!(table.contains("wrote "));
    }

    #[test]
    fn csv_and_png_are_written_into_the_new_run() {
        let (_tmp, old, new) = two_runs();
        let o = run(&args(
            &old.join("summary.json"),
            &new,
            Thresholds {
                max_increase: vec![th("lost=0")],
                ..Thresholds::default()
            },
        ))
        .unwrap();
        let csv_path = new.join("compare-old-run.csv");
        let png_path = new.join("compare-old-run.png");
        assert_eq!(o.written, vec![csv_path.clone(), png_path.clone()]);
        let png = fs::read(&png_path).unwrap();
        assert!(png.len() > 1000);
        assert_eq!(png[..8], PNG_SIGNATURE);

        let csv = fs::read_to_string(&csv_path).unwrap();
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some("experiment,count,old,new,diff,violated"));
        assert_eq!(
            csv.lines().count(),
            1 + 4 * VerdictCounts::NAMES.len(),
            "every count of every experiment"
        );
        let lost = csv.lines().find(|l| l.starts_with("async,lost,")).unwrap();
        assert!(lost.ends_with(",3,true"), "{lost}");
        assert!(csv.contains("async,ok,"));
        let fresh = csv.lines().find(|l| l.starts_with("fresh,sent,")).unwrap();
        assert_eq!(fresh, "fresh,sent,,100,,false");
        // No temporary files left; the old run untouched.
        let mut in_new: Vec<String> = fs::read_dir(&new)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        in_new.sort();
        assert_eq!(
            in_new,
            ["compare-old-run.csv", "compare-old-run.png", "summary.json"]
        );
        assert_eq!(fs::read_dir(&old).unwrap().count(), 1);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let empty = tmp.path().join("empty");
        fs::create_dir(&empty).unwrap();
        let e = load_summary(&empty).unwrap_err();
        assert!(matches!(e, CompareError::NoSummary { .. }), "{e}");
        let e = load_summary(&tmp.path().join("missing.json")).unwrap_err();
        assert!(matches!(e, CompareError::Read { .. }), "{e}");
        let junk = tmp.path().join("junk.json");
        fs::write(&junk, b"{\"run\": 3}").unwrap();
        let e = load_summary(&junk).unwrap_err();
        assert!(
            e.to_string().contains("not a kafka-chaos summary.json"),
            "{e}"
        );
    }

    #[test]
    fn tolerant_of_missing_and_extra_fields() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("hand-made");
        fs::create_dir(&dir).unwrap();
        fs::write(
            dir.join("summary.json"),
            r#"{"future": true, "experiments": [
                {"name": "x", "counts": {"sent": 5, "lost": 1, "brand_new": "n/a"}, "extra": [1]}
            ]}"#,
        )
        .unwrap();
        let s = load_summary(&dir).unwrap();
        assert_eq!(s.run.run_id, "hand-made", "the folder name");
        assert_eq!(s.experiments[0].get("sent"), Some(5));
        assert_eq!(s.experiments[0].get("ok"), None);
        let o = compare(&s, &s, &Thresholds::default());
        assert_eq!(o.experiments[0].row("ok").unwrap().old, None);
        assert!(render_table(&o).contains("—"));
        // An empty comparison still draws.
        let mut none = s.clone();
        none.experiments.clear();
        let o = compare(&none, &none, &Thresholds::default());
        assert_eq!(chart_png(&o).unwrap()[..8], PNG_SIGNATURE);
    }

    #[test]
    fn table_counts_are_known_counts() {
        for c in TABLE_COUNTS.iter().chain(&CHART_COUNTS) {
            assert!(VerdictCounts::NAMES.contains(c), "{c}");
        }
        assert_eq!(all_counts().count(), VerdictCounts::NAMES.len());
    }

    /// Compares two real runs, `$KC_OLD` and `$KC_NEW` (run folders or
    /// summary.json files), as the command would, printing the table:
    /// `KC_OLD=… KC_NEW=… cargo test --lib compare::tests::real_runs -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn real_runs() {
        let (Ok(old), Ok(new)) = (std::env::var("KC_OLD"), std::env::var("KC_NEW")) else {
            return;
        };
        let mut a = args(Path::new(&old), Path::new(&new), Thresholds::default());
        if let Ok(t) = std::env::var("KC_MAX_INCREASE") {
            a.thresholds.max_increase = t.split(',').map(th).collect();
        }
        let o = run(&a).unwrap();
        println!("{}", render_table(&o));
        println!("exit code {}", exit_code(&o));
    }

    /// Renders example charts to `$KC_CHART_DIR` (default /tmp/kc-charts):
    /// `cargo test --lib compare::tests::render_examples -- --ignored`.
    #[test]
    #[ignore]
    fn render_examples() {
        let dir = PathBuf::from(
            std::env::var("KC_CHART_DIR").unwrap_or_else(|_| "/tmp/kc-charts".into()),
        );
        fs::create_dir_all(&dir).unwrap();
        let (_tmp, old, new) = two_runs();
        let o = run(&args(
            &old,
            &new,
            Thresholds {
                max_increase: vec![th("lost=0")],
                max_decrease: vec![th("ok=10")],
                fail_on_change: false,
            },
        ))
        .unwrap();
        println!("{}", render_table(&o));
        fs::copy(&o.written[1], dir.join("compare.png")).unwrap();
        let mut one = o.clone();
        one.experiments.truncate(1);
        fs::write(dir.join("compare-one.png"), chart_png(&one).unwrap()).unwrap();
        let mut many = o.clone();
        for k in 0..3 {
            for e in o.experiments.iter() {
                let mut e = e.clone();
                e.name = format!("{}-with-a-long-experiment-name-{k}", e.name);
                many.experiments.push(e);
            }
        }
        fs::write(dir.join("compare-many.png"), chart_png(&many).unwrap()).unwrap();
    }
}
