//! The plan of one repetition: the values a spec leaves to chance
//! (`fault_after = "50..150"`, `downtime = "5s..15s"`, `target = "random"`),
//! fixed before the repetition starts and written into its results, so any
//! run can be replayed (`--seed`). The draws themselves are made by
//! `crate::chaos::plan`; this is the record of them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What one repetition of an experiment runs with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The seed of the draws (the spec's `seed`, `--seed`, or one drawn
    /// from the operating system for the run).
    pub seed: u64,
    /// Which repetition (1-based): each draws from its own stream of the seed.
    pub repetition: u32,
    /// Each fault of the spec, in order, with the values it runs with.
    pub faults: Vec<PlannedFault>,
}

/// One fault as planned.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlannedFault {
    pub kind: String,
    /// Injected right after this many records were sent.
    pub after: u64,
    /// The downtime in seconds (`None`: until the producer ends, or until
    /// the next fault).
    pub downtime_s: Option<f64>,
    /// The node(s) aimed at, as a spec names them (`leader`, `broker:2`);
    /// a `random` target is resolved here to the broker drawn.
    pub target: String,
    /// What was drawn, with the range it came from: `after from 50..150`,
    /// `downtime from 5s..15s`, `target from random`. Empty when the
    /// spec fixes every value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drawn: Vec<String>,
}

impl Plan {
    /// Whether anything was drawn (else the seed changes nothing).
    pub fn drew_anything(&self) -> bool {
        self.faults.iter().any(|f| !f.drawn.is_empty())
    }

    /// The drawn values in a few words, `""` when nothing was drawn:
    /// `fault_after=87 downtime=12.3s target=broker:2` (steps of a sequence
    /// are numbered: `faults[2].after=120`).
    pub fn drawn_values(&self) -> String {
        let many = self.faults.len() > 1;
        let mut parts = Vec::new();
        for (i, f) in self.faults.iter().enumerate() {
            for d in &f.drawn {
                let field = d.split_whitespace().next().unwrap_or_default();
                let value = match field {
                    "after" => f.after.to_string(),
                    "downtime" => f
                        .downtime_s
                        .map(crate::model::duration::fmt_duration)
                        .unwrap_or_default(),
                    _ => f.target.clone(),
                };
                let key = match (many, field) {
                    (true, _) => format!("faults[{}].{field}", i + 1),
                    (false, "after") => "fault_after".to_string(),
                    (false, _) => field.to_string(),
                };
                parts.push(format!("{key}={value}"));
            }
        }
        parts.join(" ")
    }
}

impl fmt::Display for Plan {
    /// `seed 42, repetition 2: fault_after=87 downtime=12.3s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seed {}, repetition {}", self.seed, self.repetition)?;
        let drawn = self.drawn_values();
        if !drawn.is_empty() {
            write!(f, ": {drawn}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drawn_values_read_like_the_spec() {
        let mut p = Plan {
            seed: 42,
            repetition: 2,
            faults: vec![PlannedFault {
                kind: "hard_shutdown".into(),
                after: 87,
                downtime_s: Some(12.3),
                target: "broker:2".into(),
                drawn: vec![
                    "after from 50..150".into(),
                    "downtime from 5s..15s".into(),
                    "target from random".into(),
                ],
            }],
        };
        assert!(p.drew_anything());
        assert_eq!(
            p.to_string(),
            "seed 42, repetition 2: fault_after=87 downtime=12.3s target=broker:2"
        );
        p.faults.push(p.faults[0].clone());
        p.faults[0].drawn.clear();
        assert_eq!(
            p.drawn_values(),
            "faults[2].after=87 faults[2].downtime=12.3s faults[2].target=broker:2"
        );
        p.faults[1].drawn.clear();
        assert!(!p.drew_anything());
        assert_eq!(p.to_string(), "seed 42, repetition 2");
    }
}
