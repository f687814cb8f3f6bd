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
//! lost = "> 0 in at least 4 of 5"   # over repetitions (`--repeat`)
//! recovered = "> 0 in any"
//! ```
//!
//! A bound holds in every repetition of an experiment unless it says
//! otherwise after ` in ` (a [`Quantifier`]): `all` (the default), `any`,
//! `at least K of M`, `at least P%`, `at most K of M`, `at most P%` (and
//! the short forms `>= K/M`, `<= K/M`, `>= P%`, `<= P%`). `K of M` is a
//! share: with a different number of repetitions N it asks for K/M of N
//! (rounded up for "at least", down for "at most").

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

/// One bound, e.g. `silent_loss > 0`, or over repetitions `lost > 0 in
/// at least 4 of 5`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Expectation {
    /// A count name (`lost`) or a rate (`lost_rate`).
    pub name: String,
    pub op: Op,
    pub bound: f64,
    /// In how many repetitions the bound must hold (`None`: every one).
    pub quantifier: Option<Quantifier>,
}

impl fmt::Display for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.name, self.op.symbol(), self.bound)?;
        if let Some(q) = &self.quantifier {
            write!(f, " in {q}")?;
        }
        Ok(())
    }
}

/// The result of checking one expectation against one experiment run (one
/// repetition).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub expectation: String,
    pub actual: f64,
    /// The bound held in this repetition. Whether the expectation is met
    /// is decided over every repetition ([`RepeatedCheck`]); without a
    /// quantifier that is "held in each".
    pub passed: bool,
    /// In how many repetitions it must hold (absent: every one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantifier: Option<Quantifier>,
}

/// At least or at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    AtLeast,
    AtMost,
}

/// A share of the repetitions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Share {
    /// Every repetition.
    All,
    /// One repetition.
    Any,
    /// K of M: the share K/M.
    Of { k: u32, m: u32 },
    /// P percent.
    Percent(f64),
}

/// In how many repetitions a bound must hold: `at least 4 of 5`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quantifier {
    pub bound: Bound,
    pub share: Share,
}

impl fmt::Display for Quantifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = match self.bound {
            Bound::AtLeast => "at least",
            Bound::AtMost => "at most",
        };
        match self.share {
            Share::All => f.write_str("all"),
            Share::Any => f.write_str("any"),
            Share::Of { k, m } => write!(f, "{word} {k} of {m}"),
            Share::Percent(p) => write!(f, "{word} {p}%"),
        }
    }
}

impl Quantifier {
    /// Parses what follows ` in `: `all`, `any`, `at least 4 of 5`,
    /// `at most 20%`, `>= 4/5`, `<= 20%`.
    pub fn parse(text: &str) -> Result<Quantifier, String> {
        let t = text.trim();
        let bad = || {
            format!(
                "`in {t}` is not like \"in all\", \"in any\", \"in at least 4 of 5\", \"in at most 20%\" or \"in >= 4/5\""
            )
        };
        match t {
            "all" | "every" | "each" => {
                return Ok(Quantifier {
                    bound: Bound::AtLeast,
                    share: Share::All,
                })
            }
            "any" => {
                return Ok(Quantifier {
                    bound: Bound::AtLeast,
                    share: Share::Any,
                })
            }
            _ => {}
        }
        let (bound, rest) = [
            ("at least", Bound::AtLeast),
            (">=", Bound::AtLeast),
            ("at most", Bound::AtMost),
            ("<=", Bound::AtMost),
        ]
        .iter()
        .find_map(|(w, b)| t.strip_prefix(w).map(|r| (*b, r.trim())))
        .ok_or_else(bad)?;
        let share = if let Some(p) = rest.strip_suffix('%') {
            let p: f64 = p.trim().parse().map_err(|_| bad())?;
            if !(0.0..=100.0).contains(&p) {
                return Err(format!("`in {t}`: a share is 0% to 100%"));
            }
            Share::Percent(p)
        } else {
            let (k, m) = rest
                .split_once(" of ")
                .or_else(|| rest.split_once('/'))
                .ok_or_else(bad)?;
            let k: u32 = k.trim().parse().map_err(|_| bad())?;
            let m: u32 = m.trim().parse().map_err(|_| bad())?;
            if m == 0 || k > m {
                return Err(format!("`in {t}`: K of M needs 0 <= K <= M and M >= 1"));
            }
            Share::Of { k, m }
        };
        Ok(Quantifier { bound, share })
    }

    /// How many of `n` repetitions: at least this many (AtLeast) or at
    /// most this many (AtMost).
    pub fn required(&self, n: u32) -> u32 {
        let n64 = u64::from(n);
        match (self.share, self.bound) {
            (Share::All, _) => n,
            (Share::Any, _) => n.min(1),
            (Share::Of { k, m }, Bound::AtLeast) => {
                ((u64::from(k) * n64).div_ceil(u64::from(m))) as u32
            }
            (Share::Of { k, m }, Bound::AtMost) => ((u64::from(k) * n64) / u64::from(m)) as u32,
            (Share::Percent(p), Bound::AtLeast) => (p * f64::from(n) / 100.0 - 1e-9).ceil() as u32,
            (Share::Percent(p), Bound::AtMost) => (p * f64::from(n) / 100.0 + 1e-9).floor() as u32,
        }
    }

    /// Whether holding in `held` of `n` repetitions is enough.
    pub fn met(&self, held: u32, n: u32) -> bool {
        let need = self.required(n);
        match self.bound {
            Bound::AtLeast => held >= need,
            Bound::AtMost => held <= need,
        }
    }

    /// What it asks of `n` repetitions, in words: `every repetition`,
    /// `at least 4 of 5 repetitions`.
    pub fn describe(q: Option<&Quantifier>, n: u32) -> String {
        let reps = if n == 1 { "repetition" } else { "repetitions" };
        match q {
            None
            | Some(Quantifier {
                share: Share::All, ..
            }) => "every repetition".to_string(),
            Some(q) => {
                let word = match q.bound {
                    Bound::AtLeast => "at least",
                    Bound::AtMost => "at most",
                };
                format!("{word} {} of {n} {reps}", q.required(n))
            }
        }
    }
}

/// One expectation decided over every repetition of an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepeatedCheck {
    pub expectation: String,
    /// Repetitions checked.
    pub repetitions: u32,
    /// In how many the bound held.
    pub held_in: u32,
    /// What was asked: `every repetition`, `at least 4 of 5 repetitions`.
    pub required: String,
    /// The expectation is met.
    pub passed: bool,
    /// The repetitions (1-based) in which the bound did not hold, with the
    /// value there.
    pub failed_in: Vec<FailedRepetition>,
    /// The value in each repetition, in repetition order.
    pub actual: Vec<f64>,
}

/// A repetition in which a bound did not hold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FailedRepetition {
    pub repetition: u32,
    pub actual: f64,
}

impl RepeatedCheck {
    /// Decides each expectation over the checks of every repetition:
    /// `per_repetition` pairs a repetition number with its checks.
    /// Expectations keep the order of their first appearance.
    pub fn decide(per_repetition: &[(u32, &[CheckResult])]) -> Vec<RepeatedCheck> {
        let mut order: Vec<(&str, Option<Quantifier>)> = Vec::new();
        for (_, checks) in per_repetition {
            for c in *checks {
                if !order.iter().any(|(e, _)| *e == c.expectation) {
                    order.push((&c.expectation, c.quantifier));
                }
            }
        }
        order
            .into_iter()
            .map(|(expectation, quantifier)| {
                let mut held_in = 0;
                let mut failed_in = Vec::new();
                let mut actual = Vec::new();
                for (repetition, checks) in per_repetition {
                    if let Some(c) = checks.iter().find(|c| c.expectation == expectation) {
                        actual.push(c.actual);
                        if c.passed {
                            held_in += 1;
                        } else {
                            failed_in.push(FailedRepetition {
                                repetition: *repetition,
                                actual: c.actual,
                            });
                        }
                    }
                }
                let n = actual.len() as u32;
                let passed = match &quantifier {
                    None => held_in == n,
                    Some(q) => q.met(held_in, n),
                };
                RepeatedCheck {
                    expectation: expectation.to_string(),
                    repetitions: n,
                    held_in,
                    required: Quantifier::describe(quantifier.as_ref(), n),
                    passed,
                    failed_in,
                    actual,
                }
            })
            .collect()
    }

    /// The repetitions in which the bound did not hold, by number.
    pub fn failed_repetitions(&self) -> Vec<u32> {
        self.failed_in.iter().map(|f| f.repetition).collect()
    }

    /// The outcome in one line. With one repetition, as a single run says
    /// it: `expected lost = 0, got 7`. Otherwise: `held in 3 of 5
    /// repetitions, needed at least 4 of 5 repetitions; did not hold in
    /// repetitions 2 (actual 0), 5 (actual 0)`.
    pub fn explain(&self) -> String {
        if self.repetitions == 1 {
            let got = self.actual.first().copied().unwrap_or_default();
            return format!("expected {}, got {got}", self.expectation);
        }
        let mut s = format!(
            "held in {} of {} repetitions, needed {}",
            self.held_in, self.repetitions, self.required
        );
        if !self.failed_in.is_empty() {
            let list: Vec<String> = self
                .failed_in
                .iter()
                .map(|f| format!("{} (actual {})", f.repetition, f.actual))
                .collect();
            s.push_str(&format!(
                "; did not hold in repetition{} {}",
                if list.len() == 1 { "" } else { "s" },
                list.join(", ")
            ));
        }
        s
    }
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
        let (c, quantifier) = match condition.split_once(" in ") {
            Some((c, q)) => (c.trim(), Some(Quantifier::parse(q)?)),
            None => (condition.trim(), None),
        };
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
            format!("condition `{condition}` for `{name}` is not like \"= 0\", \"> 0\", \"<= 5\" or \"> 0 in at least 4 of 5\"")
        })?;
        Ok(Expectation {
            name: name.to_string(),
            op,
            bound,
            quantifier,
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

    /// Checks the bound against one repetition's counts.
    pub fn check(&self, counts: &VerdictCounts) -> CheckResult {
        let actual = self.actual(counts);
        CheckResult {
            expectation: self.to_string(),
            actual,
            passed: self.op.holds(actual, self.bound),
            quantifier: self.quantifier,
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

    fn q(text: &str) -> Quantifier {
        Quantifier::parse(text).unwrap()
    }

    #[test]
    fn quantifiers_parse_and_count() {
        assert_eq!(q("at least 4 of 5").required(5), 4);
        assert_eq!(q(">= 4/5").required(5), 4);
        assert_eq!(q("at least 4 of 5").required(10), 8);
        // Rounded up for "at least", down for "at most".
        assert_eq!(q("at least 4 of 5").required(3), 3);
        assert_eq!(q("at most 1 of 5").required(3), 0);
        assert_eq!(q("at least 80%").required(5), 4);
        assert_eq!(q(">= 80%").required(4), 4);
        assert_eq!(q("at most 20%").required(5), 1);
        assert_eq!(q("<= 20%").required(10), 2);
        assert_eq!(q("all").required(5), 5);
        assert_eq!(q("any").required(5), 1);
        assert!(q("any").met(1, 5) && !q("any").met(0, 5));
        assert!(q("at most 1 of 5").met(1, 5) && !q("at most 1 of 5").met(2, 5));
        assert_eq!(q(">= 4/5").to_string(), "at least 4 of 5");
        assert_eq!(q("at most 20%").to_string(), "at most 20%");
        for bad in [
            "most",
            "at least 6 of 5",
            "at least 4 of 0",
            "at least 120%",
            ">= x/5",
            "some",
        ] {
            assert!(Quantifier::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quantified_expectations_parse_and_print() {
        let e = Expectation::parse("lost", "> 0 in at least 4 of 5").unwrap();
        assert_eq!(e.to_string(), "lost > 0 in at least 4 of 5");
        assert_eq!(e.op, Op::Gt);
        let c = e.check(&counts());
        assert!(!c.passed, "lost is 0 in this repetition");
        assert_eq!(c.quantifier, e.quantifier);
        let e = Expectation::parse("lost", "0").unwrap();
        assert_eq!(e.quantifier, None);
        let msg = Expectation::parse("lost", "> 0 in most").unwrap_err();
        assert!(msg.contains("in at least 4 of 5"), "{msg}");
    }

    fn rep_checks(e: &Expectation, values: &[u64]) -> Vec<Vec<CheckResult>> {
        values
            .iter()
            .map(|v| {
                let c = VerdictCounts {
                    sent: 100,
                    lost: *v,
                    ..Default::default()
                };
                vec![e.check(&c)]
            })
            .collect()
    }

    fn decide(e: &Expectation, values: &[u64]) -> RepeatedCheck {
        let checks = rep_checks(e, values);
        let per: Vec<(u32, &[CheckResult])> = checks
            .iter()
            .enumerate()
            .map(|(i, c)| (i as u32 + 1, c.as_slice()))
            .collect();
        let mut d = RepeatedCheck::decide(&per);
        assert_eq!(d.len(), 1);
        d.remove(0)
    }

    #[test]
    fn a_bound_holds_in_every_repetition_by_default() {
        let e = Expectation::parse("lost", "0").unwrap();
        let d = decide(&e, &[0, 0, 3, 0, 2]);
        assert!(!d.passed);
        assert_eq!(d.held_in, 3);
        assert_eq!(d.failed_repetitions(), [3, 5]);
        assert_eq!(d.required, "every repetition");
        assert_eq!(
            d.explain(),
            "held in 3 of 5 repetitions, needed every repetition; did not hold in repetitions 3 (actual 3), 5 (actual 2)"
        );
        assert!(decide(&e, &[0, 0, 0]).passed);
        // One repetition reads as a single run always did.
        let one = decide(&e, &[7]);
        assert!(!one.passed);
        assert_eq!(one.explain(), "expected lost = 0, got 7");
    }

    #[test]
    fn a_fraction_of_repetitions_can_be_asked_for() {
        let e = Expectation::parse("lost", "> 0 in at least 4 of 5").unwrap();
        let d = decide(&e, &[1, 0, 3, 4, 2]);
        assert!(d.passed, "{}", d.explain());
        assert_eq!(d.failed_repetitions(), [2]);
        let d = decide(&e, &[1, 0, 3, 0, 2]);
        assert!(!d.passed);
        assert_eq!(d.required, "at least 4 of 5 repetitions");
        assert!(
            d.explain()
                .contains("repetitions 2 (actual 0), 4 (actual 0)"),
            "{}",
            d.explain()
        );
        let any = Expectation::parse("lost", "> 0 in any").unwrap();
        assert!(decide(&any, &[0, 0, 1]).passed);
        assert!(!decide(&any, &[0, 0, 0]).passed);
        let rare = Expectation::parse("lost", "> 0 in at most 20%").unwrap();
        assert!(decide(&rare, &[0, 0, 1, 0, 0]).passed);
        assert!(!decide(&rare, &[0, 2, 1, 0, 0]).passed);
    }
}
