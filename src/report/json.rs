//! JSON exporters: `summary.json` (for CI and scripts) and `metadata.json`
//! (what is needed to reproduce the run, the specs as they ran included).
//! No per-record data: that is in the per-experiment CSV files. Together
//! they are enough to draw a run's charts and page again
//! ([`load`](super::load)).

use std::collections::BTreeMap;

use serde::Serialize;

use super::ReportError;
use crate::model::plan::Plan;
use crate::model::result::{
    ClusterFacts, ExperimentResult, FaultWindow, LatencyStats, PhaseTimings, RunMeta, SpecFacts,
};
use crate::model::spread::{spreads, ExperimentSpread};
use crate::model::verdict::VerdictCounts;

/// `summary.json`.
#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    /// The run; at its end also `timing`: wall time against the time the
    /// scenarios ask for.
    pub run: &'a RunMeta,
    /// One entry per experiment run: with `--repeat`, per repetition.
    pub experiments: Vec<ExperimentSummary<'a>>,
    /// One entry per experiment: each count's min / median / max over its
    /// repetitions and in how many it was above zero, and each expectation
    /// decided over the repetitions (what `--check` and junit.xml use).
    pub spread: Vec<ExperimentSpread>,
}

/// One experiment in `summary.json`.
#[derive(Debug, Serialize)]
pub struct ExperimentSummary<'a> {
    pub name: &'a str,
    pub mode: &'a str,
    pub description: &'a str,
    pub topic: &'a str,
    pub fault: &'a str,
    pub client_settings: &'a BTreeMap<String, String>,
    pub pause_s: f64,
    pub counts: &'a VerdictCounts,
    pub faults: &'a [FaultWindow],
    pub phases: &'a PhaseTimings,
    /// Records sent per second over the produce phase.
    pub throughput: f64,
    pub latency: &'a LatencyStats,
    /// The spec's expectations and whether each held.
    pub checks: &'a [crate::model::expect::CheckResult],
    /// About the producer itself (an external producer's exit status).
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub notes: &'a [String],
    /// The experiment did what its spec asks: its verdicts are evidence.
    pub verified: bool,
    /// Why not (empty when verified).
    pub not_verified_reasons: &'a [String],
    /// Which repetition (1-based), of how many.
    pub repetition: u32,
    pub repetitions: u32,
    /// The seed and every value drawn for this repetition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<&'a Plan>,
}

impl<'a> ExperimentSummary<'a> {
    pub fn new(r: &'a ExperimentResult) -> Self {
        ExperimentSummary {
            name: &r.name,
            mode: &r.mode,
            description: &r.description,
            topic: &r.topic,
            fault: &r.fault,
            client_settings: &r.client_settings,
            pause_s: r.pause,
            counts: &r.verification.counts,
            faults: &r.faults,
            phases: &r.phases,
            throughput: r.throughput,
            latency: &r.latency,
            checks: &r.checks,
            notes: &r.notes,
            verified: r.verified(),
            not_verified_reasons: &r.integrity,
            repetition: r.repetition,
            repetitions: r.repetitions,
            plan: r.plan.as_ref(),
        }
    }
}

/// `metadata.json`: the run's facts, plus each experiment's client settings
/// and fault windows.
#[derive(Debug, Serialize)]
pub struct Metadata<'a> {
    #[serde(flatten)]
    pub run: &'a RunMeta,
    pub experiments: Vec<ExperimentMetadata<'a>>,
}

/// One experiment in `metadata.json`.
#[derive(Debug, Serialize)]
pub struct ExperimentMetadata<'a> {
    pub name: &'a str,
    pub mode: &'a str,
    pub topic: &'a str,
    pub fault: &'a str,
    pub client_settings: &'a BTreeMap<String, String>,
    pub faults: &'a [FaultWindow],
    pub verified: bool,
    pub not_verified_reasons: &'a [String],
    /// The cluster, and its topic's partitions and replicas after the run.
    pub cluster: &'a ClusterFacts,
    /// The spec it ran with, and the spec file's text then.
    pub spec: Option<&'a SpecFacts>,
    pub repetition: u32,
    pub repetitions: u32,
    /// The seed and every value drawn for this repetition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<&'a Plan>,
}

/// Pretty-printed `summary.json`.
pub fn summary_json(meta: &RunMeta, results: &[ExperimentResult]) -> Result<Vec<u8>, ReportError> {
    let s = Summary {
        run: meta,
        experiments: results.iter().map(ExperimentSummary::new).collect(),
        spread: spreads(results),
    };
    pretty(&s)
}

/// Pretty-printed `metadata.json`.
pub fn metadata_json(meta: &RunMeta, results: &[ExperimentResult]) -> Result<Vec<u8>, ReportError> {
    let m = Metadata {
        run: meta,
        experiments: results
            .iter()
            .map(|r| ExperimentMetadata {
                name: &r.name,
                mode: &r.mode,
                topic: &r.topic,
                fault: &r.fault,
                client_settings: &r.client_settings,
                faults: &r.faults,
                verified: r.verified(),
                not_verified_reasons: &r.integrity,
                cluster: &r.cluster,
                spec: r.spec.as_ref(),
                repetition: r.repetition,
                repetitions: r.repetitions,
                plan: r.plan.as_ref(),
            })
            .collect(),
    };
    pretty(&m)
}

fn pretty<T: Serialize>(v: &T) -> Result<Vec<u8>, ReportError> {
    let mut bytes = serde_json::to_vec_pretty(v)?;
    bytes.push(b'\n');
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{sample_meta, sample_result};

    #[test]
    fn summary_parses_back_with_counts() {
        let r = sample_result();
        let bytes = summary_json(&sample_meta(), std::slice::from_ref(&r)).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["run"]["run_id"], "test-run");
        let e = &v["experiments"][0];
        assert_eq!(e["name"], "sample");
        assert_eq!(e["mode"], "async");
        assert_eq!(e["pause_s"], 0.1);
        assert_eq!(e["counts"]["sent"], 6);
        assert_eq!(e["counts"]["lost"], 1);
        assert_eq!(e["counts"]["silent_loss"], 1);
        assert_eq!(e["faults"][0]["kind"], "hard_shutdown");
        assert_eq!(e["client_settings"]["acks"], "all");
        assert_eq!(e["latency"]["p50_ms"], 12.5);
        assert!(e.get("ledger").is_none(), "no per-record data");
        assert_eq!(e["verified"], true);
        assert_eq!(e["not_verified_reasons"].as_array().unwrap().len(), 0);
        let counts: VerdictCounts = serde_json::from_value(e["counts"].clone()).unwrap();
        assert_eq!(counts, r.verification.counts);
        assert_eq!(e["repetition"], 1);
        assert_eq!(e["repetitions"], 1);
        let spread = &v["spread"][0];
        assert_eq!(spread["name"], "sample");
        assert_eq!(spread["counts"]["lost"]["min"], 1);
        assert_eq!(spread["counts"]["lost"]["median"], 1.0);
        assert_eq!(spread["counts"]["lost"]["in"], 1);
        assert_eq!(spread["counts"]["lost"]["of"], 1);
    }

    #[test]
    fn a_not_verified_experiment_carries_its_reasons() {
        let mut r = sample_result();
        r.integrity = vec!["incomplete: the producer handed over 2 of the 6 records".into()];
        for bytes in [
            summary_json(&sample_meta(), std::slice::from_ref(&r)).unwrap(),
            metadata_json(&sample_meta(), std::slice::from_ref(&r)).unwrap(),
        ] {
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            let e = &v["experiments"][0];
            assert_eq!(e["verified"], false);
            assert_eq!(
                e["not_verified_reasons"][0],
                "incomplete: the producer handed over 2 of the 6 records"
            );
        }
    }

    #[test]
    fn summary_of_no_experiments() {
        let bytes = summary_json(&sample_meta(), &[]).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["experiments"].as_array().unwrap().len(), 0);
    }

    #[test]
    fn metadata_holds_the_run_and_settings() {
        let r = sample_result();
        let bytes = metadata_json(&sample_meta(), std::slice::from_ref(&r)).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["run_id"], "test-run");
        assert_eq!(v["backend"], "mock");
        assert_eq!(v["experiments"][0]["client_settings"]["acks"], "all");
        assert_eq!(v["experiments"][0]["faults"][0]["end"], 3.0);
        assert_eq!(v["experiments"][0]["verified"], true);
        // The run's own fields parse back as a RunMeta.
        let meta: RunMeta = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(meta.run_id, "test-run");
    }
}
