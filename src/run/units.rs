//! What a run runs: every spec as many times as it is repeated, each
//! repetition with its plan drawn before anything starts (a pure function of
//! spec, seed and repetition: [`crate::chaos::plan`]), in spec order and,
//! within a spec, repetition order — the order of the results.

use std::hash::{BuildHasher, Hasher};

use crate::chaos::plan;
use crate::model::names;
use crate::model::plan::Plan;
use crate::spec::ExperimentSpec;

/// One experiment run: a spec's repetition, planned.
#[derive(Debug, Clone)]
pub struct Unit {
    /// Its place in the results.
    pub index: usize,
    /// The spec with this repetition's drawn values fixed.
    pub spec: ExperimentSpec,
    /// 1-based, of `repetitions`.
    pub repetition: u32,
    pub repetitions: u32,
    pub plan: Plan,
}

impl Unit {
    /// `sync`, or with repetitions `sync r2`.
    pub fn label(&self) -> String {
        names::run_label(&self.spec.name, self.repetition, self.repetitions)
    }

    /// `sync`, or with repetitions `sync.r2` (files and topics).
    pub fn stem(&self) -> String {
        names::experiment_stem(&self.spec.name, self.repetition, self.repetitions)
    }

    /// The time the scenario asks for, as planned.
    pub fn asked(&self) -> f64 {
        self.spec.asked_seconds()
    }
}

/// How often and from which seed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Repeat {
    /// `--repeat`: wins over every spec's `repeat` (default 1).
    pub repeat: Option<u32>,
    /// `--seed`: wins over every spec's `seed`.
    pub seed: Option<u64>,
    /// The seed of specs that name none (drawn once per run).
    pub run_seed: u64,
}

impl Repeat {
    /// How many repetitions of `spec`.
    pub fn repetitions(&self, spec: &ExperimentSpec) -> u32 {
        self.repeat.or(spec.repeat).unwrap_or(1).max(1)
    }

    /// The seed of `spec`'s draws.
    pub fn seed(&self, spec: &ExperimentSpec) -> u64 {
        self.seed.or(spec.seed).unwrap_or(self.run_seed)
    }

    /// Whether the run's own seed decides a draw (a spec draws something
    /// and neither it nor `--seed` names a seed).
    pub fn uses_run_seed(&self, specs: &[ExperimentSpec]) -> bool {
        self.seed.is_none() && specs.iter().any(|s| s.seed.is_none() && s.draws_anything())
    }
}

/// Every repetition of every spec, planned.
pub fn units(specs: &[ExperimentSpec], repeat: &Repeat) -> Vec<Unit> {
    let mut out = Vec::new();
    for spec in specs {
        let n = repeat.repetitions(spec);
        let seed = repeat.seed(spec);
        for repetition in 1..=n {
            let plan = plan::plan(spec, seed, repetition);
            out.push(Unit {
                index: out.len(),
                spec: plan::planned(spec, &plan),
                repetition,
                repetitions: n,
                plan,
            });
        }
    }
    out
}

/// A seed from the operating system (through the standard library's
/// randomly keyed hasher), below 10^9 so that it is easy to type again.
pub fn os_seed() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.write_u32(std::process::id());
    h.finish() % 1_000_000_000
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::spec::Profile;

    fn spec(name: &str, extra: &str) -> ExperimentSpec {
        let text = format!(
            "description = \"x\"\nmode = \"async\"\nrecords = 100\nfault = \"hard_shutdown\"\n\
             fault_after = \"10..90\"\ndowntime = \"1s\"\n{extra}"
        );
        ExperimentSpec::parse(name, Path::new("t.toml"), &text, Profile::Full).unwrap()
    }

    #[test]
    fn specs_repeat_in_order_with_a_plan_each() {
        let specs = [spec("a", "repeat = 3\nseed = 5"), spec("b", "")];
        let r = Repeat {
            repeat: None,
            seed: None,
            run_seed: 77,
        };
        let u = units(&specs, &r);
        let labels: Vec<String> = u.iter().map(Unit::label).collect();
        assert_eq!(labels, ["a r1", "a r2", "a r3", "b"]);
        assert_eq!(u[3].stem(), "b");
        assert_eq!(u[1].stem(), "a.r2");
        assert_eq!(u.iter().map(|x| x.index).collect::<Vec<_>>(), [0, 1, 2, 3]);
        assert_eq!(u[0].plan.seed, 5, "the spec's seed");
        assert_eq!(u[3].plan.seed, 77, "the run's seed");
        assert!(r.uses_run_seed(&specs));
        assert_eq!(u[1].plan.repetition, 2);
        assert_eq!(u[1].spec.fault_after, u[1].plan.faults[0].after);
        // The same inputs plan the same runs.
        let again = units(&specs, &r);
        let plans = |u: &[Unit]| u.iter().map(|x| x.plan.clone()).collect::<Vec<_>>();
        assert_eq!(plans(&u), plans(&again));
    }

    #[test]
    fn the_command_line_wins() {
        let specs = [spec("a", "repeat = 3\nseed = 5")];
        let r = Repeat {
            repeat: Some(2),
            seed: Some(9),
            run_seed: 77,
        };
        let u = units(&specs, &r);
        assert_eq!(u.len(), 2);
        assert!(u.iter().all(|x| x.plan.seed == 9 && x.repetitions == 2));
        assert!(!r.uses_run_seed(&specs));
    }

    #[test]
    fn os_seeds_are_short() {
        assert!(os_seed() < 1_000_000_000);
    }
}
