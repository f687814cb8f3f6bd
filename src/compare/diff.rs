//! Comparing two runs: every count of every experiment, old and new, and
//! the thresholds it crossed. Pure: no I/O.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use super::load::{ExperimentCounts, RunRef, RunSummary};
use super::thresholds::Thresholds;
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

pub(crate) fn signed(d: i128) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_counts_are_known_counts() {
        for c in TABLE_COUNTS.iter().chain(&CHART_COUNTS) {
            assert!(VerdictCounts::NAMES.contains(c), "{c}");
        }
        assert_eq!(all_counts().count(), VerdictCounts::NAMES.len());
    }
}
