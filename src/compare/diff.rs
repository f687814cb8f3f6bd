//! Comparing two runs: every count of every experiment, old and new, and
//! the thresholds it crossed. Pure: no I/O.
//!
//! A run may hold several repetitions of an experiment (`--repeat`); a
//! count is then the spread of its values. The rule, for a count of an
//! experiment in both runs, with `m` the median of the new run's values
//! and `[lo, hi]` the range of the old run's:
//!
//! - it *changed* when `m < lo` or `m > hi` (outside the old spread);
//! - `--max-increase C=N` is crossed when `m − hi > N`;
//! - `--max-decrease C=N` is crossed when `lo − m > N`;
//! - `--fail-on-change` is crossed when it changed.
//!
//! With one repetition on each side this is new − old, as it always was.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use super::load::{ExperimentCounts, RunRef, RunSummary};
use super::thresholds::Thresholds;
use crate::model::spread::{fmt_median, CountSpread};
use crate::model::verdict::VerdictCounts;

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

/// Every count of [`VerdictCounts::NAMES`]: the table's first, then the rest.
fn all_counts() -> impl Iterator<Item = &'static str> {
    TABLE_COUNTS.iter().copied().chain(
        VerdictCounts::NAMES
            .iter()
            .copied()
            .filter(|n| !TABLE_COUNTS.contains(n)),
    )
}

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
    /// Files written (the CSV and the PNG), empty before
    /// [`write_reports`](crate::report::compare::write_reports).
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

    pub(crate) fn violations_of<'a>(
        &'a self,
        count: &'a str,
    ) -> impl Iterator<Item = &'a Violation> + 'a {
        self.violations
            .iter()
            .filter(move |v| v.count == Some(count))
    }
}

/// One count of one experiment, old and new, over each run's repetitions
/// (`None`: not in that run).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CountDiff {
    pub count: &'static str,
    pub old: Option<CountSpread>,
    pub new: Option<CountSpread>,
}

impl CountDiff {
    /// The new median minus the old one, when both are known.
    pub fn diff(&self) -> Option<f64> {
        Some(self.new?.median - self.old?.median)
    }

    /// How far the new median lies outside the old run's range: above its
    /// largest value (positive), below its smallest (negative), 0 inside.
    /// With one repetition on each side: new − old.
    pub fn beyond(&self) -> Option<f64> {
        let (o, n) = (self.old?, self.new?);
        Some(if n.median > o.max as f64 {
            n.median - o.max as f64
        } else if n.median < o.min as f64 {
            n.median - o.min as f64
        } else {
            0.0
        })
    }

    /// Both known, and the new median outside the old run's range.
    pub fn changed(&self) -> bool {
        self.beyond().is_some_and(|b| b != 0.0)
    }

    /// Either side holds more than one repetition.
    pub fn repeated(&self) -> bool {
        self.old.is_some_and(|s| s.of > 1) || self.new.is_some_and(|s| s.of > 1)
    }
}

/// A count as a table shows it: `5`, or over repetitions that varied the
/// median and the range, `7 [0–61]`.
pub fn compact(s: &CountSpread) -> String {
    if s.is_constant() {
        s.min.to_string()
    } else {
        format!("{} [{}–{}]", fmt_median(s.median), s.min, s.max)
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
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    pub experiment: String,
    /// `None` for [`Rule::OnlyIn`] (as are `old` and `new`).
    pub count: Option<&'static str>,
    pub old: Option<CountSpread>,
    pub new: Option<CountSpread>,
    pub rule: Rule,
}

impl Violation {
    /// The violation without the experiment's name (for the table).
    pub fn describe(&self) -> String {
        let count = self.count.unwrap_or("");
        let row = CountDiff {
            count,
            old: self.old,
            new: self.new,
        };
        let diff = match row.beyond() {
            Some(b) if row.repeated() => format!("median {} beyond the old range", signed_f(b)),
            Some(b) => signed_f(b),
            None => String::new(),
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
        match (self.count, &self.old, &self.new) {
            (Some(c), Some(o), Some(n)) => write!(
                f,
                "{}: {c} {} → {} ({})",
                self.experiment,
                compact(o),
                compact(n),
                self.describe()
            ),
            _ => write!(f, "{}: {}", self.experiment, self.describe()),
        }
    }
}

/// `+3`, `-20`, `+2.5`.
pub(crate) fn signed_f(d: f64) -> String {
    let t = fmt_median(d.abs());
    if d > 0.0 {
        format!("+{t}")
    } else if d < 0.0 {
        format!("-{t}")
    } else {
        t
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
            // How far the new median lies beyond the old run's spread.
            let Some(d) = row.beyond() else { continue };
            for th in t.max_increase.iter().filter(|th| th.count == row.count) {
                if d > th.limit as f64 {
                    violations.push(violation(row, Rule::MaxIncrease(th.limit)));
                }
            }
            for th in t.max_decrease.iter().filter(|th| th.count == row.count) {
                if -d > th.limit as f64 {
                    violations.push(violation(row, Rule::MaxDecrease(th.limit)));
                }
            }
            if t.fail_on_change && d != 0.0 {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(old: &[u64], new: &[u64]) -> CountDiff {
        CountDiff {
            count: "lost",
            old: CountSpread::of(old),
            new: CountSpread::of(new),
        }
    }

    #[test]
    fn a_change_is_a_median_outside_the_old_spread() {
        // Single runs: new − old, as before.
        assert_eq!(runs(&[0], &[3]).beyond(), Some(3.0));
        assert_eq!(runs(&[20], &[0]).beyond(), Some(-20.0));
        assert!(!runs(&[4], &[4]).changed());
        // Inside the old spread: noise, not a change.
        let noise = runs(&[2, 61, 30, 0, 7], &[5, 40, 12, 3, 9]);
        assert_eq!(noise.beyond(), Some(0.0));
        assert!(!noise.changed());
        assert!(noise.repeated());
        // Outside: by how much beyond its edge.
        assert_eq!(runs(&[0, 1, 0, 2, 1], &[5, 4, 6, 4, 5]).beyond(), Some(3.0));
        assert_eq!(runs(&[90, 95, 92], &[80, 70, 85]).beyond(), Some(-10.0));
        // One new repetition with lost > 0 of five is not the median.
        assert!(!runs(&[0, 0, 0, 0, 0], &[0, 0, 3, 0, 0]).changed());
        assert_eq!(runs(&[0], &[1, 2]).beyond(), Some(1.5));
        assert_eq!(runs(&[], &[1]).beyond(), None);
    }

    #[test]
    fn thresholds_measure_from_the_edge_of_the_old_spread() {
        let mk = |name: &str, values: &[u64]| ExperimentCounts {
            name: name.into(),
            mode: "async".into(),
            counts: [("lost".to_string(), values.to_vec())]
                .into_iter()
                .collect(),
        };
        let t = Thresholds {
            max_increase: vec![super::super::parse_threshold("lost=2").unwrap()],
            ..Thresholds::default()
        };
        let d = diff_experiment(Some(&mk("a", &[0, 4, 1])), Some(&mk("a", &[6, 7, 5])), &t);
        assert_eq!(
            d.violations.len(),
            0,
            "median 6 is 2 above 4: not more than 2"
        );
        let d = diff_experiment(Some(&mk("a", &[0, 4, 1])), Some(&mk("a", &[7, 7, 5])), &t);
        assert_eq!(d.violations.len(), 1);
        assert_eq!(
            d.violations[0].to_string(),
            "a: lost 1 [0–4] → 7 [5–7] (median +3 beyond the old range exceeds --max-increase lost=2)"
        );
    }

    #[test]
    fn table_counts_are_known_counts() {
        for c in TABLE_COUNTS.iter().chain(&CHART_COUNTS) {
            assert!(VerdictCounts::NAMES.contains(c), "{c}");
        }
        assert_eq!(all_counts().count(), VerdictCounts::NAMES.len());
    }
}
