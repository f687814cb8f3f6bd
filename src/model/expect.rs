//! Expectations: bounds on verdict counts that a spec promises, checked by
//! `experiment … --check`.
//!
//! In a spec:
//!
//! ```toml
//! [expect]
//! lost = 0                 # same as "= 0"
//! silent_loss = "> 0"      # a spec meant to demonstrate loss
//! recovered = "<= 5"
//! silent_loss_rate = "< 0.1"   # a rate: the count divided by `sent`
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::verdict::VerdictCounts;

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }

    fn holds(self, actual: f64, bound: f64) -> bool {
        const EPS: f64 = 1e-9;
        match self {
            Op::Eq => (actual - bound).abs() < EPS,
            Op::Ne => (actual - bound).abs() >= EPS,
            Op::Lt => actual < bound,
            Op::Le => actual <= bound + EPS,
            Op::Gt => actual > bound,
            Op::Ge => actual + EPS >= bound,
        }
    }
}

/// One bound, e.g. `silent_loss > 0`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Expectation {
    /// A count name (`lost`) or a rate (`lost_rate`).
    pub name: String,
    pub op: Op,
    pub bound: f64,
}

impl fmt::Display for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.name, self.op.symbol(), self.bound)
    }
}

/// The result of checking one expectation against one experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub expectation: String,
    pub actual: f64,
    pub passed: bool,
}

impl Expectation {
    /// Parses `name` and its condition (`"= 0"`, `"> 0"`, `"<= 5"`, or a
    /// bare number meaning equality).
    pub fn parse(name: &str, condition: &str) -> Result<Expectation, String> {
        let base = name.strip_suffix("_rate").unwrap_or(name);
        if !VerdictCounts::NAMES.contains(&base) {
            return Err(format!(
                "unknown count `{name}` (expected one of {}, or any of them with `_rate`)",
                VerdictCounts::NAMES.join(", ")
            ));
        }
        let c = condition.trim();
        let (op, rest) = [
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("!=", Op::Ne),
            ("==", Op::Eq),
            ("=", Op::Eq),
            ("<", Op::Lt),
            (">", Op::Gt),
        ]
        .iter()
        .find_map(|(sym, op)| c.strip_prefix(sym).map(|r| (*op, r)))
        .unwrap_or((Op::Eq, c));
        let bound: f64 = rest.trim().parse().map_err(|_| {
            format!("condition `{condition}` for `{name}` is not like \"= 0\", \"> 0\" or \"<= 5\"")
        })?;
        Ok(Expectation {
            name: name.to_string(),
            op,
            bound,
        })
    }

    /// The value the expectation is about.
    pub fn actual(&self, counts: &VerdictCounts) -> f64 {
        match self.name.strip_suffix("_rate") {
            Some(base) => {
                let n = counts.get(base).unwrap_or(0) as f64;
                if counts.sent == 0 {
                    0.0
                } else {
                    n / counts.sent as f64
                }
            }
            None => counts.get(&self.name).unwrap_or(0) as f64,
        }
    }

    pub fn check(&self, counts: &VerdictCounts) -> CheckResult {
        let actual = self.actual(counts);
        CheckResult {
            expectation: self.to_string(),
            actual,
            passed: self.op.holds(actual, self.bound),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts() -> VerdictCounts {
        VerdictCounts {
            sent: 100,
            lost: 0,
            silent_loss: 40,
            recovered: 3,
            ..Default::default()
        }
    }

    #[test]
    fn conditions_parse_and_check() {
        let c = counts();
        for (name, cond, pass) in [
            ("lost", "0", true),
            ("lost", "= 0", true),
            ("lost", "== 1", false),
            ("silent_loss", "> 0", true),
            ("silent_loss", "= 0", false),
            ("recovered", "<= 5", true),
            ("recovered", "< 3", false),
            ("recovered", ">= 3", true),
            ("recovered", "!= 3", false),
            ("silent_loss_rate", "< 0.5", true),
            ("silent_loss_rate", "= 0.4", true),
            ("silent_loss_rate", "< 0.1", false),
        ] {
            let e = Expectation::parse(name, cond).unwrap();
            assert_eq!(e.check(&c).passed, pass, "{name} {cond}");
        }
    }

    #[test]
    fn bad_expectations_are_named() {
        let e = Expectation::parse("lots", "0").unwrap_err();
        assert!(e.contains("unknown count `lots`"), "{e}");
        let e = Expectation::parse("lost", "about none").unwrap_err();
        assert!(e.contains("about none"), "{e}");
    }

    #[test]
    fn results_read_well() {
        let e = Expectation::parse("silent_loss", "> 0").unwrap();
        let r = e.check(&counts());
        assert_eq!(r.expectation, "silent_loss > 0");
        assert_eq!(r.actual, 40.0);
    }
}
