//! The spread of an experiment over its repetitions (`--repeat N`): per
//! count the minimum, median and maximum, and in how many repetitions it
//! was above zero ("lost > 0 in 5 of 5"); each expectation decided over
//! every repetition ([`RepeatedCheck`]). Pure: computed from the results.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::expect::{CheckResult, RepeatedCheck};
use crate::model::result::ExperimentResult;
use crate::model::verdict::VerdictCounts;

/// One count over the repetitions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CountSpread {
    pub min: u64,
    /// The middle value (the mean of the two middle ones for an even
    /// number of repetitions).
    pub median: f64,
    pub max: u64,
    /// In how many repetitions the count was above zero.
    #[serde(rename = "in")]
    pub nonzero_in: u32,
    /// How many repetitions.
    pub of: u32,
}

impl CountSpread {
    /// The spread of `values` (`None` when there are none).
    pub fn of(values: &[u64]) -> Option<CountSpread> {
        let mut v = values.to_vec();
        v.sort_unstable();
        let n = v.len();
        let (&min, &max) = (v.first()?, v.last()?);
        let median = if n % 2 == 1 {
            v[n / 2] as f64
        } else {
            (v[n / 2 - 1] as f64 + v[n / 2] as f64) / 2.0
        };
        Some(CountSpread {
            min,
            median,
            max,
            nonzero_in: v.iter().filter(|x| **x > 0).count() as u32,
            of: n as u32,
        })
    }

    /// Every repetition gave the same value.
    pub fn is_constant(&self) -> bool {
        self.min == self.max
    }

    /// `4` when constant, else `2–61 (median 30)`.
    pub fn label(&self) -> String {
        if self.is_constant() {
            self.min.to_string()
        } else {
            format!(
                "{}–{} (median {})",
                self.min,
                self.max,
                fmt_median(self.median)
            )
        }
    }
}

/// A median as a count reads: `30`, `30.5`.
pub fn fmt_median(m: f64) -> String {
    if m.fract() == 0.0 {
        format!("{m:.0}")
    } else {
        format!("{m:.1}")
    }
}

/// One experiment over its repetitions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentSpread {
    pub name: String,
    pub mode: String,
    /// The fault with its parameters (of the first repetition).
    pub fault: String,
    /// Repetitions asked for.
    pub repetitions: u32,
    /// Repetitions that finished (the spread is over these).
    pub finished: u32,
    /// Every count of [`VerdictCounts::NAMES`].
    pub counts: BTreeMap<String, CountSpread>,
    /// Each expectation, decided over the finished repetitions.
    pub checks: Vec<RepeatedCheck>,
    /// Repetitions whose experiment did not do what its spec asks.
    pub not_verified: Vec<u32>,
}

impl ExperimentSpread {
    pub fn count(&self, name: &str) -> Option<&CountSpread> {
        self.counts.get(name)
    }

    /// `lost > 0 in 3 of 5`, for a count.
    pub fn occurrence(&self, name: &str) -> Option<String> {
        self.count(name)
            .map(|c| format!("{name} > 0 in {} of {}", c.nonzero_in, c.of))
    }
}

/// The spread of every experiment in `results`, in the order of their
/// first repetition (results of one experiment share its name).
pub fn spreads(results: &[ExperimentResult]) -> Vec<ExperimentSpread> {
    let mut names: Vec<&str> = Vec::new();
    for r in results {
        if !names.contains(&r.name.as_str()) {
            names.push(&r.name);
        }
    }
    names
        .into_iter()
        .map(|name| {
            let reps: Vec<&ExperimentResult> = results.iter().filter(|r| r.name == name).collect();
            spread_of(&reps)
        })
        .collect()
}

fn spread_of(reps: &[&ExperimentResult]) -> ExperimentSpread {
    let first = reps[0];
    let counts = VerdictCounts::NAMES
        .iter()
        .filter_map(|n| {
            let values: Vec<u64> = reps
                .iter()
                .map(|r| r.verification.counts.get(n).unwrap_or(0))
                .collect();
            CountSpread::of(&values).map(|s| (n.to_string(), s))
        })
        .collect();
    let per: Vec<(u32, &[CheckResult])> = reps
        .iter()
        .map(|r| (r.repetition, r.checks.as_slice()))
        .collect();
    ExperimentSpread {
        name: first.name.clone(),
        mode: first.mode.clone(),
        fault: first.fault_label(),
        repetitions: reps.iter().map(|r| r.repetitions).max().unwrap_or(1),
        finished: reps.len() as u32,
        counts,
        checks: RepeatedCheck::decide(&per),
        not_verified: reps
            .iter()
            .filter(|r| !r.verified())
            .map(|r| r.repetition)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_spread_with_their_median_and_occurrence() {
        let s = CountSpread::of(&[61, 2, 30, 0, 7]).unwrap();
        assert_eq!((s.min, s.max), (0, 61));
        assert_eq!(s.median, 7.0);
        assert_eq!((s.nonzero_in, s.of), (4, 5));
        assert_eq!(s.label(), "0–61 (median 7)");
        let even = CountSpread::of(&[1, 2, 4, 3]).unwrap();
        assert_eq!(even.median, 2.5);
        assert_eq!(even.label(), "1–4 (median 2.5)");
        let one = CountSpread::of(&[3]).unwrap();
        assert!(one.is_constant());
        assert_eq!(one.label(), "3");
        assert_eq!((one.nonzero_in, one.of), (1, 1));
        assert_eq!(CountSpread::of(&[]), None);
    }

    #[test]
    fn results_group_by_experiment_in_their_order() {
        use crate::model::expect::Expectation;
        let e = Expectation::parse("lost", "0").unwrap();
        let mut results = Vec::new();
        for (name, rep, lost, verified) in [
            ("b", 1, 0, true),
            ("a", 1, 2, true),
            ("b", 2, 3, false),
            ("a", 2, 2, true),
            ("b", 3, 0, true),
        ] {
            let mut r = crate::report::tests::sample_result();
            r.name = name.into();
            r.repetition = rep;
            r.repetitions = if name == "a" { 2 } else { 3 };
            r.verification.counts.lost = lost;
            r.checks = vec![e.check(&r.verification.counts)];
            if !verified {
                r.integrity = vec!["late".into()];
            }
            results.push(r);
        }
        let s = spreads(&results);
        assert_eq!(
            s.iter().map(|x| x.name.as_str()).collect::<Vec<_>>(),
            ["b", "a"]
        );
        let b = &s[0];
        assert_eq!((b.repetitions, b.finished), (3, 3));
        let lost = b.count("lost").unwrap();
        assert_eq!(
            (lost.min, lost.median, lost.max, lost.nonzero_in),
            (0, 0.0, 3, 1)
        );
        assert_eq!(b.occurrence("lost").unwrap(), "lost > 0 in 1 of 3");
        assert_eq!(b.not_verified, [2]);
        assert!(!b.checks[0].passed);
        assert_eq!(b.checks[0].failed_repetitions(), [2]);
        let a = &s[1];
        assert!(a.count("lost").unwrap().is_constant());
        assert_eq!(a.occurrence("lost").unwrap(), "lost > 0 in 2 of 2");
        assert!(!a.checks[0].passed);
    }
}
